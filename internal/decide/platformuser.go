package decide

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/allocation"
	"github.com/accessplane/dataverse-access-operator/internal/enablement"
)

// PlatformUserInput is what a user's decision reads.
type PlatformUserInput struct {
	// User with its previous status: what was assigned (EN6), first enabled (EN7) and claimed (EV1).
	User *v1alpha1.PlatformUser
	// Environment with its ledger; nil when it does not exist.
	Environment *v1alpha1.Environment
	// Roles holds every role the user's spec, its teams and its built-ins name; absent ones do not exist.
	Roles Roles
	// Teams that may include the user; TeamIncludes decides which do.
	Teams []v1alpha1.Team
	// Older is an older PlatformUser of the environment with the same userName, or nil.
	Older *v1alpha1.PlatformUser
	Now   time.Time
	// Entra is what Entra ID holds for the person when the Environment names an Entra target
	// and it was observed; nil otherwise (EN1 is then decided from the spec's claims).
	Entra *EntraPerson
}

// EntraPerson is what Entra ID holds for one person, as the decision reads it.
type EntraPerson struct {
	// Found is false when Entra ID has no such person (PersonNotFound).
	Found          bool
	ObjectID       string
	AccountEnabled bool
	// Licenses are the SKU part numbers the person holds, directly or by a group.
	Licenses        []string
	InSecurityGroup bool
}

// PlatformUserOutcome is the status to write and the events to record.
type PlatformUserOutcome struct {
	Status v1alpha1.PlatformUserStatus
	Events []Event
	// Defer is true when the status would only say that a new user's slot or seat is being
	// allocated: the Environment's next ledger write wakes the user within the settle window, and
	// a status written now would be overwritten then. Its status stays unobserved (InProgress).
	Defer bool
	// Desired is what the targets should hold for the person; nil when nothing is to be synced
	// (no environment, or a duplicate: NotSynced says why).
	Desired   *DesiredUser
	NotSynced string
}

// PlatformUser decides a person's user record: enablement (EN1, AM2, AM3, AM6, AM8, LI1, EN4),
// business unit (EV3), effective roles (AM9, AM8, TM1, SR5) with EN5 and EN6, what it reaches
// (AM4), and the events of its transitions (EN7, slots and seats).
func PlatformUser(in PlatformUserInput) PlatformUserOutcome {
	u, prev := in.User, &in.User.Status
	st := v1alpha1.PlatformUserStatus{
		FullName:     u.Spec.Profile.FullName(),
		BusinessUnit: prev.BusinessUnit,
	}
	st.ObservedGeneration = u.Generation
	// Recorded whatever else is decided: the need began with the spec, even while the
	// environment does not exist yet (reverse apply order keeps creation order, EV1).
	st.Claims = claims(u, in.Now)
	st.AssignedRoles = prev.AssignedRoles
	st.FirstEnabledTime = prev.FirstEnabledTime
	st.Dataverse = prev.Dataverse // observed by the sync target, not decided
	st.Entra = prev.Entra         // observed by the Entra ID target, with what the operator assigned
	st.Access = v1alpha1.AccessNoAccess
	conds, list := conditionsOf(prev.Conditions, u.Generation)

	var out PlatformUserOutcome
	switch {
	case in.Environment == nil:
		unresolved(conds, environmentNotFound(u.Namespace, u.Spec.EnvironmentName))
	case in.Older != nil:
		unresolved(conds, StalledBy(v1alpha1.ReasonDuplicateUserName,
			fmt.Sprintf("PlatformUser %s already has userName %s in environment %s: delete this object or change its userName", in.Older.Name, u.Spec.UserName, u.Spec.EnvironmentName)))
		out.NotSynced = notSynced(v1alpha1.ReasonDuplicateUserName)
	default:
		out.Desired = decideUser(in, &st, conds)
	}
	st.Conditions = *list
	out.Status, out.Events = st, userEvents(u, prev, &st)
	out.Defer = prev.ObservedGeneration == 0 && ConditionReason(st.Conditions, v1alpha1.ConditionReady) == v1alpha1.ReasonAwaitingAllocation
	return out
}

