// Package featurelog is the Go client of featurelog's serving API: online features by feature
// list or feature service, decoded into typed Go values with their statuses and event timestamps,
// with an API key, timeouts and retries of retriable errors.
package featurelog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Defaults of the options.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultRetries          = 2
	DefaultBackoff          = 100 * time.Millisecond
	DefaultRegistryCacheTTL = time.Minute
	// maxBackoff caps the doubling backoff between attempts.
	maxBackoff = 5 * time.Second
	// maxErrorBody is the most of an error answer read: error bodies are small; a proxy's HTML page
	// need not be read whole.
	maxErrorBody = 64 << 10
)

// Client calls one serving app (and, with WithRegistry, one registry app for the feature types).
// It is safe for concurrent use; make one and share it.
type Client struct {
	servingURL  string
	registryURL string
	apiKey      string
	timeout     time.Duration
	retries     int
	backoff     time.Duration
	http        *http.Client
	types       *typeCache
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey sends key as `Authorization: Bearer <key>` (the `read` scope suffices). The key never
// appears in an error.
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithTimeout bounds each attempt (connect, request and reading the whole answer); an attempt
// that times out is a retriable TIMEOUT error. 0 means no limit beyond the caller's context.
// Default DefaultTimeout.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithRetries retries a retriable failure (503 and other answers the server marks retriable, 502,
// 504, connection refused or reset, timeouts) up to n more times, waiting backoff, then twice as
// long each time (at most 5 s). A 4xx is never retried. Default DefaultRetries, DefaultBackoff.
func WithRetries(n int, backoff time.Duration) Option {
	return func(c *Client) {
		c.retries = max(n, 0)
		c.backoff = max(backoff, 0)
	}
}

// WithHTTPClient uses c for every request (transport, proxies, TLS). Its own Timeout, if any, adds
// to WithTimeout's. Default: a client of its own with http.DefaultTransport.
func WithHTTPClient(c *http.Client) Option {
	return func(cl *Client) {
		if c != nil {
			cl.http = c
		}
	}
}

// WithRegistry names the registry app (e.g. http://127.0.0.1:6570): the client then reads the
// feature views and services from it (GET /definitions, the same API key) and decodes every column
// into its feature's Go type exactly (int32, float32, []byte, time.Time, typed lists). Without it,
// types are inferred from the JSON encoding: see the package README.
func WithRegistry(url string) Option {
	return func(c *Client) { c.registryURL = strings.TrimRight(url, "/") }
}

// WithRegistryCacheTTL is how long the registry's definitions are used before they are read again
// (they are also read again at once when a response names a view, feature or service the cache
// does not know). Default DefaultRegistryCacheTTL.
func WithRegistryCacheTTL(d time.Duration) Option { return func(c *Client) { c.types.ttl = d } }

// NewClient makes a client of the serving app at servingURL (e.g. http://127.0.0.1:6574).
func NewClient(servingURL string, options ...Option) *Client {
	c := &Client{
		servingURL: strings.TrimRight(servingURL, "/"),
		timeout:    DefaultTimeout,
		retries:    DefaultRetries,
		backoff:    DefaultBackoff,
		http:       &http.Client{},
		types:      &typeCache{ttl: DefaultRegistryCacheTTL},
	}
	for _, option := range options {
		option(c)
	}
	return c
}

// call sends one request with retries and returns the body of a 2xx answer, or an *Error.
func (c *Client) call(ctx context.Context, method, url string, body []byte) ([]byte, error) {
	var last *Error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := c.sleep(ctx, attempt); err != nil {
				return nil, cancelled(err, last, attempt, c.apiKey)
			}
		}
		answer, err := c.attempt(ctx, method, url, body)
		if err == nil {
			return answer, nil
		}
		err.Attempts = attempt + 1
		// The caller's own context ended during the attempt: not a failure of the service.
		if ctx.Err() != nil && err.StatusCode == 0 {
			return nil, cancelled(ctx.Err(), last, attempt+1, c.apiKey)
		}
		if !err.Retriable || attempt >= c.retries {
			return nil, err
		}
		last = err
	}
}

