// Package dvsync applies decided state to Dataverse (docs/design.md, "Sync contract"). Each
// kind's decision (internal/decide) returns the desired external state as a typed value; this
// package only compares that value with what Dataverse holds and writes the difference. It reads
// no condition and applies no rule.
//
// Every kind has two steps:
//   - observe: read what Dataverse holds (through a Reader, which cannot write) and compare it with
//     the desired value, returning the list of changes. The comparison is a pure function per
//     kind (compareUser, compareRole, ...), tested table-driven.
//   - apply: make those changes (through a Writer).
//
// The management policy is checked in one place, Target.writer: under Observe there is no
// writer, so a drift is reported (Drifted) and nothing is written.
package dvsync

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// Reader is what observing needs of the Web API: reads only.
type Reader interface {
	WhoAmI(ctx context.Context) (dataverse.WhoAmIResult, error)
	ListBusinessUnits(ctx context.Context) ([]dataverse.BusinessUnit, error)
	ListNonInteractiveUsers(ctx context.Context) ([]dataverse.SystemUser, error)
	GetUser(ctx context.Context, id string) (*dataverse.SystemUser, error)
	UserByObjectID(ctx context.Context, objectID string) (*dataverse.SystemUser, error)
	UserByDomainName(ctx context.Context, upn string) (*dataverse.SystemUser, error)
	UserByApplicationID(ctx context.Context, appID string) (*dataverse.SystemUser, error)
	UserRoles(ctx context.Context, userID string) ([]dataverse.Role, error)
	RoleByName(ctx context.Context, name, businessUnitID string) (*dataverse.Role, error)
	RolePrivileges(ctx context.Context, roleID string) ([]dataverse.RolePrivilege, error)
	TablePrivileges(ctx context.Context, table string) (map[dataverse.AccessRight]dataverse.Privilege, error)
	PrivilegesByName(ctx context.Context, names ...string) (map[string]dataverse.Privilege, error)
	TeamByName(ctx context.Context, name, businessUnitID string) (*dataverse.Team, error)
	TeamByGroup(ctx context.Context, groupObjectID string, mt dataverse.MembershipType) (*dataverse.Team, error)
	TeamMembers(ctx context.Context, teamID string) ([]string, error)
	TeamRoles(ctx context.Context, teamID string) ([]dataverse.Role, error)
}

// Writer is what applying needs: writes only.
type Writer interface {
	CreateBusinessUnit(ctx context.Context, name, parentID string) (string, error)
	UpdateUser(ctx context.Context, id, etag string, p dataverse.UserPatch) error
	CreateApplicationUser(ctx context.Context, appID, businessUnitID string) (string, error)
	DeleteApplicationUser(ctx context.Context, id string) error
	AssignUserRole(ctx context.Context, userID, roleID string) error
	UnassignUserRole(ctx context.Context, userID, roleID string) error
	CreateRole(ctx context.Context, name, businessUnitID string, inh dataverse.Inheritance) (string, error)
	SetRoleInheritance(ctx context.Context, id, etag string, inh dataverse.Inheritance) error
	ReplacePrivileges(ctx context.Context, roleID string, privs []dataverse.RolePrivilege) error
	DeleteRole(ctx context.Context, id string) error
	CreateTeam(ctx context.Context, t dataverse.NewTeam) (string, error)
	DeleteTeam(ctx context.Context, id string) error
	AddTeamMembers(ctx context.Context, teamID string, userIDs ...string) error
	RemoveTeamMembers(ctx context.Context, teamID string, userIDs ...string) error
	AssignTeamRole(ctx context.Context, teamID, roleID string) error
	UnassignTeamRole(ctx context.Context, teamID, roleID string) error
}

// EntraAdder asks the admin API to bring a person from Entra ID into an environment.
type EntraAdder interface {
	AddUser(ctx context.Context, environmentID, objectID string) error
}

// Op is the kind of one change.
type Op string

