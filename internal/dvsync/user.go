package dvsync

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// PlatformUser finds the person by Entra object id or user name (asking the admin API's addUser
// to bring it from Entra ID when it is absent), and makes its access mode, business unit and
// direct roles the desired ones. Its isdisabled is Entra ID's: when it disagrees with the
// desired enablement the outcome (EnablementDrift) names the Entra fact to change.
func PlatformUser(ctx context.Context, t *Target, d *decide.DesiredUser) Result {
	what := "user " + d.UserName
	if d.Stub {
		return t.outcome(Observation{Record: &v1alpha1.DataverseRecord{}}, what+" (a stub: created by data import, not by the operator)", nil)
	}
	return t.convergeIn(ctx, what, d.BusinessUnit, func(ctx context.Context, r Reader, buID string) (Observation, error) {
		o, err := readUser(ctx, r, d, buID)
		if err != nil {
			return Observation{Record: o.record()}, err
		}
		o.AskedRecently = d.EntraObjectID != "" && t.added.recent(d.EntraObjectID, t.Now)
		o.CanAdd = t.Env.Spec.Dataverse.EnvironmentID != "" && t.Admin != nil
		o.EntraChanged = t.EntraChanged
		obs := compareUser(d, o, t.entraSyncWait())
		if sr, ok := r.(snapshotReader); ok && o.User != nil && (hasOp(obs.Changes, OpAddFromEntra) || (obs.Then != nil && obs.Then.Reason == v1alpha1.ReasonAwaitingEntraSync)) {
			// Dataverse changes the record itself when it follows Entra ID (addUser, its
			// background sync): until it has, the person is read on its own, not from the
			// snapshot, which cannot see that change.
			sr.staleUser(o.User.ID)
		}
		return obs, nil
	})
}

func hasOp(changes []Change, op Op) bool {
	for _, c := range changes {
		if c.Op == op {
			return true
		}
	}
	return false
}

// observedUser is what Dataverse holds of a person (or an application user).
type observedUser struct {
	User *dataverse.SystemUser // nil: not in Dataverse
	// BusinessUnitID is the id of the desired unit.
	BusinessUnitID string
	Roles          []dataverse.Role
	// RoleIDs are the ids, in the desired unit, of the desired roles the user lacks ("": the role
	// is not in Dataverse yet).
	RoleIDs map[string]string
	// AskedRecently: addUser was asked for the person less than entraReAdd ago.
	AskedRecently bool
	// CanAdd: the environment's id and the admin API are known, so addUser can be asked.
	CanAdd bool
	// EntraChanged: the operator has just changed the person's membership or license in Entra
	// ID, so addUser is asked at once (Dataverse's own sync follows only every ~30 minutes).
	EntraChanged bool
}

func (o observedUser) record() *v1alpha1.DataverseRecord {
	if o.User == nil {
		return nil
	}
	return observed(o.User)
}

func readUser(ctx context.Context, r Reader, d *decide.DesiredUser, buID string) (observedUser, error) {
	o := observedUser{BusinessUnitID: buID}
	var err error
	if d.EntraObjectID != "" {
		o.User, err = r.UserByObjectID(ctx, d.EntraObjectID)
	}
	if o.User == nil && (err == nil || isNotFound(err)) {
		o.User, err = r.UserByDomainName(ctx, d.UserName)
	}
	// A lookup that failed is not an absence: only a NotFound (or no record) is.
	if err != nil && !isNotFound(err) {
		return o, err
	}
	if o.User == nil {
		return observedUser{BusinessUnitID: buID}, nil
	}
	return o, readRoles(ctx, r, &o, o.User.ID, d.Roles, r.UserRoles)
}

// readRoles reads the roles a principal holds and the ids of the desired ones it lacks.
func readRoles(ctx context.Context, r Reader, o *observedUser, id string, desired []string, list func(context.Context, string) ([]dataverse.Role, error)) error {
	var err error
	if o.Roles, err = list(ctx, id); err != nil {
		return err
	}
	held := map[string]bool{}
	for _, role := range o.Roles {
		held[role.Name] = true
	}
	o.RoleIDs = map[string]string{}
	for _, name := range desired {
		if held[name] {
			continue
		}
		role, err := r.RoleByName(ctx, name, o.BusinessUnitID)
		switch {
		case isNotFound(err):
			o.RoleIDs[name] = ""
		case err != nil:
			return err
		default:
			o.RoleIDs[name] = role.ID
		}
	}
	return nil
}

