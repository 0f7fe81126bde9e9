package webapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Cause says what kind of failure a Failure is.
type Cause int

const (
	// Answered: the service answered with a status that is not a success.
	Answered Cause = iota
	// LoginRefused: the login host refused the credential (StatusCode is the login host's). Asking
	// again gets the same answer: the client's error should match its ErrUnauthorized.
	LoginRefused
	// RateLimited: the operator's own limiter would have held the request longer than
	// Limits.MaxWait. Nothing was sent and the service did not throttle; StatusCode is 0 and
	// RetryAfter says when a token is due. The client's error should match its ErrRateLimited.
	RateLimited
)

// Failure is a request that failed in a way the client names with its own typed error
// (Service.Error): an answer that is not a success, the login host's refusal, or the operator's
// own limiter. Other failures (no answer, a URL the transport refuses) are plain errors.
type Failure struct {
	Cause      Cause
	Operation  string
	Method     string
	URL        string // without its query, which can hold user names in a $filter
	StatusCode int
	Header     http.Header // Answered: the answer's headers
	Body       []byte      // Answered: the answer's body (empty for most 401s)
	// Message is the transport's own account of a LoginRefused or RateLimited failure.
	Message string
	// RetryAfter: for Answered, the Retry-After the service sent (429, or a 503 with one); for
	// RateLimited, when the limiter has a token.
	RetryAfter time.Duration
}

// odataError is the OData JSON error shape both services answer with:
// {"error":{"code":"…","message":"…"}} (Graph adds "innerError", which its client reads itself).
type odataError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// OData reads the service's error code and message from an Answered failure's body. A 401 often
// carries no body: the message is then the WWW-Authenticate header, which says why.
func (f *Failure) OData() (code, message string) {
	var eb odataError
	if json.Unmarshal(f.Body, &eb) == nil {
		code, message = eb.Error.Code, eb.Error.Message
	}
	if message == "" && f.StatusCode == http.StatusUnauthorized && f.Header != nil {
		message = f.Header.Get("WWW-Authenticate")
	}
	return code, message
}

// Kinds are one client's sentinels for the statuses every service shares.
type Kinds struct {
	NotFound, Throttled, Unauthorized, Forbidden, BadRequest, Server error
}

// ByStatus maps an HTTP status to a sentinel: 404, 429, 401, 403, any other 5xx or 4xx; nil for a
// success.
func (k Kinds) ByStatus(status int) error {
	switch {
	case status == http.StatusNotFound:
		return k.NotFound
	case status == http.StatusTooManyRequests:
		return k.Throttled
	case status == http.StatusUnauthorized:
		return k.Unauthorized
	case status == http.StatusForbidden:
		return k.Forbidden
	case status >= 500:
		return k.Server
	case status >= 400:
		return k.BadRequest
	}
	return nil
}

// Describe is the text of a client's error: "<service> <op>: <method> <url>: <status> <code>:
// <message> (retry after <d>)", leaving out what is empty.
func Describe(service, op, method, url string, status int, code, message string, retryAfter time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", service, op)
	if url != "" {
		fmt.Fprintf(&b, ": %s %s", method, url)
	}
	if status != 0 {
		fmt.Fprintf(&b, ": %d", status)
	}
	if code != "" {
		fmt.Fprintf(&b, " %s", code)
	}
	if message != "" {
		fmt.Fprintf(&b, ": %s", message)
	}
	if retryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", retryAfter)
	}
	return b.String()
}

// ParseRetryAfter reads delta-seconds (what Dataverse and Graph send) or an HTTP date.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var secs float64
	if _, err := fmt.Sscanf(v, "%g", &secs); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Redact drops the query, which can hold user names in a $filter, from a URL for error text.
func Redact(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	return c.String()
}

// RetryHinter is a client's typed error that carries the wait a service asked for.
type RetryHinter interface {
	error
	RetryHint() time.Duration
}

// RetryAfter says how long to wait before the next request, for a reconciler's requeue after the
// client gave up: the wait it would not spend under Limits.MaxWait (a Retry-After, a backoff, the
// limiter's), else the Retry-After the service sent with the last failure (a client's error that
// is a RetryHinter).
func RetryAfter(err error) (time.Duration, bool) {
	var l *retryLater
	if errors.As(err, &l) && l.after > 0 {
		return l.after, true
	}
	var h RetryHinter
	if errors.As(err, &h) && h.RetryHint() > 0 {
		return h.RetryHint(), true
	}
	return 0, false
}

// retryLater is the last failure of a request whose next retry was not waited for because the
// wait exceeded Limits.MaxWait (or the context's deadline).
type retryLater struct {
	err   error
	after time.Duration
	bound time.Duration
}

func (l *retryLater) Error() string {
	return fmt.Sprintf("%v (not retried by the client: the next try is due in %s, longer than the %s it may wait)", l.err, l.after, l.bound)
}

func (l *retryLater) Unwrap() error { return l.err }
