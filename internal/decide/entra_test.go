package decide

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// The PlatformUser decision with an Entra target (DESIGN.md, "Entra ID target"): EN1 from Entra
// ID's facts for what the operator does not manage (entraFacts), and what Entra ID should hold
// (desiredEntra): under Manage with SecurityGroupMembership, the security group's members are
// exactly those decided to be enabled — spec.enabled, not a stub, holding their seat (LI1) and,
// NonInteractive, their slot (AM6) — and a disabled person keeps its license (EN4).

// entraTarget names Entra ID as a target with that policy and manage list (nil: the default,
// SecurityGroupMembership).
func entraTarget(policy v1alpha1.ManagementPolicy, manage ...v1alpha1.EntraFact) envOpt {
	return func(e *v1alpha1.Environment) {
		e.Spec.Entra = &v1alpha1.EntraTarget{ManagementPolicy: policy, Manage: manage}
	}
}

var (
	manageEntra  = entraTarget(v1alpha1.ManagementManage)
	observeEntra = entraTarget(v1alpha1.ManagementObserve)
)

const adaOID = "a0000000-0000-4000-8000-00000000ada0"

// inEntra is a person Entra ID has: sign-in allowed, holding these licenses, not a direct member
// of the security group.
func inEntra(licenses ...string) *EntraPerson {
	return &EntraPerson{Found: true, ObjectID: adaOID, AccountEnabled: true, Licenses: licenses}
}

func member(p *EntraPerson) *EntraPerson    { p.InSecurityGroup = true; return p }
func signInOff(p *EntraPerson) *EntraPerson { p.AccountEnabled = false; return p }
func objectID(id string) userOpt            { return func(u *v1alpha1.PlatformUser) { u.Spec.EntraObjectID = id } }
func assignedByOperator(skus ...string) userOpt {
	return func(u *v1alpha1.PlatformUser) {
		u.Status.Entra = &v1alpha1.PlatformUserEntraStatus{AssignedByOperator: skus}
	}
}

// entraOutcome is what a case compares: the fact, Ready's and Enabled's reasons, and the desired
// value's Entra part.
type entraOutcome struct {
	Enabled           bool
	Ready, EnabledWhy string
	EntraObjectID     string
	EnablementManaged bool
	Entra             *DesiredEntraPerson
}