// compareUser lists the writes that make Dataverse hold the desired person.
func compareUser(d *decide.DesiredUser, o observedUser, entraWait time.Duration) Observation {
	what := "user " + d.UserName
	if o.User == nil {
		return missingPerson(d, o, entraWait)
	}
	rec := o.User
	obs := Observation{Record: observed(rec)}
	after := *obs.Record
	patch := dataverse.UserPatch{}
	var why []string
	if want := accessModes[d.AccessMode]; rec.AccessMode != want {
		why = append(why, fmt.Sprintf("accessmode %s, decided %s", accessModeNames[rec.AccessMode], accessModeNames[want]))
		patch.AccessMode = &want
		after.AccessMode = accessModeNames[want]
	}
	if rec.BusinessUnitID != o.BusinessUnitID {
		why = append(why, "business unit differs, decided "+d.BusinessUnit)
		patch.BusinessUnitID = o.BusinessUnitID
	}
	if len(why) > 0 {
		obs.Changes = append(obs.Changes, Change{Op: OpUpdateUser, Why: strings.Join(why, "; "), Record: rec.ID, ETag: rec.ETag, Patch: &patch})
	}
	changes, wait := exactRoles(rec.ID, d.Roles, d.ServiceRoles, o, what, OpAssignUserRole, OpUnassignUserRole)
	// The operator makes the Entra ID facts (spec.entra): a person decided enabled whom Dataverse
	// still holds disabled gets no role yet — Dataverse refuses roles to a disabled user — but is
	// asked to follow; its roles come once it has.
	held := d.EnablementManaged && d.Enabled && rec.IsDisabled
	if held {
		changes = slices.DeleteFunc(changes, func(c Change) bool { return c.Op == OpAssignUserRole })
	}
	obs.Changes = append(obs.Changes, changes...)
	obs.After = &after
	follow := o.CanAdd && d.EntraObjectID != ""
	// An access mode written changes what Dataverse derives (Administrative and NonInteractive
	// people need no license), which it does at addUser or its background sync.
	modeWritten := patch.AccessMode != nil
	switch {
	case wait != nil:
		obs.Then = wait
		follow = follow && o.EntraChanged
	case rec.IsDisabled == d.Enabled && d.EnablementManaged:
		// The operator makes the Entra ID facts itself (spec.entra): Dataverse has not followed
		// them yet. addUser brings them over at once ("Add users to an environment"); without it
		// Dataverse's background sync does, within about 30 minutes.
		follow = follow && (!o.AskedRecently || o.EntraChanged || modeWritten)
		wait := entraWait
		if follow {
			// addUser updates an existing record at once: look again soon, not at the wait
			// for a person to arrive.
			wait = min(entraWait, followWait)
		}
		obs.Then = &Result{Reason: v1alpha1.ReasonAwaitingEntraSync, RequeueAfter: wait,
			Message: fmt.Sprintf("Dataverse holds %s %s and has not followed Entra ID yet, where the operator made it %s: waiting for Dataverse to sync it", d.UserName, enabledWord(!rec.IsDisabled), enabledWord(d.Enabled))}
	case rec.IsDisabled == d.Enabled:
		obs.Then = &Result{Reason: v1alpha1.ReasonEnablementDrift, Message: enablementDrift(d, rec.IsDisabled)}
		follow = false
	default:
		follow = follow && o.EntraChanged
	}
	if follow {
		obs.Changes = append(obs.Changes, Change{Op: OpAddFromEntra, Why: "asked Dataverse to follow Entra ID now (addUser)", ID: d.EntraObjectID})
	}
	return obs
}

// followWait is how soon a person is looked at again after addUser was asked to update its record.
const followWait = 2 * time.Second

func enabledWord(enabled bool) string {
	if enabled {
		return "enabled"
	}
	return "disabled"
}

// missingPerson is the outcome for a person Dataverse does not hold: people arrive from Entra
// ID, so the operator asks addUser (once per entraReAdd) and waits for its sync.
func missingPerson(d *decide.DesiredUser, o observedUser, entraWait time.Duration) Observation {
	what := "user " + d.UserName
	awaiting := &Result{Reason: v1alpha1.ReasonAwaitingEntraSync, RequeueAfter: entraWait,
		Message: fmt.Sprintf("%s was added from Entra ID (object %s) and is waiting for Entra ID's sync to bring it into Dataverse, which takes minutes", what, d.EntraObjectID)}
	switch {
	case d.EntraObjectID == "" || !o.CanAdd:
		return Observation{Then: &Result{Reason: v1alpha1.ReasonAwaitingEntraSync, RequeueAfter: entraWait,
			Message: fmt.Sprintf("%s is not in Dataverse yet: people arrive from Entra ID; set spec.entraObjectId (and the Environment's spec.dataverse.environmentId) so the operator adds it, or add it in the Power Platform admin center", what)}}
	case o.AskedRecently:
		return Observation{Then: awaiting} // asked already: only look again
	}
	return Observation{Then: awaiting, Changes: []Change{{Op: OpAddFromEntra, Why: "not in Dataverse: added from Entra ID", ID: d.EntraObjectID}}}
}

