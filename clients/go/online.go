package featurelog

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Request is one get-online-features request: exactly one of Features and FeatureService.
type Request struct {
	// Features are `view:feature` or `view:*` references.
	Features []string
	// FeatureService names a feature service.
	FeatureService string
	// Entities maps each join key to one value per entity row (all lists equally long). Integers
	// are sent as JSON numbers, or as decimal strings past ±2^53 (a JSON number may lose their
	// digits, so the server refuses it); a string key must be a Go string.
	Entities map[string][]any
	// FullFeatureNames names the columns `view__feature` instead of `feature`.
	FullFeatureNames bool
}

// Status of one value, as the server judges it (first match wins, as in Feast).
type Status string

const (
	// Present: the entity's row is within the view's TTL and the value is not null.
	StatusPresent Status = "PRESENT"
	// NotFound: the online store has no row for the entity in the view; the value is nil.
	StatusNotFound Status = "NOT_FOUND"
	// NullValue: the row is within its TTL but this feature's value is null.
	StatusNullValue Status = "NULL_VALUE"
	// OutsideMaxAge: the row is older than the view's TTL; the value is still given.
	StatusOutsideMaxAge Status = "OUTSIDE_MAX_AGE"
)

// Column is one column of a response: a join key (echoing the request) or a feature.
type Column struct {
	// Name as the server names it: the join key, `feature`, or `view__feature`.
	Name string
	// Reference is `view:feature` for a feature column when known (from the registry, or from a
	// request's own `view:feature`), "" otherwise.
	Reference string
	// Type is the featurelog value type (`int64`, `list<float32>`, …) when the registry gave it,
	// "" when the values were decoded from their JSON encoding alone.
	Type string
	// Values by entity row: nil for null, else the Go type of Type (see the README's table).
	Values []any
	// Statuses by entity row (join key columns are always PRESENT).
	Statuses []Status
	// EventTimestamps by entity row: the event time of the row the value came from; the Unix
	// epoch for join keys and NOT_FOUND values.
	EventTimestamps []time.Time
}

// Response is the answer to one Request.
type Response struct {
	// FeatureNames are the column names in order: the request's join keys, then the features.
	FeatureNames []string
	Columns      []Column
	byName       map[string]int
}

// GetOnlineFeatures asks the serving app for the latest feature values of the given entities.
func (c *Client) GetOnlineFeatures(ctx context.Context, request Request) (*Response, error) {
	body, err := requestBody(request)
	if err != nil {
		return nil, err
	}
	answer, err := c.call(ctx, "POST", c.servingURL+"/get-online-features", body)
	if err != nil {
		return nil, err
	}
	var wire wireResponse
	if err := json.Unmarshal(answer, &wire); err != nil {
		return nil, invalidResponse("the answer is not get-online-features JSON: %v", err)
	}
	var types *columnTypes
	if c.registryURL != "" {
		types, err = c.types.resolve(ctx, c, request, wire.Metadata.FeatureNames)
		if err != nil {
			return nil, err
		}
	} else {
		types = referencesFromRequest(request, wire.Metadata.FeatureNames)
	}
	response, err := decodeResponse(&wire, types)
	// A value not of its cached type: the type may have changed since (a new view version); read
	// the registry again (at most once a second) before calling the answer malformed.
	if err != nil && c.registryURL != "" && c.types.refresh(ctx, c) {
		if types, err = c.types.resolve(ctx, c, request, wire.Metadata.FeatureNames); err != nil {
			return nil, err
		}
		response, err = decodeResponse(&wire, types)
	}
	if err != nil {
		return nil, err
	}
	return response, nil
}

func requestBody(request Request) ([]byte, error) {
	if (len(request.Features) == 0) == (request.FeatureService == "") {
		return nil, &Error{Code: "INVALID_REQUEST", Message: "give exactly one of Features and FeatureService"}
	}
	entities := make(map[string][]any, len(request.Entities))
	for key, values := range request.Entities {
		out := make([]any, len(values))
		for i, value := range values {
			out[i] = entityValue(value)
		}
		entities[key] = out
	}
	body := map[string]any{"entities": entities, "full_feature_names": request.FullFeatureNames}
	if request.FeatureService != "" {
		body["feature_service"] = request.FeatureService
	} else {
		body["features"] = request.Features
	}
	encoded, err := json.Marshal(body)
	if err != nil {
		return nil, &Error{Code: "INVALID_REQUEST", Message: "entities: " + err.Error(), cause: err}
	}
	return encoded, nil
}