func TestPlatformUserEntra(t *testing.T) {
	seatHeld := []envOpt{licenses("E3", 2), seatLedger("E3", 2, []string{"ada"})}
	withSeat := func(opts ...envOpt) *v1alpha1.Environment {
		return prod(append(append([]envOpt{}, seatHeld...), opts...)...)
	}
	sg := []string{"sg"}
	cases := []struct {
		name  string
		user  *v1alpha1.PlatformUser
		env   *v1alpha1.Environment
		entra *EntraPerson
		want  entraOutcome
		says  []string // phrases Ready's message must contain
	}{
		// Manage, SecurityGroupMembership: the membership is the decision.
		{name: "EN1 LI1/entra Manage: a seat holder meant to be enabled is decided a member and enabled, before Entra ID holds it",
			user: user("ada"), env: withSeat(manageEntra), entra: inEntra("E3"),
			want: entraOutcome{Enabled: true, Ready: "Ready", EnabledWhy: "Enabled", EntraObjectID: adaOID, EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, License: "E3", Groups: sg}}},
		{name: "LI1/entra Manage: waiting for a seat keeps it out of the security group, and its license waits",
			user: user("ada"), env: prod(manageEntra, licenses("E3", 1), seatLedger("E3", 1, []string{"bob"}, "ada")), entra: member(inEntra()),
			want: entraOutcome{Ready: "SeatsExhausted", EnabledWhy: "SeatsExhausted", EntraObjectID: adaOID, EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: false, License: "E3", LicenseWaits: true, Groups: sg}}},
		{name: "LI1/entra Manage: a seat the Environment has yet to allocate is no decision: Undecided, so a member is neither removed nor one added before the ledger grants",
			user: user("ada"), env: prod(manageEntra, licenses("E3", 2), seatLedger("E3", 2, []string{"bob"})), entra: member(inEntra()),
			want: entraOutcome{Ready: "AwaitingAllocation", EnabledWhy: "AwaitingAllocation", EntraObjectID: adaOID, EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: false, Undecided: true, License: "E3", LicenseWaits: true, Groups: sg}}},
		{name: "AM6/entra Manage: a slot the Environment has yet to allocate is no decision: Undecided",
			user: user("bot", mode(v1alpha1.AccessModeNonInteractive)), env: prod(manageEntra, slotLedger([]string{"ni0"})), entra: member(inEntra()),
			want: entraOutcome{Ready: "AwaitingAllocation", EnabledWhy: "AwaitingAllocation", EntraObjectID: adaOID, EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: false, Undecided: true, Groups: sg}}},
		{name: "EN4/entra Manage: a disabled person awaiting allocation is decided out all the same (disabling needs no seat)",
			user: user("ada", intent(false), wasEnabledWith("sales")), env: prod(manageEntra, licenses("E3", 2), seatLedger("E3", 2, []string{"bob"})), entra: member(inEntra()),
			want: entraOutcome{Ready: "Ready", EnabledWhy: "AwaitingAllocation", EntraObjectID: adaOID, EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: false, License: "E3", LicenseWaits: true, Groups: sg}}},
		{name: "AM6/entra Manage: a NonInteractive user waiting for a slot is kept out of the security group (removed if a member)",
			user: user("bot", mode(v1alpha1.AccessModeNonInteractive)), env: prod(manageEntra, slotLedger(names("ni", 7), "bot")), entra: member(inEntra()),
			want: entraOutcome{Ready: "NonInteractiveLimitReached", EnabledWhy: "NonInteractiveLimitReached", EntraObjectID: adaOID, EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: false, Groups: sg}}},
		{name: "AM6/entra Manage: a NonInteractive user holding its slot is decided a member",
			user: user("bot", mode(v1alpha1.AccessModeNonInteractive)), env: prod(manageEntra, slotLedger([]string{"bot"})), entra: inEntra(),
			want: entraOutcome{Enabled: true, Ready: "Ready", EnabledWhy: "Enabled", EntraObjectID: adaOID, EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, Groups: sg}}},
		{name: "EN4/entra Manage: a disabled seat holder is decided out of the group with its license kept; Ready, disabled as asked, no StillEnabled",
			user: user("ada", intent(false), wasEnabledWith("sales")), env: withSeat(manageEntra), entra: member(inEntra("E3")),
			want: entraOutcome{Ready: "Ready", EnabledWhy: "NotInSecurityGroup", EntraObjectID: adaOID, EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: false, License: "E3", LicenseWaits: false, Groups: sg}},
			says: []string{"ada@contoso.com is disabled, as spec.enabled asks"}},
		{name: "AM8/entra Manage: a stub is never decided a member",
			user: user("imported", stub), env: prod(manageEntra),
			want: entraOutcome{Ready: "Ready", EnabledWhy: "StubUser", EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: false, Groups: sg}}},
		{name: "AM8/entra Manage: a stub whose spec says enabled (admission refuses it; plan reads files as written) is still never decided a member",
			user: user("imported", stub, intent(true)), env: prod(manageEntra),
			want: entraOutcome{Ready: "StubUser", EnabledWhy: "StubUser", EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: false, Groups: sg}}},
		{name: "EN1/entra Manage: before Entra ID was first observed the managed membership counts the decision (no flip to disabled and back across a restart); the object id is not known yet",
			user: user("ada", groups()), env: withSeat(manageEntra),
			want: entraOutcome{Enabled: true, Ready: "Ready", EnabledWhy: "Enabled", EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, License: "E3"}}},
		{name: "EN1/entra Manage: before Entra ID was first observed a sign-in the spec declares blocked stays blocked",
			user: user("ada", groups(), func(u *v1alpha1.PlatformUser) { u.Spec.SignInBlocked = true }), env: withSeat(manageEntra),
			want: entraOutcome{Ready: "SignInBlocked", EnabledWhy: "SignInBlocked", EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, SignInBlocked: true, License: "E3"}}},
		{name: "EN1/entra Manage: Entra ID has no such person: PersonNotFound, Stalled, and no object id for addUser",
			user: user("ada"), env: withSeat(manageEntra), entra: &EntraPerson{},
			want: entraOutcome{Ready: "PersonNotFound", EnabledWhy: "PersonNotFound", EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, License: "E3", Groups: sg}},
			says: []string{"Entra ID has no user ada@contoso.com"}},
		{name: "EN1/entra Manage: a person Entra ID does not have is not Undecided while its seat is unallocated: PersonNotFound comes first",
			user: user("ada"), env: prod(manageEntra, licenses("E3", 2), seatLedger("E3", 2, []string{"bob"})), entra: &EntraPerson{},
			want: entraOutcome{Ready: "PersonNotFound", EnabledWhy: "PersonNotFound", EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: false, License: "E3", LicenseWaits: true, Groups: sg}}},
		{name: "EN1/entra Manage: spec.entraObjectId is kept over the one Entra ID was read by",
			user: user("ada", objectID("11111111-2222-4333-8444-555555555555")), env: withSeat(manageEntra), entra: inEntra("E3"),
			want: entraOutcome{Enabled: true, Ready: "Ready", EnabledWhy: "Enabled", EntraObjectID: "11111111-2222-4333-8444-555555555555", EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, License: "E3", Groups: sg}}},
		{name: "EN1/entra Manage: the licenses the operator assigned before are passed on (the only ones it removes)",
			user: user("ada", assignedByOperator("E5")), env: withSeat(manageEntra), entra: inEntra("E3", "E5"),
			want: entraOutcome{Enabled: true, Ready: "Ready", EnabledWhy: "Enabled", EntraObjectID: adaOID, EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, License: "E3", Assigned: []string{"E5"}, Groups: sg}}},
		{name: "EN1/entra Manage: sign-in is never managed: blocked in Entra ID, not enabled; the membership decided is unchanged",
			user: user("ada"), env: withSeat(manageEntra), entra: signInOff(inEntra("E3")),
			want: entraOutcome{Ready: "SignInBlocked", EnabledWhy: "SignInBlocked", EntraObjectID: adaOID, EnablementManaged: true,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, License: "E3", Groups: sg}}},

		// Manage without SecurityGroupMembership: the membership is Entra's, the spec's is declared.
		{name: "EN1/entra Manage [Licenses]: membership from Entra ID (a member although spec.securityGroups does not list it), declared from the spec; the license is the operator's, so Entra lacking it does not block",
			user: user("ada", groups()), env: withSeat(entraTarget(v1alpha1.ManagementManage, v1alpha1.EntraLicenses)), entra: member(inEntra()),
			want: entraOutcome{Enabled: true, Ready: "Ready", EnabledWhy: "Enabled", EntraObjectID: adaOID,
				Entra: &DesiredEntraPerson{InSecurityGroup: false, License: "E3"}}},
		{name: "EN1/entra Manage [Licenses]: not a member in Entra ID: NotInSecurityGroup although spec.securityGroups lists it",
			user: user("ada"), env: withSeat(entraTarget(v1alpha1.ManagementManage, v1alpha1.EntraLicenses)), entra: inEntra(),
			want: entraOutcome{Ready: "NotInSecurityGroup", EnabledWhy: "NotInSecurityGroup", EntraObjectID: adaOID,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, License: "E3", Groups: sg}}},
		{name: "EN1/entra Manage: no security group on the environment: enablement is not managed",
			user: user("ada", groups()), env: withSeat(noGroup, manageEntra), entra: inEntra("E3"),
			want: entraOutcome{Enabled: true, Ready: "Ready", EnabledWhy: "Enabled", EntraObjectID: adaOID,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, License: "E3"}}},

		// Observe: every fact is Entra's; nothing is managed.
		{name: "EN1/entra Observe: not a member in Entra ID: NotInSecurityGroup although spec.securityGroups lists it; enablement not managed",
			user: user("ada"), env: withSeat(observeEntra), entra: inEntra("E3"),
			want: entraOutcome{Ready: "NotInSecurityGroup", EnabledWhy: "NotInSecurityGroup", EntraObjectID: adaOID,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, License: "E3", Groups: sg}},
			says: []string{"in Entra ID"}},
		{name: "EN1/entra Observe: a direct member in Entra ID holding the license is enabled although spec.securityGroups does not list the group",
			user: user("ada", groups()), env: withSeat(observeEntra), entra: member(inEntra("E3")),
			want: entraOutcome{Enabled: true, Ready: "Ready", EnabledWhy: "Enabled", EntraObjectID: adaOID,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, License: "E3"}}},
		{name: "EN1 AM2/entra Observe: the license is Entra's: not assigned there, Unlicensed although the seat is held",
			user: user("ada"), env: withSeat(observeEntra), entra: member(inEntra("E5")),
			want: entraOutcome{Ready: "Unlicensed", EnabledWhy: "Unlicensed", EntraObjectID: adaOID,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, License: "E3", Groups: sg}}},
		{name: "EN1/entra Observe: the license is matched by part number without case",
			user: user("ada"), env: withSeat(observeEntra), entra: member(inEntra("e3")),
			want: entraOutcome{Enabled: true, Ready: "Ready", EnabledWhy: "Enabled", EntraObjectID: adaOID,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, License: "E3", Groups: sg}}},
		{name: "EN1/entra Observe: sign-in blocked in Entra ID: SignInBlocked although spec.signInBlocked is false",
			user: user("ada"), env: withSeat(observeEntra), entra: signInOff(member(inEntra("E3"))),
			want: entraOutcome{Ready: "SignInBlocked", EnabledWhy: "SignInBlocked", EntraObjectID: adaOID,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, License: "E3", Groups: sg}}},
		{name: "EN1/entra Observe: spec.signInBlocked true but Entra ID allows sign-in: enabled (the sync reports EntraDrift)",
			user: user("ada", signInBlocked), env: withSeat(observeEntra), entra: member(inEntra("E3")),
			want: entraOutcome{Enabled: true, Ready: "Ready", EnabledWhy: "Enabled", EntraObjectID: adaOID,
				Entra: &DesiredEntraPerson{InSecurityGroup: true, SignInBlocked: true, License: "E3", Groups: sg}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := PlatformUserInput{User: c.user, Environment: c.env, Roles: stdRoles(), Now: now, Entra: c.entra}
			out := untouched(t, in, PlatformUser)
			got := entraOutcome{Enabled: out.Status.Enabled,
				Ready:      ConditionReason(out.Status.Conditions, v1alpha1.ConditionReady),
				EnabledWhy: ConditionReason(out.Status.Conditions, v1alpha1.ConditionEnabled)}
			if d := out.Desired; d != nil {
				got.EntraObjectID, got.EnablementManaged, got.Entra = d.EntraObjectID, d.EnablementManaged, d.Entra
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if out.Desired != nil && out.Desired.Enabled != out.Status.Enabled {
				t.Errorf("Desired.Enabled %t, status.enabled %t", out.Desired.Enabled, out.Status.Enabled)
			}
			wantContains(t, message(t, out.Status.Conditions, v1alpha1.ConditionReady), c.says)
			checkStalled(t, out.Status.Conditions)
		})
	}
}

