package featurelog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testKey = "unit-test-key-0123456789abcdef"

// definitionsJSON is a registry with one view of every type, as GET /definitions answers.
const definitionsJSON = `{"version":3,"objects":{
 "entity":[{"name":"driver","joinKeys":[{"name":"driver_id","type":"int64"}]}],
 "data_source":[],
 "feature_view":[{"name":"all","version":1,"entities":["driver"],"ttlSeconds":0,"online":true,"offline":true,"features":[
  {"name":"b","type":"bool"},{"name":"i32","type":"int32"},{"name":"i64","type":"int64"},
  {"name":"f32","type":"float32"},{"name":"f64","type":"float64"},{"name":"s","type":"string"},
  {"name":"by","type":"bytes"},{"name":"ts","type":"timestamp"},
  {"name":"lf64","type":"list<float64>"},{"name":"lf32","type":"list<float32>"},{"name":"ls","type":"list<string>"},
  {"name":"lts","type":"list<timestamp>"},{"name":"lby","type":"list<bytes>"},{"name":"li64","type":"list<int64>"},{"name":"lb","type":"list<bool>"}]}],
 "feature_service":[{"name":"svc","features":["all:f32","all:ts"]}]}}`

const epoch = `"1970-01-01T00:00:00Z"`
const at = `"2026-12-02T03:06:15.000Z"`

func column(values string, statuses string, times string) string {
	return `{"values":[` + values + `],"statuses":[` + statuses + `],"event_timestamps":[` + times + `]}`
}

// allTypesJSON answers features ["all:*"] for driver_id [1001, "9007199254740993", 1003]: row 0
// holds a value of every type, row 1 the special floats and empty values, row 2 is NOT_FOUND.
var allTypesJSON = `{"metadata":{"feature_names":["driver_id","b","i32","i64","f32","f64","s","by","ts","lf64","lf32","ls","lts","lby","li64","lb"]},"results":[` +
	strings.Join([]string{
		column(`1001,"9007199254740993",1003`, `"PRESENT","PRESENT","PRESENT"`, epoch+","+epoch+","+epoch),
		column(`true,false,null`, `"PRESENT","PRESENT","NOT_FOUND"`, at+","+at+","+epoch),
		column(`-7,2147483647,null`, `"PRESENT","PRESENT","NOT_FOUND"`, at+","+at+","+epoch),
		column(`9007199254740991,-9007199254740991,null`, `"PRESENT","PRESENT","NOT_FOUND"`, at+","+at+","+epoch),
		column(`4.9,"-Infinity",null`, `"PRESENT","PRESENT","NOT_FOUND"`, at+","+at+","+epoch),
		column(`0.1,"NaN",null`, `"PRESENT","PRESENT","NOT_FOUND"`, at+","+at+","+epoch),
		column(`"héllo \"q\"","",null`, `"PRESENT","PRESENT","NOT_FOUND"`, at+","+at+","+epoch),
		column(`"AAEC/w==",null,null`, `"PRESENT","NULL_VALUE","NOT_FOUND"`, at+","+at+","+epoch),
		column(`"2024-05-01T12:00:00.000001Z",null,null`, `"OUTSIDE_MAX_AGE","NULL_VALUE","NOT_FOUND"`, `"2020-01-01T00:00:00.000Z"`+","+at+","+epoch),
		column(`[1.5,-2,3],[],null`, `"PRESENT","PRESENT","NOT_FOUND"`, at+","+at+","+epoch),
		column(`[0.1,1e-7,3.4028235e+38,"NaN"],null,null`, `"PRESENT","NULL_VALUE","NOT_FOUND"`, at+","+at+","+epoch),
		column(`["a","b"],[],null`, `"PRESENT","PRESENT","NOT_FOUND"`, at+","+at+","+epoch),
		column(`["2024-05-01T12:00:00.000Z"],null,null`, `"PRESENT","NULL_VALUE","NOT_FOUND"`, at+","+at+","+epoch),
		column(`["AAE="],null,null`, `"PRESENT","NULL_VALUE","NOT_FOUND"`, at+","+at+","+epoch),
		column(`[1,-2],null,null`, `"PRESENT","NULL_VALUE","NOT_FOUND"`, at+","+at+","+epoch),
		column(`[true,false],null,null`, `"PRESENT","NULL_VALUE","NOT_FOUND"`, at+","+at+","+epoch),
	}, ",") + `]}`