// notSynced says why a duplicate writes nothing: the older object owns the record.
func notSynced(reason string) string {
	return "not synced: refused as a duplicate (" + reason + "), the older object owns the Dataverse record"
}

func decideUser(in PlatformUserInput, st *v1alpha1.PlatformUserStatus, conds Conditions) *DesiredUser {
	u, env := in.User, in.Environment
	s := newScope(env, in.Roles)
	holder := "PlatformUser " + u.Name
	bu, buProblem := s.businessUnit(u.Spec.BusinessUnit, holder)
	st.BusinessUnit = bu

	ein := EnablementInput(u, env)
	ein.Entra = entraFacts(env, u, in.Entra)
	decision := enablement.Decide(ein)
	st.Enabled = decision.Enabled
	setAspect(conds, v1alpha1.ConditionEnabled, decision.EnabledAspect)
	setAspect(conds, v1alpha1.ConditionLicensed, decision.Licensed)
	setAspect(conds, v1alpha1.ConditionNonInteractiveSlot, decision.Slot)
	if st.Enabled && st.FirstEnabledTime == nil {
		t := metav1.NewTime(in.Now.Truncate(time.Second))
		st.FirstEnabledTime = &t
	}

	roles, rolesVerdict := userRoles(in, s, bu, decision.Enabled, st)
	st.EffectiveRoles = roles
	st.Access = access.AccessOf(u.Spec.AccessMode, decision.Enabled, len(roles) > 0)

	// The order says which problem a person should fix first.
	switch {
	case buProblem != nil:
		conds.Apply(*buProblem)
	case decision.Mismatch != nil:
		conds.Apply(Verdict{Reason: decision.Mismatch.Reason, Message: decision.Mismatch.Message, Stalled: !decision.Mismatch.Pending})
	case rolesVerdict != nil:
		conds.Apply(*rolesVerdict)
	default:
		conds.Apply(Ready(userReadyMessage(u, decision.Enabled, len(roles), len(st.AssignedRoles))))
	}
	setRolesAssigned(conds, rolesVerdict, len(roles))

	d := &DesiredUser{
		UserName: u.Spec.UserName, EntraObjectID: u.Spec.EntraObjectID, Stub: u.Spec.Stub,
		AccessMode:   accessModeToWrite(u, decision.Slot.Reason == v1alpha1.ReasonSlotGranted),
		BusinessUnit: bu, Roles: v1alpha1.DirectRoleNames(roles), ServiceRoles: serviceRoles(roles),
		Enabled: st.Enabled, SecurityGroup: env.Spec.SecurityGroup, License: u.Spec.License,
	}
	if e := env.Spec.Entra; e != nil {
		d.EnablementManaged = e.Manages(v1alpha1.EntraSecurityGroupMembership) && env.Spec.SecurityGroup != ""
		d.Entra = desiredEntra(u, env, decision)
		if d.EntraObjectID == "" && in.Entra != nil && in.Entra.Found {
			d.EntraObjectID = in.Entra.ObjectID // found by user name: addUser needs the object id
		}
	}
	if u.Spec.Enabled && !u.Spec.Stub && !st.Enabled {
		d.WaitingReason = decision.EnabledAspect.Reason
		if d.WaitingFor = waitingFor(u, d.WaitingReason); d.WaitingFor == "" {
			d.WaitingReason = ""
		}
	}
	return d
}

// EntraPersonFromStatus is what a user's status.entra last recorded of Entra ID; nil when none.
func EntraPersonFromStatus(st *v1alpha1.PlatformUserEntraStatus) *EntraPerson {
	if st == nil || st.AccountEnabled == nil {
		return nil
	}
	p := &EntraPerson{Found: st.ObjectID != "", ObjectID: st.ObjectID, AccountEnabled: *st.AccountEnabled}
	for _, l := range st.Licenses {
		p.Licenses = append(p.Licenses, l.SkuPartNumber)
	}
	if st.MemberOfSecurityGroup != nil {
		p.InSecurityGroup = *st.MemberOfSecurityGroup
	}
	return p
}

