package featurelog

// Live tests: against the running serving (and registry) app of the environment the CI harness
// builds (FEATURELOG_SERVING_URL, FEATURELOG_REGISTRY_URL, FEATURELOG_API_KEY,
// FEATURELOG_CLIENT_CASES). Without FEATURELOG_SERVING_URL they skip.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

type liveEnv struct {
	serving, registry, key string
}

func live(t *testing.T) liveEnv {
	t.Helper()
	env := liveEnv{
		serving:  strings.TrimRight(os.Getenv("FEATURELOG_SERVING_URL"), "/"),
		registry: strings.TrimRight(os.Getenv("FEATURELOG_REGISTRY_URL"), "/"),
		key:      os.Getenv("FEATURELOG_API_KEY"),
	}
	if env.serving == "" {
		t.Skip("live test skipped: FEATURELOG_SERVING_URL is not set (the CI harness sets it, with FEATURELOG_REGISTRY_URL, " +
			"FEATURELOG_API_KEY and FEATURELOG_CLIENT_CASES, to a running featurelog serving app)")
	}
	return env
}

type clientCase struct {
	Name     string          `json:"name"`
	Request  json.RawMessage `json:"request"`
	Response json.RawMessage `json:"response"`
}

func liveCases(t *testing.T) []clientCase {
	t.Helper()
	path := os.Getenv("FEATURELOG_CLIENT_CASES")
	if path == "" {
		t.Fatal("FEATURELOG_SERVING_URL is set but FEATURELOG_CLIENT_CASES is not: the harness gives both")
	}
	cases := readCases(t, path)
	if len(cases) == 0 {
		t.Fatalf("%s has no cases", path)
	}
	return cases
}

// readCases reads the cases file the harness writes (FEATURELOG_CLIENT_CASES), for the live tests and
// the benchmark alike.
func readCases(tb testing.TB, path string) []clientCase {
	tb.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var file struct {
		Cases []clientCase `json:"cases"`
	}
	if err := json.Unmarshal(text, &file); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return file.Cases
}

// requestOf turns a get-online-features body into a Request, numbers kept exact (json.Number).
func requestOf(tb testing.TB, body json.RawMessage) Request {
	tb.Helper()
	var wire struct {
		Features         []string         `json:"features"`
		FeatureService   string           `json:"feature_service"`
		Entities         map[string][]any `json:"entities"`
		FullFeatureNames bool             `json:"full_feature_names"`
	}
	decoder := json.NewDecoder(bytes.NewReader(body))
	decoder.UseNumber()
	if err := decoder.Decode(&wire); err != nil {
		tb.Fatalf("case request: %v", err)
	}
	return Request{Features: wire.Features, FeatureService: wire.FeatureService, Entities: wire.Entities,
		FullFeatureNames: wire.FullFeatureNames}
}

func TestLiveCasesGiveTheRawAnswersValuesAndStatuses(t *testing.T) {
	env := live(t)
	cases := liveCases(t)
	var registryTypes map[string]string
	if env.registry != "" {
		registryTypes = featureTypes(t, env)
	}
	clients := map[string]*Client{"encoding": NewClient(env.serving, WithAPIKey(env.key))}
	if env.registry != "" {
		clients["registry"] = NewClient(env.serving, WithAPIKey(env.key), WithRegistry(env.registry))
	} else {
		t.Log("FEATURELOG_REGISTRY_URL is not set: only the client without the registry is tested")
	}
	for _, tc := range cases {
		for mode, client := range clients {
			t.Run(tc.Name+"/"+mode, func(t *testing.T) {
				var raw wireResponse
				if err := json.Unmarshal(tc.Response, &raw); err != nil {
					t.Fatalf("case response: %v", err)
				}
				resp, err := client.GetOnlineFeatures(context.Background(), requestOf(t, tc.Request))
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.FeatureNames) != len(raw.Metadata.FeatureNames) {
					t.Fatalf("columns %v, raw %v", resp.FeatureNames, raw.Metadata.FeatureNames)
				}
				for i, name := range raw.Metadata.FeatureNames {
					column, ok := resp.Column(name)
					if !ok {
						t.Fatalf("no column %q in %v", name, resp.FeatureNames)
					}
					if mode == "registry" {
						checkRegistryType(t, column, registryTypes)
					}
					want := raw.Results[i]
					if len(column.Values) != len(want.Values) {
						t.Fatalf("%s: %d rows, raw %d", name, len(column.Values), len(want.Values))
					}
					for row := range want.Values {
						if column.Statuses[row] != want.Statuses[row] {
							t.Errorf("%s[%d]: status %s, raw %s", name, row, column.Statuses[row], want.Statuses[row])
						}
						wantAt, err := time.Parse(time.RFC3339Nano, want.EventTimestamps[row])
						if err != nil || !column.EventTimestamps[row].Equal(wantAt) {
							t.Errorf("%s[%d]: event timestamp %v, raw %s", name, row, column.EventTimestamps[row], want.EventTimestamps[row])
						}
						if problem := sameAsRaw(column.Values[row], want.Values[row]); problem != "" {
							t.Errorf("%s[%d]: %s", name, row, problem)
						}
					}
				}
			})
		}
	}
}

