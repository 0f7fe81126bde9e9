package dataverse

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/accessplane/dataverse-access-operator/internal/webapi"
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
	// ErrDeltaExpired: the service refused a deltaLink (its token is past the retention, or the
	// table's change tracking was turned off): read the table in full again.
	ErrDeltaExpired = errors.New("dataverse: the delta token is expired; read the table in full")
	ErrAnswerLost   = errors.New("dataverse: the answer to a change was lost; it may have been made")
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
	return webapi.Describe("dataverse", e.Operation, e.Method, e.URL, e.StatusCode, e.Code, e.Message, e.RetryAfter)
}

// RetryHint is RetryAfter (webapi.RetryHinter).
func (e *Error) RetryHint() time.Duration { return e.RetryAfter }

// Is makes errors.Is(err, ErrNotFound) and friends work.
func (e *Error) Is(target error) bool { return e.kind != nil && target == e.kind }

// Unwrap exposes the sentinel.
func (e *Error) Unwrap() error { return e.kind }

// decodeError turns a failure of the shared transport into an *Error, and names the service's
// code (the throttled metric's label). An answer's body is the OData error shape
// {"error":{"code":"0x…","message":"…"}}; a 401 carries none.
func decodeError(f *webapi.Failure) (error, string) {
	e := &Error{Operation: f.Operation, Method: f.Method, URL: f.URL, StatusCode: f.StatusCode, RetryAfter: f.RetryAfter}
	switch f.Cause {
	case webapi.RateLimited:
		e.Message, e.kind = f.Message, ErrRateLimited
	case webapi.LoginRefused:
		e.Message, e.kind = f.Message, ErrUnauthorized
	default:
		e.Code, e.Message = f.OData()
		e.kind = classify(f.StatusCode, e.Code)
	}
	return e, e.Code
}

// kinds are the sentinels of the statuses every service shares.
var kinds = webapi.Kinds{NotFound: ErrNotFound, Throttled: ErrThrottled, Unauthorized: ErrUnauthorized, Forbidden: ErrForbidden,
	BadRequest: ErrBadRequest, Server: ErrServer}

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
	switch status {
	case http.StatusPreconditionFailed:
		return ErrPreconditionFailed
	case http.StatusConflict:
		return ErrDuplicate
	}
	return kinds.ByStatus(status)
}

// RetryAfter says how long to wait before the next request, for a reconciler's requeue after the
// client gave up: the wait it would not spend under Options.MaxWait (a Retry-After, a backoff, the
// limiter's), else the Retry-After the service sent with the last failure (a Throttled condition,
// for one).
func RetryAfter(err error) (time.Duration, bool) { return webapi.RetryAfter(err) }
