package dvsync

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// defaultEntraSyncWait is how soon to look again for a user added from Entra ID: the sync takes
// minutes.
const defaultEntraSyncWait = 30 * time.Second

// entraReAdd is how long after addUser a person still absent is added again: Entra ID's sync
// takes minutes, and asking again at every look would be a write per wait per person.
const entraReAdd = 10 * time.Minute

// entraAdds remembers when addUser was asked for each person (by Entra object id) of one
// environment. It lives as long as the manager: after a restart a person still absent is added
// once more, which addUser takes as the same request.
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
	a.at[strings.ToLower(oid)] = now
}

func (t *Target) entraSyncWait() time.Duration {
	if t.EntraSyncWait > 0 {
		return t.EntraSyncWait
	}
	return defaultEntraSyncWait
}

var accessModeNames = map[dataverse.AccessMode]string{
	dataverse.AccessModeReadWrite: "ReadWrite", dataverse.AccessModeAdministrative: "Administrative",
	dataverse.AccessModeRead: "Read", dataverse.AccessModeSupportUser: "SupportUser",
	dataverse.AccessModeNonInteractive: "NonInteractive", dataverse.AccessModeDelegatedAdmin: "DelegatedAdmin",
}

// RoleIDs resolves role names to record ids in a business unit: the service keeps a copy of each
// role in every unit below its own, and a principal is given its own unit's copy.
type RoleIDs func(ctx context.Context, roleName string) (string, error)

func (t *Target) roleIDs(buID string) RoleIDs {
	return func(ctx context.Context, name string) (string, error) {
		r, err := t.Client.RoleByName(ctx, name, buID)
		if err != nil {
			return "", err
		}
		return r.ID, nil
	}
}

// PlatformUser finds the person by Entra object id or user name (adding it from Entra ID through
// the admin API when it is absent and spec.entraObjectId is set), and makes its access mode,
// business unit and direct roles the decided ones. Its isdisabled is Entra ID's: when it
// disagrees with the decided enablement the outcome names the Entra fact to change.
// roleNames maps each decided direct role (status.assignedRoles) to its display name.
func PlatformUser(ctx context.Context, t *Target, u *v1alpha1.PlatformUser, roleNames []string) Result {
	what := "user " + u.Spec.UserName
	if u.Spec.Stub {
		return t.finish(&differences{}, &v1alpha1.DataverseRecord{}, what+" (a stub: created by data import, not by the operator)")
	}
	buID := t.businessUnitID(u.Status.BusinessUnit)
	if buID == "" {
		return pending("waiting for environment %s to sync business unit %s", t.Env.Name, u.Status.BusinessUnit)
	}
	rec, err := findPerson(ctx, t.Client, u)
	if err != nil && !isNotFound(err) {
		return Failed(err, what)
	}
	if rec == nil {
		return addFromEntra(ctx, t, u, what)
	}

	var d differences
	patch := dataverse.UserPatch{}
	if want := decidedAccessMode(u); rec.AccessMode != want {
		d.add("accessmode %s, decided %s", accessModeNames[rec.AccessMode], accessModeNames[want])
		patch.AccessMode = &want
	}
	if rec.BusinessUnitID != buID {
		d.add("business unit differs, decided %s", u.Status.BusinessUnit)
		patch.BusinessUnitID = buID
	}
	if t.Manage() && (patch.AccessMode != nil || patch.BusinessUnitID != "") {
		if err := t.Client.UpdateUser(ctx, rec.ID, rec.ETag, patch); err != nil {
			return holding(Failed(err, what), observed(rec))
		}
		// What Dataverse now holds, so status.dataverse does not show the value just corrected.
		if patch.AccessMode != nil {
			rec.AccessMode = *patch.AccessMode
		}
		if patch.BusinessUnitID != "" {
			rec.BusinessUnitID = patch.BusinessUnitID
		}
	}
	service := map[string]bool{}
	if hasSource(u.Status.EffectiveRoles, v1alpha1.RoleSourceAdministratorRolePrefix) {
		// AM9: the service gives administrators System Administrator; it is not the operator's to remove.
		service["System Administrator"] = true
	}
	if res, ok := exactRoles(ctx, t, &d, rec.ID, buID, roleNames, service, what, t.Client.UserRoles, t.Client.AssignUserRole, t.Client.UnassignUserRole); !ok {
		return holding(res, observed(rec))
	}

	record := observed(rec)
	res := t.finish(&d, record, what)
	if res.Synced() && rec.IsDisabled == u.Status.Enabled {
		return Result{Reason: v1alpha1.ReasonEnablementDrift, Record: record, RequeueAfter: res.RequeueAfter, Message: enablementDrift(t.Env, u, rec.IsDisabled)}
	}
	return res
}