// enablementDrift names the Entra ID fact to change when Dataverse's isdisabled and the decided
// enablement disagree: a person cannot be enabled or disabled through the Web API.
func enablementDrift(d *decide.DesiredUser, disabledInDataverse bool) string {
	if disabledInDataverse {
		facts := []string{"sign-in is allowed"}
		if d.SecurityGroup != "" {
			facts = append(facts, fmt.Sprintf("it is a direct member of security group %s", d.SecurityGroup))
		}
		if d.License != "" {
			facts = append(facts, "it holds license "+d.License)
		}
		return fmt.Sprintf("Dataverse holds %s disabled but the operator decided it is enabled (EN1): in Entra ID check that %s; Dataverse follows Entra ID, the Web API cannot enable a person",
			d.UserName, strings.Join(facts, ", "))
	}
	if d.WaitingFor != "" {
		return fmt.Sprintf("%s waits for %s (%s), so the operator decided it is not enabled yet, but Entra ID lets it into Dataverse, where it is written as ReadWrite until it is granted: nothing to change if that is acceptable; to keep it out until then, remove it from the environment's security group in Entra ID",
			d.UserName, d.WaitingFor, d.WaitingReason)
	}
	how := "block its sign-in or remove its license"
	if d.SecurityGroup != "" {
		how = fmt.Sprintf("remove it from security group %s (recommended), block its sign-in or remove its license", d.SecurityGroup)
	}
	return fmt.Sprintf("Dataverse holds %s enabled but the operator decided it is disabled: in Entra ID %s; Dataverse follows Entra ID, the Web API cannot disable a person", d.UserName, how)
}

// exactRoles lists the role changes that make a principal's (or team's) roles exactly the
// desired ones, leaving the service's own (keep) alone, or a wait when a desired role is not in
// Dataverse yet.
func exactRoles(id string, desired, keep []string, o observedUser, what string, assign, unassign Op) ([]Change, *Result) {
	var out []Change
	want := map[string]bool{}
	for _, name := range desired {
		want[name] = true
		roleID, lacking := o.RoleIDs[name]
		if !lacking {
			continue
		}
		if roleID == "" {
			return out, pending("waiting for role %q to exist in Dataverse's business unit of %s", name, what)
		}
		out = append(out, Change{Op: assign, Why: fmt.Sprintf("role %s not assigned", name), Record: id, ID: roleID})
	}
	kept := map[string]bool{}
	for _, k := range keep {
		kept[k] = true
	}
	seen := map[string]bool{}
	for _, role := range sortedRoles(o.Roles) {
		if want[role.Name] || kept[role.Name] || seen[role.Name] {
			continue
		}
		seen[role.Name] = true
		out = append(out, Change{Op: unassign, Why: fmt.Sprintf("role %s assigned but not decided", role.Name), Record: id, ID: role.ID})
	}
	return out, nil
}

var accessModes = map[v1alpha1.AccessMode]dataverse.AccessMode{
	v1alpha1.AccessModeReadWrite:      dataverse.AccessModeReadWrite,
	v1alpha1.AccessModeAdministrative: dataverse.AccessModeAdministrative,
	v1alpha1.AccessModeNonInteractive: dataverse.AccessModeNonInteractive,
}

var accessModeNames = map[dataverse.AccessMode]string{
	dataverse.AccessModeReadWrite: "ReadWrite", dataverse.AccessModeAdministrative: "Administrative",
	dataverse.AccessModeRead: "Read", dataverse.AccessModeSupportUser: "SupportUser",
	dataverse.AccessModeNonInteractive: "NonInteractive", dataverse.AccessModeDelegatedAdmin: "DelegatedAdmin",
}

func observed(rec *dataverse.SystemUser) *v1alpha1.DataverseRecord {
	disabled, licensed := rec.IsDisabled, rec.IsLicensed
	return &v1alpha1.DataverseRecord{ID: rec.ID, IsDisabled: &disabled, IsLicensed: &licensed, AccessMode: accessModeNames[rec.AccessMode]}
}

// defaultEntraSyncWait is how soon to look again for a user added from Entra ID: the sync takes
// minutes.
const defaultEntraSyncWait = 30 * time.Second

// entraReAdd is how long after addUser a person still absent is added again: Entra ID's sync
// takes minutes, and asking again at every look would be a write per wait per person.
const entraReAdd = 10 * time.Minute

// entraAdds remembers when addUser was asked for each person (by Entra object id) of one
// environment, and forgets a person once it is older than entraReAdd (prune). After a restart a
// person still absent is added once more, which addUser takes as the same request.
type entraAdds struct {
	mu sync.Mutex
	at map[string]time.Time
}

// recent reports whether addUser was asked for oid less than entraReAdd before now.
func (a *entraAdds) recent(oid string, now time.Time) bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.at[strings.ToLower(oid)]
	return ok && now.Sub(at) < entraReAdd
}

func (a *entraAdds) mark(oid string, now time.Time) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.at == nil {
		a.at = map[string]time.Time{}
	}
	for k, at := range a.at {
		if now.Sub(at) >= entraReAdd {
			delete(a.at, k)
		}
	}
	a.at[strings.ToLower(oid)] = now
}

func (a *entraAdds) size() int {
	if a == nil {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.at)
}

func (t *Target) entraSyncWait() time.Duration {
	if t.EntraSyncWait > 0 {
		return t.EntraSyncWait
	}
	return defaultEntraSyncWait
}