// fakeApps serves /get-online-features (answer) and /definitions on one test server, recording
// the requests.
type fakeApps struct {
	server      *httptest.Server
	online      func(w http.ResponseWriter, r *http.Request, attempt int)
	attempts    atomic.Int32
	definitions atomic.Int32
	lastBody    atomic.Value // []byte
	lastAuth    atomic.Value // string
	registry    atomic.Value // string: the /definitions answer, definitionsJSON unless set
}

func newFakeApps(t *testing.T, online func(w http.ResponseWriter, r *http.Request, attempt int)) *fakeApps {
	t.Helper()
	f := &fakeApps{online: online}
	f.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/definitions":
			f.definitions.Add(1)
			w.Header().Set("Content-Type", "application/json")
			body, _ := f.registry.Load().(string)
			if body == "" {
				body = definitionsJSON
			}
			_, _ = io.WriteString(w, body)
		case "/get-online-features":
			body, _ := io.ReadAll(r.Body)
			f.lastBody.Store(body)
			f.lastAuth.Store(r.Header.Get("Authorization"))
			f.online(w, r, int(f.attempts.Add(1)))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.server.Close)
	return f
}

func answer(body string) func(w http.ResponseWriter, r *http.Request, attempt int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

func failure(status int, code, message string, retriable bool) string {
	body, _ := json.Marshal(map[string]any{"statusCode": status, "code": code, "message": message, "retriable": retriable})
	return string(body)
}

func writeError(w http.ResponseWriter, status int, code, message string, retriable bool) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, failure(status, code, message, retriable))
}

var allRequest = Request{Features: []string{"all:*"}, Entities: map[string][]any{"driver_id": {1001, int64(9007199254740993), 1003}}}

func TestDecodesEveryTypeWithTheRegistry(t *testing.T) {
	f := newFakeApps(t, answer(allTypesJSON))
	c := NewClient(f.server.URL, WithAPIKey(testKey), WithRegistry(f.server.URL+"/"))
	resp, err := c.GetOnlineFeatures(context.Background(), allRequest)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Rows() != 3 || len(resp.Columns) != 16 {
		t.Fatalf("got %d rows, %d columns", resp.Rows(), len(resp.Columns))
	}
	want := map[string][]any{
		"driver_id": {int64(1001), int64(9007199254740993), int64(1003)},
		"b":         {true, false, nil},
		"i32":       {int32(-7), int32(math.MaxInt32), nil},
		"i64":       {int64(9007199254740991), int64(-9007199254740991), nil},
		"f32":       {float32(4.9), float32(math.Inf(-1)), nil},
		"s":         {`héllo "q"`, "", nil},
		"by":        {[]byte{0, 1, 2, 255}, nil, nil},
		"ts":        {time.Date(2024, 5, 1, 12, 0, 0, 1000, time.UTC), nil, nil},
		"lf64":      {[]float64{1.5, -2, 3}, []float64{}, nil},
		"ls":        {[]string{"a", "b"}, []string{}, nil},
		"lts":       {[]time.Time{time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}, nil, nil},
		"lby":       {[][]byte{{0, 1}}, nil, nil},
		"li64":      {[]int64{1, -2}, nil, nil},
		"lb":        {[]bool{true, false}, nil, nil},
	}
	for name, values := range want {
		for row, expected := range values {
			got, ok := resp.Value(row, name)
			if !ok || !sameValue(got, expected) {
				t.Errorf("%s[%d] = %#v (%T), want %#v (%T)", name, row, got, got, expected, expected)
			}
		}
	}
	if v, _ := resp.Value(0, "f64"); v != 0.1 {
		t.Errorf("f64[0] = %#v", v)
	}
	if v, _ := resp.Value(1, "f64"); !math.IsNaN(v.(float64)) {
		t.Errorf("f64[1] = %#v, want NaN", v)
	}
	lf32, _ := Get[[]float32](resp, 0, "lf32")
	if len(lf32) != 4 || lf32[0] != float32(0.1) || lf32[1] != float32(1e-7) || lf32[2] != math.MaxFloat32 || !math.IsNaN(float64(lf32[3])) {
		t.Errorf("lf32[0] = %#v", lf32)
	}
	// The float32 is the float32 of the decimal, not a float64 near it.
	if v, _ := resp.Float32(0, "f32"); v != float32(4.9) {
		t.Errorf("Float32 = %v", v)
	}
	if col, _ := resp.Column("all:ts"); col == nil || col.Type != "timestamp" || col.Name != "ts" {
		t.Errorf("all:ts finds %+v", col)
	}
	if got, _ := resp.Int64(0, "all:i32"); got != -7 {
		t.Errorf("Int64 of an int32 = %d", got)
	}
	if f.definitions.Load() != 1 {
		t.Errorf("read the registry %d times", f.definitions.Load())
	}
	// The second request uses the cache.
	if _, err := c.GetOnlineFeatures(context.Background(), allRequest); err != nil {
		t.Fatal(err)
	}
	if f.definitions.Load() != 1 {
		t.Errorf("read the registry %d times for two requests", f.definitions.Load())
	}
}