// decidedAccessMode is the access mode to write: NonInteractive only for a user holding a slot
// (the service refuses an eighth), Administrative as decided, ReadWrite otherwise.
func decidedAccessMode(u *v1alpha1.PlatformUser) dataverse.AccessMode {
	switch u.Spec.AccessMode {
	case v1alpha1.AccessModeAdministrative:
		return dataverse.AccessModeAdministrative
	case v1alpha1.AccessModeNonInteractive:
		for _, c := range u.Status.Conditions {
			if c.Type == v1alpha1.ConditionNonInteractiveSlot && c.Reason == v1alpha1.ReasonSlotGranted {
				return dataverse.AccessModeNonInteractive
			}
		}
	}
	return dataverse.AccessModeReadWrite
}

func findPerson(ctx context.Context, cl *dataverse.Client, u *v1alpha1.PlatformUser) (*dataverse.SystemUser, error) {
	if u.Spec.EntraObjectID != "" {
		rec, err := cl.UserByObjectID(ctx, u.Spec.EntraObjectID)
		if err == nil || !isNotFound(err) {
			return rec, err
		}
	}
	return cl.UserByDomainName(ctx, u.Spec.UserName)
}

// addFromEntra brings an absent person into the environment through the admin API's addUser and
// waits for Entra ID's sync (AwaitingEntraSync).
func addFromEntra(ctx context.Context, t *Target, u *v1alpha1.PlatformUser, what string) Result {
	target := t.Env.Spec.Dataverse
	switch {
	case !t.Manage():
		return Result{Reason: v1alpha1.ReasonDrifted, RequeueAfter: target.Interval().Duration,
			Message: fmt.Sprintf("%s is not in Dataverse (managementPolicy Observe, nothing written): set managementPolicy to Manage to add it from Entra ID", what)}
	case u.Spec.EntraObjectID == "" || target.EnvironmentID == "" || t.Admin == nil:
		return Result{Reason: v1alpha1.ReasonAwaitingEntraSync, RequeueAfter: t.entraSyncWait(),
			Message: fmt.Sprintf("%s is not in Dataverse yet: people arrive from Entra ID; set spec.entraObjectId (and the Environment's spec.dataverse.environmentId) so the operator adds it, or add it in the Power Platform admin center", what)}
	}
	waiting := Result{Reason: v1alpha1.ReasonAwaitingEntraSync, RequeueAfter: t.entraSyncWait(),
		Message: fmt.Sprintf("%s was added from Entra ID (object %s) and is waiting for Entra ID's sync to bring it into Dataverse, which takes minutes", what, u.Spec.EntraObjectID)}
	if t.added.recent(u.Spec.EntraObjectID, t.Now) {
		return waiting // asked already: only look again
	}
	if err := t.Admin.AddUser(ctx, target.EnvironmentID, u.Spec.EntraObjectID); err != nil {
		return Failed(err, what)
	}
	t.added.mark(u.Spec.EntraObjectID, t.Now)
	waiting.Wrote = []string{"added from Entra ID"}
	return waiting
}

// enablementDrift names the Entra ID fact to change when Dataverse's isdisabled and the decided
// enablement disagree: a person cannot be enabled or disabled through the Web API.
func enablementDrift(env *v1alpha1.Environment, u *v1alpha1.PlatformUser, disabledInDataverse bool) string {
	if disabledInDataverse {
		facts := []string{"sign-in is allowed"}
		if env.Spec.SecurityGroup != "" {
			facts = append(facts, fmt.Sprintf("it is a direct member of security group %s", env.Spec.SecurityGroup))
		}
		if u.Spec.License != "" {
			facts = append(facts, "it holds license "+u.Spec.License)
		}
		return fmt.Sprintf("Dataverse holds %s disabled but the operator decided it is enabled (EN1): in Entra ID check that %s; Dataverse follows Entra ID, the Web API cannot enable a person",
			u.Spec.UserName, strings.Join(facts, ", "))
	}
	for _, c := range u.Status.Conditions {
		if c.Type == v1alpha1.ConditionEnabled && (c.Reason == v1alpha1.ReasonNonInteractiveLimitReached || c.Reason == v1alpha1.ReasonSeatsExhausted || c.Reason == v1alpha1.ReasonAwaitingAllocation) {
			return fmt.Sprintf("%s waits for %s (%s), so the operator decided it is not enabled yet, but Entra ID lets it into Dataverse, where it is written as ReadWrite until it is granted: nothing to change if that is acceptable; to keep it out until then, remove it from the environment's security group in Entra ID",
				u.Spec.UserName, map[bool]string{true: "a non-interactive slot", false: "a license seat"}[u.Spec.AccessMode == v1alpha1.AccessModeNonInteractive], c.Reason)
		}
	}
	how := "block its sign-in or remove its license"
	if env.Spec.SecurityGroup != "" {
		how = fmt.Sprintf("remove it from security group %s (recommended), block its sign-in or remove its license", env.Spec.SecurityGroup)
	}
	return fmt.Sprintf("Dataverse holds %s enabled but the operator decided it is disabled: in Entra ID %s; Dataverse follows Entra ID, the Web API cannot disable a person", u.Spec.UserName, how)
}

