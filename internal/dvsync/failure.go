package dvsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// AnswerLostRetry is how soon a sync whose change got no answer looks again.
const AnswerLostRetry = 2 * time.Second

// UnauthorizedRetry is how soon an environment whose credentials were refused tries again: a
// Secret its owner fixed is used within a minute (the Environment re-reads it at every reconcile).
const UnauthorizedRetry = 30 * time.Second

// Failed turns an error of the Web API into the Synced outcome: throttling is a state with a
// retry time, not an error storm; credentials refused say what to fix.
func Failed(err error, what string) Result {
	var dvErr *dataverse.Error
	errors.As(err, &dvErr)
	switch {
	case errors.Is(err, dataverse.ErrThrottled):
		after, _ := dataverse.RetryAfter(err)
		if after <= 0 {
			after = 30 * time.Second
		}
		return Result{Reason: v1alpha1.ReasonThrottled, RequeueAfter: after, Deferred: true,
			Message: fmt.Sprintf("Dataverse throttled the operator while syncing %s (service protection limits); retrying after %s: %v", what, after.Round(time.Second), err)}
	case errors.Is(err, dataverse.ErrRateLimited):
		// The operator's own limiter: the object goes back to the queue instead of holding a worker.
		after, _ := dataverse.RetryAfter(err)
		if after <= 0 {
			after = 5 * time.Second
		}
		// No countdown in the message: it would change at every retry, and each change is a
		// status write (3.5 per person while a 5,000-person environment waited for its budget).
		return Result{Reason: v1alpha1.ReasonSyncPending, RequeueAfter: after, Deferred: true,
			Message: fmt.Sprintf("waiting for the operator's own request budget for Dataverse (its --dataverse-budget-share of the service's requests per 5 minutes) while syncing %s; it retries on its own", what)}
	case errors.Is(err, dataverse.ErrUnauthorized), errors.Is(err, dataverse.ErrForbidden):
		return Result{Reason: v1alpha1.ReasonUnauthorized, RequeueAfter: UnauthorizedRetry,
			Message: fmt.Sprintf("Dataverse refused the operator's credentials while syncing %s: %v: check the Secret named in spec.dataverse.credentialsSecretRef, and that the app registration is an application user of the environment with a security role", what, err)}
	case errors.Is(err, dataverse.ErrPreconditionFailed):
		// Someone wrote the record between the operator's read and its write: transient.
		return Result{Reason: v1alpha1.ReasonSyncPending, RequeueAfter: 5 * time.Second,
			Message: fmt.Sprintf("%s changed in Dataverse while the operator wrote it; reading it again: %v", what, err)}
	case errors.Is(err, dataverse.ErrAnswerLost):
		// The change may have been made: the next sync observes first (a create is found by its
		// natural key) within seconds, not at an outage's pace.
		return Result{Reason: v1alpha1.ReasonDataverseUnreachable, RequeueAfter: AnswerLostRetry,
			Message: fmt.Sprintf("Dataverse did not answer a change to %s, which it may have made; looking it up again: %v", what, err)}
	case dvErr != nil && dvErr.StatusCode >= 400 && dvErr.StatusCode < 500:
		return Result{Reason: v1alpha1.ReasonSyncConflict, RequeueAfter: time.Minute,
			Message: fmt.Sprintf("Dataverse refused a change to %s: %v", what, err)}
	case dvErr == nil && !unreachable(err):
		// The request could not be made at all (an id that is not a GUID, a URL that cannot be
		// built): retrying will not help, the spec must change.
		return Result{Reason: v1alpha1.ReasonSyncConflict, RequeueAfter: 5 * time.Minute,
			Message: fmt.Sprintf("the operator cannot sync %s: %v", what, err)}
	}
	return Result{Reason: v1alpha1.ReasonDataverseUnreachable, RequeueAfter: 30 * time.Second,
		Message: fmt.Sprintf("Dataverse could not be reached while syncing %s: %v", what, err)}
}

// unreachable reports whether err is about reaching the service (a network error, a timeout,
// an answer that is not the Web API's) rather than about what was asked.
func unreachable(err error) bool {
	var netErr net.Error
	var urlErr *url.Error
	return errors.As(err, &netErr) || errors.As(err, &urlErr) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