func sameValue(got, want any) bool {
	switch w := want.(type) {
	case []byte:
		g, ok := got.([]byte)
		return ok && bytes.Equal(g, w)
	case time.Time:
		g, ok := got.(time.Time)
		return ok && g.Equal(w) && g.Location() == time.UTC
	case [][]byte:
		g, ok := got.([][]byte)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range g {
			if !bytes.Equal(g[i], w[i]) {
				return false
			}
		}
		return true
	case []time.Time:
		g, ok := got.([]time.Time)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range g {
			if !g[i].Equal(w[i]) {
				return false
			}
		}
		return true
	case []float64, []string, []int64, []bool:
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		return string(gj) == string(wj) && sameType(got, want)
	}
	return got == want
}

func sameType(a, b any) bool {
	switch a.(type) {
	case []float64:
		_, ok := b.([]float64)
		return ok
	case []string:
		_, ok := b.([]string)
		return ok
	case []int64:
		_, ok := b.([]int64)
		return ok
	case []bool:
		_, ok := b.([]bool)
		return ok
	}
	return false
}

func TestStatusesAndEventTimestamps(t *testing.T) {
	f := newFakeApps(t, answer(allTypesJSON))
	c := NewClient(f.server.URL, WithRegistry(f.server.URL))
	resp, err := c.GetOnlineFeatures(context.Background(), allRequest)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		row    int
		name   string
		status Status
		at     time.Time
	}{
		{0, "driver_id", StatusPresent, time.Unix(0, 0)},
		{0, "b", StatusPresent, time.Date(2026, 12, 2, 3, 6, 15, 0, time.UTC)},
		{1, "by", StatusNullValue, time.Date(2026, 12, 2, 3, 6, 15, 0, time.UTC)},
		{0, "ts", StatusOutsideMaxAge, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)},
		{2, "s", StatusNotFound, time.Unix(0, 0)},
	} {
		if got := resp.Status(tc.row, tc.name); got != tc.status {
			t.Errorf("status %s[%d] = %q, want %q", tc.name, tc.row, got, tc.status)
		}
		if got := resp.EventTimestamp(tc.row, tc.name); !got.Equal(tc.at) {
			t.Errorf("event timestamp %s[%d] = %v, want %v", tc.name, tc.row, got, tc.at)
		}
	}
	if resp.Status(3, "b") != "" || resp.Status(0, "nope") != "" {
		t.Error("a missing row or column has a status")
	}
	if _, ok := resp.Value(0, "nope"); ok {
		t.Error("a missing column has a value")
	}
	if v, ok := resp.Value(2, "b"); !ok || v != nil {
		t.Errorf("a NOT_FOUND value is %#v, %v", v, ok)
	}
}