// featureTypes reads `view:feature` → type from the registry app directly.
func featureTypes(t *testing.T, env liveEnv) map[string]string {
	t.Helper()
	status, body := rawCall(t, env, env.key, "GET", env.registry+"/feature-views", nil)
	if status != 200 {
		t.Fatalf("GET /feature-views: %d %s", status, body)
	}
	var list struct {
		Items []struct {
			Name     string `json:"name"`
			Features []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"features"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, view := range list.Items {
		for _, feature := range view.Features {
			types[view.Name+":"+feature.Name] = feature.Type
		}
	}
	return types
}

// checkRegistryType: with the registry, a feature column has its view's type and every value the
// Go type of it.
func checkRegistryType(t *testing.T, column *Column, types map[string]string) {
	t.Helper()
	if column.Reference == "" {
		return // a join key
	}
	if want := types[column.Reference]; column.Type != want {
		t.Fatalf("%s (%s) has type %q, the registry says %q", column.Name, column.Reference, column.Type, want)
	}
	for row, value := range column.Values {
		if value != nil && goTypeName(value) != goTypes[column.Type] {
			t.Errorf("%s[%d] is a %T for type %s", column.Name, row, value, column.Type)
		}
	}
}

var goTypes = map[string]string{
	"bool": "bool", "int32": "int32", "int64": "int64", "float32": "float32", "float64": "float64",
	"string": "string", "bytes": "[]uint8", "timestamp": "time.Time",
	"list<bool>": "[]bool", "list<int32>": "[]int32", "list<int64>": "[]int64", "list<float32>": "[]float32",
	"list<float64>": "[]float64", "list<string>": "[]string", "list<bytes>": "[][]uint8", "list<timestamp>": "[]time.Time",
}

func goTypeName(value any) string { return fmt.Sprintf("%T", value) }

// sameAsRaw compares a decoded value with the raw JSON the server wrote for it, by meaning:
// numbers equal (float32 as the float32 of the decimal), timestamps equal instants, bytes equal.
// It returns what differs, or "".
func sameAsRaw(got any, raw json.RawMessage) string {
	text := string(raw)
	differs := func() string { return fmt.Sprintf("client %#v (%T), raw %s", got, got, text) }
	if text == "null" {
		if got != nil {
			return differs()
		}
		return ""
	}
	var str string
	isString := json.Unmarshal(raw, &str) == nil
	switch v := got.(type) {
	case nil:
		return differs()
	case bool:
		if text != strconv.FormatBool(v) {
			return differs()
		}
	case int64, int32:
		digits := text
		if isString {
			digits = str
		}
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil || n != toInt64(v) {
			return differs()
		}
	case float64:
		if !sameFloat(v, raw, 64) {
			return differs()
		}
	case float32:
		if !sameFloat(float64(v), raw, 32) {
			return differs()
		}
	case string:
		if !isString || str != v {
			return differs()
		}
	case []byte:
		decoded, err := base64.StdEncoding.DecodeString(str)
		if !isString || err != nil || !bytes.Equal(decoded, v) {
			return differs()
		}
	case time.Time:
		at, err := time.Parse(time.RFC3339Nano, str)
		if !isString || err != nil || !at.Equal(v) {
			return differs()
		}
	default:
		return sameListAsRaw(got, raw)
	}
	return ""
}

func toInt64(v any) int64 {
	if i, ok := v.(int32); ok {
		return int64(i)
	}
	return v.(int64)
}

func sameFloat(got float64, raw json.RawMessage, bits int) bool {
	var str string
	if json.Unmarshal(raw, &str) == nil {
		switch str {
		case "NaN":
			return math.IsNaN(got)
		case "Infinity":
			return math.IsInf(got, 1)
		case "-Infinity":
			return math.IsInf(got, -1)
		}
		return false
	}
	want, err := strconv.ParseFloat(string(raw), bits)
	return err == nil && want == got
}

func sameListAsRaw(got any, raw json.RawMessage) string {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Sprintf("client %#v, raw %s is not a list", got, raw)
	}
	var elements []any
	switch v := got.(type) {
	case []any:
		elements = v
	case []bool:
		elements = anys(v)
	case []int32:
		elements = anys(v)
	case []int64:
		elements = anys(v)
	case []float32:
		elements = anys(v)
	case []float64:
		elements = anys(v)
	case []string:
		elements = anys(v)
	case [][]byte:
		elements = anys(v)
	case []time.Time:
		elements = anys(v)
	default:
		return fmt.Sprintf("client value of unexpected type %T, raw %s", got, raw)
	}
	if len(elements) != len(items) {
		return fmt.Sprintf("client %d elements, raw %s", len(elements), raw)
	}
	for i := range items {
		if problem := sameAsRaw(elements[i], items[i]); problem != "" {
			return fmt.Sprintf("[%d]: %s", i, problem)
		}
	}
	return ""
}

func anys[T any](items []T) []any {
	out := make([]any, len(items))
	for i, item := range items {
		out[i] = item
	}
	return out
}

// rawCall is the raw HTTP the client is compared with.
func rawCall(t *testing.T, env liveEnv, key, method, url string, body []byte) (int, []byte) {
	t.Helper()
	request, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	request.Header.Set("Content-Type", "application/json")
	if key != "" {
		request.Header.Set("Authorization", "Bearer "+key)
	}
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	answer, err := io.ReadAll(response.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response.StatusCode, answer
}

// aView is a view and entities the cases ask for, so the errors below are about the feature alone.
func aView(t *testing.T) (string, map[string][]any) {
	for _, tc := range liveCases(t) {
		request := requestOf(t, tc.Request)
		if len(request.Features) > 0 && len(request.Entities) > 0 {
			view, _, _ := strings.Cut(request.Features[0], ":")
			return view, request.Entities
		}
	}
	return "driver_hourly_stats", map[string][]any{"driver_id": {1001}}
}

func TestLiveAnUnknownFeatureIsTheServers4xx(t *testing.T) {
	env := live(t)
	view, entities := aView(t)
	request := Request{Features: []string{view + ":no_such_feature_go_client"}, Entities: entities}
	body, err := requestBody(request)
	if err != nil {
		t.Fatal(err)
	}
	status, answer := rawCall(t, env, env.key, "POST", env.serving+"/get-online-features", body)
	var raw struct{ Code string }
	if err := json.Unmarshal(answer, &raw); err != nil || status < 400 || status >= 500 || raw.Code == "" {
		t.Fatalf("raw answer %d %s", status, answer)
	}
	_, err = NewClient(env.serving, WithAPIKey(env.key), WithRetries(3, time.Millisecond)).GetOnlineFeatures(context.Background(), request)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %#v", err)
	}
	if e.StatusCode != status || e.Code != raw.Code || e.Retriable || e.Attempts != 1 {
		t.Errorf("got %+v, raw %d %s", e, status, answer)
	}
	if e.Code != "UNKNOWN_FEATURE" || !strings.Contains(e.Message, "no_such_feature_go_client") {
		t.Errorf("the error does not name the feature: %v", e)
	}
}

func TestLiveAWrongAPIKeyIs401(t *testing.T) {
	env := live(t)
	if env.key == "" {
		t.Skip("FEATURELOG_API_KEY is not set: the apps run without keys, so no key is wrong")
	}
	view, entities := aView(t)
	wrong := "wrong-" + env.key
	request := Request{Features: []string{view + ":*"}, Entities: entities}
	_, err := NewClient(env.serving, WithAPIKey(wrong), WithRetries(3, time.Millisecond)).GetOnlineFeatures(context.Background(), request)
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 401 || e.Code != "UNAUTHENTICATED" || e.Retriable || e.Attempts != 1 {
		t.Fatalf("got %#v", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), env.key) {
		t.Errorf("the key is in %q", err)
	}
	// The registry's reads take the same key: a client with the registry fails the same way.
	if env.registry != "" {
		_, err = NewClient(env.serving, WithAPIKey(wrong), WithRegistry(env.registry)).GetOnlineFeatures(context.Background(), request)
		if !errors.As(err, &e) || e.StatusCode != 401 {
			t.Errorf("with the registry: %#v", err)
		}
	}
}
