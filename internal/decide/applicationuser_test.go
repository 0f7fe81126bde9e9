package decide

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

func appRoles(rs ...string) appOpt {
	return func(a *v1alpha1.ApplicationUser) { a.Spec.SecurityRoles = rs }
}
func appUnit(bu string) appOpt { return func(a *v1alpha1.ApplicationUser) { a.Spec.BusinessUnit = bu } }
func appEnv(e string) appOpt   { return func(a *v1alpha1.ApplicationUser) { a.Spec.EnvironmentName = e } }
func appDisabled(a *v1alpha1.ApplicationUser) {
	a.Spec.Enabled = false
}

// appWasEnabledWith is the previous status of an application user that was enabled and Ready
// with these roles.
func appWasEnabledWith(roles ...string) appOpt {
	return func(a *v1alpha1.ApplicationUser) {
		a.Status.ObservedGeneration = a.Generation
		a.Status.Enabled = true
		a.Status.BusinessUnit = "root"
		a.Status.AssignedRoles = roles
		for _, r := range roles {
			a.Status.EffectiveRoles = append(a.Status.EffectiveRoles, direct(r))
		}
		a.Status.Access = programmatic
		a.Status.Conditions = []metav1.Condition{
			{Type: "Ready", Status: "True", Reason: "Ready", ObservedGeneration: a.Generation},
			{Type: "Enabled", Status: "True", Reason: "Enabled", ObservedGeneration: a.Generation},
			{Type: "RolesAssigned", Status: "True", Reason: "RolesAssigned", ObservedGeneration: a.Generation},
		}
	}
}

func as(p v1alpha1.PrincipalStatus, bu string) v1alpha1.ApplicationUserStatus {
	return v1alpha1.ApplicationUserStatus{PrincipalStatus: p, BusinessUnit: bu}
}

