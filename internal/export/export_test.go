package export

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	v1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/plan"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

const (
	securityGroup = "5b0c4f7e-1d2a-4c3b-9e8f-0a1b2c3d4e5f"
	salesGroup    = "7c1d5e8f-2e3b-4d4c-8f9a-1b2c3d4e5f60"
	operatorApp   = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
)

// fixture is a realistic environment: a unit tree with one unit the API cannot name, built-in and
// custom roles (table privileges at every level, presets, named and unknown privileges, a copy in
// a child unit, two roles with one name), people of every access mode in several units, the
// service's own principals, application users and teams of every type.
//
// Its URL is only written into the files' headers: Build and Render are pure and send nothing.
func fixture() Source {
	dyn := "DYN365_ENTERPRISE_PLAN1"
	return Source{
		URL: "https://contoso.crm4.dynamics.com", EnvironmentID: "3f6c2d1e-8b4a-4c7d-9e2f-5a1b6c7d8e90",
		ReadAt: time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC), SignedInAs: operatorApp,
		SecurityGroup: securityGroup, Entra: true,
		Units: []Unit{
			{ID: "u0", Name: "Contoso Ltd"},
			{ID: "u1", Name: "Sales", ParentID: "u0"},
			{ID: "u2", Name: "sales-emea", ParentID: "u1"},
			{ID: "u3", Name: "Marketing & PR", ParentID: "u0"},
			{ID: "u4", Name: "service", ParentID: "u0"},
		},
		Roles: []Role{
			{ID: "r-sa", Name: "System Administrator", UnitID: "u0", BuiltIn: v1alpha1.BuiltInSystemAdministrator, Inherited: true},
			{ID: "r-bu", Name: "Basic User", UnitID: "u0", BuiltIn: v1alpha1.BuiltInBasicUser, Inherited: true},
			{ID: "r-sp", Name: "Salesperson", UnitID: "u0", BuiltIn: v1alpha1.BuiltInSalesperson, Inherited: false},
			{ID: "r-sc", Name: "System Customizer", UnitID: "u0", BuiltIn: v1alpha1.BuiltInSystemCustomizer, Inherited: true},
			{ID: "r-em", Name: "Environment Maker", UnitID: "u0", BuiltIn: v1alpha1.BuiltInEnvironmentMaker, Inherited: true},
			{ID: "r1", Name: "Sales Rep", UnitID: "u0", Inherited: true,
				Tables: []TablePrivileges{
					{Table: "contact", Privileges: v1alpha1.TablePrivileges{Create: v1alpha1.AccessUser, Read: v1alpha1.AccessBusinessUnit, Write: v1alpha1.AccessUser}},
					{Table: "account", Privileges: v1alpha1.TablePrivileges{Create: v1alpha1.AccessUser, Read: v1alpha1.AccessOrganization, Write: v1alpha1.AccessUser,
						Delete: v1alpha1.AccessUser, Append: v1alpha1.AccessOrganization, AppendTo: v1alpha1.AccessOrganization, Assign: v1alpha1.AccessUser, Share: v1alpha1.AccessUser}},
					{Table: "webresource", Ownership: v1alpha1.OwnershipOrganization, Privileges: v1alpha1.TablePrivileges{Read: v1alpha1.AccessOrganization}},
					{Table: "task", Privileges: v1alpha1.TablePrivileges{}},
				},
				Named: []string{"Print", "ExportToExcel", "ExportCustomizations"}, Unknown: []string{"prvReadnew_widget"}},
			{ID: "r1-sales", Name: "Sales Rep", UnitID: "u1", ParentRootRoleID: "r1", Inherited: true},
			{ID: "r2", Name: "Sales Manager", UnitID: "u1", Inherited: false,
				Tables: []TablePrivileges{
					{Table: "account", Privileges: uniform(v1alpha1.AccessOrganization)},
					{Table: "opportunity", Privileges: uniform(v1alpha1.AccessUser)},
					{Table: "lead", Privileges: v1alpha1.TablePrivileges{Read: v1alpha1.AccessParentChildBusinessUnits, Write: v1alpha1.AccessBusinessUnit, Share: v1alpha1.AccessOrganization}},
				},
				Named: []string{"GoOffline", "SyncToOutlook"}},
			{ID: "r2-emea", Name: "Sales Manager", UnitID: "u2", ParentRootRoleID: "r2"},
			{ID: "r3", Name: "Sales  Rep!", UnitID: "u4", Inherited: true,
				Tables: []TablePrivileges{{Table: "incident", Privileges: v1alpha1.TablePrivileges{Read: v1alpha1.AccessOrganization}}}},
			{ID: "r4", Name: "Marketing Role", UnitID: "u3", Inherited: true},
			{ID: "r5", Name: "Padded Role ", UnitID: "u0", Inherited: true},
			{ID: "r-del", Name: "Delegate", UnitID: "u0", Managed: true, Inherited: true,
				Tables: []TablePrivileges{{Table: "sharepointdata", Privileges: v1alpha1.TablePrivileges{Read: v1alpha1.AccessOrganization}}}},
			{ID: "r-csa", Name: "Customer Service App Access", UnitID: "u0", Managed: true, Inherited: true,
				Tables: []TablePrivileges{{Table: "incident", Privileges: v1alpha1.TablePrivileges{Read: v1alpha1.AccessOrganization}}}},
		},
		Users: []User{
			{ID: "p-system", FullName: "SYSTEM", AccessMode: v1alpha1.AccessModeReadWrite, UnitID: "u0"},
			{ID: "p-integration", FullName: "INTEGRATION", AccessMode: v1alpha1.AccessModeReadWrite, UnitID: "u0"},
			{ID: "p-alice", UserName: "alice@contoso.com", FullName: "Alice Smith", EntraObjectID: "E0A1B2C3-0000-4000-8000-000000000001",
				AccessMode: v1alpha1.AccessModeReadWrite, UnitID: "u0", RoleIDs: []string{"r1", "r-bu"}, Licensed: true,
				Licenses: []string{dyn}, Groups: []string{securityGroup}},
			{ID: "p-alice2", UserName: "alice.smith@contoso.com", FullName: "Alice Smith", EntraObjectID: "e0a1b2c3-0000-4000-8000-000000000009",
				AccessMode: v1alpha1.AccessModeReadWrite, UnitID: "u4", RoleIDs: []string{"r3"}, Licensed: true,
				Licenses: []string{dyn}, Groups: []string{securityGroup}},
			{ID: "p-bob", UserName: "bob@contoso.com", FullName: "Bob Jones", EntraObjectID: "e0a1b2c3-0000-4000-8000-000000000002",
				AccessMode: v1alpha1.AccessModeReadWrite, UnitID: "u1", RoleIDs: []string{"r1-sales", "r2"}, Licensed: true,
				Licenses: []string{"POWERAPPS_PER_USER", dyn}, Groups: []string{salesGroup, securityGroup}},
			{ID: "p-carol", UserName: "carol@contoso.com", FullName: "Carol Admin", EntraObjectID: "e0a1b2c3-0000-4000-8000-000000000003",
				AccessMode: v1alpha1.AccessModeAdministrative, UnitID: "u0", RoleIDs: []string{"r-sa", "r-csa"}, Groups: []string{securityGroup}},
			{ID: "p-dan", UserName: "dan@contoso.com", FullName: "Dan (sync job)", EntraObjectID: "e0a1b2c3-0000-4000-8000-000000000004",
				AccessMode: v1alpha1.AccessModeNonInteractive, UnitID: "u2", RoleIDs: []string{"r-sc", "r2-emea"}, Groups: []string{securityGroup}},
			{ID: "p-erin", UserName: "erin@contoso.com", FullName: "Erin Left", EntraObjectID: "e0a1b2c3-0000-4000-8000-000000000005",
				AccessMode: v1alpha1.AccessModeReadWrite, UnitID: "u0", Disabled: true, Licensed: true, Licenses: []string{dyn}},
			{ID: "p-frank", UserName: "frank@contoso.com", FullName: "Frank Imported", AccessMode: v1alpha1.AccessModeReadWrite,
				UnitID: "u0", Disabled: true, Stub: true, RoleIDs: []string{"r-sp"}},
			{ID: "p-grace", UserName: "grace@contoso.com", FullName: "Grace Support", AccessModeName: "Support user", UnitID: "u0"},
			{ID: "p-kim", UserName: "kim_fabrikam.com#EXT#@contoso.onmicrosoft.com", FullName: "Kim Guest", EntraObjectID: "e0a1b2c3-0000-4000-8000-000000000007",
				AccessMode: v1alpha1.AccessModeReadWrite, UnitID: "u0", RoleIDs: []string{"r-bu"}},
			{ID: "p-heidi", UserName: "heidi@contoso.com", FullName: "Heidi Marketing", AccessMode: v1alpha1.AccessModeReadWrite, UnitID: "u3"},
			{ID: "p-ivan", UserName: "ivan@contoso.com", FullName: "Ivan", EntraObjectID: "e0a1b2c3-0000-4000-8000-000000000006",
				AccessMode: v1alpha1.AccessModeReadWrite, UnitID: "u0", RoleIDs: []string{"r-bu", "r4"}, Licensed: true,
				Licenses: []string{dyn}, Groups: []string{securityGroup}},
		},
		Applications: []ApplicationUser{
			{ID: "a-op", ApplicationID: operatorApp, Name: "dataverse-access-operator", UnitID: "u0", RoleIDs: []string{"r-sa"}},
			{ID: "a-bot", ApplicationID: "1A2B3C4D-5E6F-4a8b-9c0d-1e2f3a4b5c6d", Name: "Integration Bot", UnitID: "u0", RoleIDs: []string{"r1"}},
			{ID: "a-idle", ApplicationID: "2b3c4d5e-6f70-4b9c-8d1e-2f3a4b5c6d7e", Name: "Idle App", UnitID: "u0"},
		},
		Teams: []Team{
			{ID: "t-default", Name: "Contoso Ltd", Type: v1alpha1.TeamOwner, IsDefault: true, UnitID: "u0", MemberIDs: []string{"p-alice", "p-bob"}},
			{ID: "t-owners", Name: "Sales Owners", Type: v1alpha1.TeamOwner, UnitID: "u1", MemberIDs: []string{"p-bob", "p-alice", "p-system"}, RoleIDs: []string{"r2"}},
			{ID: "t-review", Name: "Account Reviewers", Type: v1alpha1.TeamAccess, UnitID: "u0", MemberIDs: []string{"p-carol", "p-heidi"}},
			{ID: "t-group", Name: "Sales Group", Type: v1alpha1.TeamAADSecurityGroup, UnitID: "u1", Group: salesGroup, RoleIDs: []string{"r1-sales"}},
		},
	}
}

