package decide

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// stdRoles are the roles the PlatformUser cases may name: two of prod's root unit, one of its
// emea unit, one of another environment, and prod's built-ins System Administrator (AM9) and
// Salesperson (AM8, Dynamics365).
func stdRoles() Roles {
	return rolesOf(role("sales"), role("marketing"), role("emea-sales", ofUnit("emea")), role("dev-sales", ofEnv("dev")),
		builtIn(prod(), v1alpha1.BuiltInSystemAdministrator), builtIn(prod(), v1alpha1.BuiltInSalesperson),
		builtIn(prod(powerApps), v1alpha1.BuiltInCommonDataServiceUser))
}

// pu is an expected PlatformUser status.
func pu(p v1alpha1.PrincipalStatus, bu string, claims ...v1alpha1.Claim) v1alpha1.PlatformUserStatus {
	return v1alpha1.PlatformUserStatus{PrincipalStatus: p, BusinessUnit: bu, Claims: claims}
}

var (
	e3Claim   = claimOf("seats/E3", at(0))
	slotClaim = claimOf(v1alpha1.SlotsResource, at(0))
	sales     = []v1alpha1.EffectiveRole{direct("sales")}
	saRole    = v1alpha1.EffectiveRole{Name: "prod-system-administrator", RoleName: "System Administrator", Source: "AdministratorRole/GlobalAdministrator"}
	stubRole  = v1alpha1.EffectiveRole{Name: "prod-salesperson", RoleName: "Salesperson", Source: string(v1alpha1.RoleSourceStubDefault)}
)

const (
	full         = v1alpha1.AccessFull
	none         = v1alpha1.AccessNoAccess
	settingsOnly = v1alpha1.AccessSettingsOnly
	programmatic = v1alpha1.AccessProgrammatic
)

type userCase struct {
	name  string
	user  *v1alpha1.PlatformUser
	env   *v1alpha1.Environment // nil: the environment does not exist
	roles Roles                 // nil: stdRoles
	teams []v1alpha1.Team
	older *v1alpha1.PlatformUser
	want  v1alpha1.PlatformUserStatus
	says  []string // phrases the Ready message must contain
}

func runUserCases(t *testing.T, cases []userCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			roles := c.roles
			if roles == nil {
				roles = stdRoles()
			}
			in := PlatformUserInput{User: c.user, Environment: c.env, Roles: roles, Teams: c.teams, Older: c.older, Now: now}
			got := untouched(t, in, PlatformUser).Status
			if diff := cmp.Diff(c.want, got, statusOpts); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			wantContains(t, message(t, got.Conditions, v1alpha1.ConditionReady), c.says)
			checkStalled(t, got.Conditions)
			fixpoint(t, got, func(st v1alpha1.PlatformUserStatus) v1alpha1.PlatformUserStatus {
				again := in
				again.User = c.user.DeepCopy()
				again.User.Status = st
				return PlatformUser(again).Status
			})
		})
	}
}