// TestApplicationUser covers every reason the ApplicationUser decision can produce: Ready
// (enabled and disabled), EnvironmentNotFound, DuplicateApplicationId, NoSecurityRole,
// RoleAssignmentToDisabledUser, SecurityRoleNotFound, RoleInOtherEnvironment,
// RoleNotInBusinessUnit and BusinessUnitNotFound.
func TestApplicationUser(t *testing.T) {
	enabled := func(rest ...string) []metav1.Condition {
		return conds(1, join("Enabled=True:Enabled", rest)...)
	}
	cases := []struct {
		name   string
		app    *v1alpha1.ApplicationUser
		env    *v1alpha1.Environment
		older  *v1alpha1.ApplicationUser
		want   v1alpha1.ApplicationUserStatus
		says   []string
		events []string
	}{
		{name: "AM7 AM4 Ready: an application user is enabled on creation, needs no license and is programmatic",
			app: app("etl"), env: prod(licenses("E3", 0)),
			want: as(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabled("Ready=True:Ready", "RolesAssigned=True:RolesAssigned"),
				Enabled: true, EffectiveRoles: sales, Access: programmatic, AssignedRoles: []string{"sales"}}, "root"),
			says: []string{"application user etl is enabled with 1 role(s); it is not counted toward the seven non-interactive users (AM7)"}},
		{name: "AM7 Ready disabled: spec.enabled false is in place, with a Warning that integrations stop",
			app: app("etl", appDisabled, appRoles()), env: prod(),
			want: as(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready", "Enabled=False:Disabled", "RolesAssigned=True:RolesAssigned"),
				Access: none}, "root"),
			says:   []string{"application user etl is disabled, as spec.enabled asks"},
			events: []string{"Warning/ApplicationUserDisabled"}},
		{name: "EN6 AM7 an application user disabled while holding roles keeps them and stays Ready",
			app: app("etl", appWasEnabledWith("sales"), appDisabled), env: prod(),
			want: as(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready", "Enabled=False:Disabled", "RolesAssigned=True:RolesAssigned"),
				EffectiveRoles: sales, Access: none, AssignedRoles: []string{"sales"}}, "root"),
			says:   []string{"it keeps its 1 assigned role(s) (EN6)"},
			events: []string{"Warning/ApplicationUserDisabled"}},
		{name: "EN6 RoleAssignmentToDisabledUser: a role added while disabled is refused, the others stay assigned",
			app: app("etl", appWasEnabledWith("sales"), appDisabled, appRoles("sales", "marketing"), func(a *v1alpha1.ApplicationUser) { a.Status.Enabled = false }),
			env: prod(),
			want: as(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, join(stalled("RoleAssignmentToDisabledUser"),
				"Enabled=False:Disabled", "RolesAssigned=False:RoleAssignmentToDisabledUser")...),
				EffectiveRoles: sales, Access: none, AssignedRoles: []string{"sales"}}, "root"),
			says: []string{"application user etl is disabled, so marketing cannot be assigned (EN6)", "remove marketing from spec.securityRoles",
				"set environment prod's spec.settings.allowRoleAssignmentOnDisabledUsers to true"}},
		{name: "EN6 with allowRoleAssignmentOnDisabledUsers a disabled application user's roles are assigned",
			app: app("etl", appDisabled, appRoles("sales", "marketing")), env: prod(allowDisabled),
			want: as(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready", "Enabled=False:Disabled", "RolesAssigned=True:RolesAssigned"),
				EffectiveRoles: []v1alpha1.EffectiveRole{direct("sales"), direct("marketing")}, Access: none, AssignedRoles: []string{"sales", "marketing"}}, "root"),
			events: []string{"Warning/ApplicationUserDisabled"}},
		{name: "EN5 NoSecurityRole: an enabled application user with no role cannot act",
			app: app("etl", appRoles()), env: prod(),
			want: as(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabled(join(stalled("NoSecurityRole"), "RolesAssigned=False:NoSecurityRole")...),
				Enabled: true, Access: none}, "root"),
			says: []string{"application user etl is enabled but holds no security role, so it cannot act (EN5): add a role to spec.securityRoles"}},
		{name: "EV3 EnvironmentNotFound",
			app:  app("etl", appEnv("nowhere")),
			want: as(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("EnvironmentNotFound")...), Access: none}, ""),
			says: []string{"Environment nowhere does not exist in namespace team-a"}},
		{name: "DuplicateApplicationId: the younger is refused and no Enabled or RolesAssigned condition remains from before",
			app: app("etl-2", appWasEnabledWith("sales")), env: prod(), older: app("etl"),
			want: as(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("DuplicateApplicationId")...),
				Access: none, AssignedRoles: []string{"sales"}}, "root"),
			says: []string{"ApplicationUser etl already has applicationId 11111111-2222-3333-4444-555555555555 in environment prod: delete this object or change its applicationId"}},
		{name: "EV3 EnvironmentNotFound after Ready: no Enabled or RolesAssigned condition remains",
			app: app("etl", appWasEnabledWith("sales"), appEnv("nowhere")),
			want: as(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("EnvironmentNotFound")...),
				Access: none, AssignedRoles: []string{"sales"}}, "root")},
		{name: "EV3 SecurityRoleNotFound: the roles that resolve stay effective",
			app: app("etl", appRoles("ghost", "sales")), env: prod(),
			want: as(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabled(join(stalled("SecurityRoleNotFound"), "RolesAssigned=False:SecurityRoleNotFound")...),
				Enabled: true, EffectiveRoles: sales, Access: programmatic, AssignedRoles: []string{"sales"}}, "root"),
			says: []string{"SecurityRole ghost, assigned to ApplicationUser etl, does not exist in namespace team-a"}},
		{name: "EV3 RoleInOtherEnvironment",
			app: app("etl", appRoles("dev-sales")), env: prod(),
			want: as(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabled(join(stalled("RoleInOtherEnvironment"), "RolesAssigned=False:RoleInOtherEnvironment")...),
				Enabled: true, Access: none}, "root")},
		{name: "SR5 RoleNotInBusinessUnit",
			app: app("etl", appUnit("apac"), appRoles("emea-sales")), env: prod(regions),
			want: as(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabled(join(stalled("RoleNotInBusinessUnit"), "RolesAssigned=False:RoleNotInBusinessUnit")...),
				Enabled: true, Access: none}, "apac"),
			says: []string{"which is neither ApplicationUser etl's unit apac nor above it (SR5)"}},
		{name: "EV3 BusinessUnitNotFound",
			app: app("etl", appUnit("emea"), appRoles()), env: prod(),
			want: as(v1alpha1.PrincipalStatus{ObservedGeneration: 1, Conditions: enabled(join(stalled("BusinessUnitNotFound"), "RolesAssigned=False:NoSecurityRole")...),
				Enabled: true, Access: none}, "emea"),
			says: []string{"business unit emea of ApplicationUser etl is not in environment prod's spec.businessUnits"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := untouched(t, ApplicationUserInput{App: c.app, Environment: c.env, Roles: stdRoles(), Older: c.older}, ApplicationUser)
			if diff := cmp.Diff(c.want, out.Status, statusOpts); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			wantContains(t, message(t, out.Status.Conditions, "Ready"), c.says)
			if diff := cmp.Diff(c.events, eventReasons(out.Events)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			checkStalled(t, out.Status.Conditions)
			fixpoint(t, out.Status, func(st v1alpha1.ApplicationUserStatus) v1alpha1.ApplicationUserStatus {
				a := c.app.DeepCopy()
				a.Status = st
				return ApplicationUser(ApplicationUserInput{App: a, Environment: c.env, Roles: stdRoles(), Older: c.older}).Status
			})
		})
	}

	t.Run("AM7 a disabled application user that stays disabled records no new warning", func(t *testing.T) {
		a := app("etl", appDisabled)
		a.Status = ApplicationUser(ApplicationUserInput{App: a, Environment: prod(), Roles: stdRoles()}).Status
		if ev := ApplicationUser(ApplicationUserInput{App: a, Environment: prod(), Roles: stdRoles()}).Events; len(ev) != 0 {
			t.Errorf("events %v, want none", ev)
		}
	})
	t.Run("AM7 the warning says integrations stop working", func(t *testing.T) {
		ev := ApplicationUser(ApplicationUserInput{App: app("etl", appWasEnabledWith("sales"), appDisabled), Environment: prod(), Roles: stdRoles()}).Events
		want := []Event{{Type: "Warning", Reason: "ApplicationUserDisabled", Action: "Disable",
			Message: "application user etl (application 11111111-2222-3333-4444-555555555555) is disabled: every integration that uses it stops working (AM7)"}}
		if diff := cmp.Diff(want, ev); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}
