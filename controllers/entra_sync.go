package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
	"github.com/accessplane/dataverse-access-operator/internal/dvsync"
	"github.com/accessplane/dataverse-access-operator/internal/entrasync"
	"github.com/accessplane/dataverse-access-operator/internal/graph"
	"github.com/accessplane/dataverse-access-operator/internal/webapi"
)

// NewEntraPool is the Entra ID target's pool over one Graph connector: credentials Secrets are
// read uncached, one GET when an Environment syncs (as for Dataverse), with the same credentials
// (azidentity, AZURE_AUTHORITY_HOST honoured) for Graph's scope.
func NewEntraPool(conn *graph.Connector, r client.Reader) *entrasync.Pool {
	secrets := SecretsFrom(r)
	return &entrasync.Pool{Connector: conn,
		Secret: func(ctx context.Context, namespace, name string) (*entrasync.SecretData, error) {
			s, err := secrets(ctx, namespace, name)
			if s == nil || err != nil {
				return nil, err
			}
			return &entrasync.SecretData{Data: s.Data, ResourceVersion: s.ResourceVersion}, nil
		},
		Credential: func(data map[string][]byte) (azcore.TokenCredential, error) {
			return dataverse.CredentialFromSecret(data, dataverse.CredentialOptions{})
		},
	}
}

// entraStep is the Entra ID target's part of a person's reconcile (docs/design.md, "Entra ID
// target"): before the decision it reads what Entra ID holds for the person from the
// environment's snapshot (read in bulk once per interval); after it, it compares the person's
// desired Entra facts with the snapshot and, under Manage, writes only what spec.entra.manage
// lists. Nothing without spec.entra.
type entraStep struct {
	pool *entrasync.Pool
	now  func() time.Time
	// users wakes PlatformUsers whose group decision an older environment overruled.
	users *wakeups
	// envs wakes an Environment after a person's write, so its status.entra (units consumed,
	// members) says so at once rather than at its next interval.
	envs *wakeups
}

// entraOutcome is what the step found for one person.
type entraOutcome struct {
	result dvsync.Result
	// changed: a membership or license of the person was changed (or may have been: a lost
	// answer), so Dataverse is asked to follow at once.
	changed bool
	status  *accessv1alpha1.PlatformUserEntraStatus
	events  []decide.Event
}

// forget drops the membership decisions of a person that is gone.
func (s *entraStep) forget(key client.ObjectKey) {
	if s != nil && s.pool != nil {
		s.pool.ForgetPerson(key.Namespace + "/" + key.Name)
	}
}

// forgetEnvironment drops the client, snapshot and decisions of an environment that is gone.
func (s *entraStep) forgetEnvironment(key client.ObjectKey) {
	if s != nil && s.pool != nil {
		s.pool.ForgetEnvironment(key.Namespace + "/" + key.Name)
	}
}

// wake is the PlatformUser controller's source of wake-ups (an empty one without a pool).
func (s *entraStep) wake() *wakeups {
	if s == nil || s.users == nil {
		return &wakeups{}
	}
	return s.users
}

func (s *entraStep) targetOf(env *accessv1alpha1.Environment) bool {
	return s != nil && s.pool != nil && env != nil && env.Spec.Entra != nil
}

// entraSpec is what the pool needs of an Environment: its groups (the security group and its
// group teams' groups) and what spec.entra.manage lists.
func entraSpec(ctx context.Context, c client.Reader, env *accessv1alpha1.Environment) (entrasync.Spec, error) {
	e := env.Spec.Entra
	spec := entrasync.Spec{
		Key: env.Namespace + "/" + env.Name, Namespace: env.Namespace, SecretName: env.Spec.EntraCredentialsSecret(),
		Policy: entrasync.Policy(e.ManagementPolicy), SecurityGroup: env.Spec.SecurityGroup,
		Interval: e.Interval().Duration, Created: env.CreationTimestamp.Time,
		Manage: entrasync.Manage{
			SecurityGroupMembership: e.Lists(accessv1alpha1.EntraSecurityGroupMembership),
			GroupTeamMembership:     e.Lists(accessv1alpha1.EntraGroupTeamMembership),
			Licenses:                e.Lists(accessv1alpha1.EntraLicenses),
		},
	}
	var teams accessv1alpha1.TeamList
	if err := c.List(ctx, &teams, client.InNamespace(env.Namespace), client.MatchingFields{indexEnvironment: env.Name}, shared); err != nil {
		return spec, fmt.Errorf("listing the group teams of environment %s: %w", env.Name, err)
	}
	seen := map[string]bool{}
	for _, t := range teams.Items {
		g := strings.TrimSpace(t.Spec.Group)
		if g == "" || seen[strings.ToLower(g)] || t.DeletionTimestamp != nil {
			continue
		}
		seen[strings.ToLower(g)] = true
		spec.GroupTeamGroups = append(spec.GroupTeamGroups, g)
	}
	sort.Strings(spec.GroupTeamGroups)
	return spec, nil
}