// sleep waits before retry number attempt (1-based): backoff × 2^(attempt-1), at most maxBackoff.
func (c *Client) sleep(ctx context.Context, attempt int) error {
	wait := c.backoff
	for i := 1; i < attempt && wait < maxBackoff; i++ {
		wait *= 2
	}
	wait = min(wait, maxBackoff)
	if wait <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func (c *Client) attempt(ctx context.Context, method, url string, body []byte) ([]byte, *Error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	request, err := http.NewRequestWithContext(ctx, method, url, reader)
	if err != nil {
		return nil, &Error{Code: "INVALID_REQUEST", Message: redact(err.Error(), c.apiKey), cause: err}
	}
	request.Header.Set("Accept", "application/json")
	if body != nil {
		request.Header.Set("Content-Type", "application/json")
	}
	if c.apiKey != "" {
		request.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	response, err := c.http.Do(request)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer response.Body.Close()
	if response.StatusCode >= 200 && response.StatusCode < 300 {
		answer, err := io.ReadAll(response.Body)
		if err != nil {
			return nil, c.transportError(ctx, err)
		}
		return answer, nil
	}
	answer, err := io.ReadAll(io.LimitReader(response.Body, maxErrorBody))
	if err != nil && len(answer) == 0 {
		return nil, c.transportError(ctx, err)
	}
	return nil, c.httpError(response.StatusCode, answer)
}

// transportError: no (complete) answer. A timeout of the attempt, a refused or reset connection,
// a server gone mid-answer are all worth another try; the caller's own cancellation is not (call
// checks that).
func (c *Client) transportError(ctx context.Context, err error) *Error {
	message := redact(err.Error(), c.apiKey)
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || isTimeout(err) {
		return &Error{Code: "TIMEOUT", Message: fmt.Sprintf("no answer within %s: %s", c.timeout, message), Retriable: true, cause: err}
	}
	return &Error{Code: "UNAVAILABLE", Message: message, Retriable: true, cause: err}
}

func isTimeout(err error) bool {
	var timeout interface{ Timeout() bool }
	return errors.As(err, &timeout) && timeout.Timeout()
}

// httpError reads featurelog's JSON error body; an answer without one (a proxy's page) keeps its
// status. A 4xx is never retriable, whatever a body says: the same request would fail again.
func (c *Client) httpError(status int, body []byte) *Error {
	var wire struct {
		StatusCode int             `json:"statusCode"`
		Code       string          `json:"code"`
		Message    json.RawMessage `json:"message"`
		Retriable  *bool           `json:"retriable"`
	}
	e := &Error{StatusCode: status}
	if json.Unmarshal(body, &wire) == nil && wire.Code != "" {
		e.Code = wire.Code
		e.Message = messageText(wire.Message)
		if wire.Retriable != nil {
			e.Retriable = *wire.Retriable
		} else {
			e.Retriable = status >= 500
		}
	} else {
		e.Code = fmt.Sprintf("HTTP_%d", status)
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
		e.Retriable = status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
	}
	if status < 500 {
		e.Retriable = false
	}
	e.Message = redact(e.Message, c.apiKey)
	return e
}

// messageText: a message is a string, or (Nest's validation errors) a list of strings.
func messageText(raw json.RawMessage) string {
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return text
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, "; ")
	}
	return string(raw)
}

// cancelled: the caller's context ended (while waiting to retry, or during an attempt); the
// error of the attempt before, if any, is said too.
func cancelled(err error, last *Error, attempts int, key string) *Error {
	message := err.Error()
	if last != nil {
		message += "; the attempt before failed with " + last.Error()
	}
	return &Error{Code: "CANCELLED", Message: redact(message, key), Attempts: attempts, cause: err}
}