// entraFacts are EN1's Entra ID facts for the enablement decision: nil without an Entra target or
// before it was first observed; a fact the operator manages is nil (the decision counts).
func entraFacts(env *v1alpha1.Environment, u *v1alpha1.PlatformUser, p *EntraPerson) *enablement.EntraFacts {
	e := env.Spec.Entra
	if e == nil {
		return nil
	}
	if p == nil {
		// Not read yet (Graph failing since the manager started): the spec's claims stand for
		// the facts the operator does not manage, its own decision for those it does, so a
		// restart cannot flip a managed person to disabled and back (and EN7 re-invite it).
		if !e.Manages(v1alpha1.EntraSecurityGroupMembership) {
			return nil
		}
		return &enablement.EntraFacts{SignInAllowed: !u.Spec.SignInBlocked}
	}
	if !p.Found {
		return &enablement.EntraFacts{Missing: true}
	}
	f := &enablement.EntraFacts{SignInAllowed: p.AccountEnabled}
	if !e.Manages(v1alpha1.EntraLicenses) {
		held := u.Spec.License != "" && slices.ContainsFunc(p.Licenses, func(l string) bool { return strings.EqualFold(l, u.Spec.License) })
		f.LicenseHeld = &held
	}
	if !e.Manages(v1alpha1.EntraSecurityGroupMembership) {
		in := p.InSecurityGroup
		f.InSecurityGroup = &in
	}
	return f
}

// desiredEntra is what Entra ID should hold for the person. The security group's membership is
// decided from the spec and the ledger only — never from Entra's own facts — so applying it
// cannot feed back into the decision.
func desiredEntra(u *v1alpha1.PlatformUser, env *v1alpha1.Environment, d enablement.Outcome) *DesiredEntraPerson {
	holds := func(a enablement.Aspect) bool { return !a.Applies || a.OK }
	out := &DesiredEntraPerson{
		SignInBlocked: u.Spec.SignInBlocked,
		License:       u.Spec.License,
		LicenseWaits:  !holds(d.Licensed),
		Groups:        slices.Clone(u.Spec.SecurityGroups),
	}
	if u.Status.Entra != nil {
		out.Assigned = slices.Clone(u.Status.Entra.AssignedByOperator)
	}
	if env.Spec.Entra.Lists(v1alpha1.EntraSecurityGroupMembership) {
		out.InSecurityGroup = u.Spec.Enabled && !u.Spec.Stub && holds(d.Licensed) && holds(d.Slot)
		// A person Entra ID does not have is no wait: PersonNotFound is what to fix first, and
		// nothing can be written for it anyway.
		out.Undecided = u.Spec.Enabled && !u.Spec.Stub && (d.Licensed.Pending || d.Slot.Pending) &&
			d.EnabledAspect.Reason != v1alpha1.ReasonPersonNotFound
	} else {
		out.InSecurityGroup = slices.Contains(u.Spec.SecurityGroups, env.Spec.SecurityGroup)
	}
	return out
}

