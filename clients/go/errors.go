package featurelog

import (
	"fmt"
	"strings"
)

// Error is every failure the client returns: the server's JSON error body
// ({statusCode, code, message, retriable}) as it came, or one the client made for a failure without
// an answer (codes UNAVAILABLE, TIMEOUT, CANCELLED, INVALID_RESPONSE, INVALID_REQUEST).
// Use errors.As to read it; errors.Is(err, context.Canceled) and the like work through Unwrap.
type Error struct {
	// Code is stable: the server's code (UNKNOWN_FEATURE, UNAUTHENTICATED, …) or the client's.
	Code    string
	Message string
	// StatusCode is the HTTP status, 0 when there was no HTTP answer.
	StatusCode int
	// Retriable says whether the same request may succeed later (the service or a dependency was
	// unavailable, or the request timed out); the client has already retried those as configured.
	Retriable bool
	// Attempts is how many requests were made before giving up.
	Attempts int
	cause    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("featurelog: ")
	b.WriteString(e.Code)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap gives the underlying transport or context error, if any.
func (e *Error) Unwrap() error { return e.cause }

// redact removes the API key from text that may have come from elsewhere (a server or proxy
// message, a transport error): a key must never end up in an error string or a log.
func redact(text, key string) string {
	if key == "" || !strings.Contains(text, key) {
		return text
	}
	return strings.ReplaceAll(text, key, "[redacted]")
}