// maxSafeInteger is 2^53: past it a JSON number may not hold an integer exactly (in the server's
// reader), so such keys go as decimal strings, which the server reads exactly.
const maxSafeInteger = 1 << 53

func entityValue(value any) any {
	switch v := value.(type) {
	case int:
		return safeInteger(int64(v))
	case int64:
		return safeInteger(v)
	case uint:
		return safeUnsigned(uint64(v))
	case uint64:
		return safeUnsigned(v)
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return safeInteger(i)
		}
		if _, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			return string(v)
		}
	}
	return value
}

func safeInteger(v int64) any {
	if v > maxSafeInteger || v < -maxSafeInteger {
		return strconv.FormatInt(v, 10)
	}
	return v
}

func safeUnsigned(v uint64) any {
	if v > maxSafeInteger {
		return strconv.FormatUint(v, 10)
	}
	return v
}

type wireResponse struct {
	Metadata struct {
		FeatureNames []string `json:"feature_names"`
	} `json:"metadata"`
	Results []struct {
		Values          []json.RawMessage `json:"values"`
		Statuses        []Status          `json:"statuses"`
		EventTimestamps []string          `json:"event_timestamps"`
	} `json:"results"`
}

// columnTypes: what is known of each column beyond its name.
type columnTypes struct {
	types      map[string]string // column name → value type
	references map[string]string // column name → view:feature
}

func decodeResponse(wire *wireResponse, known *columnTypes) (*Response, error) {
	names := wire.Metadata.FeatureNames
	if len(names) != len(wire.Results) {
		return nil, invalidResponse("%d feature names but %d result columns", len(names), len(wire.Results))
	}
	rows := -1
	response := &Response{FeatureNames: names, Columns: make([]Column, len(names)), byName: map[string]int{}}
	for i, name := range names {
		result := wire.Results[i]
		if rows < 0 {
			rows = len(result.Values)
		}
		if len(result.Values) != rows || len(result.Statuses) != rows || len(result.EventTimestamps) != rows {
			return nil, invalidResponse("column %q has %d values, %d statuses and %d event timestamps for %d rows",
				name, len(result.Values), len(result.Statuses), len(result.EventTimestamps), rows)
		}
		column := Column{Name: name, Type: known.types[name], Reference: known.references[name], Statuses: result.Statuses,
			Values: make([]any, rows), EventTimestamps: make([]time.Time, rows)}
		for row, raw := range result.Values {
			value, err := decodeValue(raw, column.Type)
			if err != nil {
				return nil, invalidResponse("column %q row %d: %v", name, row, err)
			}
			column.Values[row] = value
		}
		for row, text := range result.EventTimestamps {
			at, err := time.Parse(time.RFC3339Nano, text)
			if err != nil {
				return nil, invalidResponse("column %q row %d: event timestamp %q: %v", name, row, text, err)
			}
			column.EventTimestamps[row] = at.UTC()
		}
		response.Columns[i] = column
		response.byName[name] = i
	}
	// `view:feature` finds a column too, unless a column is literally named so.
	for i, column := range response.Columns {
		if _, taken := response.byName[column.Reference]; column.Reference != "" && !taken {
			response.byName[column.Reference] = i
		}
	}
	return response, nil
}

func invalidResponse(format string, args ...any) *Error {
	return &Error{Code: "INVALID_RESPONSE", Message: fmt.Sprintf(format, args...)}
}

// referencesFromRequest: without the registry, a request's own `view:feature` references still
// name their columns (not `view:*`, whose features only the registry knows).
func referencesFromRequest(request Request, names []string) *columnTypes {
	known := &columnTypes{types: map[string]string{}, references: map[string]string{}}
	present := map[string]bool{}
	for _, name := range names {
		present[name] = true
	}
	for _, reference := range request.Features {
		view, feature, ok := strings.Cut(reference, ":")
		if !ok || feature == "*" {
			continue
		}
		name := columnName(view, feature, request.FullFeatureNames)
		if present[name] {
			known.references[name] = view + ":" + feature
		}
	}
	return known
}

func columnName(view, feature string, full bool) string {
	if full {
		return view + "__" + feature
	}
	return feature
}

// decodeValue decodes one JSON value of the given featurelog type; "" infers it from the encoding.
func decodeValue(raw json.RawMessage, valueType string) (any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if valueType == "" {
		return inferValue(raw)
	}
	if element, ok := strings.CutPrefix(valueType, "list<"); ok {
		element = strings.TrimSuffix(element, ">")
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("%s must be a JSON list, got %s", valueType, abbreviate(raw))
		}
		return decodeList(items, element)
	}
	return decodeScalar(raw, valueType)
}