// userRoles resolves direct, administrator-role, stub-default and team roles, and applies EN5 (an
// enabled user needs a role) and EN6 (roles are assigned only to enabled users; what was assigned
// stays). It records the assigned direct roles in st.AssignedRoles.
func userRoles(in PlatformUserInput, s scope, bu string, enabled bool, st *v1alpha1.PlatformUserStatus) ([]v1alpha1.EffectiveRole, *Verdict) {
	u, env := in.User, in.Environment
	holder := "PlatformUser " + u.Name
	direct, problem := s.resolve(u.Spec.SecurityRoles, bu, holder, u.Namespace, string(v1alpha1.RoleSourceDirect))
	direct, refused := assignable(direct, u.Status.AssignedRoles, enabled || env.Spec.Settings.AllowRoleAssignmentOnDisabledUsers)
	st.AssignedRoles = nil
	for _, r := range direct {
		st.AssignedRoles = append(st.AssignedRoles, r.Name)
	}
	roles := direct

	pending := func(name, why string) *Verdict {
		v := WaitingFor(v1alpha1.ReasonReconciling, fmt.Sprintf("waiting for environment %s to create its built-in role %s (%s)", env.Name, name, why))
		return &v
	}
	if admin := GrantsSystemAdministrator(u.Spec.AdministratorRoles); admin != "" && !u.Spec.Stub {
		name := v1alpha1.SystemAdministratorRoleName(env.Name)
		got, v := s.resolve([]string{name}, bu, holder, u.Namespace, v1alpha1.RoleSourceAdministratorRolePrefix+string(admin))
		switch {
		case v == nil || problem != nil:
		case v.Reason == v1alpha1.ReasonSecurityRoleNotFound:
			problem = pending(name, "AM9")
		default:
			problem = v
		}
		roles = append(roles, got...)
	}
	if u.Spec.Stub {
		// The stub default role is exempt from SR5 and EN6: the product assigns it on import (AM8).
		name := v1alpha1.StubDefaultRoleName(env.Name, env.Spec.Product)
		if role, v := s.role(name, holder, u.Namespace); v != nil {
			if problem == nil {
				problem = pending(name, "AM8")
			}
		} else {
			roles = append(roles, v1alpha1.EffectiveRole{Name: name, RoleName: role.DisplayRoleName(), Source: string(v1alpha1.RoleSourceStubDefault)})
		}
	}
	roles = append(roles, teamRoles(in, s)...)

	if problem != nil {
		return roles, problem
	}
	switch {
	case len(refused) > 0 && u.Spec.Enabled && !u.Spec.Stub:
		return roles, &Verdict{Reason: v1alpha1.ReasonAwaitingEnablement,
			Message: fmt.Sprintf("%s is not enabled yet, so %s will be assigned once it is (EN6)", u.Spec.UserName, strings.Join(refused, ", "))}
	case len(refused) > 0:
		kept := ""
		if len(st.AssignedRoles) > 0 {
			kept = fmt.Sprintf("; the roles assigned before it was disabled (%s) stay assigned", strings.Join(st.AssignedRoles, ", "))
		}
		return roles, &Verdict{Reason: v1alpha1.ReasonRoleAssignmentToDisabledUser, Stalled: true,
			Message: fmt.Sprintf("roles can be assigned only to enabled users and %s is disabled, so %s cannot be assigned (EN6)%s: enable it, remove %s from spec.securityRoles, or set environment %s's spec.settings.allowRoleAssignmentOnDisabledUsers to true",
				u.Spec.UserName, strings.Join(refused, ", "), kept, strings.Join(refused, ", "), env.Name)}
	case enabled && len(roles) == 0:
		how := "add a role to spec.securityRoles, or make the user a member of a group team that holds one"
		remove := "to remove access, set spec.signInBlocked to true or remove spec.license instead of removing its roles"
		if env.Spec.SecurityGroup != "" {
			remove = fmt.Sprintf("to remove access, remove %s from spec.securityGroups instead of removing its roles", env.Spec.SecurityGroup)
		}
		return roles, &Verdict{Reason: v1alpha1.ReasonNoSecurityRole, Stalled: true,
			Message: fmt.Sprintf("%s is enabled but holds no security role, so it cannot get in (EN5): %s; %s", u.Spec.UserName, how, remove)}
	}
	return roles, nil
}

