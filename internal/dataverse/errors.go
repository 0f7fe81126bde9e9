package dataverse

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Service error codes the client and the emulator agree on (docs/design.md, "Sync target"; Microsoft
// Learn "Web service error codes" and "Service protection API limits").
const (
	CodeNotFound           = "0x80040217" // ObjectDoesNotExist
	CodeDuplicate          = "0x80040237" // DuplicateRecord
	CodePreconditionFailed = "0x80060882" // ConcurrencyVersionMismatch (stale If-Match)
	CodeTooManyRequests    = "0x80072322" // 6,000 requests per 5 minutes per user and server
	CodeExecutionTime      = "0x80072321" // 20 minutes of execution time per 5 minutes
	CodeConcurrentRequests = "0x80072326" // 52 concurrent requests
	CodePrivilegeDenied    = "0x80040220" // caller lacks a privilege
)

// Sentinel errors: match with errors.Is; errors.As(err, &*Error) gives the status, the service's
// code and message, and RetryAfter for a throttled answer.
var (
	ErrNotFound           = errors.New("dataverse: not found")
	ErrDuplicate          = errors.New("dataverse: duplicate record")
	ErrPreconditionFailed = errors.New("dataverse: precondition failed (stale ETag)")
	ErrThrottled          = errors.New("dataverse: throttled by service protection limits")
	ErrUnauthorized       = errors.New("dataverse: unauthorized")
	ErrForbidden          = errors.New("dataverse: forbidden")
	ErrBadRequest         = errors.New("dataverse: bad request")
	ErrServer             = errors.New("dataverse: server error")
	// ErrAnswerLost: a change that is not safe to resend (a create, a $ref association, addUser)
	// was sent and its outcome is unknown: a dropped connection, an attempt timeout, or a 5xx
	// answer (a gateway's 502/504 can come after the service committed). The service may have
	// made it; the client did not resend it. Callers look the record up by its natural key before
	// trying again. For a 5xx the error matches ErrServer too, and errors.As gives the *Error.
	ErrAnswerLost = errors.New("dataverse: the answer to a change was lost; it may have been made")
	// ErrRateLimited: the operator's own limiter for the environment (Options.RequestsPerMinute,
	// Burst, MaxConcurrent) would have held the request longer than Options.MaxWait. Nothing was
	// sent and the service did not throttle (that is ErrThrottled); RetryAfter(err) says when a
	// token is due. The error is an *Error with StatusCode 0.
	ErrRateLimited = errors.New("dataverse: the operator's own rate limit for the environment is spent")
)

// Error is an answer of the service that is not a success. It keeps what the service said so a
// condition message can quote it.
type Error struct {
	Operation  string // the client operation, e.g. "CreateRole"
	Method     string
	URL        string
	StatusCode int           // 0: no answer, nothing was sent (ErrRateLimited)
	Code       string        // the service's error code, e.g. "0x80040217"; empty when the body had none
	Message    string        // the service's message
	RetryAfter time.Duration // for 429 (and 503 with Retry-After): how long the service asked to wait; for ErrRateLimited: when the limiter has a token
	kind       error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dataverse %s", e.Operation)
	if e.URL != "" {
		fmt.Fprintf(&b, ": %s %s", e.Method, e.URL)
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": %d", e.StatusCode)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound) and friends work.
func (e *Error) Is(target error) bool { return e.kind != nil && target == e.kind }

// Unwrap exposes the sentinel.
func (e *Error) Unwrap() error { return e.kind }

// errorBody is the OData error shape: {"error":{"code":"0x…","message":"…"}}.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// decodeError turns a non-2xx response into an *Error. body may be empty (401 carries none).
func decodeError(op string, req *http.Request, resp *http.Response, body []byte, now time.Time) *Error {
	e := &Error{Operation: op, Method: req.Method, URL: redactURL(req), StatusCode: resp.StatusCode}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		e.Code, e.Message = eb.Error.Code, eb.Error.Message
	}
	if e.Message == "" && resp.StatusCode == http.StatusUnauthorized {
		e.Message = resp.Header.Get("WWW-Authenticate")
	}
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	e.kind = classify(resp.StatusCode, e.Code)
	return e
}

// classify maps status and code to a sentinel. The code wins over the status where the service
// uses one status for several meanings (a duplicate is 412 on an upsert and 400 or 409 elsewhere).
func classify(status int, code string) error {
	switch strings.ToLower(code) {
	case CodeDuplicate:
		return ErrDuplicate
	case CodePreconditionFailed:
		return ErrPreconditionFailed
	case CodeNotFound:
		return ErrNotFound
	case CodeTooManyRequests, CodeExecutionTime, CodeConcurrentRequests:
		return ErrThrottled
	}
	switch {
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusPreconditionFailed:
		return ErrPreconditionFailed
	case status == http.StatusConflict:
		return ErrDuplicate
	case status == http.StatusTooManyRequests:
		return ErrThrottled
	case status == http.StatusUnauthorized:
		return ErrUnauthorized
	case status == http.StatusForbidden:
		return ErrForbidden
	case status >= 500:
		return ErrServer
	case status >= 400:
		return ErrBadRequest
	}
	return nil
}

// parseRetryAfter reads delta-seconds (what Dataverse sends) or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
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

// redactURL drops the query, which can hold user names in a $filter, from error text.
func redactURL(req *http.Request) string {
	u := *req.URL
	u.RawQuery = ""
	return u.String()
}

// RetryAfter says how long to wait before the next request, for a reconciler's requeue after the
// client gave up: the wait it would not spend under Options.MaxWait (a Retry-After, a backoff, the
// limiter's), else the Retry-After the service sent with the last failure (a Throttled condition,
// for one).
func RetryAfter(err error) (time.Duration, bool) {
	var l *retryLater
	if errors.As(err, &l) && l.after > 0 {
		return l.after, true
	}
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// retryLater is the last failure of a request whose next retry was not waited for because the
// wait exceeded Options.MaxWait (or the context's deadline).
type retryLater struct {
	err   error
	after time.Duration
	bound time.Duration
}

func (l *retryLater) Error() string {
	return fmt.Sprintf("%v (not retried by the client: the next try is due in %s, longer than the %s it may wait)", l.err, l.after, l.bound)
}

func (l *retryLater) Unwrap() error { return l.err }
