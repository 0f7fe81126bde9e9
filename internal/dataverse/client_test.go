package dataverse_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// must keeps a sequence of calls readable; a failure panics, which fails the test with the stack.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func roleNames(roles []dataverse.Role) []string {
	var out []string
	for _, r := range roles {
		out = append(out, r.Name)
	}
	sort.Strings(out)
	return out
}

// TestOperations drives every typed operation against the emulator over HTTPS.
func TestOperations(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	cl := h.cl

	who := must(cl.WhoAmI(ctx))
	root := must(cl.RootBusinessUnit(ctx))
	if root.Name != org || root.ParentID != "" || who.BusinessUnitID != root.ID || who.UserID == "" {
		t.Fatalf("root %+v, whoami %+v", root, who)
	}

	// Business units.
	sales := must(cl.CreateBusinessUnit(ctx, "sales", root.ID))
	units := must(cl.ListBusinessUnits(ctx))
	var got []string
	for _, u := range units {
		got = append(got, u.Name+"<"+u.ParentID)
	}
	sort.Strings(got)
	if d := cmp.Diff([]string{org + "<", "sales<" + root.ID}, got); d != "" {
		t.Fatalf("units (-want +got):\n%s", d)
	}

	// Privileges: a user-owned table has eight, an organization-owned one six; named ones.
	account := must(cl.TablePrivileges(ctx, "account"))
	if len(account) != 8 || account[dataverse.RightRead].Name != "prvReadAccount" || account[dataverse.RightAssign].Name != "prvAssignAccount" {
		t.Fatalf("account privileges: %+v", account)
	}
	web := must(cl.TablePrivileges(ctx, "webresource"))
	if len(web) != 6 || web[dataverse.RightRead].Name != "prvReadWebResource" || web[dataverse.RightRead].CanBeBasic {
		t.Fatalf("webresource privileges: %+v", web)
	}
	if _, err := cl.TablePrivileges(ctx, "nosuchtable"); !errors.Is(err, dataverse.ErrNotFound) {
		t.Fatalf("unknown table: %v", err)
	}
	named := must(cl.PrivilegesByName(ctx, "prvExportToExcel", "prvPrint", "prvNoSuchThing"))
	if len(named) != 2 || named["prvPrint"].ID == "" {
		t.Fatalf("named privileges: %+v", named)
	}

	// Roles.
	roleID := must(cl.CreateRole(ctx, "Sales Rep", root.ID, dataverse.InheritanceDirectUserBasicAndTeam))
	role := must(cl.RoleByName(ctx, "Sales Rep", root.ID))
	if role.ID != roleID || role.IsInherited != dataverse.InheritanceDirectUserBasicAndTeam || role.ETag == "" {
		t.Fatalf("role %+v", role)
	}
	defaults := must(cl.RolePrivileges(ctx, roleID))
	if len(defaults) == 0 {
		t.Fatal("a new role holds the default privileges")
	}
	want := []dataverse.RolePrivilege{
		{PrivilegeID: account[dataverse.RightRead].ID, Depth: dataverse.DepthGlobal},
		{PrivilegeID: account[dataverse.RightWrite].ID, Depth: dataverse.DepthBasic},
		{PrivilegeID: web[dataverse.RightRead].ID, Depth: dataverse.DepthGlobal},
		{PrivilegeID: named["prvExportToExcel"].ID, Depth: dataverse.DepthGlobal},
	}
	ok(t, cl.ReplacePrivileges(ctx, roleID, want))
	have := must(cl.RolePrivileges(ctx, roleID))
	byID := func(p []dataverse.RolePrivilege) []string {
		var s []string
		for _, x := range p {
			s = append(s, x.PrivilegeID+"="+x.Depth.String())
		}
		sort.Strings(s)
		return s
	}
	if d := cmp.Diff(byID(want), byID(have)); d != "" {
		t.Fatalf("privileges after replace (-want +got):\n%s", d)
	}
	// The same privileges, read flat from the intersect table (the bulk snapshot's read), the
	// depth as a bit mask.
	var flat []dataverse.RolePrivilege
	for _, l := range must(cl.ListRolePrivilegeLinks(ctx)) {
		if l.RoleID == roleID {
			d, ok := l.Depth()
			if !ok {
				t.Fatalf("no depth in mask %d", l.DepthMask)
			}
			flat = append(flat, dataverse.RolePrivilege{PrivilegeID: l.PrivilegeID, Depth: d})
		}
	}
	if d := cmp.Diff(byID(want), byID(flat)); d != "" {
		t.Fatalf("roleprivilegescollection (-want +got):\n%s", d)
	}
	ok(t, cl.SetRoleInheritance(ctx, roleID, role.ETag, dataverse.InheritanceTeamPrivilegesOnly))
	if r := must(cl.GetRole(ctx, roleID)); r.IsInherited != dataverse.InheritanceTeamPrivilegesOnly {
		t.Fatalf("inheritance not set: %+v", r)
	}
	// The unit below holds an inherited copy, which is what a user there is assigned.
	salesRoles := must(cl.ListRoles(ctx, sales))
	var copyID string
	for _, r := range salesRoles {
		if r.Name == "Sales Rep" {
			copyID = r.ID
			if r.ParentRootRoleID != roleID {
				t.Fatalf("copy %+v does not point at its root role %s", r, roleID)
			}
		}
	}
	if copyID == "" {
		t.Fatalf("no inherited copy of the role in sales: %v", roleNames(salesRoles))
	}

	// Application users.
	appID := "7b1f3c4e-2a5d-4e6f-8a9b-0c1d2e3f4a5b"
	appUserID := must(cl.CreateApplicationUser(ctx, appID, root.ID))
	app := must(cl.UserByApplicationID(ctx, appID))
	if app.ID != appUserID || app.AccessMode != dataverse.AccessModeNonInteractive || app.IsDisabled || !app.IsApplicationUser() {
		t.Fatalf("application user %+v", app)
	}
	ok(t, cl.AssignUserRole(ctx, appUserID, roleID))
	if d := cmp.Diff([]string{"Sales Rep"}, roleNames(must(cl.UserRoles(ctx, appUserID)))); d != "" {
		t.Fatalf("user roles (-want +got):\n%s", d)
	}
	// The same association, read flat from the intersect table (the bulk snapshot's read).
	var linked []dataverse.UserRoleLink
	for _, l := range must(cl.ListUserRoleLinks(ctx)) {
		if l.UserID == appUserID {
			linked = append(linked, l)
		}
	}
	if d := cmp.Diff([]dataverse.UserRoleLink{{UserID: appUserID, RoleID: roleID}}, linked); d != "" {
		t.Fatalf("systemuserrolescollection (-want +got):\n%s", d)
	}
	ok(t, cl.UnassignUserRole(ctx, appUserID, roleID))
	if n := len(must(cl.UserRoles(ctx, appUserID))); n != 0 {
		t.Fatalf("%d roles left after unassign", n)
	}
	disabled := true
	ok(t, cl.UpdateUser(ctx, appUserID, app.ETag, dataverse.UserPatch{IsDisabled: &disabled}))
	if u := must(cl.GetUser(ctx, appUserID)); !u.IsDisabled {
		t.Fatalf("app user not disabled: %+v", u)
	}
	ok(t, cl.UpdateUser(ctx, appUserID, "", dataverse.UserPatch{BusinessUnitID: sales}))
	if u := must(cl.GetUser(ctx, appUserID)); u.BusinessUnitID != sales {
		t.Fatalf("app user not moved: %+v", u)
	}

	// Interactive users come from Entra ID through addUser, after the sync delay.
	objectID := "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
	ok(t, h.emu.SetEntraUser("contoso", emulatorUser(objectID, "ada@contoso.example")))
	ok(t, h.admin.AddUser(ctx, h.emu.EnvironmentID("contoso"), objectID))
	if _, err := cl.UserByObjectID(ctx, objectID); !errors.Is(err, dataverse.ErrNotFound) {
		t.Fatalf("user visible before the Entra sync delay: %v", err)
	}
	h.clock.Advance(2 * time.Minute)
	ada := must(cl.UserByObjectID(ctx, objectID))
	if ada.DomainName != "ada@contoso.example" || ada.AccessMode != dataverse.AccessModeReadWrite || ada.IsApplicationUser() {
		t.Fatalf("synced user %+v", ada)
	}
	if u := must(cl.UserByDomainName(ctx, "ADA@contoso.example")); u.ID != ada.ID {
		t.Fatalf("by domain name: %+v", u)
	}
	nonInteractive := dataverse.AccessModeNonInteractive
	ok(t, cl.UpdateUser(ctx, ada.ID, ada.ETag, dataverse.UserPatch{AccessMode: &nonInteractive}))
	ni := must(cl.ListNonInteractiveUsers(ctx))
	if len(ni) != 1 || ni[0].ID != ada.ID {
		t.Fatalf("non-interactive people: %+v (application users must not count)", ni)
	}

	// Teams.
	teamID := must(cl.CreateTeam(ctx, dataverse.NewTeam{Name: "Closers", TeamType: dataverse.TeamTypeOwner, BusinessUnitID: root.ID}))
	if tm := must(cl.TeamByName(ctx, "Closers", root.ID)); tm.ID != teamID || tm.TeamType != dataverse.TeamTypeOwner {
		t.Fatalf("team %+v", tm)
	}
	ok(t, cl.AddTeamMembers(ctx, teamID, ada.ID))
	ok(t, cl.AddTeamMembers(ctx, teamID, ada.ID)) // twice is once
	if d := cmp.Diff([]string{ada.ID}, must(cl.TeamMembers(ctx, teamID))); d != "" {
		t.Fatalf("members (-want +got):\n%s", d)
	}
	ok(t, cl.RemoveTeamMembers(ctx, teamID, ada.ID))
	if n := len(must(cl.TeamMembers(ctx, teamID))); n != 0 {
		t.Fatalf("%d members left", n)
	}
	ok(t, cl.AssignTeamRole(ctx, teamID, roleID))
	if d := cmp.Diff([]string{"Sales Rep"}, roleNames(must(cl.TeamRoles(ctx, teamID)))); d != "" {
		t.Fatalf("team roles (-want +got):\n%s", d)
	}
	ok(t, cl.UnassignTeamRole(ctx, teamID, roleID))
	group := "3c2b1a0f-8e7d-4c6b-9a58-4f3e2d1c0b9a"
	gteam := must(cl.CreateTeam(ctx, dataverse.NewTeam{Name: "Sales group", TeamType: dataverse.TeamTypeSecurityGroup, BusinessUnitID: root.ID, GroupObjectID: group, MembershipType: dataverse.MembershipMembers}))
	if tm := must(cl.TeamByGroup(ctx, group, dataverse.MembershipMembers)); tm.ID != gteam || tm.AzureActiveDirectoryObjectID != group {
		t.Fatalf("group team %+v", tm)
	}
	if err := cl.AddTeamMembers(ctx, gteam, ada.ID); !errors.Is(err, dataverse.ErrBadRequest) {
		t.Fatalf("members of a group team come from Entra ID, got %v", err)
	}

	// Deletes.
	ok(t, cl.DeleteTeam(ctx, teamID))
	ok(t, cl.DeleteRole(ctx, roleID))
	ok(t, cl.DeleteApplicationUser(ctx, appUserID))
	for name, err := range map[string]error{
		"team": func() error { _, err := cl.GetTeam(ctx, teamID); return err }(),
		"role": func() error { _, err := cl.GetRole(ctx, roleID); return err }(),
		"copy": func() error { _, err := cl.GetRole(ctx, copyID); return err }(),
		"user": func() error { _, err := cl.GetUser(ctx, appUserID); return err }(),
	} {
		if !errors.Is(err, dataverse.ErrNotFound) {
			t.Errorf("%s after delete: %v", name, err)
		}
	}

	// Metrics: requests by operation and status code, and a latency sample for each.
	label := map[string]string{"operation": "CreateRole", "code": "204"}
	if n := h.metricSum("dataverse_requests_total", label); n != 1 {
		t.Errorf("dataverse_requests_total%v = %v, want 1", label, n)
	}
	if n := h.metricSum("dataverse_requests_total", map[string]string{"operation": "GetRole", "code": "404"}); n != 2 {
		t.Errorf("GetRole 404s counted %v, want 2", n)
	}
	if reqs, lat := h.metricSum("dataverse_requests_total", nil), h.metricSum("dataverse_request_duration_seconds", nil); reqs == 0 || reqs != lat {
		t.Errorf("%v requests but %v latency samples", reqs, lat)
	}

	// The other environment is separate.
	fab := h.client(t, "fabrikam", testToken)
	if r := must(fab.RootBusinessUnit(ctx)); r.Name != "fabrikam" || r.ID == root.ID {
		t.Fatalf("fabrikam root %+v", r)
	}
}

