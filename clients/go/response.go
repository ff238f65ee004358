package featurelog

import (
	"encoding/base64"
	"time"
)

// Rows is the number of entity rows.
func (r *Response) Rows() int {
	if len(r.Columns) == 0 {
		return 0
	}
	return len(r.Columns[0].Values)
}

// Column finds a column by its response name (`feature`, `view__feature`, a join key) or by its
// `view:feature` reference.
func (r *Response) Column(name string) (*Column, bool) {
	i, ok := r.byName[name]
	if !ok {
		return nil, false
	}
	return &r.Columns[i], true
}

func (r *Response) cell(row int, name string) (*Column, bool) {
	column, ok := r.Column(name)
	if !ok || row < 0 || row >= len(column.Values) {
		return nil, false
	}
	return column, true
}

// Value is the value of a column at an entity row: nil for null, else of the column's Go type.
// ok is false when there is no such column or row.
func (r *Response) Value(row int, name string) (value any, ok bool) {
	column, ok := r.cell(row, name)
	if !ok {
		return nil, false
	}
	return column.Values[row], true
}

// Status of a value; "" when there is no such column or row.
func (r *Response) Status(row int, name string) Status {
	column, ok := r.cell(row, name)
	if !ok {
		return ""
	}
	return column.Statuses[row]
}

// EventTimestamp of a value (the Unix epoch for join keys and NOT_FOUND); zero when there is no
// such column or row.
func (r *Response) EventTimestamp(row int, name string) time.Time {
	column, ok := r.cell(row, name)
	if !ok {
		return time.Time{}
	}
	return column.EventTimestamps[row]
}

// Get is a value as T (Value plus a type assertion): ok is false when it is null, missing or of
// another type. Use it for lists: Get[[]float64](resp, 0, "view:embedding").
func Get[T any](r *Response, row int, name string) (T, bool) {
	value, _ := r.Value(row, name)
	typed, ok := value.(T)
	return typed, ok
}

// Int64 is an int64 or int32 value; ok is false when null, missing or not an integer.
func (r *Response) Int64(row int, name string) (int64, bool) {
	value, _ := r.Value(row, name)
	switch v := value.(type) {
	case int64:
		return v, true
	case int32:
		return int64(v), true
	}
	return 0, false
}

// Float64 is a number value (float64, float32, or an integer, which is how a float64 feature
// whose value is whole reads without the registry); "NaN", "Infinity" and "-Infinity" texts of a
// column of unknown type are read as those floats.
func (r *Response) Float64(row int, name string) (float64, bool) {
	column, ok := r.cell(row, name)
	if !ok {
		return 0, false
	}
	switch v := column.Values[row].(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	case int64:
		return float64(v), true
	case int32:
		return float64(v), true
	case string:
		if column.Type == "" {
			return nonFinite(v)
		}
	}
	return 0, false
}

// Float32 is Float64 rounded to float32 (exact for a float32 feature: the server writes the
// shortest decimal that reads back as the same float32).
func (r *Response) Float32(row int, name string) (float32, bool) {
	column, ok := r.cell(row, name)
	if ok {
		if v, isFloat32 := column.Values[row].(float32); isFloat32 {
			return v, true
		}
	}
	v, ok := r.Float64(row, name)
	return float32(v), ok
}

// Bool is a bool value.
func (r *Response) Bool(row int, name string) (bool, bool) {
	return Get[bool](r, row, name)
}

// String is a string value (without the registry, bytes and timestamps are strings too).
func (r *Response) String(row int, name string) (string, bool) {
	return Get[string](r, row, name)
}

// Bytes is a bytes value; without the registry, the base64 text is decoded here.
func (r *Response) Bytes(row int, name string) ([]byte, bool) {
	column, ok := r.cell(row, name)
	if !ok {
		return nil, false
	}
	switch v := column.Values[row].(type) {
	case []byte:
		return v, true
	case string:
		if column.Type == "" {
			decoded, err := decodeBase64(v)
			return decoded, err == nil
		}
	}
	return nil, false
}

// Time is a timestamp value (UTC); without the registry, the RFC 3339 text is parsed here.
func (r *Response) Time(row int, name string) (time.Time, bool) {
	column, ok := r.cell(row, name)
	if !ok {
		return time.Time{}, false
	}
	switch v := column.Values[row].(type) {
	case time.Time:
		return v, true
	case string:
		if column.Type == "" {
			at, err := parseTime(v)
			return at, err == nil
		}
	}
	return time.Time{}, false
}

func decodeBase64(text string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(text)
}

func parseTime(text string) (time.Time, error) {
	at, err := time.Parse(time.RFC3339Nano, text)
	return at.UTC(), err
}