// people are the environment's PlatformUsers as the bulk read needs them: their keys.
func people(ctx context.Context, c client.Reader, env *accessv1alpha1.Environment) []entrasync.Person {
	var users accessv1alpha1.PlatformUserList
	if err := c.List(ctx, &users, client.InNamespace(env.Namespace), client.MatchingFields{indexEnvironment: env.Name}, shared); err != nil {
		return nil // the snapshot then reads each person alone
	}
	out := make([]entrasync.Person, 0, len(users.Items))
	for i := range users.Items {
		u := &users.Items[i]
		if u.Spec.Stub {
			continue
		}
		out = append(out, entrasync.Person{UserName: u.Spec.UserName, ObjectID: u.Spec.EntraObjectID})
	}
	return out
}

// entraRead is what the read before the decision found, kept for the step after it: the
// environment's groups and policy (entraSpec lists its teams once per reconcile, not twice) and
// what Entra ID holds for the person.
type entraRead struct {
	spec    entrasync.Spec
	specErr error
	person  *decide.EntraPerson
}

// observe is the read before the decision: what Entra ID holds for the person (the last known
// state when Graph fails now; nil when it was never observed, and the decision then follows the
// spec's claims while Synced says why).
func (s *entraStep) observe(ctx context.Context, c client.Reader, env *accessv1alpha1.Environment, u *accessv1alpha1.PlatformUser) entraRead {
	if !s.targetOf(env) || u.Spec.Stub {
		return entraRead{}
	}
	var read entraRead
	if read.spec, read.specErr = entraSpec(ctx, c, env); read.specErr != nil {
		return read
	}
	ps, _ := s.pool.Person(ctx, read.spec, entrasync.Person{UserName: u.Spec.UserName, ObjectID: u.Spec.EntraObjectID},
		func() []entrasync.Person { return people(ctx, c, env) }, now(s.now))
	if ps == nil {
		return read
	}
	read.person = &decide.EntraPerson{Found: ps.Found, ObjectID: ps.ObjectID, AccountEnabled: ps.AccountEnabled, InSecurityGroup: ps.InSecurityGroup}
	for _, l := range ps.Licenses {
		read.person.Licenses = append(read.person.Licenses, l.SkuPartNumber)
	}
	return read
}

// run compares the person's desired Entra facts with the snapshot and, under Manage, writes them.
func (s *entraStep) run(ctx context.Context, read entraRead, env *accessv1alpha1.Environment, u *accessv1alpha1.PlatformUser, d *decide.DesiredUser) *entraOutcome {
	if !s.targetOf(env) {
		return nil
	}
	if d == nil || d.Entra == nil {
		return nil // a duplicate or no environment: the decision says why
	}
	if d.Stub {
		return &entraOutcome{result: dvsync.Result{Reason: accessv1alpha1.ReasonSynced, Message: "stub user " + d.UserName + ": nothing of it is in Entra ID"}}
	}
	if read.specErr != nil {
		return &entraOutcome{result: dvsync.Result{Reason: accessv1alpha1.ReasonSyncPending, RequeueAfter: time.Second, Message: read.specErr.Error()}}
	}
	if d.Entra.Undecided {
		// The ledger's grant wakes the person (the Environment's status write); the requeue is
		// a backstop. What Entra ID held is kept in status until it is compared again.
		return &entraOutcome{status: u.Status.Entra, result: dvsync.Result{Reason: accessv1alpha1.ReasonSyncPending, RequeueAfter: 5 * time.Second,
			Message: fmt.Sprintf("nothing is written to Entra ID for %s until the Environment has allocated its seat or slot (AwaitingAllocation)", d.UserName)}}
	}
	spec := read.spec
	p := entrasync.Person{UserName: d.UserName, ObjectID: u.Spec.EntraObjectID, InSecurityGroup: d.Entra.InSecurityGroup,
		SignInBlocked: d.Entra.SignInBlocked, License: d.Entra.License, LicenseWaits: d.Entra.LicenseWaits,
		Assigned: d.Entra.Assigned, Groups: d.Entra.Groups}
	owner := u.Namespace + "/" + u.Name
	pr, overruled := s.pool.SyncPerson(ctx, spec, p, owner)
	for _, o := range overruled {
		if ns, name, ok := strings.Cut(o, "/"); ok && o != owner {
			s.users.add(types.NamespacedName{Namespace: ns, Name: name})
		}
	}
	if len(pr.Wrote) > 0 {
		s.envs.add(client.ObjectKeyFromObject(env))
	}
	out := &entraOutcome{changed: pr.Changed(), result: entraResult(env, d, pr)}
	out.status = entraStatus(u.Status.Entra, env, pr)
	if len(pr.Wrote) > 0 {
		whys := make([]string, len(pr.Wrote))
		for i, c := range pr.Wrote {
			whys[i] = c.Why
		}
		out.events = append(out.events, decide.Event{Type: corev1.EventTypeNormal, Reason: "EntraSynced", Action: "Sync",
			Message: "Entra ID corrected: " + strings.Join(whys, "; ")})
	}
	if out.result.Reason == accessv1alpha1.ReasonDrifted {
		out.events = append(out.events, decide.Event{Type: corev1.EventTypeWarning, Reason: accessv1alpha1.ReasonDrifted, Action: "Observe", Message: out.result.Message})
	}
	if out.result.RequeueAfter == 0 {
		out.result.RequeueAfter = jittered(spec.Interval)
	}
	return out
}