// assignable splits resolved direct roles into those assigned and those refused (EN6): all are
// assigned while assignment is allowed; otherwise only those assigned before stay.
func assignable(direct []v1alpha1.EffectiveRole, assignedBefore []string, allowed bool) (assigned []v1alpha1.EffectiveRole, refused []string) {
	if allowed {
		return direct, nil
	}
	for _, r := range direct {
		if slices.Contains(assignedBefore, r.Name) {
			assigned = append(assigned, r)
		} else {
			refused = append(refused, r.Name)
		}
	}
	return assigned, refused
}

// teamRoles returns the roles a user gets from the teams that include it (TM1). A team's own
// problems (a missing role, a role from another unit) are reported on the team, so such roles
// are left out here.
func teamRoles(in PlatformUserInput, s scope) []v1alpha1.EffectiveRole {
	teams := make([]*v1alpha1.Team, 0, len(in.Teams))
	for i := range in.Teams {
		if TeamIncludes(&in.Teams[i], in.User) {
			teams = append(teams, &in.Teams[i])
		}
	}
	sort.Slice(teams, func(i, j int) bool { return teams[i].Name < teams[j].Name })
	var out []v1alpha1.EffectiveRole
	for i, t := range teams {
		if i > 0 && teams[i-1].Name == t.Name {
			continue
		}
		holder := "team " + t.Name
		teamBU, v := s.businessUnit(t.Spec.BusinessUnit, holder)
		if v != nil {
			continue
		}
		roles, _ := s.resolve(t.Spec.SecurityRoles, teamBU, holder, t.Namespace, v1alpha1.RoleSourceTeamPrefix+t.Name)
		out = append(out, roles...)
	}
	return out
}

// claims records when the user began to need each resource it needs now (EV1): kept once
// recorded; the creation time when the operator first looks; otherwise now.
func claims(u *v1alpha1.PlatformUser, now time.Time) []v1alpha1.Claim {
	var out []v1alpha1.Claim
	for _, r := range u.NeededResources() {
		out = append(out, v1alpha1.Claim{Resource: r, Since: metav1.NewTime(ClaimSince(u, r, now))})
	}
	return out
}

// unresolved is a verdict that stops evaluation: what cannot be known is cleared, what was
// recorded (assigned roles, claims) is kept.
func unresolved(conds Conditions, v Verdict) {
	for _, t := range []string{v1alpha1.ConditionEnabled, v1alpha1.ConditionLicensed, v1alpha1.ConditionNonInteractiveSlot, v1alpha1.ConditionRolesAssigned} {
		conds.Remove(t)
	}
	conds.Apply(v)
}

// userEvents are the transitions worth recording on the user: enabled again (EN7) and disabled.
// Grants and waits are recorded once per allocation round on the Environment.
func userEvents(u *v1alpha1.PlatformUser, prev, st *v1alpha1.PlatformUserStatus) []Event {
	var out []Event
	observed := prev.ObservedGeneration > 0
	// EN7: only a user that was enabled before needs a new invitation, not a new user.
	if !prev.Enabled && st.Enabled && prev.FirstEnabledTime != nil {
		out = append(out, Event{eventNormal, "Enabled", "Enable",
			fmt.Sprintf("%s was disabled and is now enabled again: send it a new invitation to access the environment (EN7)", u.Spec.UserName)})
	}
	if observed && prev.Enabled && !st.Enabled {
		why := ConditionMessage(st.Conditions, v1alpha1.ConditionEnabled)
		if why == "" { // nothing about the user could be decided: Ready says why
			why = ConditionMessage(st.Conditions, v1alpha1.ConditionReady)
		}
		out = append(out, Event{eventWarning, "Disabled", "Disable", fmt.Sprintf("%s is no longer enabled: %s", u.Spec.UserName, why)})
	}
	return out
}

// EnablementInput gathers the enablement decision's inputs from the user and its environment's ledger.
func EnablementInput(u *v1alpha1.PlatformUser, env *v1alpha1.Environment) enablement.Input {
	return newEnablementView(env).input(u)
}