// ApplicationUser finds the application user by application id (ignoring soft-deleted rows) or
// creates it under its unit with the Web API (not the admin API, which would grant System
// Administrator), sets isdisabled from intent, and makes its direct roles the decided ones.
func ApplicationUser(ctx context.Context, t *Target, app *v1alpha1.ApplicationUser, roleNames []string) Result {
	what := "application user " + app.Name
	buID := t.businessUnitID(app.Status.BusinessUnit)
	if buID == "" {
		return pending("waiting for environment %s to sync business unit %s", t.Env.Name, app.Status.BusinessUnit)
	}
	var d differences
	rec, err := t.Client.UserByApplicationID(ctx, app.Spec.ApplicationID)
	if err != nil && !isNotFound(err) {
		return Failed(err, what)
	}
	if rec == nil {
		d.add("application user missing")
		if !t.Manage() {
			return t.finish(&d, &v1alpha1.DataverseRecord{}, what)
		}
		id, err := t.Client.CreateApplicationUser(ctx, app.Spec.ApplicationID, buID)
		if err != nil {
			return Failed(err, what)
		}
		if rec, err = t.Client.GetUser(ctx, id); err != nil {
			return holding(Failed(err, what), &v1alpha1.DataverseRecord{ID: id})
		}
	}
	patch := dataverse.UserPatch{}
	if want := !app.Spec.Enabled; rec.IsDisabled != want {
		d.add("isdisabled %t, decided %t", rec.IsDisabled, want)
		patch.IsDisabled = &want
	}
	if rec.BusinessUnitID != buID {
		d.add("business unit differs, decided %s", app.Status.BusinessUnit)
		patch.BusinessUnitID = buID
	}
	if t.Manage() && (patch.IsDisabled != nil || patch.BusinessUnitID != "") {
		if err := t.Client.UpdateUser(ctx, rec.ID, rec.ETag, patch); err != nil {
			return holding(Failed(err, what), observed(rec))
		}
		if patch.IsDisabled != nil {
			rec.IsDisabled = *patch.IsDisabled
		}
		if patch.BusinessUnitID != "" {
			rec.BusinessUnitID = patch.BusinessUnitID
		}
	}
	if res, ok := exactRoles(ctx, t, &d, rec.ID, buID, roleNames, nil, what, t.Client.UserRoles, t.Client.AssignUserRole, t.Client.UnassignUserRole); !ok {
		return holding(res, observed(rec))
	}
	return t.finish(&d, observed(rec), what)
}

// DeleteApplicationUser removes the record (deletionPolicy Delete): the service wants it
// disabled first.
func DeleteApplicationUser(ctx context.Context, t *Target, app *v1alpha1.ApplicationUser) error {
	if app.Status.Dataverse == nil || app.Status.Dataverse.ID == "" {
		return nil
	}
	id := app.Status.Dataverse.ID
	rec, err := t.Client.GetUser(ctx, id)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !rec.IsDisabled {
		disabled := true
		if err := t.Client.UpdateUser(ctx, id, rec.ETag, dataverse.UserPatch{IsDisabled: &disabled}); err != nil {
			return err
		}
	}
	if err := t.Client.DeleteApplicationUser(ctx, id); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// exactRoles makes a principal's (or team's) roles in Dataverse exactly the decided ones, leaving
// the service's own (keep) alone. It returns false with the outcome when it could not.
func exactRoles(ctx context.Context, t *Target, d *differences, id, buID string, roleNames []string, keep map[string]bool, what string,
	list func(context.Context, string) ([]dataverse.Role, error), assign, unassign func(context.Context, string, string) error) (Result, bool) {
	held, err := list(ctx, id)
	if err != nil {
		return Failed(err, what), false
	}
	have := map[string]string{} // name -> id
	for _, r := range held {
		have[r.Name] = r.ID
	}
	want := map[string]bool{}
	for _, name := range roleNames {
		want[name] = true
		if _, ok := have[name]; ok {
			continue
		}
		d.add("role %s not assigned", name)
		if !t.Manage() {
			continue
		}
		roleID, err := t.roleIDs(buID)(ctx, name)
		if isNotFound(err) {
			return pending("waiting for role %q to exist in Dataverse's business unit of %s", name, what), false
		}
		if err != nil {
			return Failed(err, what), false
		}
		if err := assign(ctx, id, roleID); err != nil {
			return Failed(err, what), false
		}
	}
	for _, name := range sortedKeys(boolSet(have)) {
		if want[name] || keep[name] {
			continue
		}
		d.add("role %s assigned but not decided", name)
		if t.Manage() {
			if err := unassign(ctx, id, have[name]); err != nil && !isNotFound(err) {
				return Failed(err, what), false
			}
		}
	}
	return Result{}, true
}

func boolSet(m map[string]string) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func observed(rec *dataverse.SystemUser) *v1alpha1.DataverseRecord {
	disabled, licensed := rec.IsDisabled, rec.IsLicensed
	return &v1alpha1.DataverseRecord{ID: rec.ID, IsDisabled: &disabled, IsLicensed: &licensed, AccessMode: accessModeNames[rec.AccessMode]}
}

func hasSource(roles []v1alpha1.EffectiveRole, prefix string) bool {
	for _, r := range roles {
		if strings.HasPrefix(r.Source, prefix) {
			return true
		}
	}
	return false
}
