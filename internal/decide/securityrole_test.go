package decide

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

func privs(c, r, w, d, a, at, as, s v1alpha1.AccessLevel) v1alpha1.TablePrivileges {
	return v1alpha1.TablePrivileges{Create: c, Read: r, Write: w, Delete: d, Append: a, AppendTo: at, Assign: as, Share: s}
}

func uniformPrivs(l v1alpha1.AccessLevel) v1alpha1.TablePrivileges {
	return privs(l, l, l, l, l, l, l, l)
}

// TestSecurityRole covers every reason the SecurityRole decision can produce: Ready,
// EnvironmentNotFound, BusinessUnitNotFound, DuplicateRoleName (SR9), and the aspect
// WebResourceReadable / MissingPrvReadWebResource (SR8).
func TestSecurityRole(t *testing.T) {
	const (
		none = v1alpha1.AccessNone
		usr  = v1alpha1.AccessUser
		bu   = v1alpha1.AccessBusinessUnit
		pcbu = v1alpha1.AccessParentChildBusinessUnits
		org  = v1alpha1.AccessOrganization
	)
	salesTables := []v1alpha1.EffectiveTable{
		{Table: "account", Privileges: uniformPrivs(usr)},
		{Table: "webresource", Privileges: privs(none, org, none, none, none, none, none, none)},
	}
	readable := "WebResourceReadable=True:WebResourceReadable"
	cases := []struct {
		name  string
		role  *v1alpha1.SecurityRole
		env   *v1alpha1.Environment
		older *v1alpha1.SecurityRole
		want  v1alpha1.SecurityRoleStatus
		says  []string
	}{
		{name: "SR4 SR8 Ready: a role of the root unit shows its privileges after preset expansion and reads webresource",
			role: role("sales"), env: prod(),
			want: v1alpha1.SecurityRoleStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready", readable),
				RoleName: "sales", BusinessUnit: "root", Tables: salesTables},
			says: []string{`role "sales" of business unit root, 2 table(s)`}},
		{name: "SR8 MissingPrvReadWebResource: a role without Read on webresource says so and stays usable (Ready)",
			role: role("plain", shown("Plain Role"), tables(v1alpha1.TablePermission{Table: "contact", PermissionSetting: v1alpha1.PermissionReference})), env: prod(),
			want: v1alpha1.SecurityRoleStatus{ObservedGeneration: 1,
				Conditions: conds(1, "Ready=True:Ready", "WebResourceReadable=False:MissingPrvReadWebResource"),
				RoleName:   "Plain Role", BusinessUnit: "root",
				Tables: []v1alpha1.EffectiveTable{{Table: "contact", Privileges: privs(none, org, none, none, none, none, none, none)}}}},
		{name: "SR2 SR8 legacy level names show as canonical ones; a custom Read on webresource is enough",
			role: role("legacy", ofUnit("emea"), tables(
				v1alpha1.TablePermission{Table: "account", Privileges: &v1alpha1.TablePrivileges{Create: v1alpha1.AccessBasic, Read: v1alpha1.AccessGlobal,
					Write: v1alpha1.AccessLocal, Delete: v1alpha1.AccessDeep}},
				v1alpha1.TablePermission{Table: "webresource", Ownership: v1alpha1.OwnershipOrganization, Privileges: &v1alpha1.TablePrivileges{Read: v1alpha1.AccessGlobal}},
			)), env: prod(regions),
			want: v1alpha1.SecurityRoleStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready", readable),
				RoleName: "legacy", BusinessUnit: "emea", Tables: []v1alpha1.EffectiveTable{
					{Table: "account", Privileges: privs(usr, org, bu, pcbu, none, none, none, none)},
					{Table: "webresource", Privileges: privs(none, org, none, none, none, none, none, none)},
				}}},
		{name: "EV3 EnvironmentNotFound",
			role: role("sales", ofEnv("nowhere")),
			want: v1alpha1.SecurityRoleStatus{ObservedGeneration: 1, Conditions: conds(1, join(stalled("EnvironmentNotFound"), readable)...),
				RoleName: "sales", Tables: salesTables},
			says: []string{"Environment nowhere does not exist in namespace team-a: create it, or correct spec.environmentName (EV3)"}},
		{name: "EV3 BusinessUnitNotFound",
			role: role("sales", ofUnit("emea")), env: prod(),
			want: v1alpha1.SecurityRoleStatus{ObservedGeneration: 1, Conditions: conds(1, join(stalled("BusinessUnitNotFound"), readable)...),
				RoleName: "sales", BusinessUnit: "emea", Tables: salesTables},
			says: []string{"business unit emea of SecurityRole sales is not in environment prod's spec.businessUnits: add it there, or change spec.businessUnit (EV3)"}},
		{name: "SR9 DuplicateRoleName: the younger of two roles named alike in one unit is refused",
			role: role("sales-2", shown("Sales"), roleCreated(5)), env: prod(), older: role("sales-1", shown("sales")),
			want: v1alpha1.SecurityRoleStatus{ObservedGeneration: 1, Conditions: conds(1, join(stalled("DuplicateRoleName"), readable)...),
				RoleName: "Sales", BusinessUnit: "root", Tables: salesTables},
			says: []string{`SecurityRole sales-1 already has the name "Sales" in business unit root of environment prod (SR9): change spec.roleName or spec.businessUnit`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := untouched(t, SecurityRoleInput{Role: c.role, Environment: c.env, Older: c.older}, SecurityRole).Status
			if diff := cmp.Diff(c.want, got, statusOpts); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			wantContains(t, message(t, got.Conditions, "Ready"), c.says)
			checkStalled(t, got.Conditions)
			fixpoint(t, got, func(st v1alpha1.SecurityRoleStatus) v1alpha1.SecurityRoleStatus {
				r := c.role.DeepCopy()
				r.Status = st
				return SecurityRole(SecurityRoleInput{Role: r, Environment: c.env, Older: c.older}).Status
			})
		})
	}

	t.Run("SR8 the missing-webresource message names the role and what to add", func(t *testing.T) {
		got := SecurityRole(SecurityRoleInput{Role: role("plain", tables()), Environment: prod()}).Status
		want := `role plain has no Read on the webresource table: its holders see "Missing prvReadWebResource privilege" on forms with web resources unless another role grants it (SR8): add table webresource with read at Organization`
		if m := message(t, got.Conditions, v1alpha1.ConditionWebResourceReadable); m != want {
			t.Errorf("message:\n got %q\nwant %q", m, want)
		}
	})
}