const (
	OpCreateBusinessUnit    Op = "CreateBusinessUnit"
	OpAddFromEntra          Op = "AddFromEntra"
	OpUpdateUser            Op = "UpdateUser"
	OpCreateApplicationUser Op = "CreateApplicationUser"
	OpAssignUserRole        Op = "AssignUserRole"
	OpUnassignUserRole      Op = "UnassignUserRole"
	OpCreateRole            Op = "CreateRole"
	OpSetInheritance        Op = "SetInheritance"
	OpReplacePrivileges     Op = "ReplacePrivileges"
	OpCreateTeam            Op = "CreateTeam"
	OpAddTeamMembers        Op = "AddTeamMembers"
	OpRemoveTeamMembers     Op = "RemoveTeamMembers"
	OpAssignTeamRole        Op = "AssignTeamRole"
	OpUnassignTeamRole      Op = "UnassignTeamRole"
)

// Change is one write that brings Dataverse to the desired value. Only the fields its Op uses
// are set.
type Change struct {
	Op Op
	// Why says what differs, in words (the Drifted message, the Synced event).
	Why string
	// Record is the record written (a user, role or team id); "" for a create.
	Record string
	ETag   string
	// Name, ParentName and BusinessUnitID describe a record to create (ParentName: a business
	// unit created by an earlier change of the same apply).
	Name           string
	ParentName     string
	BusinessUnitID string
	// ID is the other side of an association (a role id), the application id or the Entra
	// object id of a record to create or add.
	ID          string
	Members     []string
	Patch       *dataverse.UserPatch
	Inheritance dataverse.Inheritance
	Privileges  []dataverse.RolePrivilege
	Team        *dataverse.NewTeam
}

// creates reports whether the change makes a record whose id the rest of the comparison needs:
// the kind is observed again after it.
func (c Change) creates() bool {
	switch c.Op {
	case OpCreateApplicationUser, OpCreateRole, OpCreateTeam, OpCreateBusinessUnit:
		return true
	}
	return false
}

// Observation is what observing one object found.
type Observation struct {
	// Record is what Dataverse holds now (status.dataverse); nil when nothing could be read.
	Record *v1alpha1.DataverseRecord
	// After is the record once Changes are made; nil means Record.
	After *v1alpha1.DataverseRecord
	// Changes make Dataverse hold the desired value.
	Changes []Change
	// Then is the outcome once Changes are made when it is not Synced: a wait (SyncPending,
	// AwaitingEntraSync) or a problem only a person can fix (EnablementDrift, SyncConflict).
	Then *Result
	// Environment is what an Environment's observation records (units, unmanaged users).
	Environment *v1alpha1.EnvironmentDataverseStatus
}

// Result is the outcome of one object's sync: its Synced condition and when to look again.
type Result struct {
	Reason  string
	Message string
	// Record is what was observed; nil when nothing could be read.
	Record *v1alpha1.DataverseRecord
	// Environment is the Environment's observation; nil for other kinds or when none was made.
	Environment *v1alpha1.EnvironmentDataverseStatus
	// RequeueAfter is when to look again; the sync interval when in place.
	RequeueAfter time.Duration
	// Wrote says what the sync changed, for an event.
	Wrote []string
	// Deferred: the sync was held back before it could look (the operator's budget spent, or
	// Dataverse throttling): it says nothing about Dataverse, so an object whose last sync of the
	// same decision was Synced stays Synced instead of flapping (its Environment says Throttled).
	Deferred bool
}

// Synced reports whether the record is in place.
func (r Result) Synced() bool { return r.Reason == v1alpha1.ReasonSynced }

// maxRounds bounds observe → apply: a create is observed again once (a record has its id), so
// two rounds suffice; the third is a guard against a service that does not keep what it made.
const maxRounds = 3

