package dvsync

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// The observe step's comparisons: for each kind, what Dataverse holds (drifted in each way the
// operator corrects) against the desired value, and the exact changes that correct it.

func ptr[T any](v T) *T { return &v }

func TestCompareUser(t *testing.T) {
	const bu = "bu-sales"
	base := func() *decide.DesiredUser {
		return &decide.DesiredUser{UserName: "ada@contoso.com", EntraObjectID: "oid-ada", AccessMode: v1alpha1.AccessModeReadWrite,
			BusinessUnit: "sales", Roles: []string{"Seller"}, Enabled: true, License: "PLAN1"}
	}
	person := func(mut func(*dataverse.SystemUser)) *dataverse.SystemUser {
		u := &dataverse.SystemUser{ID: "u1", ETag: `W/"1"`, DomainName: "ada@contoso.com", AccessMode: dataverse.AccessModeReadWrite, BusinessUnitID: bu}
		if mut != nil {
			mut(u)
		}
		return u
	}
	held := func(names ...string) []dataverse.Role {
		var out []dataverse.Role
		for _, n := range names {
			out = append(out, dataverse.Role{ID: "r-" + n, Name: n})
		}
		return out
	}
	cases := []struct {
		name    string
		desired func(*decide.DesiredUser)
		obs     observedUser
		changes []Change
		then    string // the outcome's reason once the changes are made ("" Synced)
	}{
		{name: "in place: nothing to write",
			obs: observedUser{User: person(nil), BusinessUnitID: bu, Roles: held("Seller"), RoleIDs: map[string]string{}}},
		{name: "AM6 access mode changed behind the operator's back: written back",
			desired: func(d *decide.DesiredUser) { d.AccessMode = v1alpha1.AccessModeNonInteractive },
			obs:     observedUser{User: person(nil), BusinessUnitID: bu, Roles: held("Seller"), RoleIDs: map[string]string{}},
			changes: []Change{{Op: OpUpdateUser, Why: "accessmode ReadWrite, decided NonInteractive", Record: "u1", ETag: `W/"1"`,
				Patch: &dataverse.UserPatch{AccessMode: ptr(dataverse.AccessModeNonInteractive)}}}},
		{name: "business unit moved: written back",
			obs: observedUser{User: person(func(u *dataverse.SystemUser) { u.BusinessUnitID = "bu-root" }), BusinessUnitID: bu, Roles: held("Seller"), RoleIDs: map[string]string{}},
			changes: []Change{{Op: OpUpdateUser, Why: "business unit differs, decided sales", Record: "u1", ETag: `W/"1"`,
				Patch: &dataverse.UserPatch{BusinessUnitID: bu}}}},
		{name: "a role removed behind the back is assigned again; one added is removed",
			obs: observedUser{User: person(nil), BusinessUnitID: bu, Roles: held("Intruder"), RoleIDs: map[string]string{"Seller": "r-Seller"}},
			changes: []Change{
				{Op: OpAssignUserRole, Why: "role Seller not assigned", Record: "u1", ID: "r-Seller"},
				{Op: OpUnassignUserRole, Why: "role Intruder assigned but not decided", Record: "u1", ID: "r-Intruder"},
			}},
		{name: "AM9 the service's System Administrator is left alone",
			desired: func(d *decide.DesiredUser) { d.ServiceRoles = []string{"System Administrator"} },
			obs:     observedUser{User: person(nil), BusinessUnitID: bu, Roles: held("Seller", "System Administrator"), RoleIDs: map[string]string{}}},
		{name: "a desired role not in Dataverse yet: wait for it",
			obs:  observedUser{User: person(nil), BusinessUnitID: bu, RoleIDs: map[string]string{"Seller": ""}},
			then: v1alpha1.ReasonSyncPending},
		{name: "EN1 Dataverse holds a person disabled that is decided enabled: EnablementDrift",
			obs:  observedUser{User: person(func(u *dataverse.SystemUser) { u.IsDisabled = true }), BusinessUnitID: bu, Roles: held("Seller"), RoleIDs: map[string]string{}},
			then: v1alpha1.ReasonEnablementDrift},
		{name: "absent with an object id: asked from Entra ID, then awaited",
			obs:     observedUser{BusinessUnitID: bu, CanAdd: true},
			changes: []Change{{Op: OpAddFromEntra, Why: "not in Dataverse: added from Entra ID", ID: "oid-ada"}},
			then:    v1alpha1.ReasonAwaitingEntraSync},
		{name: "absent and asked a moment ago: only awaited",
			obs:  observedUser{BusinessUnitID: bu, CanAdd: true, AskedRecently: true},
			then: v1alpha1.ReasonAwaitingEntraSync},
		{name: "absent without an object id: awaited, nothing asked",
			desired: func(d *decide.DesiredUser) { d.EntraObjectID = "" },
			obs:     observedUser{BusinessUnitID: bu, CanAdd: true},
			then:    v1alpha1.ReasonAwaitingEntraSync},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := base()
			if c.desired != nil {
				c.desired(d)
			}
			got := compareUser(d, c.obs, time.Second)
			if diff := cmp.Diff(c.changes, got.Changes); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if reason := thenReason(got); reason != c.then {
				t.Errorf("outcome once changed: %q, want %q", reason, c.then)
			}
		})
	}
}

