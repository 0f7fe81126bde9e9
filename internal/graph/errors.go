package graph

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/accessplane/dataverse-access-operator/internal/webapi"
)

// Error codes Graph answers with (Microsoft Learn, "Microsoft Graph error responses and resource
// types"; the directory's codes as its answers carry them).
const (
	CodeNotFound          = "Request_ResourceNotFound"
	CodeBadRequest        = "Request_BadRequest"
	CodeAuthorizationDeny = "Authorization_RequestDenied"
	CodeTooManyRequests   = "TooManyRequests"
)

// Sentinel errors: match with errors.Is; errors.As(err, &*Error) gives the status, Graph's code,
// message and request id, RetryAfter for a throttled answer and, for a 403, the permission the
// operation needs.
var (
	ErrNotFound     = errors.New("graph: not found")
	ErrThrottled    = errors.New("graph: throttled")
	ErrUnauthorized = errors.New("graph: unauthorized")
	// ErrForbidden: 403, most often Authorization_RequestDenied ("Insufficient privileges to
	// complete the operation."): the app registration lacks an application permission, or admin
	// consent for it. The *Error's Permission names the one the operation needs.
	ErrForbidden  = errors.New("graph: forbidden")
	ErrBadRequest = errors.New("graph: bad request")
	ErrServer     = errors.New("graph: server error")
	// ErrAnswerLost: a change that is not resent (AddMember, AssignLicense) was sent and its
	// outcome is unknown: a dropped connection, an attempt timeout or a 5xx answer. Graph may have
	// made it; the caller reads the group's members or the user's licenses before trying again.
	ErrAnswerLost = errors.New("graph: the answer to a change was lost; it may have been made")
	// ErrRateLimited: the operator's own limiter for the tenant (Options.RequestsPerMinute, Burst,
	// MaxConcurrent) would have held the request longer than Options.MaxWait. Nothing was sent and
	// Graph did not throttle (that is ErrThrottled); RetryAfter(err) says when a token is due.
	ErrRateLimited = errors.New("graph: the operator's own rate limit for the tenant is spent")

	// What AssignLicense's 400 can mean, each also ErrBadRequest. Graph tells them only by the
	// message (code Request_BadRequest for all):
	//   - "License assignment cannot be done for user with invalid usage location.": the user has
	//     no usageLocation (Microsoft Learn Q&A "What is recommended approach when usageLocation
	//     must be updated immediately before assigning Microsoft 365 licenses?"; the same text in
	//     microsoft/partner-center-dotnet-samples#131);
	ErrNoUsageLocation = errors.New("graph: the user has no usage location, which a license needs")
	//   - "Subscription with SKU <id> does not have any available licenses.": every unit of the SKU
	//     is consumed (licenseAssignmentState's CountViolation; Microsoft Learn "Identify and
	//     resolve license assignment problems for a group");
	ErrNoLicensesLeft = errors.New("graph: the tenant has no unit of the SKU left")
	//   - "User license is inherited from a group membership and it cannot be removed directly
	//     from the user.": a license assigned by a group is removed only by the group.
	ErrLicenseByGroup = errors.New("graph: the license is assigned by a group and cannot be removed from the user")

	// ErrAmbiguous: a group name (ResolveGroup) matches more than one group.
	ErrAmbiguous = errors.New("graph: the name matches more than one group")
	// ErrNotSecurityGroup: ResolveGroup found a group that is not security-enabled.
	ErrNotSecurityGroup = errors.New("graph: the group is not security-enabled")
)

// Error is an answer of Graph that is not a success, or the operator's own refusal to send. It
// keeps what Graph said so a condition message can quote it.
type Error struct {
	Operation  string // the client operation, e.g. "AddMember"
	Method     string
	URL        string // without the query
	StatusCode int    // 0: nothing was sent (ErrRateLimited)
	Code       string // Graph's error code, e.g. "Request_ResourceNotFound"
	Message    string // Graph's message
	// RequestID is innerError's request-id, which Microsoft support asks for.
	RequestID string
	// RetryAfter: for a 429 (or a 503 with Retry-After), how long Graph asked to wait; for
	// ErrRateLimited, when the limiter has a token.
	RetryAfter time.Duration
	// Permission is, on a 403, the application permission the operation needs (Permission(op)).
	Permission string
	kind       error
	detail     error // ErrNoUsageLocation and the like, besides kind
}