// jittered spreads re-comparisons of many people over a tenth of the interval.
func jittered(d time.Duration) time.Duration {
	return d + time.Duration(time.Now().UnixNano()%int64(d/10+1))
}

// entraResult is the person's Synced outcome on the Entra side, the first thing to fix first:
// Graph failing, a problem only a person can fix, differences under Observe (Drifted), declared
// facts Entra ID disagrees with (EntraDrift), or Synced.
func entraResult(env *accessv1alpha1.Environment, d *decide.DesiredUser, pr entrasync.PersonResult) dvsync.Result {
	if pr.Err != nil {
		return graphFailed(pr.Err, d.UserName)
	}
	for _, p := range pr.Facts.Problems {
		return dvsync.Result{Reason: problemReason(p.Kind), Message: p.Message, RequeueAfter: stalledRetry}
	}
	if len(pr.Pending) > 0 {
		whys := make([]string, len(pr.Pending))
		for i, c := range pr.Pending {
			whys[i] = c.Why
		}
		return dvsync.Result{Reason: accessv1alpha1.ReasonDrifted,
			Message: fmt.Sprintf("Entra ID differs from the decided state and environment %s's spec.entra.managementPolicy is Observe, so nothing is written: %s", env.Name, strings.Join(whys, "; "))}
	}
	if len(pr.Facts.Drift) > 0 {
		msgs := make([]string, len(pr.Facts.Drift))
		for i, dr := range pr.Facts.Drift {
			msgs[i] = driftMessage(d, dr)
		}
		return dvsync.Result{Reason: accessv1alpha1.ReasonEntraDrift, RequeueAfter: stalledRetry,
			Message: strings.Join(msgs, "; ") + ": EN1 follows Entra ID; correct the spec, or the fact in Entra ID (the operator writes only what spec.entra.manage lists)"}
	}
	return dvsync.Result{Reason: accessv1alpha1.ReasonSynced, Message: fmt.Sprintf("Entra ID holds what was decided for %s", d.UserName)}
}

// stalledRetry is how soon a problem only a person can fix is compared again: against the
// snapshot in memory, so it costs no request until the snapshot is due.
const stalledRetry = time.Minute

// problemReason is a problem's Synced reason: each kind is named as its reason, but a group
// decided both ways, which is a SyncConflict.
func problemReason(k entrasync.ProblemKind) string {
	if k == entrasync.GroupConflict {
		return accessv1alpha1.ReasonSyncConflict
	}
	return string(k)
}

func driftMessage(d *decide.DesiredUser, dr entrasync.Drift) string {
	switch dr.Fact {
	case entrasync.SignIn:
		return fmt.Sprintf("spec.signInBlocked is %t but Entra ID has %s's sign-in %s", d.Entra.SignInBlocked, d.UserName, dr.Entra)
	case entrasync.Licenses:
		return fmt.Sprintf("spec.license is %s but Entra ID has not assigned it to %s", dr.Name, d.UserName)
	}
	lists := "lists"
	if dr.Decided != "member" {
		lists = "does not list"
	}
	return fmt.Sprintf("spec.securityGroups %s %s but in Entra ID %s is %s of it", lists, dr.Name, d.UserName, dr.Entra)
}