func thenReason(o Observation) string {
	if o.Then == nil {
		return ""
	}
	return o.Then.Reason
}

func TestCompareApplicationUser(t *testing.T) {
	d := &decide.DesiredApplicationUser{ApplicationID: "app-1", BusinessUnit: "root", Roles: []string{"Integrations"}}
	cases := []struct {
		name    string
		obs     observedUser
		changes []Change
	}{
		{name: "missing: created in its unit with the Web API", obs: observedUser{BusinessUnitID: "bu-root"},
			changes: []Change{{Op: OpCreateApplicationUser, Why: "application user missing", ID: "app-1", BusinessUnitID: "bu-root"}}},
		{name: "AM7 disabled behind the back: enabled again, its role assigned",
			obs: observedUser{User: &dataverse.SystemUser{ID: "a1", IsDisabled: true, BusinessUnitID: "bu-root"}, BusinessUnitID: "bu-root", RoleIDs: map[string]string{"Integrations": "r1"}},
			changes: []Change{
				{Op: OpUpdateUser, Why: "isdisabled true, decided false", Record: "a1", Patch: &dataverse.UserPatch{IsDisabled: ptr(false)}},
				{Op: OpAssignUserRole, Why: "role Integrations not assigned", Record: "a1", ID: "r1"},
			}},
		{name: "in place", obs: observedUser{User: &dataverse.SystemUser{ID: "a1", BusinessUnitID: "bu-root"}, BusinessUnitID: "bu-root",
			Roles: []dataverse.Role{{ID: "r1", Name: "Integrations"}}, RoleIDs: map[string]string{}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := compareApplicationUser(d, c.obs, "application user erp")
			if diff := cmp.Diff(c.changes, got.Changes); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompareRole(t *testing.T) {
	want := []dataverse.RolePrivilege{{PrivilegeID: "p-read", Depth: dataverse.DepthGlobal, BusinessUnitID: "bu"}}
	custom := &decide.DesiredRole{RoleName: "Seller", BusinessUnit: "root", Inheritance: v1alpha1.InheritDirectUserBasicAndTeam}
	cases := []struct {
		name    string
		desired *decide.DesiredRole
		obs     observedRole
		changes []Change
		then    string
	}{
		{name: "missing: created with its inheritance", desired: custom, obs: observedRole{BusinessUnitID: "bu"},
			changes: []Change{{Op: OpCreateRole, Why: "role missing", Name: "Seller", BusinessUnitID: "bu", Inheritance: dataverse.InheritanceDirectUserBasicAndTeam}}},
		{name: "SR6 a privilege added behind the back: the set is replaced as a whole", desired: custom,
			obs: observedRole{Role: &dataverse.Role{ID: "r1", IsInherited: dataverse.InheritanceDirectUserBasicAndTeam}, BusinessUnitID: "bu", Desired: want,
				Privileges: append([]dataverse.RolePrivilege{{PrivilegeID: "p-delete", Depth: dataverse.DepthBasic}}, want...)},
			changes: []Change{{Op: OpReplacePrivileges, Why: "privileges differ (0 missing or at another depth, 1 not decided)", Record: "r1", Privileges: want}}},
		{name: "SR7 inheritance changed behind the back: set back", desired: custom,
			obs:     observedRole{Role: &dataverse.Role{ID: "r1", ETag: "e", IsInherited: dataverse.InheritanceTeamPrivilegesOnly}, BusinessUnitID: "bu", Desired: want, Privileges: want},
			changes: []Change{{Op: OpSetInheritance, Why: "member's privilege inheritance is 0, decided 1", Record: "r1", ETag: "e", Inheritance: dataverse.InheritanceDirectUserBasicAndTeam}}},
		{name: "a built-in role is adopted, never modified", desired: &decide.DesiredRole{RoleName: "System Administrator", BuiltIn: true},
			obs: observedRole{Role: &dataverse.Role{ID: "sa", IsInherited: dataverse.InheritanceTeamPrivilegesOnly}, BusinessUnitID: "bu"}},
		{name: "a built-in role Dataverse lacks is a conflict, never created", desired: &decide.DesiredRole{RoleName: "Salesperson", BuiltIn: true},
			obs: observedRole{BusinessUnitID: "bu"}, then: v1alpha1.ReasonSyncConflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := compareRole(c.desired, c.obs)
			if diff := cmp.Diff(c.changes, got.Changes); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if reason := thenReason(got); reason != c.then {
				t.Errorf("outcome once changed: %q, want %q", reason, c.then)
			}
		})
	}
}

func TestCompareTeam(t *testing.T) {
	owner := &decide.DesiredTeam{TeamName: "Closers", Type: v1alpha1.TeamOwner, BusinessUnit: "root", HoldsRoles: true, Roles: []string{"Seller"},
		Members: []decide.DesiredMember{{Name: "ada", RecordID: "u-ada"}, {Name: "bob", RecordID: "u-bob"}}}
	team := &dataverse.Team{ID: "t1"}
	cases := []struct {
		name    string
		desired *decide.DesiredTeam
		obs     observedTeam
		changes []Change
		then    string
	}{
		{name: "missing: created with its type in its unit", desired: owner, obs: observedTeam{Principal: observedUser{BusinessUnitID: "bu"}},
			changes: []Change{{Op: OpCreateTeam, Why: "team missing", Team: &dataverse.NewTeam{Name: "Closers", TeamType: dataverse.TeamTypeOwner, BusinessUnitID: "bu"}}}},
		{name: "a member added behind the back is removed; a missing one added",
			desired: owner, obs: observedTeam{Team: team, Members: []string{"u-ada", "u-eve"},
				Principal: observedUser{BusinessUnitID: "bu", Roles: []dataverse.Role{{ID: "r1", Name: "Seller"}}, RoleIDs: map[string]string{}}},
			changes: []Change{
				{Op: OpAddTeamMembers, Why: "1 member(s) missing", Record: "t1", Members: []string{"u-bob"}},
				{Op: OpRemoveTeamMembers, Why: "1 member(s) not decided", Record: "t1", Members: []string{"u-eve"}},
			}},
		{name: "a member not synced yet: wait for it, roles still exact",
			desired: &decide.DesiredTeam{TeamName: "Closers", Type: v1alpha1.TeamOwner, HoldsRoles: true, Roles: []string{"Seller"},
				Members: []decide.DesiredMember{{Name: "ada"}}},
			obs:     observedTeam{Team: team, Principal: observedUser{BusinessUnitID: "bu", RoleIDs: map[string]string{"Seller": "r1"}}},
			changes: []Change{{Op: OpAssignTeamRole, Why: "role Seller not assigned", Record: "t1", ID: "r1"}},
			then:    v1alpha1.ReasonSyncPending},
		{name: "TM4 an access team's roles are left alone; its members are exact",
			desired: &decide.DesiredTeam{TeamName: "Reviewers", Type: v1alpha1.TeamAccess, Members: []decide.DesiredMember{}},
			obs:     observedTeam{Team: team, Members: []string{"u-eve"}, Principal: observedUser{Roles: []dataverse.Role{{ID: "r9", Name: "Other"}}}},
			changes: []Change{{Op: OpRemoveTeamMembers, Why: "1 member(s) not decided", Record: "t1", Members: []string{"u-eve"}}}},
		{name: "TM1 a group team's members come from Entra ID: left alone",
			desired: &decide.DesiredTeam{TeamName: "G", Type: v1alpha1.TeamAADSecurityGroup, Group: "g", HoldsRoles: true, Roles: []string{}},
			obs:     observedTeam{Team: team, Members: []string{"u-eve"}, Principal: observedUser{RoleIDs: map[string]string{}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := compareTeam(c.desired, c.obs, "team x")
			if diff := cmp.Diff(c.changes, got.Changes); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if reason := thenReason(got); reason != c.then {
				t.Errorf("outcome once changed: %q, want %q", reason, c.then)
			}
		})
	}
}

func TestCompareEnvironment(t *testing.T) {
	d := &decide.DesiredEnvironment{
		BusinessUnits: []decide.DesiredUnit{{Name: "root"}, {Name: "sales", Parent: "root"}, {Name: "emea", Parent: "sales"}},
		ManagedPeople: []string{"ada@contoso.com", "oid-bob"},
	}
	units := []dataverse.BusinessUnit{{ID: "bu-org", Name: "Contoso Ltd"}, {ID: "bu-sales", Name: "Sales", ParentID: "bu-org"}}
	ni := []dataverse.SystemUser{
		{DomainName: "ada@contoso.com", AccessMode: dataverse.AccessModeNonInteractive},
		{DomainName: "robot@contoso.com", AzureActiveDirectoryObjectID: "OID-BOB", AccessMode: dataverse.AccessModeNonInteractive},
		{DomainName: "etl@contoso.com", AccessMode: dataverse.AccessModeNonInteractive},
		{DomainName: "app@contoso.com", ApplicationID: "11111111-0000-0000-0000-000000000000", AccessMode: dataverse.AccessModeNonInteractive},
	}
	got := compareEnvironment(d, observedEnvironment{OrganizationID: "org", Units: units, NonInteractive: ni})
	wantChanges := []Change{{Op: OpCreateBusinessUnit, Why: "business unit emea missing", Name: "emea", ParentName: "sales", BusinessUnitID: "bu-sales"}}
	if diff := cmp.Diff(wantChanges, got.Changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	wantStatus := &v1alpha1.EnvironmentDataverseStatus{OrganizationID: "org",
		// The root is adopted whatever its name; a found unit is matched by name without case.
		BusinessUnits: []v1alpha1.BusinessUnitRecord{{Name: "root", ID: "bu-org"}, {Name: "sales", ID: "bu-sales"}},
		// AM6/AM7: people no PlatformUser names (by user name or object id) take slots first;
		// application users never do.
		UnmanagedNonInteractive: []string{"etl@contoso.com"}}
	if diff := cmp.Diff(wantStatus, got.Environment); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
}
