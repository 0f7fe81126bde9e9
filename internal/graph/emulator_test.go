package graph_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
	"github.com/accessplane/dataverse-access-operator/internal/graph"
	"github.com/accessplane/dataverse-access-operator/internal/webapi/webapitest"
)

const (
	emuSku    = "1e1a282c-9c54-43a2-9310-98ef728faace"
	emuGroupS = "5a000000-0000-4000-8000-000000000001" // sg-sales: ada, and the group "nested" (lin)
	emuNested = "5a000000-0000-4000-8000-000000000002"
	emuLic    = "5a000000-0000-4000-8000-000000000003" // assigns the SKU to grace
	emuAda    = "a0000000-0000-4000-8000-000000000001"
	emuGuest  = "a0000000-0000-4000-8000-000000000002"
	emuLin    = "a0000000-0000-4000-8000-000000000003"
	emuGrace  = "a0000000-0000-4000-8000-000000000004"
)

// emulatorClient is the client against the emulator's Graph (<emulator>/graph/v1.0), over TLS
// with the emulator's static token.
func emulatorClient(t *testing.T) (*emulator.Emulator, *graph.Client) {
	t.Helper()
	seed := emulator.DirectorySeed{
		SubscribedSkus: []emulator.SubscribedSku{{SkuID: emuSku, SkuPartNumber: "DYN365_ENTERPRISE_SALES", PrepaidUnits: emulator.PrepaidUnits{Enabled: 2}}},
		Users: []emulator.DirectoryUser{
			{ID: emuAda, UserPrincipalName: "ada@contoso.example", UsageLocation: "GB"},
			{ID: emuGuest, UserPrincipalName: "adele_adatum.com#EXT#@contoso.example", UsageLocation: "GB"},
			{ID: emuLin, UserPrincipalName: "lin@contoso.example"},
			{ID: emuGrace, UserPrincipalName: "grace@contoso.example", UsageLocation: "US"},
		},
		Groups: []emulator.DirectoryGroup{
			{ID: emuGroupS, DisplayName: "O'Brien sales", Members: []string{"ada@contoso.example", "nested"}},
			{ID: emuNested, DisplayName: "nested", Members: []string{emuLin}},
			{ID: emuLic, DisplayName: "Licensed", Members: []string{emuGrace}, AssignedLicenses: []emulator.AssignedLicense{{SkuID: emuSku}}},
		},
	}
	emu := emulator.New(emulator.Config{StaticTokens: []string{"emu-token"}, Directory: &seed})
	srv := httptest.NewTLSServer(emu)
	t.Cleanup(srv.Close)
	opts := graph.DefaultOptions()
	opts.URL = srv.URL + "/graph/v1.0"
	conn := must(graph.NewConnector(opts, srv.Client(), nil))
	return emu, must(conn.Tenant("contoso.example", &webapitest.Cred{Token: "emu-token"}))
}

// TestAgainstEmulator: the client's reads and writes against the emulator's Graph, and the
// emulator's request log shows exactly the writes made: references only.
func TestAgainstEmulator(t *testing.T) {
	emu, cl := emulatorClient(t)
	ctx := context.Background()

	if u := must(cl.User(ctx, "adele_adatum.com#EXT#@contoso.example")); u.ID != emuGuest {
		t.Fatalf("guest %+v", u)
	}
	users := must(cl.Users(ctx, []string{emuAda, "lin@contoso.example", "ghost@contoso.example", emuGrace}))
	if len(users) != 3 || users["ghost@contoso.example"] != nil || users["lin@contoso.example"].ID != emuLin {
		t.Fatalf("users %v", users)
	}
	if g := users[emuGrace]; !g.HasLicense(emuSku) || g.DirectLicense(emuSku) || !cmp.Equal(g.LicenseGroups(emuSku), []string{emuLic}) {
		t.Fatalf("grace's license by group: %+v", g)
	}
	if g := must(cl.ResolveGroup(ctx, "O'Brien sales")); g.ID != emuGroupS {
		t.Fatalf("group %+v", g)
	}
	// Direct members that are users: not the nested group, not lin through it.
	if m := must(cl.GroupMembers(ctx, emuGroupS)); !cmp.Equal(m, []graph.Member{{ID: emuAda, UserPrincipalName: "ada@contoso.example"}}) {
		t.Fatalf("members %+v", m)
	}

	emu.ClearRequests()
	ok(t, cl.AddMember(ctx, emuGroupS, emuLin))
	ok(t, cl.AddMember(ctx, emuGroupS, emuLin)) // already a member: done
	ok(t, cl.RemoveMember(ctx, emuGroupS, emuAda))
	ok(t, cl.RemoveMember(ctx, emuGroupS, emuAda)) // not a member: done
	var writes []string
	for _, r := range emulator.GraphRequests(emu.Requests()) {
		if r.Method != "GET" {
			writes = append(writes, r.Method+" "+r.Path[strings.Index(r.Path, "/groups/"):])
		}
	}
	add, remove := "POST /groups/"+emuGroupS+"/members/$ref", "DELETE /groups/"+emuGroupS+"/members/"+emuAda+"/$ref"
	if d := cmp.Diff([]string{add, add, remove, remove}, writes); d != "" {
		t.Fatalf("writes (-want +got):\n%s", d)
	}
	var ids []string
	for _, m := range must(cl.GroupMembers(ctx, emuGroupS)) {
		ids = append(ids, m.ID)
	}
	if d := cmp.Diff([]string{emuLin}, ids); d != "" {
		t.Fatalf("members after (-want +got):\n%s", d)
	}
	if dir := emu.Directory(); len(dir.Users) != 4 {
		t.Fatalf("%d users in the directory: a removal deleted one", len(dir.Users))
	}
}