// graphFailed maps a failure of Microsoft Graph to a Synced outcome, like dvsync.Failed does for
// Dataverse: throttling and the operator's own limiter wait (not Stalled), a 403 names the
// application permission, a lost answer is observed again before anything is resent.
func graphFailed(err error, who string) dvsync.Result {
	wait, _ := graph.RetryAfter(err)
	var ge *graph.Error
	switch {
	case errors.Is(err, entrasync.ErrNoCredentials):
		return dvsync.Result{Reason: accessv1alpha1.ReasonUnauthorized, RequeueAfter: dvsync.UnauthorizedRetry, Message: err.Error()}
	case errors.Is(err, graph.ErrThrottled), errors.Is(err, graph.ErrRateLimited):
		return dvsync.Result{Reason: accessv1alpha1.ReasonThrottled, RequeueAfter: max(wait, time.Second),
			Message: fmt.Sprintf("Microsoft Graph throttles the operator; %s is compared again in %s: %v", who, max(wait, time.Second).Round(time.Second), err)}
	case errors.Is(err, graph.ErrForbidden):
		perm := ""
		if errors.As(err, &ge) && ge.Permission != "" {
			perm = ": grant the app registration the Microsoft Graph application permission " + ge.Permission + " (with admin consent)"
		}
		return dvsync.Result{Reason: accessv1alpha1.ReasonUnauthorized, RequeueAfter: dvsync.UnauthorizedRetry,
			Message: fmt.Sprintf("Microsoft Graph refused the operator (403)%s: %v", perm, err)}
	case errors.Is(err, graph.ErrUnauthorized):
		return dvsync.Result{Reason: accessv1alpha1.ReasonUnauthorized, RequeueAfter: dvsync.UnauthorizedRetry,
			Message: fmt.Sprintf("Microsoft Graph refused the operator's token (401): check the credentials Secret's tenantId, clientId and clientSecret: %v", err)}
	case errors.Is(err, graph.ErrAnswerLost):
		return dvsync.Result{Reason: accessv1alpha1.ReasonSyncPending, RequeueAfter: 2 * time.Second,
			Message: fmt.Sprintf("the answer to a change of %s in Entra ID was lost; Entra ID is read again before anything is resent: %v", who, err)}
	case errors.Is(err, graph.ErrNoUsageLocation):
		return dvsync.Result{Reason: accessv1alpha1.ReasonNoUsageLocation, RequeueAfter: stalledRetry,
			Message: fmt.Sprintf("%s has no usage location in Entra ID, which a license needs: set its usageLocation (the operator never writes profile fields)", who)}
	case errors.Is(err, graph.ErrNoLicensesLeft):
		return dvsync.Result{Reason: accessv1alpha1.ReasonTenantLicensesExhausted, RequeueAfter: stalledRetry,
			Message: fmt.Sprintf("the tenant has no unit left of the license of %s: buy units or free one: %v", who, err)}
	case errors.Is(err, graph.ErrNotFound):
		return dvsync.Result{Reason: accessv1alpha1.ReasonPersonNotFound, RequeueAfter: stalledRetry,
			Message: fmt.Sprintf("Entra ID no longer has %s (or its group): %v", who, err)}
	}
	return dvsync.Result{Reason: accessv1alpha1.ReasonSyncPending, RequeueAfter: 30 * time.Second,
		Message: fmt.Sprintf("Microsoft Graph could not be read or written for %s; trying again: %v", who, err)}
}