// TestPlatformUser covers every reason the PlatformUser decision can produce: every enablement
// path (EN1, AM2, AM3, AM6, AM8, LI1, EN4), every reference (EV3, SR5) and every role rule (EN5,
// EN6, AM8, AM9, TM1).
func TestPlatformUser(t *testing.T) {
	enabledReady := func(aspects ...string) []metav1.Condition {
		return conds(1, join("Ready=True:Ready", "Enabled=True:Enabled", "RolesAssigned=True:RolesAssigned", aspects)...)
	}
	notEnabled := func(reason string, aspects ...string) []metav1.Condition {
		return conds(1, join(stalled(reason), "Enabled=False:"+reason, "RolesAssigned=False:AwaitingEnablement", aspects)...)
	}
	runUserCases(t, []userCase{
		// Enablement paths.
		{name: "EN1 AM1 LI1 a licensed ReadWrite user in the security group with a role is enabled and Ready: Enabled, LicensesNotCounted",
			user: user("ada"), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabledReady("Licensed=True:LicensesNotCounted"),
				Enabled: true, EffectiveRoles: sales, Access: full, AssignedRoles: []string{"sales"}, FirstEnabledTime: mtime(now)}, "root", e3Claim),
			says: []string{"ada@contoso.com is enabled (ReadWrite) with 1 effective role(s)"}},
		{name: "EN1 no security group on the environment: every user passes that test",
			user: user("ada", groups()), env: prod(noGroup),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabledReady("Licensed=True:LicensesNotCounted"),
				Enabled: true, EffectiveRoles: sales, Access: full, AssignedRoles: []string{"sales"}, FirstEnabledTime: mtime(now)}, "root", e3Claim)},
		{name: "EN1 EN6 NotInSecurityGroup: nested groups do not count; the roles wait for enablement (AwaitingEnablement)",
			user: user("ada", groups("sg-parent")), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: notEnabled("NotInSecurityGroup", "Licensed=True:LicensesNotCounted"),
				Access: none}, "root", e3Claim),
			says: []string{"not a direct member of security group sg", "add sg to spec.securityGroups"}},
		{name: "EN1 SignInBlocked",
			user: user("ada", signInBlocked), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: notEnabled("SignInBlocked", "Licensed=True:LicensesNotCounted"),
				Access: none}, "root", e3Claim),
			says: []string{"set spec.signInBlocked to false"}},
		{name: "AM2 Unlicensed: a ReadWrite user without a license is not enabled and claims no seat",
			user: user("ada", license("")), env: prod(licenses("E3", 5)),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: notEnabled("Unlicensed", "Licensed=False:Unlicensed"),
				Access: none}, "root"),
			says: []string{"set spec.license to one of E3", "or set spec.accessMode to Administrative or NonInteractive"}},
		{name: "LI1 LicenseNotOffered",
			user: user("ada", license("E5")), env: prod(licenses("E3", 5)),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: notEnabled("LicenseNotOffered", "Licensed=False:LicenseNotOffered"),
				Access: none}, "root", claimOf("seats/E5", at(0))),
			says: []string{"license E5 is not offered by environment prod (it offers E3)", "add E5 to the Environment's spec.licenses"}},
		{name: "LI1 SeatsExhausted: every seat is held, the user waits in line, Stalled",
			user: user("ada"), env: prod(licenses("E3", 1), seatLedger("E3", 1, []string{"bob"}, "ada")),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: notEnabled("SeatsExhausted", "Licensed=False:SeatsExhausted"),
				Access: none}, "root", e3Claim),
			says: []string{"all 1 seats of E3 in environment prod are held; ada@contoso.com is 1st of 1 waiting (LI1)", "raise the seats of E3"}},
		{name: "EV1 EN6 AwaitingAllocation: a seat not allocated yet is the operator's work, not Stalled; roles AwaitingEnablement",
			user: user("ada"), env: prod(licenses("E3", 2)),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=False:AwaitingAllocation",
				"Enabled=False:AwaitingAllocation", "Licensed=False:AwaitingAllocation", "RolesAssigned=False:AwaitingEnablement"),
				Access: none}, "root", e3Claim),
			says: []string{"waiting for environment prod to allocate a seat of E3"}},
		{name: "EV1 AwaitingAllocation: a waiter within the free seats is settling, not Stalled",
			user: user("ada"), env: prod(licenses("E3", 2), seatLedger("E3", 2, []string{"bob"}, "ada")),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=False:AwaitingAllocation",
				"Enabled=False:AwaitingAllocation", "Licensed=False:AwaitingAllocation", "RolesAssigned=False:AwaitingEnablement"),
				Access: none}, "root", e3Claim)},
		{name: "LI1 SeatHeld: a user holding a seat of a counted SKU is enabled",
			user: user("ada"), env: prod(licenses("E3", 2), seatLedger("E3", 2, []string{"ada"})),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabledReady("Licensed=True:SeatHeld"),
				Enabled: true, EffectiveRoles: sales, Access: full, AssignedRoles: []string{"sales"}, FirstEnabledTime: mtime(now)}, "root", e3Claim)},
		{name: "EN4 EN6 LI1 a user disabled by leaving the security group keeps its seat (SeatHeld) and its roles, Ready",
			user: user("ada", groups(), intent(false), wasEnabledWith("sales"), claimed("seats/E3", at(0))), env: prod(licenses("E3", 2), seatLedger("E3", 2, []string{"ada"})),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready", "Enabled=False:NotInSecurityGroup",
				"Licensed=True:SeatHeld", "RolesAssigned=True:RolesAssigned"),
				EffectiveRoles: sales, Access: none, AssignedRoles: []string{"sales"}, FirstEnabledTime: mtime(t0)}, "root", e3Claim),
			says: []string{"ada@contoso.com is disabled, as spec.enabled asks; it keeps its 1 assigned role(s) for when it is enabled again (EN6)"}},
		{name: "AM3 LicenseNotNeeded: an Administrative user needs no license and reaches settings only (AM4)",
			user: user("ada", mode(v1alpha1.AccessModeAdministrative)), env: prod(licenses("E3", 1)),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabledReady("Licensed=True:LicenseNotNeeded"),
				Enabled: true, EffectiveRoles: sales, Access: settingsOnly, AssignedRoles: []string{"sales"}, FirstEnabledTime: mtime(now)}, "root")},
		{name: "AM6 EV1 AwaitingAllocation: a NonInteractive user the ledger does not know yet waits for its slot",
			user: user("ada", mode(v1alpha1.AccessModeNonInteractive)), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=False:AwaitingAllocation",
				"Enabled=False:AwaitingAllocation", "Licensed=True:LicenseNotNeeded", "NonInteractiveSlot=False:AwaitingAllocation",
				"RolesAssigned=False:AwaitingEnablement"), Access: none}, "root", slotClaim)},
		{name: "AM6 NonInteractiveLimitReached: the eighth NonInteractive user waits, Stalled",
			user: user("ada", mode(v1alpha1.AccessModeNonInteractive)), env: prod(slotLedger(names("ni", 7), "ada")),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: notEnabled("NonInteractiveLimitReached",
				"Licensed=True:LicenseNotNeeded", "NonInteractiveSlot=False:NonInteractiveLimitReached"), Access: none}, "root", slotClaim),
			says: []string{"all 7 non-interactive slots held; ada@contoso.com is 1st of 1 waiting (AM6)", "use an ApplicationUser, which is not counted"}},
		{name: "AM6 AM4 SlotGranted: a NonInteractive user holding a slot is enabled, Programmatic",
			user: user("ada", mode(v1alpha1.AccessModeNonInteractive)), env: prod(slotLedger([]string{"ada"})),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabledReady("Licensed=True:LicenseNotNeeded", "NonInteractiveSlot=True:SlotGranted"),
				Enabled: true, EffectiveRoles: sales, Access: programmatic, AssignedRoles: []string{"sales"}, FirstEnabledTime: mtime(now)}, "root", slotClaim)},
		{name: "AM8 StubUser: a stub is never enabled, takes no license and gets Salesperson (Dynamics365); Ready",
			user: user("ada", stub), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready", "Enabled=False:StubUser",
				"Licensed=True:LicenseNotNeeded", "RolesAssigned=True:RolesAssigned"),
				EffectiveRoles: []v1alpha1.EffectiveRole{stubRole}, Access: none}, "root")},
		{name: "AM8 StubUser: a stub meant enabled (admission refuses it) is Stalled, saying it cannot be enabled",
			user: user("ada", stub, intent(true)), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, join(stalled("StubUser"), "Enabled=False:StubUser",
				"Licensed=True:LicenseNotNeeded", "RolesAssigned=True:RolesAssigned")...),
				EffectiveRoles: []v1alpha1.EffectiveRole{stubRole}, Access: none}, "root"),
			says: []string{"stub user ada@contoso.com is a placeholder created by data import: it cannot sign in or be enabled (AM8)"}},
		{name: "AM8 a stub of a PowerApps environment gets Common Data Service User",
			user: user("ada", stub), env: prod(powerApps),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready", "Enabled=False:StubUser",
				"Licensed=True:LicenseNotNeeded", "RolesAssigned=True:RolesAssigned"),
				EffectiveRoles: []v1alpha1.EffectiveRole{{Name: "prod-common-data-service-user", RoleName: "Common Data Service User", Source: "StubDefault"}},
				Access:         none}, "root")},
		{name: "EN1 StillEnabled: spec.enabled false but every condition of an enabled user met, Stalled; the message points to the security group",
			user: user("ada", intent(false)), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, join(stalled("StillEnabled"), "Enabled=True:Enabled",
				"Licensed=True:LicensesNotCounted", "RolesAssigned=True:RolesAssigned")...),
				Enabled: true, EffectiveRoles: sales, Access: full, AssignedRoles: []string{"sales"}, FirstEnabledTime: mtime(now)}, "root", e3Claim),
			says: []string{"remove sg from spec.securityGroups (recommended: the user keeps its license)", "remove spec.license (frees the seat)", "set spec.signInBlocked to true"}},

		// References (EV3) and uniqueness.
		{name: "EV3 EV1 EnvironmentNotFound: nothing else can be decided, but the claim's time is recorded so reverse apply order keeps creation order",
			user: user("ada", userEnv("nowhere")),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("EnvironmentNotFound")...), Access: none}, "", e3Claim),
			says: []string{"Environment nowhere does not exist in namespace team-a", "correct spec.environmentName"}},
		{name: "DuplicateUserName: the younger of two users with the same userName is refused",
			user: user("ada2"), env: prod(), older: user("ada"),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("DuplicateUserName")...), Access: none}, "", e3Claim),
			says: []string{"PlatformUser ada already has userName ada2@contoso.com in environment prod"}},
		{name: "EV3 BusinessUnitNotFound",
			user: user("ada", userUnit("emea")), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, join(stalled("BusinessUnitNotFound"), "Enabled=True:Enabled",
				"Licensed=True:LicensesNotCounted", "RolesAssigned=False:RoleNotInBusinessUnit")...),
				Enabled: true, Access: none, FirstEnabledTime: mtime(now)}, "emea", e3Claim),
			says: []string{"business unit emea of PlatformUser ada is not in environment prod's spec.businessUnits", "change spec.businessUnit"}},
		{name: "EV3 SecurityRoleNotFound: the roles that resolve stay effective",
			user: user("ada", withRoles("sales", "ghost")), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, join(stalled("SecurityRoleNotFound"), "Enabled=True:Enabled",
				"Licensed=True:LicensesNotCounted", "RolesAssigned=False:SecurityRoleNotFound")...),
				Enabled: true, EffectiveRoles: sales, Access: full, AssignedRoles: []string{"sales"}, FirstEnabledTime: mtime(now)}, "root", e3Claim),
			says: []string{"SecurityRole ghost, assigned to PlatformUser ada, does not exist in namespace team-a", "remove it from spec.securityRoles"}},
		{name: "EV3 RoleInOtherEnvironment",
			user: user("ada", withRoles("dev-sales")), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, join(stalled("RoleInOtherEnvironment"), "Enabled=True:Enabled",
				"Licensed=True:LicensesNotCounted", "RolesAssigned=False:RoleInOtherEnvironment")...),
				Enabled: true, Access: none, FirstEnabledTime: mtime(now)}, "root", e3Claim),
			says: []string{"SecurityRole dev-sales belongs to environment dev, not prod"}},
		{name: "SR5 RoleNotInBusinessUnit: a role of emea is not available to a user of apac",
			user: user("ada", userUnit("apac"), withRoles("emea-sales")), env: prod(regions),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, join(stalled("RoleNotInBusinessUnit"), "Enabled=True:Enabled",
				"Licensed=True:LicensesNotCounted", "RolesAssigned=False:RoleNotInBusinessUnit")...),
				Enabled: true, Access: none, FirstEnabledTime: mtime(now)}, "apac", e3Claim),
			says: []string{"SecurityRole emea-sales belongs to business unit emea, which is neither PlatformUser ada's unit apac nor above it (SR5)"}},
		{name: "SR5 roles of the user's unit and of the units above it are available",
			user: user("ada", userUnit("france"), withRoles("sales", "emea-sales")), env: prod(regions),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabledReady("Licensed=True:LicensesNotCounted"),
				Enabled: true, EffectiveRoles: []v1alpha1.EffectiveRole{direct("sales"), direct("emea-sales")}, Access: full,
				AssignedRoles: []string{"sales", "emea-sales"}, FirstEnabledTime: mtime(now)}, "france", e3Claim)},

		// Roles: EN5, EN6, AM8, AM9, TM1.
		{name: "EN5 AM4 NoSecurityRole: an enabled user with no role cannot get in, access None; the message points to the security group",
			user: user("ada", withRoles()), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, join(stalled("NoSecurityRole"), "Enabled=True:Enabled",
				"Licensed=True:LicensesNotCounted", "RolesAssigned=False:NoSecurityRole")...),
				Enabled: true, Access: none, FirstEnabledTime: mtime(now)}, "root", e3Claim),
			says: []string{"holds no security role, so it cannot get in (EN5)", "remove sg from spec.securityGroups instead of removing its roles"}},
		{name: "EN5 TM1 a role held through a group team of one of the user's groups is enough",
			user: user("ada", withRoles(), groups("sg", "g-support")), env: prod(),
			teams: teamsOf(team("support", groupTeam("g-support")), team("other", groupTeam("g-other"))),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabledReady("Licensed=True:LicensesNotCounted"),
				Enabled: true, EffectiveRoles: []v1alpha1.EffectiveRole{viaTeam("sales", "support")}, Access: full, FirstEnabledTime: mtime(now)}, "root", e3Claim)},
		{name: "EN5 an Owner team's listed member gets the team's roles; a team of another environment gives nothing",
			user: user("ada", withRoles("marketing")), env: prod(),
			teams: teamsOf(team("sellers", members("bob", "ada")), func() *v1alpha1.Team {
				t := team("dev-sellers", members("ada"))
				t.Spec.EnvironmentName = "dev"
				return t
			}()),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabledReady("Licensed=True:LicensesNotCounted"),
				Enabled: true, EffectiveRoles: []v1alpha1.EffectiveRole{direct("marketing"), viaTeam("sales", "sellers")}, Access: full,
				AssignedRoles: []string{"marketing"}, FirstEnabledTime: mtime(now)}, "root", e3Claim)},
		{name: "EN6 RoleAssignmentToDisabledUser: roles listed on a user that was never enabled and is meant disabled are refused, Stalled",
			user: user("ada", groups(), intent(false)), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, join(stalled("RoleAssignmentToDisabledUser"),
				"Enabled=False:NotInSecurityGroup", "Licensed=True:LicensesNotCounted", "RolesAssigned=False:RoleAssignmentToDisabledUser")...),
				Access: none}, "root", e3Claim),
			says: []string{"sales cannot be assigned (EN6)", "set environment prod's spec.settings.allowRoleAssignmentOnDisabledUsers to true"}},
		{name: "EN6 with allowRoleAssignmentOnDisabledUsers a disabled user's roles are assigned",
			user: user("ada", groups(), intent(false)), env: prod(allowDisabled),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready", "Enabled=False:NotInSecurityGroup",
				"Licensed=True:LicensesNotCounted", "RolesAssigned=True:RolesAssigned"),
				EffectiveRoles: sales, Access: none, AssignedRoles: []string{"sales"}}, "root", e3Claim)},
		{name: "EN6 AM8 a role listed on a stub is an assignment to a disabled user: refused; the StubDefault role stays effective",
			user: user("ada", stub, withRoles("sales")), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, join(stalled("RoleAssignmentToDisabledUser"),
				"Enabled=False:StubUser", "Licensed=True:LicenseNotNeeded", "RolesAssigned=False:RoleAssignmentToDisabledUser")...),
				EffectiveRoles: []v1alpha1.EffectiveRole{stubRole}, Access: none}, "root"),
			says: []string{"sales cannot be assigned (EN6)", "remove sales from spec.securityRoles"}},
		{name: "EN6 AM8 a stub with no listed role is Ready with only the StubDefault role",
			user: user("ada", stub, withRoles()), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready", "Enabled=False:StubUser",
				"Licensed=True:LicenseNotNeeded", "RolesAssigned=True:RolesAssigned"),
				EffectiveRoles: []v1alpha1.EffectiveRole{stubRole}, Access: none}, "root")},
		{name: "AM8 Reconciling: a stub waits for its environment to create the stub default role, not Stalled",
			user: user("ada", stub), env: prod(), roles: rolesOf(role("sales")),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=False:Reconciling", "Enabled=False:StubUser",
				"Licensed=True:LicenseNotNeeded", "RolesAssigned=False:Reconciling"), Access: none}, "root"),
			says: []string{"waiting for environment prod to create its built-in role prod-salesperson (AM8)"}},
		{name: "AM9 a GlobalAdministrator gets System Administrator and needs no other role",
			user: user("ada", withRoles(), admin(v1alpha1.AdminGlobal)), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabledReady("Licensed=True:LicensesNotCounted"),
				Enabled: true, EffectiveRoles: []v1alpha1.EffectiveRole{saRole}, Access: full, FirstEnabledTime: mtime(now)}, "root", e3Claim)},
		{name: "AM9 a ServiceAdministrator gets System Administrator beside its direct roles",
			user: user("ada", admin(v1alpha1.AdminBilling, v1alpha1.AdminService)), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabledReady("Licensed=True:LicensesNotCounted"),
				Enabled: true, EffectiveRoles: []v1alpha1.EffectiveRole{direct("sales"),
					{Name: "prod-system-administrator", RoleName: "System Administrator", Source: "AdministratorRole/ServiceAdministrator"}},
				Access: full, AssignedRoles: []string{"sales"}, FirstEnabledTime: mtime(now)}, "root", e3Claim)},
		{name: "AM9 EN5 the other administrator roles give nothing inside the environment: NoSecurityRole",
			user: user("ada", withRoles(), admin(v1alpha1.AdminBilling, v1alpha1.AdminPassword, v1alpha1.AdminUserManagement)), env: prod(),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, join(stalled("NoSecurityRole"), "Enabled=True:Enabled",
				"Licensed=True:LicensesNotCounted", "RolesAssigned=False:NoSecurityRole")...),
				Enabled: true, Access: none, FirstEnabledTime: mtime(now)}, "root", e3Claim)},
		{name: "AM9 Reconciling: System Administrator not created yet is the operator's work, not Stalled",
			user: user("ada", withRoles(), admin(v1alpha1.AdminGlobal)), env: prod(), roles: rolesOf(role("sales")),
			want: pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=False:Reconciling", "Enabled=True:Enabled",
				"Licensed=True:LicensesNotCounted", "RolesAssigned=False:Reconciling"),
				Enabled: true, Access: none, FirstEnabledTime: mtime(now)}, "root", e3Claim),
			says: []string{"waiting for environment prod to create its built-in role prod-system-administrator (AM9)"}},
	})
}