func TestDecodesFromTheEncodingWithoutTheRegistry(t *testing.T) {
	f := newFakeApps(t, answer(allTypesJSON))
	c := NewClient(f.server.URL)
	resp, err := c.GetOnlineFeatures(context.Background(), allRequest)
	if err != nil {
		t.Fatal(err)
	}
	if f.definitions.Load() != 0 {
		t.Error("read the registry without WithRegistry")
	}
	if v, _ := resp.Value(0, "i32"); v != int64(-7) {
		t.Errorf("inferred integer = %#v", v)
	}
	if v, _ := resp.Value(0, "f64"); v != 0.1 {
		t.Errorf("inferred float = %#v", v)
	}
	if v, _ := resp.Value(0, "by"); v != "AAEC/w==" {
		t.Errorf("inferred bytes = %#v", v)
	}
	if v, ok := resp.Bytes(0, "by"); !ok || !bytes.Equal(v, []byte{0, 1, 2, 255}) {
		t.Errorf("Bytes = %v, %v", v, ok)
	}
	if v, ok := resp.Time(0, "ts"); !ok || !v.Equal(time.Date(2024, 5, 1, 12, 0, 0, 1000, time.UTC)) {
		t.Errorf("Time = %v, %v", v, ok)
	}
	if v, ok := resp.Float64(1, "f64"); !ok || !math.IsNaN(v) {
		t.Errorf("Float64 of \"NaN\" = %v, %v", v, ok)
	}
	if v, ok := resp.Float32(1, "f32"); !ok || !math.IsInf(float64(v), -1) {
		t.Errorf("Float32 of \"-Infinity\" = %v, %v", v, ok)
	}
	if v, ok := resp.Float32(0, "f32"); !ok || v != float32(4.9) {
		t.Errorf("Float32 = %v, %v", v, ok)
	}
	if v, ok := resp.Float64(0, "i64"); !ok || v != 9007199254740991 {
		t.Errorf("Float64 of an integer = %v, %v", v, ok)
	}
	if v, ok := resp.String(0, "s"); !ok || v != `héllo "q"` {
		t.Errorf("String = %q, %v", v, ok)
	}
	if v, ok := resp.Bool(1, "b"); !ok || v {
		t.Errorf("Bool = %v, %v", v, ok)
	}
	if v, _ := Get[[]any](resp, 0, "lf64"); len(v) != 3 || v[0] != 1.5 || v[1] != int64(-2) {
		t.Errorf("inferred list = %#v", v)
	}
	if _, ok := resp.Int64(2, "i64"); ok {
		t.Error("Int64 of null is ok")
	}
	if _, ok := resp.Int64(0, "s"); ok {
		t.Error("Int64 of a string is ok")
	}
}

func TestReferencesNameColumnsWithoutTheRegistry(t *testing.T) {
	body := `{"metadata":{"feature_names":["driver_id","all__f32"]},"results":[` +
		column(`1`, `"PRESENT"`, epoch) + "," + column(`1.5`, `"PRESENT"`, at) + `]}`
	f := newFakeApps(t, answer(body))
	c := NewClient(f.server.URL)
	resp, err := c.GetOnlineFeatures(context.Background(), Request{Features: []string{"all:f32"}, FullFeatureNames: true,
		Entities: map[string][]any{"driver_id": {1}}})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := resp.Float64(0, "all:f32"); !ok || v != 1.5 {
		t.Errorf("all:f32 = %v, %v", v, ok)
	}
	if v, ok := resp.Float64(0, "all__f32"); !ok || v != 1.5 {
		t.Errorf("all__f32 = %v, %v", v, ok)
	}
}

func TestSendsFeastsBody(t *testing.T) {
	f := newFakeApps(t, answer(`{"metadata":{"feature_names":["k"]},"results":[`+column(`"x"`, `"PRESENT"`, epoch)+`]}`))
	c := NewClient(f.server.URL, WithAPIKey(testKey))
	_, err := c.GetOnlineFeatures(context.Background(), Request{FeatureService: "svc",
		Entities: map[string][]any{"id": {int64(1) << 60, -(int64(1) << 53), 7, "s", uint64(1) << 63}}})
	if err != nil {
		t.Fatal(err)
	}
	got := string(f.lastBody.Load().([]byte))
	want := `{"entities":{"id":["1152921504606846976",-9007199254740992,7,"s","9223372036854775808"]},"feature_service":"svc","full_feature_names":false}`
	if got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	if auth := f.lastAuth.Load().(string); auth != "Bearer "+testKey {
		t.Errorf("Authorization %q", auth)
	}
	_, err = c.GetOnlineFeatures(context.Background(), Request{Features: []string{"v:f"}, FeatureService: "svc"})
	var e *Error
	if !errors.As(err, &e) || e.Code != "INVALID_REQUEST" || f.attempts.Load() != 1 {
		t.Errorf("both features and service: %v (%d requests)", err, f.attempts.Load())
	}
}

