package entrasync

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
	"github.com/accessplane/dataverse-access-operator/internal/graph"
	"github.com/accessplane/dataverse-access-operator/internal/webapi/webapitest"
)

// Observe and Sync against the emulator's Graph (an httptest TLS server, as internal/graph's
// emulator tests): the request log shows what each costs and exactly which writes are sent.

func onEmulator(t *testing.T, seed emulator.DirectorySeed) (*emulator.Emulator, *graph.Client) {
	t.Helper()
	emu := emulator.New(emulator.Config{StaticTokens: []string{"emu-token"}, Directory: &seed})
	srv := httptest.NewTLSServer(emu)
	t.Cleanup(srv.Close)
	opts := graph.DefaultOptions()
	opts.URL = srv.URL + "/graph/v1.0"
	// The operator's own limiter is not under test: nothing waits for it.
	opts.RequestsPerMinute, opts.Burst = 100000, 1000
	conn, err := graph.NewConnector(opts, srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := conn.Tenant("contoso.example", &webapitest.Cred{Token: "emu-token"})
	if err != nil {
		t.Fatal(err)
	}
	return emu, cl
}

// sent is the Graph request log: top-level requests (a $batch counting one) and the requests
// inside the batches.
func sent(emu *emulator.Emulator) (top, inBatch []emulator.LoggedRequest) {
	for _, r := range emulator.GraphRequests(emu.Requests()) {
		if r.BatchID == "" {
			top = append(top, r)
		} else {
			inBatch = append(inBatch, r)
		}
	}
	return top, inBatch
}

// writes are the Graph writes logged ("METHOD path" below /graph/v1.0), $batch of reads excluded.
func writes(emu *emulator.Emulator) []string {
	var out []string
	for _, r := range emulator.Writes(emulator.GraphRequests(emu.Requests())) {
		out = append(out, r.Method+" "+strings.TrimPrefix(r.Path, "/graph/v1.0"))
	}
	return out
}

// onlyReads fails unless every Graph request logged is a GET or a $batch of GETs, and no DELETE
// without /$ref was ever sent.
func onlyReads(t *testing.T, emu *emulator.Emulator) {
	t.Helper()
	top, inBatch := sent(emu)
	for _, r := range top {
		if r.Method != "GET" && !(r.Method == "POST" && strings.HasSuffix(r.Path, "/$batch")) {
			t.Errorf("observing sent %s %s", r.Method, r.Path)
		}
	}
	for _, r := range inBatch {
		if r.Method != "GET" {
			t.Errorf("observing sent %s %s inside a $batch", r.Method, r.Path)
		}
	}
}

func noUserDelete(t *testing.T, emu *emulator.Emulator) {
	t.Helper()
	for _, r := range emulator.GraphRequests(emu.Requests()) {
		if r.Method == "DELETE" && !strings.HasSuffix(r.Path, "/$ref") {
			t.Errorf("sent DELETE %s: without /$ref it deletes the user", r.Path)
		}
	}
}

func oid(i int) string { return fmt.Sprintf("a0000000-0000-4000-8000-%012d", i) }

// TestObserveCostsPagesNotPeople: 1,000 people in 3 groups (the security group by object id with
// 1,007 direct members, two group team groups by display name with 600 and 400) cost 3 group
// resolutions + 4 member pages (2 + 1 + 1) + ceil(1000/20) = 50 person batches + 1 subscribedSkus
// = 58 requests, every one a read.
func TestObserveCostsPagesNotPeople(t *testing.T) {
	const n, unmanaged = 1000, 7
	seed := emulator.DirectorySeed{SubscribedSkus: []emulator.SubscribedSku{{SkuID: skuSales, SkuPartNumber: "DYN365_ENTERPRISE_SALES", PrepaidUnits: emulator.PrepaidUnits{Enabled: 2000}}}}
	sg := emulator.DirectoryGroup{ID: sgID, DisplayName: "sg-sales"}
	closers := emulator.DirectoryGroup{ID: teamID, DisplayName: "closers"}
	openers := emulator.DirectoryGroup{ID: licGroup, DisplayName: "openers"}
	env := Environment{SecurityGroup: sgID, GroupTeamGroups: []string{"closers", "openers"}, Manage: DefaultManage}
	for i := 0; i < n+unmanaged; i++ {
		upn := fmt.Sprintf("p%04d@contoso.example", i)
		seed.Users = append(seed.Users, emulator.DirectoryUser{ID: oid(i), UserPrincipalName: upn, UsageLocation: "GB"})
		sg.Members = append(sg.Members, oid(i))
		if i >= n {
			continue
		}
		p := Person{UserName: upn, InSecurityGroup: true}
		if i%2 == 0 {
			p.ObjectID = oid(i) // half found by object id, half by user name
		}
		if i < 600 {
			closers.Members = append(closers.Members, oid(i))
			p.Groups = []string{"closers"}
		} else {
			openers.Members = append(openers.Members, oid(i))
			p.Groups = []string{"openers"}
		}
		env.People = append(env.People, p)
	}
	seed.Groups = []emulator.DirectoryGroup{sg, closers, openers}
	emu, cl := onEmulator(t, seed)
	emu.ClearRequests()

	s, err := Observe(context.Background(), cl, env)
	if err != nil {
		t.Fatal(err)
	}
	const want = 3 + (2 + 1 + 1) + (n+graph.MaxBatch-1)/graph.MaxBatch + 1
	top, inBatch := sent(emu)
	if len(top) != want || s.Requests != want {
		t.Fatalf("observing cost %d requests (the snapshot counted %d), want %d", len(top), s.Requests, want)
	}
	if len(inBatch) != n {
		t.Fatalf("%d person reads inside the batches, want one per person (%d)", len(inBatch), n)
	}
	onlyReads(t, emu)
	t.Logf("%d people, 3 groups (%d, 600, 400 members): %d Graph requests", n, n+unmanaged, len(top))

	wantUnmanaged := Unmanaged{Count: unmanaged, First: []string{"p1000@contoso.example", "p1001@contoso.example", "p1002@contoso.example", "p1003@contoso.example", "p1004@contoso.example"}}
	if d := cmp.Diff(wantUnmanaged, s.SecurityGroup.Unmanaged); d != "" {
		t.Errorf("unmanaged members of the security group (-want +got):\n%s", d)
	}
	if s.Groups[0].Unmanaged.Count != 0 || s.Groups[1].Unmanaged.Count != 0 || s.SecurityGroup.ID != sgID || s.Groups[1].ID != licGroup {
		t.Errorf("groups %+v %+v", s.Groups[0], s.Groups[1])
	}
	for _, p := range env.People {
		ps := s.Person(p)
		if ps == nil || !ps.Found || !ps.InSecurityGroup || !cmp.Equal(ps.Groups, p.Groups) {
			t.Fatalf("%s observed %+v", p.UserName, ps)
		}
		if c, f := ComparePerson(p, s, all); len(c) != 0 || len(f.Problems) != 0 {
			t.Fatalf("%s: %+v %+v", p.UserName, c, f.Problems)
		}
	}
	if d := cmp.Diff([]Sku{{SkuID: skuSales, SkuPartNumber: "DYN365_ENTERPRISE_SALES", Enabled: 2000}}, s.Skus); d != "" {
		t.Errorf("units (-want +got):\n%s", d)
	}
}

const (
	bobID   = "a0000000-0000-4000-8000-000000000002"
	graceID = "a0000000-0000-4000-8000-000000000003"
	linID   = "a0000000-0000-4000-8000-000000000004"
	danID   = "a0000000-0000-4000-8000-000000000005"
)

// tenant: sg-sales has ada, grace and eve (whom no Person names) as direct members; "Apps users"
// assigns POWERAPPS_PER_USER to grace; ada holds DYN365_ENTERPRISE_SALES directly (the operator
// assigned it).
func tenant() emulator.DirectorySeed {
	return emulator.DirectorySeed{
		SubscribedSkus: []emulator.SubscribedSku{
			{SkuID: skuSales, SkuPartNumber: "DYN365_ENTERPRISE_SALES", PrepaidUnits: emulator.PrepaidUnits{Enabled: 3}},
			{SkuID: skuApps, SkuPartNumber: "POWERAPPS_PER_USER", PrepaidUnits: emulator.PrepaidUnits{Enabled: 1}},
		},
		Users: []emulator.DirectoryUser{
			{ID: adaID, UserPrincipalName: "ada@contoso.example", UsageLocation: "GB", AssignedLicenses: []emulator.AssignedLicense{{SkuID: skuSales}}},
			{ID: bobID, UserPrincipalName: "bob@contoso.example", UsageLocation: "US"},
			{ID: graceID, UserPrincipalName: "grace@contoso.example", UsageLocation: "US"},
			{ID: linID, UserPrincipalName: "lin@contoso.example", UsageLocation: "US"},
			{ID: danID, UserPrincipalName: "dan@contoso.example", UsageLocation: "US"},
			{ID: eveID, UserPrincipalName: "eve@contoso.example", UsageLocation: "US"},
		},
		Groups: []emulator.DirectoryGroup{
			{ID: sgID, DisplayName: "sg-sales", Members: []string{adaID, graceID, eveID}},
			{ID: teamID, DisplayName: "closers"},
			{ID: licGroup, DisplayName: "Apps users", Members: []string{graceID}, AssignedLicenses: []emulator.AssignedLicense{{SkuID: skuApps}}},
		},
	}
}

// decided: ada disabled (EN4: out of the group, license kept), bob enabled with a license, grace
// enabled and no longer naming the license her group gives her, lin waiting for her seat, dan in
// the group team, ghost absent from Entra ID.
func decided() Environment {
	return Environment{SecurityGroup: "sg-sales", GroupTeamGroups: []string{"closers"}, Manage: all, People: []Person{
		{UserName: "ada@contoso.example", License: "DYN365_ENTERPRISE_SALES", Assigned: []string{"DYN365_ENTERPRISE_SALES"}},
		{UserName: "bob@contoso.example", InSecurityGroup: true, License: "DYN365_ENTERPRISE_SALES"},
		{UserName: "grace@contoso.example", ObjectID: graceID, InSecurityGroup: true, Assigned: []string{"POWERAPPS_PER_USER"}},
		{UserName: "lin@contoso.example", License: "DYN365_ENTERPRISE_SALES", LicenseWaits: true},
		{UserName: "dan@contoso.example", InSecurityGroup: true, License: "DYN365_ENTERPRISE_SALES", Groups: []string{"closers"}},
		{UserName: "ghost@contoso.example", InSecurityGroup: true},
	}}
}

// TestManageSendsExactlyTheWrites: under Manage the request log holds exactly the writes decided —
// references only, one assignLicense per person — and a second sync sends none.
func TestManageSendsExactlyTheWrites(t *testing.T) {
	emu, cl := onEmulator(t, tenant())
	ctx := context.Background()
	emu.ClearRequests()
	res, err := NewTarget(PolicyManage, cl).Sync(ctx, decided())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"DELETE /groups/" + sgID + "/members/" + adaID + "/$ref",
		"POST /groups/" + sgID + "/members/$ref",
		"POST /users/" + bobID + "/assignLicense",
		"POST /groups/" + sgID + "/members/$ref",
		"POST /groups/" + teamID + "/members/$ref",
		"POST /users/" + danID + "/assignLicense",
	}
	if d := cmp.Diff(want, writes(emu)); d != "" {
		t.Fatalf("writes (-want +got):\n%s", d)
	}
	noUserDelete(t, emu)
	if res.Writes != len(want) {
		t.Errorf("Writes %d, want %d", res.Writes, len(want))
	}
	var changed []string
	for _, pr := range res.People {
		if pr.Changed() {
			changed = append(changed, pr.Person.UserName)
		}
		if pr.Err != nil || len(pr.Pending) != 0 {
			t.Errorf("%s: %v, pending %+v", pr.Person.UserName, pr.Err, pr.Pending)
		}
	}
	if d := cmp.Diff([]string{"ada@contoso.example", "bob@contoso.example", "dan@contoso.example"}, changed); d != "" {
		t.Errorf("people to addUser (-want +got):\n%s", d)
	}
	if ghost := res.People[5].Facts.Problems; len(ghost) != 1 || ghost[0].Kind != PersonNotFound {
		t.Errorf("ghost: %+v", ghost)
	}
	// The snapshot was kept up to date: comparing again finds nothing.
	for _, p := range decided().People {
		if c, _ := ComparePerson(p, res.Snapshot, all); len(c) != 0 {
			t.Errorf("%s: compared again: %+v", p.UserName, c)
		}
	}
	if u := res.Snapshot.SecurityGroup.Unmanaged; u.Count != 1 || u.First[0] != "eve@contoso.example" {
		t.Errorf("unmanaged %+v", u)
	}
	if d := cmp.Diff([]Sku{{SkuID: skuSales, SkuPartNumber: "DYN365_ENTERPRISE_SALES", Enabled: 3, Consumed: 3},
		{SkuID: skuApps, SkuPartNumber: "POWERAPPS_PER_USER", Enabled: 1, Consumed: 1}}, res.Snapshot.Skus); d != "" {
		t.Errorf("units in memory (-want +got):\n%s", d)
	}

	// What Entra ID holds now: ada out of the group with her license (EN4), grace's group license
	// untouched, eve left alone, lin kept out and unlicensed, nobody deleted.
	dir := emu.Directory()
	users := map[string]emulator.DirectoryUserDump{}
	for _, u := range dir.Users {
		users[u.ID] = u
	}
	if len(users) != 6 {
		t.Fatalf("%d users in the directory", len(users))
	}
	for id, wantGroups := range map[string][]string{adaID: {}, bobID: {sgID}, graceID: {sgID, licGroup}, linID: {}, danID: {sgID, teamID}, eveID: {sgID}} {
		if d := cmp.Diff(wantGroups, users[id].MemberOf); d != "" {
			t.Errorf("%s member of (-want +got):\n%s", users[id].UserPrincipalName, d)
		}
	}
	for id, n := range map[string]int{adaID: 1, bobID: 1, graceID: 1, linID: 0, danID: 1, eveID: 0} {
		if len(users[id].AssignedLicenses) != n {
			t.Errorf("%s holds %v", users[id].UserPrincipalName, users[id].AssignedLicenses)
		}
	}

	emu.ClearRequests()
	again, err := NewTarget(PolicyManage, cl).Sync(ctx, decided())
	if err != nil {
		t.Fatal(err)
	}
	if w := writes(emu); len(w) != 0 || again.Writes != 0 {
		t.Fatalf("a second sync wrote %v", w)
	}
	onlyReads(t, emu)
}