// TestSameRoleName: which older role contests a role's name (SR9).
func TestSameRoleName(t *testing.T) {
	e := prod(regions)
	r := role("sales-2", shown("Sales"), roleCreated(5))
	cases := []struct {
		name  string
		other *v1alpha1.SecurityRole
		want  bool
	}{
		{"SR9 an older role with the same name in the same unit, case aside", role("sales-1", shown("SALES")), true},
		{"SR9 the root unit by default is the root unit named", role("sales-1", shown("Sales"), ofUnit("root")), true},
		{"SR9 a role's default name is its object name", role("sales"), true},
		{"SR9 the same name in another unit is allowed", role("sales-1", shown("Sales"), ofUnit("emea")), false},
		{"SR9 the same name in another environment is allowed", role("sales-1", shown("Sales"), ofEnv("dev")), false},
		{"SR9 a younger role does not contest an older one's name", role("sales-3", shown("Sales"), roleCreated(9)), false},
		{"SR9 the same creation second: the name breaks the tie", role("sales-3", shown("Sales"), roleCreated(5)), false},
		{"SR9 a role does not contest its own name", role("sales-2", shown("Sales")), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SameRoleName(r, c.other, e); got != c.want {
				t.Errorf("SameRoleName = %v, want %v", got, c.want)
			}
		})
	}
}