// TestPaging reads a collection across pages through @odata.nextLink, with the page size asked
// for on every request and never $skip.
func TestPaging(t *testing.T) {
	h := newHarness(t, func(o *dataverse.Options) { o.PageSize = 3 }, nil)
	ctx := context.Background()
	root := must(h.cl.RootBusinessUnit(ctx))
	for i := 0; i < 10; i++ {
		must(h.cl.CreateRole(ctx, "role "+string(rune('a'+i)), root.ID, dataverse.InheritanceDirectUserBasicAndTeam))
	}
	h.emu.ClearRequests()
	roles := must(h.cl.ListRoles(ctx, root.ID))
	// 7 built-in roles + 10.
	if len(roles) != 17 {
		t.Fatalf("%d roles, want 17", len(roles))
	}
	seen := map[string]bool{}
	for _, r := range roles {
		if seen[r.ID] {
			t.Fatalf("role %s twice", r.ID)
		}
		seen[r.ID] = true
	}
	log := h.emu.Requests()
	if len(log) != 6 { // ceil(17/3)
		t.Fatalf("%d requests, want 6: %+v", len(log), log)
	}
	for i, r := range log {
		if strings.Contains(r.Path, "$skip=") || strings.Contains(r.Path, "%24skip=") {
			t.Errorf("request %d used $skip: %s", i, r.Path)
		}
		if hasToken := strings.Contains(r.Path, "skiptoken"); hasToken != (i > 0) {
			t.Errorf("request %d: skiptoken %v: %s", i, hasToken, r.Path)
		}
	}
}