func TestRetriesA503ThenSucceeds(t *testing.T) {
	f := newFakeApps(t, func(w http.ResponseWriter, r *http.Request, attempt int) {
		if attempt <= 2 {
			writeError(w, 503, "ONLINE_STORE_UNAVAILABLE", "redis is down", true)
			return
		}
		answer(allTypesJSON)(w, r, attempt)
	})
	c := NewClient(f.server.URL, WithRetries(2, time.Millisecond))
	resp, err := c.GetOnlineFeatures(context.Background(), allRequest)
	if err != nil {
		t.Fatal(err)
	}
	if f.attempts.Load() != 3 || resp.Rows() != 3 {
		t.Errorf("%d attempts, %d rows", f.attempts.Load(), resp.Rows())
	}
}

func TestGivesUpAfterTheRetries(t *testing.T) {
	f := newFakeApps(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		writeError(w, 503, "ONLINE_STORE_UNAVAILABLE", "redis is down", true)
	})
	c := NewClient(f.server.URL, WithRetries(3, time.Millisecond))
	_, err := c.GetOnlineFeatures(context.Background(), allRequest)
	var e *Error
	if !errors.As(err, &e) || e.Code != "ONLINE_STORE_UNAVAILABLE" || e.StatusCode != 503 || !e.Retriable || e.Attempts != 4 {
		t.Fatalf("got %#v", err)
	}
	if f.attempts.Load() != 4 {
		t.Errorf("%d attempts", f.attempts.Load())
	}
}

func TestRetriesABareGatewayError(t *testing.T) {
	f := newFakeApps(t, func(w http.ResponseWriter, r *http.Request, attempt int) {
		if attempt == 1 {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html>bad gateway</html>")
			return
		}
		answer(allTypesJSON)(w, r, attempt)
	})
	c := NewClient(f.server.URL, WithRetries(1, time.Millisecond))
	if _, err := c.GetOnlineFeatures(context.Background(), allRequest); err != nil {
		t.Fatal(err)
	}
}

func TestNeverRetriesA4xx(t *testing.T) {
	for _, tc := range []struct {
		status    int
		code      string
		retriable bool
	}{
		{400, "INVALID_REQUEST", false},
		{404, "UNKNOWN_FEATURE", false},
		{429, "TOO_MANY", true}, // even marked retriable: a 4xx is the request's
	} {
		f := newFakeApps(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
			writeError(w, tc.status, tc.code, `"entities" must name at least one join key`, tc.retriable)
		})
		c := NewClient(f.server.URL, WithRetries(5, time.Millisecond))
		_, err := c.GetOnlineFeatures(context.Background(), allRequest)
		var e *Error
		if !errors.As(err, &e) || e.StatusCode != tc.status || e.Code != tc.code || e.Retriable {
			t.Errorf("%d: got %#v", tc.status, err)
		}
		if e != nil && e.Message != `"entities" must name at least one join key` {
			t.Errorf("message %q", e.Message)
		}
		if f.attempts.Load() != 1 {
			t.Errorf("%d: %d attempts", tc.status, f.attempts.Load())
		}
	}
}