// TestAgainstEmulatorLicenses: the tenant's units, and each documented refusal of assignLicense
// typed for the caller.
func TestAgainstEmulatorLicenses(t *testing.T) {
	_, cl := emulatorClient(t)
	ctx := context.Background()
	skus := must(cl.SubscribedSkus(ctx))
	if len(skus) != 1 || skus[0].SkuPartNumber != "DYN365_ENTERPRISE_SALES" || skus[0].PrepaidUnits.Enabled != 2 || skus[0].ConsumedUnits != 1 {
		t.Fatalf("skus %+v", skus)
	}
	if err := cl.AssignLicense(ctx, emuLin, []string{emuSku}, nil); !errors.Is(err, graph.ErrNoUsageLocation) {
		t.Fatalf("lin has no usage location: %v", err)
	}
	ok(t, cl.AssignLicense(ctx, emuAda, []string{emuSku}, nil))
	if !must(cl.User(ctx, emuAda)).DirectLicense(emuSku) {
		t.Fatal("ada's license is not direct")
	}
	if err := cl.AssignLicense(ctx, emuGuest, []string{emuSku}, nil); !errors.Is(err, graph.ErrNoLicensesLeft) {
		t.Fatalf("the two units are consumed: %v", err)
	}
	if err := cl.AssignLicense(ctx, emuGrace, nil, []string{emuSku}); !errors.Is(err, graph.ErrLicenseByGroup) {
		t.Fatalf("grace's license is the group's: %v", err)
	}
}

// TestAgainstEmulatorPermissions: a 403 names the application permission the call needs.
func TestAgainstEmulatorPermissions(t *testing.T) {
	emu, cl := emulatorClient(t)
	ctx := context.Background()
	for _, tc := range []struct {
		granted []string
		call    func() error
		want    string
	}{
		{[]string{"GroupMember.Read.All"}, func() error { _, err := cl.User(ctx, emuAda); return err }, "User.Read.All"},
		{[]string{"User.Read.All"}, func() error { _, err := cl.GroupMembers(ctx, emuGroupS); return err }, "GroupMember.Read.All"},
		{[]string{"User.Read.All", "GroupMember.Read.All"}, func() error { return cl.AddMember(ctx, emuGroupS, emuLin) }, "GroupMember.ReadWrite.All"},
		{[]string{"User.Read.All"}, func() error { _, err := cl.SubscribedSkus(ctx); return err }, "Organization.Read.All"},
		{[]string{"User.Read.All", "Organization.Read.All"}, func() error { return cl.AssignLicense(ctx, emuAda, []string{emuSku}, nil) }, "LicenseAssignment.ReadWrite.All"},
	} {
		emu.SetAppPermissions(emulator.OperatorApplicationID, tc.granted)
		err := tc.call()
		var e *graph.Error
		if !errors.Is(err, graph.ErrForbidden) || !errors.As(err, &e) || e.Permission != tc.want || e.Code != graph.CodeAuthorizationDeny {
			t.Errorf("with %v: %v, want 403 naming %s", tc.granted, err, tc.want)
		}
	}
}