func decodeList(items []json.RawMessage, element string) (any, error) {
	switch element {
	case "bool":
		return listOf[bool](items, element)
	case "int32":
		return listOf[int32](items, element)
	case "int64":
		return listOf[int64](items, element)
	case "float32":
		return listOf[float32](items, element)
	case "float64":
		return listOf[float64](items, element)
	case "string":
		return listOf[string](items, element)
	case "bytes":
		return listOf[[]byte](items, element)
	case "timestamp":
		return listOf[time.Time](items, element)
	}
	return nil, fmt.Errorf("unknown value type list<%s>", element)
}

func listOf[T any](items []json.RawMessage, element string) ([]T, error) {
	out := make([]T, len(items))
	for i, item := range items {
		value, err := decodeScalar(item, element)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		typed, ok := value.(T)
		if !ok {
			return nil, fmt.Errorf("[%d]: a list<%s> holds no null", i, element)
		}
		out[i] = typed
	}
	return out, nil
}

func decodeScalar(raw json.RawMessage, valueType string) (any, error) {
	text := string(raw)
	if text == "null" {
		return nil, nil
	}
	quoted := len(text) > 0 && text[0] == '"'
	var str string
	if quoted {
		if err := json.Unmarshal(raw, &str); err != nil {
			return nil, err
		}
	}
	switch valueType {
	case "bool":
		if text == "true" || text == "false" {
			return text == "true", nil
		}
	case "int32", "int64":
		digits := text
		if quoted { // join keys echo the request, where integers may be decimal strings
			digits = str
		}
		bits := 64
		if valueType == "int32" {
			bits = 32
		}
		if v, err := strconv.ParseInt(digits, 10, bits); err == nil {
			if bits == 32 {
				return int32(v), nil
			}
			return v, nil
		}
	case "float64":
		if quoted {
			if v, ok := nonFinite(str); ok {
				return v, nil
			}
		} else if v, err := strconv.ParseFloat(text, 64); err == nil {
			return v, nil
		}
	case "float32":
		if quoted {
			if v, ok := nonFinite(str); ok {
				return float32(v), nil
			}
		} else if v, err := strconv.ParseFloat(text, 32); err == nil {
			return float32(v), nil
		}
	case "string":
		if quoted {
			return str, nil
		}
	case "bytes":
		if quoted {
			return decodeBase64(str)
		}
	case "timestamp":
		if quoted {
			return parseTime(str)
		}
		// A timestamp the server could not write as text (not a safe integer of microseconds).
		if v, err := strconv.ParseFloat(text, 64); err == nil && v == math.Trunc(v) {
			return time.UnixMicro(int64(v)).UTC(), nil
		}
	default:
		return nil, fmt.Errorf("unknown value type %q", valueType)
	}
	return nil, fmt.Errorf("not a %s: %s", valueType, abbreviate(raw))
}

// nonFinite reads the strings the server writes for the floats JSON cannot hold.
func nonFinite(text string) (float64, bool) {
	switch text {
	case "NaN":
		return math.NaN(), true
	case "Infinity":
		return math.Inf(1), true
	case "-Infinity":
		return math.Inf(-1), true
	}
	return 0, false
}

// inferValue decodes a value without its type: bool, int64 (an integer literal that fits), float64
// (any other number), string (bytes, timestamps and NaN/±Infinity included: the typed accessors
// convert them), []any of those, or nil.
func inferValue(raw json.RawMessage) (any, error) {
	switch raw[0] {
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		out := make([]any, len(items))
		for i, item := range items {
			value, err := inferValue(item)
			if err != nil {
				return nil, err
			}
			out[i] = value
		}
		return out, nil
	case '"':
		var text string
		err := json.Unmarshal(raw, &text)
		return text, err
	case 't', 'f', 'n':
		var value any
		err := json.Unmarshal(raw, &value)
		return value, err
	case '{':
		return nil, fmt.Errorf("unexpected object %s", abbreviate(raw))
	}
	text := string(raw)
	if v, err := strconv.ParseInt(text, 10, 64); err == nil {
		return v, nil
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return nil, fmt.Errorf("not a number: %s", abbreviate(raw))
	}
	return v, nil
}

func abbreviate(raw []byte) string {
	if len(raw) > 60 {
		return string(raw[:60]) + "…"
	}
	return string(raw)
}