func uniform(l v1alpha1.AccessLevel) v1alpha1.TablePrivileges {
	return v1alpha1.TablePrivileges{Create: l, Read: l, Write: l, Delete: l, Append: l, AppendTo: l, Assign: l, Share: l}
}

var options = Options{Namespace: "contoso", Name: "contoso-sales"}

func build(t *testing.T, src Source) (*Objects, *Summary, []File) {
	t.Helper()
	objs, sum, err := Build(src, options)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Render(src, options, objs, sum)
	if err != nil {
		t.Fatal(err)
	}
	return objs, sum, files
}

// TestGolden pins the output's bytes for the fixture, and that building twice, from input in
// another order, gives the same bytes.
func TestGolden(t *testing.T) {
	_, _, files := build(t, fixture())
	dir := filepath.Join("testdata", "golden")
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
		want, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatalf("%v (go test ./internal/export -update writes the golden files)", err)
		}
		if diff := cmp.Diff(string(want), string(f.Data)); diff != "" {
			t.Errorf("%s differs from its golden file (-want +got):\n%s", f.Name, diff)
		}
	}
	golden, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(golden) != len(files) {
		t.Errorf("golden folder has %d files, the export wrote %v", len(golden), names)
	}

	reversed := fixture()
	reverse(reversed.Units)
	reverse(reversed.Roles)
	reverse(reversed.Users)
	reverse(reversed.Applications)
	reverse(reversed.Teams)
	_, _, again := build(t, reversed)
	for i := range files {
		if !bytes.Equal(files[i].Data, again[i].Data) {
			t.Errorf("%s: the same environment read in another order gives other bytes:\n%s", files[i].Name, cmp.Diff(string(files[i].Data), string(again[i].Data)))
		}
	}
}

func reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// TestOutputIsAdmittedAndPlansClean runs manager plan's admission and decisions over the written
// folder: nothing refused, nothing Stalled (plan -f exits 0).
func TestOutputIsAdmittedAndPlansClean(t *testing.T) {
	_, _, files := build(t, fixture())
	dir := t.TempDir()
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	adm, err := plan.NewAdmission(plan.EmbeddedCRDs())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := plan.Run(context.Background(), plan.Options{Files: []string{dir}, Admission: adm, Namespace: options.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Refused {
		t.Errorf("refused: %+v", r)
	}
	var stalled []string
	for _, o := range rep.Objects {
		if o.Stalled {
			stalled = append(stalled, o.Kind+"/"+o.Name+": "+o.Reason+": "+o.Message)
		}
	}
	if len(stalled) > 0 {
		t.Errorf("stalled:\n%s", strings.Join(stalled, "\n"))
	}
	if rep.Failed() {
		t.Errorf("plan would exit 1: %+v", rep.Summary)
	}
	// Environment, 5 roles (3 custom, 1 built-in not kept, plus the Environment's 3 are
	// the plan's own), 8 people, 1 application user, 3 teams.
	var other []string
	for _, o := range rep.Objects {
		if !o.Stalled && o.Ready != "True" {
			other = append(other, o.Kind+"/"+o.Name+": "+o.Reason)
		}
	}
	// With spec.dataverse no non-interactive slot is granted before the first sync has counted
	// the environment's unmanaged ones (AM6, EV1), which plan cannot do: dan waits, and so does
	// the Environment's count. Everything else is Ready.
	if diff := cmp.Diff([]string{"Environment/contoso-sales: AwaitingAllocation", "PlatformUser/dan-sync-job: AwaitingAllocation"}, other); diff != "" {
		t.Errorf("neither Ready nor Stalled (-want +got):\n%s", diff)
	}
	// The Environment, 5 exported roles and the Environment's 3 built-ins, 8 people, 1
	// application user, 3 teams.
	if got := rep.Summary; got.Objects != 21 || got.Ready != 19 {
		t.Errorf("plan: %+v, want 21 objects, 19 Ready", got)
	}
}

// TestRolePrivilegesRoundTrip: every exported custom role expands (SR2, SR4) to exactly the
// privileges Dataverse holds, a preset only where it matches exactly.
func TestRolePrivilegesRoundTrip(t *testing.T) {
	src := fixture()
	objs, _, _ := build(t, src)
	byName := map[string]v1alpha1.SecurityRole{}
	for _, r := range objs.SecurityRoles {
		byName[r.Spec.RoleName+"/"+r.Spec.BusinessUnit] = r
	}
	for _, r := range src.Roles {
		if r.BuiltIn != "" || (r.ParentRootRoleID != "" && r.ParentRootRoleID != r.ID) || r.UnitID == "u3" || r.ID == "r-del" || r.ID == "r5" {
			continue
		}
		unit := map[string]string{"u0": "", "u1": "sales", "u4": "service"}[r.UnitID]
		got, ok := byName[r.Name+"/"+unit]
		if !ok {
			t.Errorf("role %s not exported", r.Name)
			continue
		}
		want := map[string]v1alpha1.TablePrivileges{}
		for _, tp := range r.Tables {
			e := access.ExpandTable(v1alpha1.TablePermission{Privileges: &tp.Privileges})
			if e != access.ExpandTable(v1alpha1.TablePermission{PermissionSetting: v1alpha1.PermissionNoAccess}) {
				want[tp.Table] = e
			}
		}
		have := map[string]v1alpha1.TablePrivileges{}
		for _, tp := range got.Spec.Tables {
			have[tp.Table] = access.ExpandTable(tp)
		}
		if diff := cmp.Diff(want, have); diff != "" {
			t.Errorf("role %s: privileges differ (-Dataverse +exported):\n%s", r.Name, diff)
		}
	}
}

func TestPresetsOnlyWhenExact(t *testing.T) {
	collaborate := uniform(v1alpha1.AccessUser)
	collaborate.Read, collaborate.Append, collaborate.AppendTo = v1alpha1.AccessOrganization, v1alpha1.AccessOrganization, v1alpha1.AccessOrganization
	almost := collaborate
	almost.Share = v1alpha1.AccessNone
	cases := []struct {
		name string
		in   v1alpha1.TablePrivileges
		want v1alpha1.PermissionSetting
	}{
		{"all Organization is FullAccess", uniform(v1alpha1.AccessOrganization), v1alpha1.PermissionFullAccess},
		{"all User is Private", uniform(v1alpha1.AccessUser), v1alpha1.PermissionPrivate},
		{"Collaborate (SR4)", collaborate, v1alpha1.PermissionCollaborate},
		{"read at Organization only is Reference", v1alpha1.TablePrivileges{Read: v1alpha1.AccessOrganization}, v1alpha1.PermissionReference},
		{"Collaborate but one privilege is Custom", almost, v1alpha1.PermissionCustom},
		{"legacy depth names are the same levels", v1alpha1.TablePrivileges{Read: v1alpha1.AccessGlobal}, v1alpha1.PermissionReference},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := tablesOf([]TablePrivileges{{Table: "account", Privileges: c.in}})
			if len(got) != 1 || got[0].PermissionSetting != c.want {
				t.Fatalf("got %+v, want %s", got, c.want)
			}
			if c.want != v1alpha1.PermissionCustom && got[0].Privileges != nil {
				t.Errorf("a preset carries no explicit privileges (admission refuses both): %+v", got[0].Privileges)
			}
		})
	}
	if got := tablesOf([]TablePrivileges{{Table: "task"}}); got != nil {
		t.Errorf("a table with no privilege is not listed: %+v", got)
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{
		"Alice Smith":           "alice-smith",
		"  Sales  Rep!":         "sales-rep",
		"Dan (sync job)":        "dan-sync-job",
		"Ünïcode Ωmega":         "n-code-mega",
		"日本":                    "unnamed",
		strings.Repeat("a", 80): strings.Repeat("a", maxName),
	} {
		if got := kubeName(in, ""); got != want {
			t.Errorf("kubeName(%q) = %q, want %q", in, got, want)
		}
		if got := kubeName(in, ""); !dnsLabel.MatchString(got) {
			t.Errorf("kubeName(%q) = %q is not a valid name", in, got)
		}
	}
	if got := kubeName("日本", "taro@contoso.com"); got != "taro-contoso-com" {
		t.Errorf("fallback: %q", got)
	}
	// Collisions: sorted by key, the first keeps the name; a suffixed name never takes another
	// object's natural name ("x-2" here).
	names, notes := assignNames("Team", []candidate{{base: "x", key: "b"}, {base: "x", key: "a"}, {base: "x-2", key: "c"}, {base: "x", key: "d"}}, map[string]bool{})
	want := map[string]string{"a": "x", "b": "x-3", "c": "x-2", "d": "x-4"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if len(notes) != 2 {
		t.Errorf("two renames are reported: %v", notes)
	}
	names, _ = assignNames("SecurityRole", []candidate{{base: "env-basic-user", key: "r"}}, map[string]bool{"env-basic-user": true})
	if names["r"] != "env-basic-user-2" {
		t.Errorf("a reserved name (the Environment's built-in role) is never given: %v", names)
	}
}

// TestSkippedAndUnexpressed: the service's own principals and what holds nothing are skipped
// with a reason; what the API cannot express is listed, and nothing of it is exported.
func TestSkippedAndUnexpressed(t *testing.T) {
	objs, sum, _ := build(t, fixture())
	var skipped, unexpressed []string
	for _, n := range sum.Skipped {
		skipped = append(skipped, n.Kind+" "+n.Name)
	}
	for _, n := range sum.Unexpressed {
		unexpressed = append(unexpressed, n.Kind+" "+n.Name)
	}
	if diff := cmp.Diff([]string{"ApplicationUser Idle App", "ApplicationUser dataverse-access-operator",
		"PlatformUser INTEGRATION", "PlatformUser SYSTEM", "Team Contoso Ltd"}, skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{
		"BusinessUnit Marketing & PR",
		"PlatformUser grace@contoso.com",
		"PlatformUser heidi@contoso.com",
		"PlatformUser ivan",
		"PlatformUser kim_fabrikam.com#EXT#@contoso.onmicrosoft.com",
		"SecurityRole Marketing Role",
		"SecurityRole Padded Role ",
		"SecurityRole Salesperson",
		"SecurityRole sales-rep",
		"Team account-reviewers",
	}, unexpressed); diff != "" {
		t.Errorf("unexpressed (-want +got):\n%s", diff)
	}
	var people []string
	for _, u := range objs.PlatformUsers {
		people = append(people, u.Name)
	}
	if diff := cmp.Diff([]string{"alice-smith", "alice-smith-2", "bob-jones", "carol-admin", "dan-sync-job", "erin-left", "frank-imported", "ivan"}, people); diff != "" {
		t.Errorf("people (-want +got):\n%s", diff)
	}
	if sum.PlatformUsers != 8 || sum.ApplicationUsers != 1 || sum.Teams != 3 || sum.SecurityRoles != 5 {
		t.Errorf("counts: %+v", sum)
	}
}

func TestWithoutEntraLicensesAreUnknown(t *testing.T) {
	src := fixture()
	src.Entra = false
	objs, sum, files := build(t, src)
	for _, u := range objs.PlatformUsers {
		if u.Spec.License != "" || len(u.Spec.SecurityGroups) > 0 {
			t.Errorf("%s: without Entra ID no license or group is known: %+v", u.Name, u.Spec)
		}
	}
	if objs.Environment.Spec.Entra != nil {
		t.Errorf("no spec.entra without Entra ID")
	}
	// alice, alice-smith-2, bob, erin and ivan are licensed ReadWrite people.
	if sum.LicensesUnknown != 5 {
		t.Errorf("LicensesUnknown = %d, want 5", sum.LicensesUnknown)
	}
	if k := files[len(files)-1]; !strings.Contains(string(k.Data), "5 licensed people have no spec.license") {
		t.Errorf("the kustomization says how many licenses are unknown:\n%s", k.Data)
	}
}

func TestBadOptions(t *testing.T) {
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{Namespace: "ns", Name: "Contoso Sales"}, `--name "Contoso Sales": give the Environment a name of lower-case letters`},
		{Options{Name: "contoso"}, "--namespace is empty"},
	} {
		if _, _, err := Build(fixture(), c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Build(%+v) = %v, want %q", c.opt, err, c.want)
		}
	}
	src := fixture()
	src.Units = src.Units[1:]
	if _, _, err := Build(src, options); err == nil || !strings.Contains(err.Error(), "no root business unit") {
		t.Errorf("no root: %v", err)
	}
}
