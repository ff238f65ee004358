package featurelog_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	featurelog "github.com/featurelog/featurelog/clients/go"
)

// Compiled by go test, not run (it needs a running serving app).
func Example() {
	client := featurelog.NewClient("http://127.0.0.1:6574",
		featurelog.WithAPIKey(os.Getenv("FEATURELOG_API_KEY")),
		featurelog.WithRegistry("http://127.0.0.1:6570"), // exact types: float32, []byte, time.Time, …
		featurelog.WithTimeout(2*time.Second),
		featurelog.WithRetries(2, 50*time.Millisecond),
	)
	resp, err := client.GetOnlineFeatures(context.Background(), featurelog.Request{
		Features: []string{"driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"},
		Entities: map[string][]any{"driver_id": {1001, 1002}},
	})
	var ferr *featurelog.Error
	if errors.As(err, &ferr) {
		log.Fatalf("%s (retriable: %v)", ferr.Code, ferr.Retriable)
	}
	for row := range resp.Rows() {
		rate, ok := resp.Float64(row, "driver_hourly_stats:conv_rate")
		trips, _ := resp.Int64(row, "avg_daily_trips")
		fmt.Println(row, rate, ok, trips, resp.Status(row, "conv_rate"), resp.EventTimestamp(row, "conv_rate"))
	}
}
