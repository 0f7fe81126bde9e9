// Package dvsync applies the decided state to Dataverse: one external client per kind
// (observe, create, update, delete, as in crossplane-runtime) that turns the status a decision
// returned into Web API calls, and reports whether the record is in place. It never decides:
// what a user, role or team should be comes from internal/decide, and only that decided state is
// written (a user waiting for a slot is not written as NonInteractive).
package dvsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// Target is one Dataverse environment as a reconcile sees it.
type Target struct {
	Client *dataverse.Client
	// Admin adds interactive users from Entra ID; nil when it cannot be built.
	Admin *dataverse.AdminClient
	Env   *v1alpha1.Environment
	Now   time.Time
	// EntraSyncWait is how soon a user awaiting Entra ID's sync is looked for again (zero: 30s).
	EntraSyncWait time.Duration
	// catalogue caches privilege ids per table and name for this environment.
	catalogue *catalogue
	// added remembers the people this environment asked addUser for.
	added *entraAdds
}

// Manage reports whether the operator may write (managementPolicy Manage).
func (t *Target) Manage() bool {
	return t.Env.Spec.Dataverse.ManagementPolicy == v1alpha1.ManagementManage
}

// businessUnitID is the Dataverse id of a declared unit, recorded by the Environment's sync.
func (t *Target) businessUnitID(name string) string {
	return t.Env.Status.Dataverse.BusinessUnitID(name)
}

// Result is the outcome of one object's sync: its Synced condition and when to look again.
type Result struct {
	Reason  string
	Message string
	// Record is what was observed; nil when nothing could be read.
	Record *v1alpha1.DataverseRecord
	// RequeueAfter is when to look again; the sync interval when in place.
	RequeueAfter time.Duration
	// Created or Deleted name a record the sync wrote, for an event.
	Wrote []string
}

// Synced reports whether the record is in place.
func (r Result) Synced() bool { return r.Reason == v1alpha1.ReasonSynced }

// differences collects what differs between Dataverse and the decided state; under Manage each
// is corrected as it is found, under Observe only reported.
type differences struct {
	list []string
}

func (d *differences) add(format string, args ...any) {
	d.list = append(d.list, fmt.Sprintf(format, args...))
}

func (d *differences) String() string { return strings.Join(d.list, "; ") }

// finish turns the differences into the Synced outcome: under Observe any difference is Drifted;
// under Manage the corrections were made, so the record is in place.
func (t *Target) finish(d *differences, rec *v1alpha1.DataverseRecord, what string) Result {
	interval := t.Env.Spec.Dataverse.Interval().Duration
	if len(d.list) > 0 && !t.Manage() {
		return Result{Reason: v1alpha1.ReasonDrifted, Record: rec, RequeueAfter: interval,
			Message: fmt.Sprintf("%s differs from the decided state (managementPolicy Observe, nothing written): %s; set spec.dataverse.managementPolicy to Manage to correct it", what, d)}
	}
	// The message stays the same whatever was corrected (the Synced event says that), so the
	// next re-read that finds nothing to correct writes nothing.
	return Result{Reason: v1alpha1.ReasonSynced, Message: what + " is in place in Dataverse", Record: rec, RequeueAfter: interval, Wrote: d.list}
}

// holding keeps the record a sync found or created in an outcome that stops short (a member not
// synced yet, a failure): status.dataverse then names the record, so deletionPolicy Delete holds
// the object with its finalizer and removes the record when it is deleted, instead of leaving it.
func holding(r Result, rec *v1alpha1.DataverseRecord) Result {
	if r.Record == nil {
		r.Record = rec
	}
	return r
}