// converge observes, and under Manage applies the changes, until Dataverse holds the desired
// value or the outcome is a wait or a problem. It is the one loop every kind runs.
func (t *Target) converge(ctx context.Context, what string, observe func(context.Context, Reader) (Observation, error)) Result {
	var wrote []string
	var last *v1alpha1.DataverseRecord
	for round := 0; ; round++ {
		obs, err := observe(ctx, t.reader)
		if obs.Record != nil {
			last = obs.Record
		}
		if err != nil {
			return t.failed(err, what, last, wrote)
		}
		if len(obs.Changes) == 0 {
			return t.outcome(obs, what, wrote)
		}
		if round == maxRounds {
			return Result{Reason: v1alpha1.ReasonSyncConflict, Record: obs.Record, Environment: obs.Environment, RequeueAfter: t.interval(), Wrote: wrote,
				Message: fmt.Sprintf("Dataverse does not keep what the operator writes to %s: after %d rounds it still differs: %s", what, maxRounds, whys(obs.Changes))}
		}
		w, ok := t.writer()
		if !ok {
			return Result{Reason: v1alpha1.ReasonDrifted, Record: obs.Record, Environment: obs.Environment, RequeueAfter: t.recheck(),
				Message: fmt.Sprintf("%s differs from the decided state (managementPolicy Observe, nothing written): %s; set spec.dataverse.managementPolicy to Manage to correct it", what, whys(obs.Changes))}
		}
		again, err := t.apply(ctx, w, obs)
		for _, c := range obs.Changes[:again.done] {
			wrote = append(wrote, c.Why)
		}
		if err != nil {
			return t.failed(err, what, last, wrote)
		}
		if !again.observe {
			obs.Changes = nil
			if obs.After != nil {
				obs.Record = obs.After
			}
			return t.outcome(obs, what, wrote)
		}
	}
}

// convergeIn is converge for a record of a business unit: it waits until the Environment's sync
// has recorded the unit's id, then observes with it.
func (t *Target) convergeIn(ctx context.Context, what, unit string, observe func(ctx context.Context, r Reader, buID string) (Observation, error)) Result {
	buID := t.businessUnitID(unit)
	if buID == "" {
		return t.outcome(Observation{Then: pending("waiting for environment %s to sync business unit %s", t.Env.Name, unit)}, what, nil)
	}
	return t.converge(ctx, what, func(ctx context.Context, r Reader) (Observation, error) { return observe(ctx, r, buID) })
}

// outcome is the result of an observation whose changes are made (or none were needed).
func (t *Target) outcome(obs Observation, what string, wrote []string) Result {
	rec := obs.Record
	if obs.After != nil && len(obs.Changes) == 0 {
		rec = obs.After
	}
	if obs.Then != nil {
		r := *obs.Then
		r.Record, r.Environment, r.Wrote = rec, obs.Environment, wrote
		if r.RequeueAfter == 0 {
			r.RequeueAfter = t.recheck()
		}
		return r
	}
	// The message stays the same whatever was corrected (the Synced event says that), so the
	// next re-read that finds nothing to correct writes no status.
	return Result{Reason: v1alpha1.ReasonSynced, Message: what + " is in place in Dataverse", Record: rec,
		Environment: obs.Environment, RequeueAfter: t.recheck(), Wrote: wrote}
}

// failed keeps the record a sync found or created in an outcome that stops short: status.dataverse
// then names the record, so deletionPolicy Delete removes it when the object is deleted.
func (t *Target) failed(err error, what string, rec *v1alpha1.DataverseRecord, wrote []string) Result {
	r := Failed(err, what)
	r.Record, r.Wrote = rec, wrote
	return r
}

func (t *Target) interval() time.Duration { return t.Env.Spec.Dataverse.Interval().Duration }

// recheck is when an object found in place (or drifted, under Observe) is looked at again: just
// after its environment's next snapshot read, which is due one interval after the last. The
// fleet's re-checks then share that read — one per environment and interval — and a change made
// behind the operator's back is seen within one interval (the read after it, then the re-checks
// that follow it; Pool.Record spreads them by up to a tenth).
func (t *Target) recheck() time.Duration {
	interval := t.interval()
	sr, ok := t.reader.(snapshotReader)
	if !ok || sr.s == nil {
		return interval
	}
	taken := sr.s.takenAt.Load()
	if taken == 0 {
		return interval
	}
	d := time.Unix(0, taken).Add(interval).Sub(t.Now)
	if d <= 0 || d > interval {
		return interval
	}
	return d
}

func whys(changes []Change) string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.Why
	}
	return strings.Join(out, "; ")
}

// pending is an outcome that waits for another object's sync (a business unit, a role, a user).
func pending(format string, args ...any) *Result {
	return &Result{Reason: v1alpha1.ReasonSyncPending, Message: fmt.Sprintf(format, args...), RequeueAfter: 10 * time.Second}
}

// conflict is an outcome only a person can fix.
func conflict(format string, args ...any) *Result {
	return &Result{Reason: v1alpha1.ReasonSyncConflict, Message: fmt.Sprintf(format, args...)}
}