// entraStatus is status.entra: what Entra ID holds for the person (after the writes made), the
// licenses the operator assigned (kept across reconciles: the only ones it ever removes) and its
// last correction.
func entraStatus(prev *accessv1alpha1.PlatformUserEntraStatus, env *accessv1alpha1.Environment, pr entrasync.PersonResult) *accessv1alpha1.PlatformUserEntraStatus {
	st := &accessv1alpha1.PlatformUserEntraStatus{}
	if prev != nil {
		st.AssignedByOperator = slices.Clone(prev.AssignedByOperator)
		st.LastCorrection = prev.LastCorrection
	}
	ps := pr.Facts.Person
	if ps == nil && prev != nil && pr.Err != nil {
		return prev // not observed now: keep what was
	}
	if ps != nil && ps.Found {
		st.ObjectID = ps.ObjectID
		on := ps.AccountEnabled
		st.AccountEnabled = &on
		for _, l := range ps.Licenses {
			st.Licenses = append(st.Licenses, accessv1alpha1.EntraLicense{SkuPartNumber: l.SkuPartNumber, Direct: l.Direct, ByGroups: l.ByGroups})
		}
		if env.Spec.SecurityGroup != "" {
			in := ps.InSecurityGroup
			st.MemberOfSecurityGroup = &in
		}
	}
	var whys []string
	for _, c := range pr.Wrote {
		whys = append(whys, c.Why)
		if c.Op != entrasync.OpAssignLicense {
			continue
		}
		for _, part := range c.AddParts {
			st.AssignedByOperator = addSet(st.AssignedByOperator, part)
		}
		for _, part := range c.RemoveParts {
			st.AssignedByOperator = slices.DeleteFunc(st.AssignedByOperator, func(s string) bool { return strings.EqualFold(s, part) })
		}
	}
	if len(whys) > 0 {
		st.LastCorrection = truncate(strings.Join(whys, "; "), 1024)
	}
	if len(st.AssignedByOperator) == 0 {
		st.AssignedByOperator = nil
	}
	return st
}

func addSet(list []string, s string) []string {
	if slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) }) {
		return list
	}
	list = append(list, s)
	sort.Strings(list)
	return list
}

// resolveGroup gives a group team's desired state the object id its spec.group (a display name)
// resolved to in the environment's Entra ID snapshot: Dataverse finds a group team by the id.
// Without an Entra target, or before the group resolved, the name stays and the team's sync says
// to use the id.
func (s *entraStep) resolveGroup(env *accessv1alpha1.Environment, d *decide.DesiredTeam) *decide.DesiredTeam {
	if d == nil || !d.Type.IsGroupTeam() || webapi.IsGUID(strings.TrimSpace(d.Group)) || !s.targetOf(env) {
		return d
	}
	id, ok := s.pool.GroupID(env.Namespace+"/"+env.Name, d.Group)
	if !ok {
		return d
	}
	c := *d
	c.Group = id
	return &c
}

// observeEntra writes the Environment's status.entra (its security group as resolved, the members
// no PlatformUser manages, the tenant's units per SKU) and its part of Synced: a group that
// cannot be used, or Graph failing.
func (s *entraStep) observeEnvironment(ctx context.Context, c client.Reader, env *accessv1alpha1.Environment) (dvsync.Result, bool) {
	if !s.targetOf(env) {
		if s != nil && s.pool != nil {
			s.pool.ForgetEnvironment(env.Namespace + "/" + env.Name)
		}
		env.Status.Entra = nil
		return dvsync.Result{}, false
	}
	spec, err := entraSpec(ctx, c, env)
	if err != nil {
		return dvsync.Result{Reason: accessv1alpha1.ReasonSyncPending, RequeueAfter: time.Second, Message: err.Error()}, true
	}
	if err := s.pool.Connect(ctx, spec, now(s.now)); err != nil {
		return graphFailed(err, "environment "+env.Name), true
	}
	v, err := s.pool.Environment(ctx, spec, people(ctx, c, env), now(s.now))
	if v == nil {
		return graphFailed(err, "environment "+env.Name), true
	}
	st := &accessv1alpha1.EnvironmentEntraStatus{}
	for _, k := range v.Skus {
		st.Skus = append(st.Skus, accessv1alpha1.TenantSku{SkuPartNumber: k.SkuPartNumber, Enabled: int32(k.Enabled), Consumed: int32(k.Consumed)})
	}
	res := dvsync.Result{Reason: accessv1alpha1.ReasonSynced, Message: "Entra ID observed", RequeueAfter: jittered(spec.Interval)}
	if g := v.SecurityGroup; g != nil {
		if g.Problem != nil {
			res = dvsync.Result{Reason: problemReason(g.Problem.Kind), Message: "spec.securityGroup: " + g.Problem.Message, RequeueAfter: stalledRetry}
		} else {
			st.SecurityGroupID, st.SecurityGroupName = g.ID, g.DisplayName
			st.UnmanagedMembers = &accessv1alpha1.UnmanagedMembers{Count: int32(g.Unmanaged.Count), First: g.Unmanaged.First}
		}
	}
	for _, g := range v.Groups {
		if g.Problem != nil && res.Synced() {
			res = dvsync.Result{Reason: problemReason(g.Problem.Kind), Message: "a group team's spec.group: " + g.Problem.Message, RequeueAfter: stalledRetry}
		}
	}
	if err != nil && res.Synced() {
		res = graphFailed(err, "environment "+env.Name)
	}
	env.Status.Entra = st
	return res, true
}
