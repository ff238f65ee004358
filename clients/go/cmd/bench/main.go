// Command bench is the Go part of bench/clients/online_bench.py: POST /get-online-features through
// the featurelog Go client beside raw HTTP from Go (net/http, the body decoded by encoding/json into
// generic values), one request in flight, the two interleaved request by request so that both see
// the same machine at the same moment.
//
//	BENCH_CASES_FILE=<cases.json> go run ./clients/go/cmd/bench
//
// (from the repo root: online_bench.py runs it as `--go 'go -C clients/go run ./cmd/bench'`). It reads
// the cases file online_bench.py writes ({servingUrl, registryUrl?, warmup, cases: [{name, batch,
// requests, body}]}) and FEATURELOG_API_KEY, and prints one JSON line per case and mode, the protocol
// every language's part follows (see bench/clients/README.md). With registryUrl the client decodes
// every column into its feature's Go type, as the Python client does with its registry.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	featurelog "github.com/featurelog/featurelog/clients/go"
)

type benchCase struct {
	Name     string          `json:"name"`
	Batch    int             `json:"batch"`
	Requests int             `json:"requests"`
	Body     json.RawMessage `json:"body"`
}

type casesFile struct {
	ServingURL  string      `json:"servingUrl"`
	RegistryURL string      `json:"registryUrl"`
	Warmup      int         `json:"warmup"`
	Cases       []benchCase `json:"cases"`
}

type summary struct {
	Language string  `json:"language"`
	Mode     string  `json:"mode"`
	Case     string  `json:"case"`
	Batch    int     `json:"batch"`
	Requests int     `json:"requests"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Mean     float64 `json:"mean_ms"`
	RPS      float64 `json:"rps"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	path := os.Getenv("BENCH_CASES_FILE")
	if path == "" {
		return fmt.Errorf("BENCH_CASES_FILE is not set (run bench/clients/online_bench.py)")
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec casesFile
	if err := json.Unmarshal(text, &spec); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	serving := strings.TrimRight(spec.ServingURL, "/")
	key := os.Getenv("FEATURELOG_API_KEY")
	// No retries: a failed request must fail the bench, not hide in its latency.
	options := []featurelog.Option{featurelog.WithAPIKey(key), featurelog.WithTimeout(30 * time.Second),
		featurelog.WithRetries(0, 0)}
	if spec.RegistryURL != "" {
		options = append(options, featurelog.WithRegistry(spec.RegistryURL))
	}
	client := featurelog.NewClient(serving, options...)
	// Its own http.Client (and transport), as the featurelog client has its own: keep-alive in both.
	rawHTTP := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 30 * time.Second}
	ctx := context.Background()
	encoder := json.NewEncoder(os.Stdout)

	for _, bc := range spec.Cases {
		request, columns, err := requestOf(bc.Body)
		if err != nil {
			return fmt.Errorf("%s: %w", bc.Name, err)
		}
		raw := func() error {
			req, err := http.NewRequestWithContext(ctx, "POST", serving+"/get-online-features", bytes.NewReader(bc.Body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := rawHTTP.Do(req)
			if err != nil {
				return err
			}
			answer, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("raw HTTP: %d %s", resp.StatusCode, answer)
			}
			var decoded struct {
				Results []any `json:"results"`
			}
			if err := json.Unmarshal(answer, &decoded); err != nil {
				return fmt.Errorf("raw HTTP: %w", err)
			}
			if len(decoded.Results) != columns {
				return fmt.Errorf("raw HTTP: %d result columns, expected %d", len(decoded.Results), columns)
			}
			return nil
		}
		viaClient := func() error {
			response, err := client.GetOnlineFeatures(ctx, request)
			if err != nil {
				return err
			}
			if len(response.Columns) != columns || response.Rows() != bc.Batch {
				return fmt.Errorf("client: %d columns × %d rows, expected %d × %d",
					len(response.Columns), response.Rows(), columns, bc.Batch)
			}
			return nil
		}
		for range spec.Warmup {
			if err := raw(); err != nil {
				return err
			}
			if err := viaClient(); err != nil {
				return err
			}
		}
		times := map[string][]float64{"client": {}, "raw": {}}
		for range bc.Requests {
			for _, mode := range []string{"raw", "client"} {
				call := raw
				if mode == "client" {
					call = viaClient
				}
				started := time.Now()
				if err := call(); err != nil {
					return fmt.Errorf("%s, %s: %w", bc.Name, mode, err)
				}
				times[mode] = append(times[mode], float64(time.Since(started))/float64(time.Millisecond))
			}
		}
		for _, mode := range []string{"client", "raw"} {
			if err := encoder.Encode(summarize(mode, bc, times[mode])); err != nil {
				return err
			}
		}
	}
	return nil
}

// requestOf turns the case's body (the get-online-features request as sent) into the client's
// Request, and says how many result columns the answer has (join keys, then features).
func requestOf(body json.RawMessage) (featurelog.Request, int, error) {
	var wire struct {
		Features         []string         `json:"features"`
		FeatureService   string           `json:"feature_service"`
		Entities         map[string][]any `json:"entities"`
		FullFeatureNames bool             `json:"full_feature_names"`
	}
	decoder := json.NewDecoder(bytes.NewReader(body))
	// Entity keys stay exact integers (json.Number), as the client sends them.
	decoder.UseNumber()
	if err := decoder.Decode(&wire); err != nil {
		return featurelog.Request{}, 0, fmt.Errorf("body: %w", err)
	}
	if len(wire.Features) == 0 {
		return featurelog.Request{}, 0, fmt.Errorf("body: the bench asks by feature list, got none")
	}
	request := featurelog.Request{Features: wire.Features, FeatureService: wire.FeatureService,
		Entities: wire.Entities, FullFeatureNames: wire.FullFeatureNames}
	return request, len(wire.Features) + len(wire.Entities), nil
}

// summarize: percentiles of the recorded latencies (nearest rank below, as the Python and
// TypeScript parts take them) and rps of this mode's own summed time (the modes are interleaved).
func summarize(mode string, bc benchCase, millis []float64) summary {
	sorted := slices.Clone(millis)
	slices.Sort(sorted)
	at := func(q float64) float64 { return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))] }
	total := 0.0
	for _, m := range millis {
		total += m
	}
	return summary{Language: "go", Mode: mode, Case: bc.Name, Batch: bc.Batch, Requests: len(millis),
		P50: at(0.5), P99: at(0.99), Mean: total / float64(len(millis)), RPS: float64(len(millis)) / (total / 1000)}
}