func (e *Error) Error() string {
	s := webapi.Describe("graph", e.Operation, e.Method, e.URL, e.StatusCode, e.Code, e.Message, e.RetryAfter)
	if e.RequestID != "" {
		s += " (request-id " + e.RequestID + ")"
	}
	if e.Permission != "" {
		s += "; the app registration needs the Microsoft Graph application permission " + e.Permission + ", with admin consent"
	}
	return s
}

// RetryHint is RetryAfter (webapi.RetryHinter).
func (e *Error) RetryHint() time.Duration { return e.RetryAfter }

// Is makes errors.Is(err, ErrNotFound) and friends work, and ErrNoUsageLocation and the like for
// the answers they name.
func (e *Error) Is(target error) bool {
	return (e.kind != nil && target == e.kind) || (e.detail != nil && target == e.detail)
}

// Unwrap exposes the sentinel.
func (e *Error) Unwrap() error { return e.kind }

// RetryAfter says how long to wait before the next request, for a reconciler's requeue after the
// client gave up (see webapi.RetryAfter).
func RetryAfter(err error) (time.Duration, bool) { return webapi.RetryAfter(err) }

// Permission is the least-privileged application permission an operation of the client needs
// (Microsoft Graph v1.0 reference, each operation's "Permissions" table: "Get user", "List group
// members", "List groups", "Get group", "Add members", "Remove member", "List subscribedSkus",
// "user: assignLicense"). Empty for an operation it does not know.
func Permission(op string) string { return permissions[op] }

var permissions = map[string]string{
	"User":           "User.Read.All",
	"Users":          "User.Read.All",
	"GroupMembers":   "GroupMember.Read.All",
	"GroupsByName":   "GroupMember.Read.All",
	"Group":          "GroupMember.Read.All",
	"AddMember":      "GroupMember.ReadWrite.All",
	"RemoveMember":   "GroupMember.ReadWrite.All",
	"SubscribedSkus": "Organization.Read.All",
	"AssignLicense":  "LicenseAssignment.ReadWrite.All",
}

// graphError is Graph's error body: the OData shape with innerError
// {"error":{"code":"Request_ResourceNotFound","message":"…","innerError":{"request-id":"…","date":"…"}}}.
type graphError struct {
	Error struct {
		InnerError struct {
			RequestID string `json:"request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

var kinds = webapi.Kinds{NotFound: ErrNotFound, Throttled: ErrThrottled, Unauthorized: ErrUnauthorized, Forbidden: ErrForbidden,
	BadRequest: ErrBadRequest, Server: ErrServer}

// decodeError turns a failure of the shared transport into an *Error, and names Graph's code
// (the throttled metric's label).
func decodeError(f *webapi.Failure) (error, string) {
	e := &Error{Operation: f.Operation, Method: f.Method, URL: f.URL, StatusCode: f.StatusCode, RetryAfter: f.RetryAfter}
	switch f.Cause {
	case webapi.RateLimited:
		e.Message, e.kind = f.Message, ErrRateLimited
		return e, ""
	case webapi.LoginRefused:
		e.Message, e.kind = f.Message, ErrUnauthorized
		return e, ""
	}
	e.Code, e.Message = f.OData()
	var ge graphError
	if json.Unmarshal(f.Body, &ge) == nil {
		e.RequestID = ge.Error.InnerError.RequestID
	}
	if e.RequestID == "" && f.Header != nil {
		e.RequestID = f.Header.Get("request-id")
	}
	e.kind = kinds.ByStatus(f.StatusCode)
	if f.StatusCode == http.StatusForbidden {
		e.Permission = Permission(f.Operation)
	}
	if f.StatusCode == http.StatusBadRequest {
		e.detail = badRequestDetail(e.Message)
	}
	return e, e.Code
}

// badRequestDetail tells apart the 400s a caller acts on, by their messages.
func badRequestDetail(msg string) error {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "usage location"):
		return ErrNoUsageLocation
	case strings.Contains(m, "does not have any available licenses"):
		return ErrNoLicensesLeft
	case strings.Contains(m, "inherited from a group"):
		return ErrLicenseByGroup
	}
	return nil
}

// alreadyMember is Add members' 400 for a member already there ("One or more added object
// references already exist for the following modified properties: 'members'."; the "Add members"
// page: "This method returns a 400 Bad Request response code when the object is already a member
// of the group"; the message as in microsoftgraph/microsoft-graph-docs#8637).
func alreadyMember(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusBadRequest &&
		strings.Contains(strings.ToLower(e.Message), "added object references already exist")
}