func TestATimeoutIsRetriable(t *testing.T) {
	release := make(chan struct{})
	f := newFakeApps(t, func(w http.ResponseWriter, r *http.Request, attempt int) {
		if attempt == 1 {
			select { // answers only once the client gave up on it
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		answer(allTypesJSON)(w, r, attempt)
	})
	defer close(release)
	c := NewClient(f.server.URL, WithTimeout(50*time.Millisecond), WithRetries(0, 0))
	_, err := c.GetOnlineFeatures(context.Background(), allRequest)
	var e *Error
	if !errors.As(err, &e) || e.Code != "TIMEOUT" || !e.Retriable || e.StatusCode != 0 {
		t.Fatalf("got %#v", err)
	}
	// With a retry, the second attempt answers.
	c = NewClient(f.server.URL, WithTimeout(50*time.Millisecond), WithRetries(1, time.Millisecond))
	f.attempts.Store(0)
	if _, err := c.GetOnlineFeatures(context.Background(), allRequest); err != nil {
		t.Fatal(err)
	}
	if f.attempts.Load() != 2 {
		t.Errorf("%d attempts", f.attempts.Load())
	}
}

func TestConnectionRefusedIsRetriedAndKeepsTheKeySecret(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + listener.Addr().String()
	_ = listener.Close()
	c := NewClient(url, WithAPIKey(testKey), WithRetries(2, time.Millisecond))
	_, err = c.GetOnlineFeatures(context.Background(), allRequest)
	var e *Error
	if !errors.As(err, &e) || e.Code != "UNAVAILABLE" || !e.Retriable || e.Attempts != 3 {
		t.Fatalf("got %#v", err)
	}
	if strings.Contains(err.Error(), testKey) || strings.Contains(e.Message, testKey) {
		t.Errorf("the key is in %q", err)
	}
}

func TestUnauthenticatedIs401AndNeverShowsTheKey(t *testing.T) {
	f := newFakeApps(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		// A server (or proxy) that echoes what it got must not make the client print the key.
		writeError(w, 401, "UNAUTHENTICATED", "the API key is not valid: "+r.Header.Get("Authorization"), false)
	})
	c := NewClient(f.server.URL, WithAPIKey(testKey), WithRetries(3, time.Millisecond))
	_, err := c.GetOnlineFeatures(context.Background(), allRequest)
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 401 || e.Code != "UNAUTHENTICATED" || e.Retriable {
		t.Fatalf("got %#v", err)
	}
	if f.attempts.Load() != 1 {
		t.Errorf("%d attempts", f.attempts.Load())
	}
	if strings.Contains(err.Error(), testKey) || strings.Contains(e.Message, testKey) {
		t.Errorf("the key is in %q", err)
	}
	if !strings.Contains(err.Error(), "UNAUTHENTICATED (HTTP 401)") {
		t.Errorf("error text %q", err)
	}
}

func TestCancellationStopsTheRetries(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := newFakeApps(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		writeError(w, 503, "REGISTRY_INCOMPLETE", "not ready", true)
		cancel() // while the client waits its (hour-long) backoff
	})
	c := NewClient(f.server.URL, WithRetries(5, time.Hour))
	started := time.Now()
	_, err := c.GetOnlineFeatures(ctx, allRequest)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %#v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != "CANCELLED" || e.Retriable {
		t.Errorf("got %#v", err)
	}
	if time.Since(started) > 10*time.Second || f.attempts.Load() != 1 {
		t.Errorf("%d attempts in %s", f.attempts.Load(), time.Since(started))
	}
}