// enablementView is what an environment says about every user's enablement, indexed once: the
// Environment's decision counts all its users' enablement (countUsers), and a linear search of
// its ledgers per user made that quadratic in the environment's size.
type enablementView struct {
	env         *v1alpha1.Environment
	offeredSKUs []string // nil when the environment does not count licenses
	seatsOfSKU  map[string]int32
	seats       map[string]ledgerPlaces
	slot        *ledgerPlaces
}

// ledgerPlaces is a ledger's places by name, and its free capacity.
type ledgerPlaces struct {
	places map[string]allocation.Place
	free   int
}

func placesOf(holders, waiting []v1alpha1.LedgerEntry, capacity int) ledgerPlaces {
	return ledgerPlaces{places: LedgerOf(holders, waiting).Places(), free: capacity - len(holders)}
}

func (lp ledgerPlaces) grant(name string) enablement.Grant {
	p, ok := lp.places[name]
	return enablement.Grant{Known: ok, Held: p.Held, Position: p.Position, Waiting: p.Waiting, Free: lp.free}
}

func newEnablementView(env *v1alpha1.Environment) *enablementView {
	v := &enablementView{env: env}
	if len(env.Spec.Licenses) > 0 {
		v.offeredSKUs = make([]string, 0, len(env.Spec.Licenses))
		v.seatsOfSKU = map[string]int32{}
		for _, l := range env.Spec.Licenses {
			v.offeredSKUs = append(v.offeredSKUs, l.SKU)
			v.seatsOfSKU[l.SKU] = l.Seats
		}
		v.seats = map[string]ledgerPlaces{}
		for _, s := range env.Status.Seats {
			v.seats[s.SKU] = placesOf(s.Holders, s.Waiting, int(s.Seats))
		}
	}
	if l := env.Status.NonInteractive; l != nil {
		lp := placesOf(l.Holders, l.Waiting, int(l.Limit-l.Unmanaged))
		v.slot = &lp
	}
	return v
}

// input is the enablement question for one of the environment's users.
func (v *enablementView) input(u *v1alpha1.PlatformUser) enablement.Input {
	env := v.env
	in := enablement.Input{User: u.Name, UserName: u.Spec.UserName, Environment: env.Name, Spec: u.Spec, SecurityGroup: env.Spec.SecurityGroup}
	if v.offeredSKUs != nil {
		in.OfferedSKUs = v.offeredSKUs
		in.SeatsOfSKU = v.seatsOfSKU[u.Spec.License]
		if s, ok := v.seats[u.Spec.License]; ok {
			in.Seat = s.grant(u.Name)
		}
	}
	if v.slot != nil {
		in.Slot = v.slot.grant(u.Name)
	}
	return in
}

func setAspect(conds Conditions, condType string, a enablement.Aspect) {
	if !a.Applies {
		conds.Remove(condType)
		return
	}
	conds.Set(condType, a.OK, a.Reason, a.Message)
}

// setRolesAssigned writes a principal's RolesAssigned condition: the first problem with its
// roles, or how many it holds.
func setRolesAssigned(conds Conditions, problem *Verdict, roles int) {
	if problem != nil {
		conds.Set(v1alpha1.ConditionRolesAssigned, false, problem.Reason, problem.Message)
		return
	}
	conds.Set(v1alpha1.ConditionRolesAssigned, true, v1alpha1.ReasonRolesAssigned, fmt.Sprintf("%d effective role(s)", roles))
}

func userReadyMessage(u *v1alpha1.PlatformUser, enabled bool, roles, assigned int) string {
	if !enabled {
		msg := fmt.Sprintf("%s is disabled, as spec.enabled asks", u.Spec.UserName)
		if assigned > 0 {
			msg += fmt.Sprintf("; it keeps its %d assigned role(s) for when it is enabled again (EN6)", assigned)
		}
		return msg
	}
	return fmt.Sprintf("%s is enabled (%s) with %d effective role(s)", u.Spec.UserName, u.Spec.AccessMode, roles)
}
