package decide

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// Each kind's desired value: what the sync is given to apply, decided with the status. The sync
// reads nothing else, so every fact it needs must be here and every rule applied already.

func TestDesiredUser(t *testing.T) {
	cases := []struct {
		name      string
		in        PlatformUserInput
		want      *DesiredUser
		notSynced bool
	}{
		{name: "EN1 an enabled ReadWrite user: its roles, unit, license and group",
			in: PlatformUserInput{User: user("ada", withRoles("sales")), Environment: prod(), Roles: stdRoles(), Now: t0.Add(10e9)},
			want: &DesiredUser{UserName: "ada@contoso.com", AccessMode: v1alpha1.AccessModeReadWrite, BusinessUnit: "root",
				Roles: []string{"sales"}, ServiceRoles: []string{}, Enabled: true, SecurityGroup: "sg", License: "E3"}},
		{name: "AM6 a NonInteractive user holding a slot is written NonInteractive",
			in: PlatformUserInput{User: user("bot", mode(v1alpha1.AccessModeNonInteractive)), Environment: prod(slotLedger([]string{"bot"})), Roles: stdRoles()},
			want: &DesiredUser{UserName: "bot@contoso.com", AccessMode: v1alpha1.AccessModeNonInteractive, BusinessUnit: "root",
				Roles: []string{"sales"}, ServiceRoles: []string{}, Enabled: true, SecurityGroup: "sg"}},
		{name: "AM6 a NonInteractive user waiting for a slot is written ReadWrite, meant to be enabled, and says what it waits for",
			in: PlatformUserInput{User: user("late", mode(v1alpha1.AccessModeNonInteractive)), Environment: prod(slotLedger(names("ni", 7), "late")), Roles: stdRoles()},
			want: &DesiredUser{UserName: "late@contoso.com", AccessMode: v1alpha1.AccessModeReadWrite, BusinessUnit: "root",
				Roles: []string{}, ServiceRoles: []string{}, SecurityGroup: "sg",
				WaitingFor: "a non-interactive slot", WaitingReason: v1alpha1.ReasonNonInteractiveLimitReached}},
		{name: "AM9 a Global administrator: System Administrator is the service's, kept and never written",
			in: PlatformUserInput{User: user("root", admin(v1alpha1.AdminGlobal)), Environment: prod(), Roles: stdRoles()},
			want: &DesiredUser{UserName: "root@contoso.com", AccessMode: v1alpha1.AccessModeReadWrite, BusinessUnit: "root",
				Roles: []string{"sales"}, ServiceRoles: []string{"System Administrator"}, Enabled: true, SecurityGroup: "sg", License: "E3"}},
		{name: "EN6 a user disabled (out of the security group) while holding roles keeps them; nothing to wait for",
			in: PlatformUserInput{User: user("gone", intent(false), groups(), wasEnabledWith("sales")), Environment: prod(), Roles: stdRoles()},
			want: &DesiredUser{UserName: "gone@contoso.com", AccessMode: v1alpha1.AccessModeReadWrite, BusinessUnit: "root",
				Roles: []string{"sales"}, ServiceRoles: []string{}, SecurityGroup: "sg", License: "E3"}},
		{name: "AM8 a stub is marked: the operator writes nothing for it",
			in: PlatformUserInput{User: user("imported", stub), Environment: prod(), Roles: stdRoles()},
			want: &DesiredUser{UserName: "imported@contoso.com", Stub: true, AccessMode: v1alpha1.AccessModeReadWrite, BusinessUnit: "root",
				Roles: []string{}, ServiceRoles: []string{}, SecurityGroup: "sg"}},
		{name: "a duplicate userName is not synced: the older object owns the record",
			in:        PlatformUserInput{User: user("copy"), Environment: prod(), Older: user("ada"), Roles: stdRoles()},
			notSynced: true},
		{name: "no environment: nothing to sync", in: PlatformUserInput{User: user("ada")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := untouched(t, c.in, PlatformUser)
			if diff := cmp.Diff(c.want, out.Desired); diff != "" {
				t.Errorf("desired (-want +got):\n%s", diff)
			}
			if (out.NotSynced != "") != c.notSynced {
				t.Errorf("NotSynced = %q", out.NotSynced)
			}
		})
	}
}

func TestDesiredApplicationUser(t *testing.T) {
	got := ApplicationUser(ApplicationUserInput{App: app("erp", func(a *v1alpha1.ApplicationUser) { a.Spec.Enabled = false; a.Status.AssignedRoles = []string{"sales"} }),
		Environment: prod(), Roles: stdRoles()})
	want := &DesiredApplicationUser{ApplicationID: "11111111-2222-3333-4444-555555555555", BusinessUnit: "root", Disabled: true, Roles: []string{"sales"}}
	if diff := cmp.Diff(want, got.Desired); diff != "" {
		t.Errorf("AM7 a disabled application user is written disabled, keeping its roles (EN6) (-want +got):\n%s", diff)
	}
	dup := ApplicationUser(ApplicationUserInput{App: app("copy"), Environment: prod(), Older: app("erp"), Roles: stdRoles()})
	if dup.Desired != nil || dup.NotSynced == "" {
		t.Errorf("a duplicate applicationId is not synced: %+v, %q", dup.Desired, dup.NotSynced)
	}
}