// TestConflictRetry: a write with a stale ETag fails with ErrPreconditionFailed; RetryConflict
// re-reads and writes again, keeping the change someone else made meanwhile.
func TestConflictRetry(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	root := must(h.cl.RootBusinessUnit(ctx))
	roleID := must(h.cl.CreateRole(ctx, "Auditor", root.ID, dataverse.InheritanceDirectUserBasicAndTeam))
	stale := must(h.cl.GetRole(ctx, roleID))
	// Another admin renames the role behind the operator's back.
	ok(t, h.emu.Patch("contoso", "roles", roleID, map[string]any{"description": "edited elsewhere"}))

	err := h.cl.SetRoleInheritance(ctx, roleID, stale.ETag, dataverse.InheritanceTeamPrivilegesOnly)
	var dvErr *dataverse.Error
	if !errors.Is(err, dataverse.ErrPreconditionFailed) || !errors.As(err, &dvErr) || dvErr.Code != dataverse.CodePreconditionFailed || dvErr.StatusCode != 412 {
		t.Fatalf("stale ETag: %v", err)
	}

	reads, tries := 0, 0
	etag := stale.ETag
	err = dataverse.RetryConflict(ctx, 3, func(ctx context.Context) error {
		tries++
		if tries > 1 { // re-read before every retry
			r, err := h.cl.GetRole(ctx, roleID)
			if err != nil {
				return err
			}
			reads++
			etag = r.ETag
		}
		return h.cl.SetRoleInheritance(ctx, roleID, etag, dataverse.InheritanceTeamPrivilegesOnly)
	})
	ok(t, err)
	if tries != 2 || reads != 1 {
		t.Fatalf("tries %d reads %d, want 2 and 1", tries, reads)
	}
	if r := must(h.cl.GetRole(ctx, roleID)); r.IsInherited != dataverse.InheritanceTeamPrivilegesOnly {
		t.Fatalf("not written: %+v", r)
	}
	// The lone stale write, then RetryConflict's stale try and its fresh one.
	if n := h.requests("PATCH", "roles("); n != 3 {
		t.Fatalf("PATCHes: %d, want 3", n)
	}
}

