package featurelog

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// BenchmarkLiveOnline: one get-online-features round trip through the client (decoding from the
// encoding, and with the registry's types) beside raw HTTP from Go (net/http, the body decoded by
// encoding/json into generic values), at batch 1 and batch 100: the first case of
// FEATURELOG_CLIENT_CASES with that many entity rows. Needs the live environment:
//
//	go test -run '^$' -bench LiveOnline ./...
func BenchmarkLiveOnline(b *testing.B) {
	serving := strings.TrimRight(os.Getenv("FEATURELOG_SERVING_URL"), "/")
	registry := strings.TrimRight(os.Getenv("FEATURELOG_REGISTRY_URL"), "/")
	key := os.Getenv("FEATURELOG_API_KEY")
	path := os.Getenv("FEATURELOG_CLIENT_CASES")
	if serving == "" || path == "" {
		b.Skip("FEATURELOG_SERVING_URL and FEATURELOG_CLIENT_CASES are not set: no serving app to measure")
	}
	cases := readCases(b, path)
	for _, batch := range []int{1, 100} {
		var body json.RawMessage
		var request Request
		for _, tc := range cases {
			var wire struct{ Entities map[string][]any }
			if json.Unmarshal(tc.Request, &wire) != nil {
				continue
			}
			for _, values := range wire.Entities {
				if len(values) == batch && body == nil {
					body = tc.Request
					request = requestOf(b, tc.Request)
				}
				break
			}
		}
		if body == nil {
			b.Logf("no case of batch %d", batch)
			continue
		}
		name := map[int]string{1: "batch1", 100: "batch100"}[batch]
		plain := NewClient(serving, WithAPIKey(key))
		b.Run(name+"/client", func(b *testing.B) {
			for b.Loop() {
				if _, err := plain.GetOnlineFeatures(context.Background(), request); err != nil {
					b.Fatal(err)
				}
			}
		})
		if registry != "" {
			typed := NewClient(serving, WithAPIKey(key), WithRegistry(registry))
			b.Run(name+"/client-registry", func(b *testing.B) {
				for b.Loop() {
					if _, err := typed.GetOnlineFeatures(context.Background(), request); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(name+"/raw-http", func(b *testing.B) {
			httpClient := &http.Client{}
			for b.Loop() {
				req, _ := http.NewRequest("POST", serving+"/get-online-features", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if key != "" {
					req.Header.Set("Authorization", "Bearer "+key)
				}
				resp, err := httpClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				answer, err := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				var decoded map[string]any
				if err != nil || resp.StatusCode != 200 || json.Unmarshal(answer, &decoded) != nil {
					b.Fatalf("%d %s %v", resp.StatusCode, answer, err)
				}
			}
		})
	}
}