func TestACallerDeadlineDuringAnAttemptIsNotRetried(t *testing.T) {
	f := newFakeApps(t, func(_ http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c := NewClient(f.server.URL, WithRetries(5, time.Millisecond))
	_, err := c.GetOnlineFeatures(ctx, allRequest)
	if !errors.Is(err, context.DeadlineExceeded) || f.attempts.Load() != 1 {
		t.Fatalf("got %#v after %d attempts", err, f.attempts.Load())
	}
}

func TestRereadsTheRegistryForAViewItDoesNotKnow(t *testing.T) {
	body := `{"metadata":{"feature_names":["driver_id","new_feature"]},"results":[` +
		column(`1`, `"PRESENT"`, epoch) + "," + column(`"2024-05-01T00:00:00Z"`, `"PRESENT"`, at) + `]}`
	f := newFakeApps(t, answer(body))
	c := NewClient(f.server.URL, WithRegistry(f.server.URL))
	request := Request{Features: []string{"newer_view:new_feature"}, Entities: map[string][]any{"driver_id": {1}}}
	if _, err := c.GetOnlineFeatures(context.Background(), request); err != nil {
		t.Fatal(err)
	}
	// Just read: not read again at once, nor within minRefetch.
	if _, err := c.GetOnlineFeatures(context.Background(), request); err != nil {
		t.Fatal(err)
	}
	if f.definitions.Load() != 1 {
		t.Errorf("read the registry %d times", f.definitions.Load())
	}
	c.types.fetchedAt = c.types.fetchedAt.Add(-minRefetch)
	resp, err := c.GetOnlineFeatures(context.Background(), request)
	if err != nil {
		t.Fatal(err)
	}
	// Read again for the view it did not know; the column still unknown is decoded from its encoding.
	if f.definitions.Load() != 2 {
		t.Errorf("read the registry %d times", f.definitions.Load())
	}
	if v, _ := resp.Value(0, "new_feature"); v != "2024-05-01T00:00:00Z" {
		t.Errorf("value %#v", v)
	}
	if v, ok := resp.Time(0, "new_feature"); !ok || !v.Equal(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Time %v %v", v, ok)
	}
}

func TestAServiceIsTypedFromItsReferences(t *testing.T) {
	body := `{"metadata":{"feature_names":["driver_id","all__f32","all__ts"]},"results":[` +
		column(`1`, `"PRESENT"`, epoch) + "," + column(`0.3`, `"PRESENT"`, at) + "," + column(`"2024-05-01T00:00:00.000Z"`, `"PRESENT"`, at) + `]}`
	f := newFakeApps(t, answer(body))
	c := NewClient(f.server.URL, WithRegistry(f.server.URL))
	resp, err := c.GetOnlineFeatures(context.Background(), Request{FeatureService: "svc", FullFeatureNames: true,
		Entities: map[string][]any{"driver_id": {1}}})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := resp.Value(0, "all:f32"); v != float32(0.3) {
		t.Errorf("all:f32 = %#v", v)
	}
	if v, _ := resp.Value(0, "all__ts"); v != time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("all__ts = %#v", v)
	}
	if v, _ := resp.Value(0, "driver_id"); v != int64(1) {
		t.Errorf("driver_id = %#v", v)
	}
}

func TestAMalformedAnswerIsAnError(t *testing.T) {
	for _, body := range []string{
		`not json`,
		`{"metadata":{"feature_names":["a","b"]},"results":[` + column(`1`, `"PRESENT"`, epoch) + `]}`,
		`{"metadata":{"feature_names":["a"]},"results":[` + column(`1,2`, `"PRESENT"`, epoch) + `]}`,
		`{"metadata":{"feature_names":["a"]},"results":[` + column(`1`, `"PRESENT"`, `"yesterday"`) + `]}`,
	} {
		f := newFakeApps(t, answer(body))
		_, err := NewClient(f.server.URL).GetOnlineFeatures(context.Background(), Request{Features: []string{"v:a"}})
		var e *Error
		if !errors.As(err, &e) || e.Code != "INVALID_RESPONSE" || e.Retriable {
			t.Errorf("%s: got %#v", body, err)
		}
	}
	// A value that is not of its registry type.
	f := newFakeApps(t, answer(`{"metadata":{"feature_names":["b"]},"results":[`+column(`"yes"`, `"PRESENT"`, at)+`]}`))
	_, err := NewClient(f.server.URL, WithRegistry(f.server.URL)).GetOnlineFeatures(context.Background(), Request{Features: []string{"all:b"}})
	var e *Error
	if !errors.As(err, &e) || e.Code != "INVALID_RESPONSE" || !strings.Contains(e.Message, "not a bool") {
		t.Errorf("got %#v", err)
	}
}

func TestFloat32DecodesTheShortestDecimals(t *testing.T) {
	for text, want := range map[string]float32{
		"4.9":           4.9,
		"0.1":           0.1,
		"1e-45":         math.SmallestNonzeroFloat32,
		"3.4028235e+38": math.MaxFloat32,
		"16777217":      16777216,
		"-0":            float32(math.Copysign(0, -1)),
	} {
		got, err := decodeScalar(json.RawMessage(text), "float32")
		if err != nil || got.(float32) != want || math.Signbit(float64(got.(float32))) != math.Signbit(float64(want)) {
			t.Errorf("%s: %v, %v", text, got, err)
		}
	}
}

func TestRereadsTheRegistryWhenAValueIsNotOfItsCachedType(t *testing.T) {
	f := newFakeApps(t, answer(`{"metadata":{"feature_names":["b"]},"results":[`+column(`"yes"`, `"PRESENT"`, at)+`]}`))
	c := NewClient(f.server.URL, WithRegistry(f.server.URL))
	request := Request{Features: []string{"all:b"}}
	if _, err := c.GetOnlineFeatures(context.Background(), request); err == nil {
		t.Fatal("a string decoded as a bool")
	}
	// The view's feature became a string (a new version of the view).
	f.registry.Store(strings.Replace(definitionsJSON, `{"name":"b","type":"bool"}`, `{"name":"b","type":"string"}`, 1))
	c.types.fetchedAt = c.types.fetchedAt.Add(-minRefetch)
	resp, err := c.GetOnlineFeatures(context.Background(), request)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := resp.Value(0, "all:b"); v != "yes" || f.definitions.Load() != 2 {
		t.Errorf("value %#v after %d registry reads", v, f.definitions.Load())
	}
}