// TestQuotedNames: names with quotes, spaces and non-ASCII survive the $filter round trip.
func TestQuotedNames(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	root := must(h.cl.RootBusinessUnit(ctx))
	for _, name := range []string{"O'Brien's role", "Ventes & Marketing", "Zürich + Genève", "50% off"} {
		id := must(h.cl.CreateRole(ctx, name, root.ID, dataverse.InheritanceDirectUserBasicAndTeam))
		if r := must(h.cl.RoleByName(ctx, name, root.ID)); r.ID != id || r.Name != name {
			t.Errorf("%q: got %+v", name, r)
		}
	}
	if users := must(h.cl.ListUsers(ctx, "fullname eq "+dataverse.QuoteString("SYSTEM"))); len(users) != 1 {
		t.Fatalf("ListUsers with QuoteString: %+v", users)
	}
}

// TrackUsers reads systemusers in full with Prefer: odata.track-changes (paged), then only what
// changed since its deltaLink: an edit behind the operator's back, a new user, a deleted
// application user; an expired token is ErrDeltaExpired. ChangeTrackingEnabled reads the table's
// EntityDefinitions.
func TestTrackUsers(t *testing.T) {
	h := newHarness(t, func(o *dataverse.Options) { o.PageSize = 2 }, nil)
	ctx := context.Background()
	on := must(h.cl.ChangeTrackingEnabled(ctx, "systemuser"))
	if !on {
		t.Fatal("systemuser: ChangeTrackingEnabled false")
	}
	ada := must(h.emu.AddUnmanagedUser("contoso", map[string]any{"domainname": "ada@contoso.example", "accessmode": 0}))
	must(h.emu.AddUnmanagedUser("contoso", map[string]any{"domainname": "bob@contoso.example", "accessmode": 0}))
	root := must(h.cl.RootBusinessUnit(ctx))
	app := must(h.cl.CreateApplicationUser(ctx, "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", root.ID))

	h.emu.ClearRequests()
	full := must(h.cl.TrackUsers(ctx, ""))
	all := must(h.cl.ListUsers(ctx, ""))
	if len(full.Users) != len(all) || len(full.Deleted) != 0 || full.Link == "" {
		t.Fatalf("full read: %d users of %d, %d deleted, link %q", len(full.Users), len(all), len(full.Deleted), full.Link)
	}
	if n := h.requests("GET", "systemusers"); n != (len(all)+1)/2*2 { // the paged full read, then ListUsers
		t.Errorf("%d requests for %d users in pages of 2", n, len(all))
	}

	ok(t, h.emu.Patch("contoso", "systemusers", ada, map[string]any{"accessmode": 1}))
	cy := must(h.emu.AddUnmanagedUser("contoso", map[string]any{"domainname": "cy@contoso.example", "accessmode": 0}))
	ok(t, h.emu.Patch("contoso", "systemusers", app, map[string]any{"isdisabled": true}))
	ok(t, h.cl.DeleteApplicationUser(ctx, app))
	h.emu.ClearRequests()
	d := must(h.cl.TrackUsers(ctx, full.Link))
	got := map[string]dataverse.AccessMode{}
	for _, u := range d.Users {
		got[u.ID] = u.AccessMode
	}
	if len(got) != 2 || got[ada] != 1 || got[cy] != 0 || len(d.Deleted) != 1 || !strings.EqualFold(d.Deleted[0], app) {
		t.Fatalf("delta: users %v, deleted %v (ada %s, cy %s, app %s)", got, d.Deleted, ada, cy, app)
	}
	if n := len(h.emu.Requests()); n != 1 {
		t.Errorf("a delta of 3 rows took %d requests", n)
	}
	if again := must(h.cl.TrackUsers(ctx, d.Link)); len(again.Users)+len(again.Deleted) != 0 {
		t.Errorf("nothing changed since, yet %+v", again)
	}

	ok(t, h.emu.ExpireDeltaTokens("contoso"))
	if _, err := h.cl.TrackUsers(ctx, d.Link); !errors.Is(err, dataverse.ErrDeltaExpired) {
		t.Fatalf("expired token: %v", err)
	}
}