// TestPlatformUserUnresolvedClearsAspects: when the environment disappears or the userName is
// contested, nothing about enablement can be known, so no aspect lingers from an earlier decision;
// what was recorded (assigned roles, first enablement, claims) is kept.
func TestPlatformUserUnresolvedClearsAspects(t *testing.T) {
	enabledBefore := func() *v1alpha1.PlatformUser {
		u := user("ada", wasEnabledWith("sales"), claimed("seats/E3", at(0)))
		u.Status.BusinessUnit = "root"
		u.Status.EffectiveRoles = sales
		u.Status.Access = full
		u.Status.Conditions = []metav1.Condition{
			{Type: "Ready", Status: "True", Reason: "Ready", ObservedGeneration: 1},
			{Type: "Enabled", Status: "True", Reason: "Enabled", ObservedGeneration: 1},
			{Type: "Licensed", Status: "True", Reason: "LicensesNotCounted", ObservedGeneration: 1},
			{Type: "RolesAssigned", Status: "True", Reason: "RolesAssigned", ObservedGeneration: 1},
		}
		return u
	}
	kept := func(reason string) v1alpha1.PlatformUserStatus {
		return pu(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, stalled(reason)...), Access: none,
			AssignedRoles: []string{"sales"}, FirstEnabledTime: mtime(t0)}, "root", e3Claim)
	}
	runUserCases(t, []userCase{
		{name: "EV3 EN6 EnvironmentNotFound after Ready: aspects removed, assigned roles and claims kept",
			user: enabledBefore(), want: kept("EnvironmentNotFound")},
		{name: "DuplicateUserName after Ready: aspects removed, assigned roles and claims kept",
			user: enabledBefore(), env: prod(), older: user("ada0"), want: kept("DuplicateUserName")},
	})
}