// TestObserveWritesNothing: under Observe the target has no writer; the differences are reported
// as pending and the log holds reads only.
func TestObserveWritesNothing(t *testing.T) {
	emu, cl := onEmulator(t, tenant())
	tgt := NewTarget(PolicyObserve, cl)
	if _, ok := tgt.writer(); ok {
		t.Fatal("a target under Observe has a writer")
	}
	emu.ClearRequests()
	res, err := tgt.Sync(context.Background(), decided())
	if err != nil {
		t.Fatal(err)
	}
	onlyReads(t, emu)
	if w := writes(emu); len(w) != 0 || res.Writes != 0 {
		t.Fatalf("Observe wrote %v", w)
	}
	pending := 0
	for _, pr := range res.People {
		pending += len(pr.Pending)
		if len(pr.Wrote) != 0 {
			t.Errorf("%s: wrote %+v", pr.Person.UserName, pr.Wrote)
		}
	}
	if pending != 6 {
		t.Errorf("%d differences reported, want the 6 Manage would write", pending)
	}
}

// TestLostAnswerNotResent: an add whose answer is lost (made, then the connection dropped) is not
// sent again, and what follows it for that person waits; the next sync observes the member and
// sends only what is still missing.
func TestLostAnswerNotResent(t *testing.T) {
	emu, cl := onEmulator(t, tenant())
	ctx := context.Background()
	env := decided()
	env.People = env.People[1:2] // bob: added to the group, then licensed
	emu.AddFault(emulator.Fault{Environment: emulator.GraphEnvironment, Method: "POST", PathContains: "members/$ref", DropAfter: true})
	emu.ClearRequests()
	res, err := NewTarget(PolicyManage, cl).Sync(ctx, env)
	if err != nil {
		t.Fatalf("a lost answer is the person's outcome, not the sync's error: %v", err)
	}
	bob := res.People[0]
	if !errors.Is(bob.Err, graph.ErrAnswerLost) || bob.Lost == nil || bob.Lost.Op != OpAddMember || len(bob.Pending) != 1 || !bob.Changed() {
		t.Fatalf("bob: %+v", bob)
	}
	if d := cmp.Diff([]string{"POST /groups/" + sgID + "/members/$ref"}, writes(emu)); d != "" {
		t.Fatalf("writes (-want +got):\n%s", d)
	}
	if res.Snapshot.Person(env.People[0]).InSecurityGroup {
		t.Error("a write whose answer was lost is not recorded as made")
	}

	emu.ClearRequests()
	if _, err := NewTarget(PolicyManage, cl).Sync(ctx, env); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"POST /users/" + bobID + "/assignLicense"}, writes(emu)); d != "" {
		t.Fatalf("the next sync (-want +got):\n%s", d)
	}
}