// TestPlatformUserWithoutEntra: without spec.entra the Entra ID person, even if given, plays no
// part: no Entra facts, no desired Entra value, enablement not managed.
func TestPlatformUserWithoutEntra(t *testing.T) {
	in := PlatformUserInput{User: user("ada", groups()), Environment: prod(), Roles: stdRoles(), Now: now, Entra: member(inEntra("E3"))}
	out := untouched(t, in, PlatformUser)
	if out.Status.Enabled || ConditionReason(out.Status.Conditions, v1alpha1.ConditionReady) != v1alpha1.ReasonNotInSecurityGroup {
		t.Errorf("EN1 without spec.entra follows spec.securityGroups: enabled %t, Ready %s", out.Status.Enabled, ConditionReason(out.Status.Conditions, v1alpha1.ConditionReady))
	}
	if d := out.Desired; d == nil || d.Entra != nil || d.EnablementManaged || d.EntraObjectID != "" {
		t.Errorf("desired without spec.entra: %+v", d)
	}
}

// TestEntraStatusKept: status.entra is observed by the Entra ID target, not decided, so the
// decision carries it over as it does status.dataverse. Dropping it loses assignedByOperator —
// the only licenses the operator may ever remove — and flaps the status on every reconcile.
func TestEntraStatusKept(t *testing.T) {
	on := true
	prev := &v1alpha1.PlatformUserEntraStatus{ObjectID: adaOID, AccountEnabled: &on, MemberOfSecurityGroup: &on,
		Licenses: []v1alpha1.EntraLicense{{SkuPartNumber: "E3", Direct: true}}, AssignedByOperator: []string{"E3"}, LastCorrection: "added"}
	u := user("ada", seen(1))
	u.Status.Entra = prev
	in := PlatformUserInput{User: u, Environment: prod(manageEntra, licenses("E3", 1), seatLedger("E3", 1, []string{"ada"})), Roles: stdRoles(), Now: now, Entra: member(inEntra("E3"))}
	out := untouched(t, in, PlatformUser)
	if diff := cmp.Diff(prev, out.Status.Entra); diff != "" {
		t.Errorf("status.entra (-previous +decided):\n%s", diff)
	}
	fixpoint(t, out.Status, func(st v1alpha1.PlatformUserStatus) v1alpha1.PlatformUserStatus {
		again := in
		again.User = u.DeepCopy()
		again.User.Status = st
		return PlatformUser(again).Status
	})
}