func TestDesiredRole(t *testing.T) {
	r := role("seller", shown("Seller"), ofUnit("emea"), func(r *v1alpha1.SecurityRole) {
		r.Spec.MemberPrivilegeInheritance = v1alpha1.InheritTeamPrivilegesOnly
		r.Spec.MiscellaneousPrivileges = []v1alpha1.NamedPrivilege{{Name: "GoOffline", Level: v1alpha1.AccessLevel("Global")}}
		r.Spec.PrivacyPrivileges = []v1alpha1.NamedPrivilege{{Name: "ExportToExcel", Level: v1alpha1.AccessOrganization}}
	})
	out := SecurityRole(SecurityRoleInput{Role: r, Environment: prod(regions)})
	want := &DesiredRole{RoleName: "Seller", BusinessUnit: "emea", Inheritance: v1alpha1.InheritTeamPrivilegesOnly,
		// SR4: presets expanded as the status shows them; SR2: legacy level names canonical.
		Tables: out.Status.Tables,
		Named:  []DesiredPrivilege{{Name: "prvExportToExcel", Level: v1alpha1.AccessOrganization}, {Name: "prvGoOffline", Level: v1alpha1.AccessOrganization}}}
	if diff := cmp.Diff(want, out.Desired); diff != "" {
		t.Errorf("desired (-want +got):\n%s", diff)
	}
	if len(out.Desired.Tables) != 2 || out.Desired.Tables[0].Privileges.Read == "" {
		t.Errorf("SR4 the tables are expanded: %+v", out.Desired.Tables)
	}
	sa := SecurityRole(SecurityRoleInput{Role: builtIn(prod(), v1alpha1.BuiltInSystemAdministrator), Environment: prod()})
	if sa.Desired == nil || !sa.Desired.BuiltIn || sa.Desired.Inheritance != v1alpha1.InheritDirectUserBasicAndTeam {
		t.Errorf("SR7 a built-in role is adopted as it is: %+v", sa.Desired)
	}
	dup := SecurityRole(SecurityRoleInput{Role: role("copy", shown("Seller")), Environment: prod(), Older: role("seller", shown("Seller"))})
	if dup.Desired != nil || dup.NotSynced == "" {
		t.Errorf("SR9 a duplicate name is not synced: %+v, %q", dup.Desired, dup.NotSynced)
	}
}

func TestDesiredTeam(t *testing.T) {
	synced := func(id string) userOpt {
		return func(u *v1alpha1.PlatformUser) { u.Status.Dataverse = &v1alpha1.DataverseRecord{ID: id} }
	}
	cases := []struct {
		name string
		in   TeamInput
		want *DesiredTeam
	}{
		{name: "an owner team: members with their records (one not synced yet), roles by display name",
			in: TeamInput{Team: team("closers", members("bob", "ada", "bob"), teamHolds("sales", "missing")), Environment: prod(), Roles: stdRoles(),
				Users: usersOf(user("ada", synced("u-ada")), user("bob"))},
			want: &DesiredTeam{TeamName: "closers", Type: v1alpha1.TeamOwner, BusinessUnit: "root", HoldsRoles: true, Roles: []string{"sales"},
				Members: []DesiredMember{{Name: "ada", RecordID: "u-ada"}, {Name: "bob"}}}},
		{name: "TM4 an access team holds no roles",
			in: TeamInput{Team: team("reviewers", func(t *v1alpha1.Team) { t.Spec.Type = v1alpha1.TeamAccess; t.Spec.SecurityRoles = nil }),
				Environment: prod(), Roles: stdRoles()},
			want: &DesiredTeam{TeamName: "reviewers", Type: v1alpha1.TeamAccess, BusinessUnit: "root", Members: []DesiredMember{}}},
		{name: "TM1 a group team's members are Entra ID's: none desired",
			in:   TeamInput{Team: team("g", groupTeam("grp")), Environment: prod(), Roles: stdRoles(), Users: usersOf(user("ada", groups("grp"), synced("u-ada")))},
			want: &DesiredTeam{TeamName: "g", Type: v1alpha1.TeamAADSecurityGroup, Group: "grp", BusinessUnit: "root", HoldsRoles: true, Roles: []string{"sales"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := untouched(t, c.in, Team).Desired
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("desired (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDesiredEnvironment(t *testing.T) {
	users := usersOf(user("ada"), user("bot", func(u *v1alpha1.PlatformUser) { u.Spec.EntraObjectID = "OID-Bot" }))
	out := Environment(EnvironmentInput{Environment: prod(regions), Users: users, Now: t0})
	want := &DesiredEnvironment{
		// EV2: parents before children, siblings by name.
		BusinessUnits: []DesiredUnit{{Name: "root"}, {Name: "apac", Parent: "root"}, {Name: "emea", Parent: "root"}, {Name: "france", Parent: "emea"}},
		ManagedPeople: []string{"ada@contoso.com", "bot@contoso.com", "oid-bot"},
	}
	if diff := cmp.Diff(want, out.Desired); diff != "" {
		t.Errorf("desired (-want +got):\n%s", diff)
	}
	cycle := Environment(EnvironmentInput{Environment: prod(units("root", "a<b", "b<a")), Now: t0})
	if cycle.Desired != nil {
		t.Errorf("EV2 an invalid tree is not synced: %+v", cycle.Desired)
	}
}