// TestRefusalsArePersonal: Graph refusing one person's license (usage location cleared behind
// the snapshot's back) ends that person's writes only.
func TestRefusalsArePersonal(t *testing.T) {
	emu, cl := onEmulator(t, tenant())
	env := decided()
	env.People = env.People[1:2]
	env.People = append(env.People, Person{UserName: "lin@contoso.example", InSecurityGroup: true})
	emu.AddFault(emulator.Fault{Environment: emulator.GraphEnvironment, Method: "POST", PathContains: "assignLicense", Status: 400, Code: "Request_BadRequest",
		Message: "License assignment cannot be done for user with invalid usage location."})
	emu.ClearRequests()
	res, err := NewTarget(PolicyManage, cl).Sync(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res.People[0].Err, graph.ErrNoUsageLocation) || len(res.People[0].Pending) != 1 {
		t.Fatalf("bob %+v", res.People[0])
	}
	want := []string{"POST /groups/" + sgID + "/members/$ref", "POST /users/" + bobID + "/assignLicense", "POST /groups/" + sgID + "/members/$ref"}
	if d := cmp.Diff(want, writes(emu)); d != "" {
		t.Fatalf("writes (-want +got):\n%s", d)
	}
}

// TestForbiddenStopsTheSync: a 403 concerns every write of its kind: the sync stops at the first,
// returns it naming the permission, and reports the rest as pending, unsent.
func TestForbiddenStopsTheSync(t *testing.T) {
	emu, cl := onEmulator(t, tenant())
	emu.SetAppPermissions(emulator.OperatorApplicationID, []string{"User.Read.All", "GroupMember.Read.All", "Organization.Read.All"})
	emu.ClearRequests()
	res, err := NewTarget(PolicyManage, cl).Sync(context.Background(), decided())
	var ge *graph.Error
	if !errors.Is(err, graph.ErrForbidden) || !errors.As(err, &ge) || ge.Permission != "GroupMember.ReadWrite.All" {
		t.Fatalf("err %v", err)
	}
	if d := cmp.Diff([]string{"DELETE /groups/" + sgID + "/members/" + adaID + "/$ref"}, writes(emu)); d != "" {
		t.Fatalf("writes (-want +got):\n%s", d)
	}
	if len(res.People) != 6 || len(res.People[1].Pending) != 2 || len(res.People[4].Pending) != 3 {
		t.Fatalf("pending not reported: %+v", res.People)
	}
}