// TestDisabledEventSaysWhy: the Disabled warning names why the user is no longer enabled, also
// when the reason is that its environment or its userName cannot be resolved.
func TestDisabledEventSaysWhy(t *testing.T) {
	for _, in := range []PlatformUserInput{
		{User: user("ada", wasEnabledWith("sales")), Roles: stdRoles(), Now: now},
		{User: user("ada", wasEnabledWith("sales")), Environment: prod(), Older: user("ada0"), Roles: stdRoles(), Now: now},
	} {
		out := PlatformUser(in)
		if len(out.Events) != 1 {
			t.Fatalf("events %v, want one Disabled warning", out.Events)
		}
		if m := out.Events[0].Message; len(m) < 2 || m[len(m)-2:] == ": " {
			t.Errorf("Disabled event message %q says no reason", m)
		}
	}
}

// TestPlatformUserMessages: the Ready message of the key cases, in full: what is wrong, which
// object, what to change.
func TestPlatformUserMessages(t *testing.T) {
	cases := []struct {
		name string
		user *v1alpha1.PlatformUser
		env  *v1alpha1.Environment
		want string
	}{
		{"EN5 NoSecurityRole points to the security group", user("ada", withRoles()), prod(),
			"ada@contoso.com is enabled but holds no security role, so it cannot get in (EN5): add a role to spec.securityRoles, " +
				"or make the user a member of a group team that holds one; to remove access, remove sg from spec.securityGroups instead of removing its roles"},
		{"EN1 NotInSecurityGroup names the group and the field", user("ada", groups()), prod(),
			"ada@contoso.com is not a direct member of security group sg of environment prod (nested groups do not count): add sg to spec.securityGroups (EN1)"},
		{"SR5 RoleNotInBusinessUnit names the role, both units and what to change", user("ada", userUnit("apac"), withRoles("emea-sales")), prod(regions),
			"SecurityRole emea-sales belongs to business unit emea, which is neither PlatformUser ada's unit apac nor above it (SR5): " +
				"assign a role of apac or of a unit above it, or change spec.businessUnit"},
		{"LI1 SeatsExhausted gives the place in line and both ways out", user("ada"), prod(licenses("E3", 1), seatLedger("E3", 1, []string{"bob"}, "cy", "ada")),
			"all 1 seats of E3 in environment prod are held; ada@contoso.com is 2nd of 2 waiting (LI1): remove the license from a user that does not need it, " +
				"or raise the seats of E3 in the Environment's spec.licenses"},
		{"EN6 a stub's listed role is refused, with the ways out", user("ada", stub, withRoles("sales")), prod(),
			"roles can be assigned only to enabled users and ada@contoso.com is disabled, so sales cannot be assigned (EN6): enable it, remove sales from spec.securityRoles, " +
				"or set environment prod's spec.settings.allowRoleAssignmentOnDisabledUsers to true"},
		{"DuplicateUserName names the older object", user("ada2", func(u *v1alpha1.PlatformUser) { u.Spec.UserName = "ada@contoso.com" }), prod(),
			"PlatformUser ada already has userName ada@contoso.com in environment prod: delete this object or change its userName"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := PlatformUserInput{User: c.user, Environment: c.env, Roles: stdRoles(), Now: now}
			if c.user.Name == "ada2" {
				in.Older = user("ada")
			}
			st := PlatformUser(in).Status
			if got := message(t, st.Conditions, v1alpha1.ConditionReady); got != c.want {
				t.Errorf("Ready message:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}