// pending is a sync that waits for another object's sync (a business unit, a role, a user).
func pending(format string, args ...any) Result {
	return Result{Reason: v1alpha1.ReasonSyncPending, Message: fmt.Sprintf(format, args...), RequeueAfter: 10 * time.Second}
}

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
		return Result{Reason: v1alpha1.ReasonThrottled, RequeueAfter: after,
			Message: fmt.Sprintf("Dataverse throttled the operator while syncing %s (service protection limits); retrying after %s: %v", what, after.Round(time.Second), err)}
	case errors.Is(err, dataverse.ErrUnauthorized), errors.Is(err, dataverse.ErrForbidden):
		return Result{Reason: v1alpha1.ReasonUnauthorized, RequeueAfter: 5 * time.Minute,
			Message: fmt.Sprintf("Dataverse refused the operator's credentials while syncing %s: %v: check the Secret named in spec.dataverse.credentialsSecretRef, and that the app registration is an application user of the environment with a security role", what, err)}
	case errors.Is(err, dataverse.ErrPreconditionFailed):
		// Someone wrote the record between the operator's read and its write: transient.
		return Result{Reason: v1alpha1.ReasonSyncPending, RequeueAfter: 5 * time.Second,
			Message: fmt.Sprintf("%s changed in Dataverse while the operator wrote it; reading it again: %v", what, err)}
	case dvErr != nil && dvErr.StatusCode >= 400 && dvErr.StatusCode < 500:
		return Result{Reason: v1alpha1.ReasonSyncConflict, RequeueAfter: time.Minute,
			Message: fmt.Sprintf("Dataverse refused a change to %s: %v", what, err)}
	case errors.Is(err, dataverse.ErrAnswerLost):
		// The change may have been made: the next sync looks the record up (every create is
		// preceded by a natural-key lookup) within seconds, not at an outage's pace.
		return Result{Reason: v1alpha1.ReasonDataverseUnreachable, RequeueAfter: AnswerLostRetry,
			Message: fmt.Sprintf("Dataverse did not answer a change to %s, which it may have made; looking it up again: %v", what, err)}
	case dvErr == nil && !unreachable(err):
		// The request could not be made at all (an id that is not a GUID, a URL that cannot be
		// built): retrying will not help, the spec must change.
		return Result{Reason: v1alpha1.ReasonSyncConflict, RequeueAfter: 5 * time.Minute,
			Message: fmt.Sprintf("the operator cannot sync %s: %v", what, err)}
	}
	return Result{Reason: v1alpha1.ReasonDataverseUnreachable, RequeueAfter: 30 * time.Second,
		Message: fmt.Sprintf("Dataverse could not be reached while syncing %s: %v", what, err)}
}

// AnswerLostRetry is how soon a sync whose change got no answer looks again.
const AnswerLostRetry = 2 * time.Second

// unreachable reports whether err is about reaching the service (a network error, a timeout,
// an answer that is not the Web API's) rather than about what was asked.
func unreachable(err error) bool {
	var netErr net.Error
	var urlErr *url.Error
	return errors.As(err, &netErr) || errors.As(err, &urlErr) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// catalogue caches the privilege ids of one environment: they never change, and looking them up
// per role would cost a request per table per reconcile.
type catalogue struct {
	mu     sync.Mutex
	tables map[string]map[dataverse.AccessRight]dataverse.Privilege
	named  map[string]dataverse.Privilege
}

func newCatalogue() *catalogue {
	return &catalogue{tables: map[string]map[dataverse.AccessRight]dataverse.Privilege{}, named: map[string]dataverse.Privilege{}}
}

func (c *catalogue) table(ctx context.Context, cl *dataverse.Client, table string) (map[dataverse.AccessRight]dataverse.Privilege, error) {
	c.mu.Lock()
	p, ok := c.tables[table]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := cl.TablePrivileges(ctx, table)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.tables[table] = p
	c.mu.Unlock()
	return p, nil
}

func (c *catalogue) byName(ctx context.Context, cl *dataverse.Client, names []string) (map[string]dataverse.Privilege, error) {
	out := map[string]dataverse.Privilege{}
	var missing []string
	c.mu.Lock()
	for _, n := range names {
		if p, ok := c.named[n]; ok {
			out[n] = p
		} else {
			missing = append(missing, n)
		}
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	got, err := cl.PrivilegesByName(ctx, missing...)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	for n, p := range got {
		c.named[n] = p
		out[n] = p
	}
	c.mu.Unlock()
	return out, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func isNotFound(err error) bool { return errors.Is(err, dataverse.ErrNotFound) }
