package dvsync

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// countingReader is a Web API of one environment that counts what is asked of it one by one.
type countingReader struct {
	Reader    // nil: a read the test did not expect panics
	users     []dataverse.SystemUser
	roles     []dataverse.Role
	links     []dataverse.UserRoleLink
	teams     []dataverse.Team
	members   []dataverse.TeamMemberLink
	teamRoles []dataverse.TeamRoleLink
	privs     map[string][]dataverse.RolePrivilege // by role id
	calls     map[string]int
	// tracked: systemusers has change tracking; version and changedAt version its users (change).
	tracked   bool
	version   int
	changedAt map[string]int
}

// change adds or replaces a user at a new version, as a write to Dataverse does.
func (r *countingReader) change(u dataverse.SystemUser) {
	r.version++
	if r.changedAt == nil {
		r.changedAt = map[string]int{}
	}
	r.changedAt[u.ID] = r.version
	for i := range r.users {
		if r.users[i].ID == u.ID {
			r.users[i] = u
			return
		}
	}
	r.users = append(r.users, u)
}

func (r *countingReader) ChangeTrackingEnabled(context.Context, string) (bool, error) {
	r.count("ChangeTrackingEnabled")
	return r.tracked, nil
}

func (r *countingReader) TrackUsers(_ context.Context, link string) (dataverse.UserDelta, error) {
	r.count("TrackUsers")
	if !r.tracked {
		return dataverse.UserDelta{}, &dataverse.Error{StatusCode: 400}
	}
	d := dataverse.UserDelta{Link: fmt.Sprintf("v%d", r.version)}
	since := -1
	if link != "" {
		_, _ = fmt.Sscanf(link, "v%d", &since)
	}
	for _, u := range r.users {
		if since < 0 || r.changedAt[u.ID] > since {
			d.Users = append(d.Users, u)
		}
	}
	return d, nil
}

func (r *countingReader) ListRolePrivilegeLinks(context.Context) ([]dataverse.RolePrivilegeLink, error) {
	r.count("ListRolePrivilegeLinks")
	var out []dataverse.RolePrivilegeLink
	for role, privs := range r.privs {
		for _, p := range privs {
			out = append(out, dataverse.RolePrivilegeLink{RoleID: role, PrivilegeID: p.PrivilegeID, DepthMask: 1 << p.Depth})
		}
	}
	return out, nil
}

func (r *countingReader) RolePrivileges(_ context.Context, roleID string) ([]dataverse.RolePrivilege, error) {
	r.count("RolePrivileges")
	return append([]dataverse.RolePrivilege(nil), r.privs[roleID]...), nil
}

func (r *countingReader) ListTeams(context.Context) ([]dataverse.Team, error) {
	r.count("ListTeams")
	return append([]dataverse.Team(nil), r.teams...), nil
}

func (r *countingReader) ListTeamMemberLinks(context.Context) ([]dataverse.TeamMemberLink, error) {
	r.count("ListTeamMemberLinks")
	return append([]dataverse.TeamMemberLink(nil), r.members...), nil
}

func (r *countingReader) ListTeamRoleLinks(context.Context) ([]dataverse.TeamRoleLink, error) {
	r.count("ListTeamRoleLinks")
	return append([]dataverse.TeamRoleLink(nil), r.teamRoles...), nil
}

func (r *countingReader) TeamByName(_ context.Context, name, bu string) (*dataverse.Team, error) {
	r.count("TeamByName")
	for _, t := range r.teams {
		if t.Name == name && t.BusinessUnitID == bu {
			return &t, nil
		}
	}
	return nil, &dataverse.Error{StatusCode: 404}
}

func (r *countingReader) TeamMembers(_ context.Context, teamID string) ([]string, error) {
	r.count("TeamMembers")
	out := []string{}
	for _, l := range r.members {
		if l.TeamID == teamID {
			out = append(out, l.UserID)
		}
	}
	return out, nil
}

func (r *countingReader) count(op string) { r.calls[op]++ }

func (r *countingReader) ListUsers(context.Context, string) ([]dataverse.SystemUser, error) {
	r.count("ListUsers")
	return append([]dataverse.SystemUser(nil), r.users...), nil
}

func (r *countingReader) ListRoles(context.Context, string) ([]dataverse.Role, error) {
	r.count("ListRoles")
	return append([]dataverse.Role(nil), r.roles...), nil
}

func (r *countingReader) ListUserRoleLinks(context.Context) ([]dataverse.UserRoleLink, error) {
	r.count("ListUserRoleLinks")
	return append([]dataverse.UserRoleLink(nil), r.links...), nil
}

func (r *countingReader) UserByObjectID(_ context.Context, oid string) (*dataverse.SystemUser, error) {
	r.count("UserByObjectID")
	for _, u := range r.users {
		if u.AzureActiveDirectoryObjectID == oid {
			return &u, nil
		}
	}
	return nil, &dataverse.Error{StatusCode: 404}
}

func (r *countingReader) UserByDomainName(_ context.Context, upn string) (*dataverse.SystemUser, error) {
	r.count("UserByDomainName")
	for _, u := range r.users {
		if u.DomainName == upn {
			return &u, nil
		}
	}
	return nil, &dataverse.Error{StatusCode: 404}
}

func (r *countingReader) UserRoles(_ context.Context, id string) ([]dataverse.Role, error) {
	r.count("UserRoles")
	var out []dataverse.Role
	for _, l := range r.links {
		if l.UserID == id {
			for _, role := range r.roles {
				if role.ID == l.RoleID {
					out = append(out, role)
				}
			}
		}
	}
	return out, nil
}

func (r *countingReader) RoleByName(_ context.Context, name, bu string) (*dataverse.Role, error) {
	r.count("RoleByName")
	for _, role := range r.roles {
		if role.Name == name && role.BusinessUnitID == bu {
			return &role, nil
		}
	}
	return nil, &dataverse.Error{StatusCode: 404}
}

type nopWriter struct{ Writer }

func (nopWriter) AssignUserRole(context.Context, string, string) error   { return nil }
func (nopWriter) UnassignUserRole(context.Context, string, string) error { return nil }
func (nopWriter) UpdateUser(context.Context, string, string, dataverse.UserPatch) error {
	return nil
}

const (
	bu       = "b0000000-0000-4000-8000-000000000001"
	adaID    = "a0000000-0000-4000-8000-000000000001"
	adaOID   = "0a000000-0000-4000-8000-000000000001"
	bobID    = "a0000000-0000-4000-8000-000000000002"
	roleA    = "c0000000-0000-4000-8000-000000000001"
	roleB    = "c0000000-0000-4000-8000-000000000002"
	teamA    = "d0000000-0000-4000-8000-000000000001"
	privRead = "e0000000-0000-4000-8000-000000000001"
	privDel  = "e0000000-0000-4000-8000-000000000002"
	teamB    = "d0000000-0000-4000-8000-000000000002"
)

func environmentOf() *countingReader {
	return &countingReader{calls: map[string]int{},
		users: []dataverse.SystemUser{
			{ID: adaID, DomainName: "ada@contoso.com", AzureActiveDirectoryObjectID: adaOID, BusinessUnitID: bu},
			{ID: bobID, DomainName: "bob@contoso.com", BusinessUnitID: bu},
		},
		roles:     []dataverse.Role{{ID: roleA, Name: "Seller", BusinessUnitID: bu}, {ID: roleB, Name: "Buyer", BusinessUnitID: bu}},
		links:     []dataverse.UserRoleLink{{UserID: adaID, RoleID: roleA}},
		teams:     []dataverse.Team{{ID: teamA, Name: "closers", BusinessUnitID: bu}},
		members:   []dataverse.TeamMemberLink{{TeamID: teamA, UserID: adaID}},
		teamRoles: []dataverse.TeamRoleLink{{TeamID: teamA, RoleID: roleB}},
		privs:     map[string][]dataverse.RolePrivilege{roleA: {{PrivilegeID: privRead, Depth: dataverse.DepthGlobal}}},
	}
}

// The reads of a thousand reconciles cost the snapshot's three list reads, not one per object.
func TestSnapshotAnswersReadsFromOneBulkRead(t *testing.T) {
	ctx := context.Background()
	api := environmentOf()
	s := &snapshot{}
	if err := s.refresh(ctx, api, time.Now()); err != nil {
		t.Fatal(err)
	}
	r := snapshotReader{Reader: api, s: s}
	for i := 0; i < 1000; i++ {
		if u, err := r.UserByObjectID(ctx, adaOID); err != nil || u.ID != adaID {
			t.Fatalf("UserByObjectID = %v, %v", u, err)
		}
		if u, err := r.UserByDomainName(ctx, "BOB@contoso.com"); err != nil || u.ID != bobID {
			t.Fatalf("UserByDomainName = %v, %v", u, err)
		}
		roles, err := r.UserRoles(ctx, adaID)
		if err != nil || len(roles) != 1 || roles[0].Name != "Seller" {
			t.Fatalf("UserRoles = %v, %v", roles, err)
		}
		if role, err := r.RoleByName(ctx, "Buyer", bu); err != nil || role.ID != roleB {
			t.Fatalf("RoleByName = %v, %v", role, err)
		}
	}
	want := map[string]int{"ChangeTrackingEnabled": 1, "ListUsers": 1, "ListRoles": 1, "ListUserRoleLinks": 1, "ListTeams": 1, "ListTeamMemberLinks": 1, "ListTeamRoleLinks": 1, "ListRolePrivilegeLinks": 1}
	if d := cmp.Diff(want, api.calls); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
	if s.Requests != 7 {
		t.Errorf("Requests = %d, want 7", s.Requests)
	}
}

// What the snapshot cannot know — a person added since it was read, a record the operator wrote
// — is read alone (without change tracking), once, and kept; a person it does not hold is taken as
// absent at the first look, without a read; an association written is recorded, so comparing
// again finds nothing to do.
func TestSnapshotReadsWhatItCannotKnowAlone(t *testing.T) {
	ctx := context.Background()
	api := environmentOf()
	s := &snapshot{}
	if err := s.refresh(ctx, api, time.Now()); err != nil {
		t.Fatal(err)
	}
	r, w := snapshotReader{Reader: api, s: s}, snapshotWriter{Writer: nopWriter{}, s: s}

	const carolOID = "0a000000-0000-4000-8000-000000000003"
	api.users = append(api.users, dataverse.SystemUser{ID: "a0000000-0000-4000-8000-000000000003", DomainName: "carol@contoso.com", AzureActiveDirectoryObjectID: carolOID})
	if u, err := r.UserByObjectID(ctx, carolOID); !isNotFound(err) || u != nil || api.calls["UserByObjectID"] != 0 {
		t.Fatalf("the first look at a person the snapshot lacks is an absence without a read: %v, %v, %d reads", u, err, api.calls["UserByObjectID"])
	}
	for i := 0; i < 3; i++ {
		if u, err := r.UserByObjectID(ctx, carolOID); err != nil || u == nil {
			t.Fatalf("a person added since the read: %v, %v", u, err)
		}
	}
	if api.calls["UserByObjectID"] != 1 {
		t.Errorf("a person added since the read is read alone once, then kept: %d reads", api.calls["UserByObjectID"])
	}

	if err := w.AssignUserRole(ctx, bobID, roleB); err != nil {
		t.Fatal(err)
	}
	roles, _ := r.UserRoles(ctx, bobID)
	if len(roles) != 1 || roles[0].ID != roleB || api.calls["UserRoles"] != 0 {
		t.Errorf("an assignment made is recorded: roles %v, %d reads", roles, api.calls["UserRoles"])
	}
	if err := w.UnassignUserRole(ctx, adaID, roleA); err != nil {
		t.Fatal(err)
	}
	if roles, _ := r.UserRoles(ctx, adaID); len(roles) != 0 {
		t.Errorf("an unassignment made is recorded: %v", roles)
	}

	if err := w.UpdateUser(ctx, adaID, `W/"1"`, dataverse.UserPatch{}); err != nil {
		t.Fatal(err)
	}
	before := api.calls["UserByObjectID"]
	if _, err := r.UserByObjectID(ctx, adaOID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.UserByObjectID(ctx, adaOID); err != nil {
		t.Fatal(err)
	}
	if got := api.calls["UserByObjectID"] - before; got != 1 {
		t.Errorf("a user the operator wrote (new version and ETag) is read alone once: %d reads", got)
	}
}

// Teams, their members and their roles come from the snapshot too; a team created since is read
// alone and kept; a membership or role written is recorded; a write whose outcome is unknown
// makes the team's next read go to the Web API.
func TestSnapshotAnswersTeamReads(t *testing.T) {
	ctx := context.Background()
	api := environmentOf()
	s := &snapshot{}
	if err := s.refresh(ctx, api, time.Now()); err != nil {
		t.Fatal(err)
	}
	r, w := snapshotReader{Reader: api, s: s}, snapshotWriter{Writer: nopTeamWriter{}, s: s}
	for i := 0; i < 100; i++ {
		team, err := r.TeamByName(ctx, "closers", bu)
		if err != nil || team.ID != teamA {
			t.Fatalf("TeamByName = %v, %v", team, err)
		}
		if m, err := r.TeamMembers(ctx, teamA); err != nil || !cmp.Equal(m, []string{adaID}) {
			t.Fatalf("TeamMembers = %v, %v", m, err)
		}
		if roles, err := r.TeamRoles(ctx, teamA); err != nil || len(roles) != 1 || roles[0].ID != roleB {
			t.Fatalf("TeamRoles = %v, %v", roles, err)
		}
	}
	api.teams = append(api.teams, dataverse.Team{ID: teamB, Name: "openers", BusinessUnitID: bu})
	for i := 0; i < 3; i++ {
		if team, err := r.TeamByName(ctx, "openers", bu); err != nil || team.ID != teamB {
			t.Fatalf("a team created since: %v, %v", team, err)
		}
	}
	if err := w.AddTeamMembers(ctx, teamA, bobID); err != nil {
		t.Fatal(err)
	}
	if m, _ := r.TeamMembers(ctx, teamA); !cmp.Equal(m, []string{adaID, bobID}) {
		t.Errorf("a member added is recorded: %v", m)
	}
	if err := w.UnassignTeamRole(ctx, teamA, roleB); err != nil {
		t.Fatal(err)
	}
	if roles, _ := r.TeamRoles(ctx, teamA); len(roles) != 0 {
		t.Errorf("a role removed is recorded: %v", roles)
	}
	want := map[string]int{"ChangeTrackingEnabled": 1, "ListUsers": 1, "ListRoles": 1, "ListUserRoleLinks": 1, "ListTeams": 1, "ListTeamMemberLinks": 1, "ListTeamRoleLinks": 1, "ListRolePrivilegeLinks": 1, "TeamByName": 1}
	if d := cmp.Diff(want, api.calls); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
	// An answer lost: the team's members are read alone next.
	lost := snapshotWriter{Writer: nopTeamWriter{err: dataverse.ErrAnswerLost}, s: s}
	if err := lost.RemoveTeamMembers(ctx, teamA, bobID); err == nil {
		t.Fatal("the lost answer is the caller's error")
	}
	if _, err := r.TeamMembers(ctx, teamA); err != nil || api.calls["TeamMembers"] != 1 {
		t.Errorf("after a lost answer the members are read alone: %d reads, %v", api.calls["TeamMembers"], err)
	}
}

// A role's privileges come from the snapshot (the intersect table's depth mask read as a depth); a
// role with none is known to have none; a role found since is read alone; a replacement made is
// recorded, and one whose outcome is unknown makes the next read go to the Web API.
func TestSnapshotAnswersRolePrivileges(t *testing.T) {
	ctx := context.Background()
	api := environmentOf()
	s := &snapshot{}
	if err := s.refresh(ctx, api, time.Now()); err != nil {
		t.Fatal(err)
	}
	r := snapshotReader{Reader: api, s: s}
	for i := 0; i < 50; i++ {
		if p, err := r.RolePrivileges(ctx, roleA); err != nil || !cmp.Equal(p, []dataverse.RolePrivilege{{PrivilegeID: privRead, Depth: dataverse.DepthGlobal}}) {
			t.Fatalf("RolePrivileges(A) = %v, %v", p, err)
		}
		if p, err := r.RolePrivileges(ctx, roleB); err != nil || len(p) != 0 {
			t.Fatalf("RolePrivileges(B) = %v, %v", p, err)
		}
	}
	const roleC = "c0000000-0000-4000-8000-000000000003"
	api.privs[roleC] = []dataverse.RolePrivilege{{PrivilegeID: privRead, Depth: dataverse.DepthBasic}}
	if p, _ := r.RolePrivileges(ctx, roleC); len(p) != 1 || api.calls["RolePrivileges"] != 1 {
		t.Fatalf("a role created since is read alone: %v, %d reads", p, api.calls["RolePrivileges"])
	}
	w := snapshotWriter{Writer: privWriter{}, s: s}
	next := []dataverse.RolePrivilege{{PrivilegeID: privDel, Depth: dataverse.DepthLocal, BusinessUnitID: bu}}
	if err := w.ReplacePrivileges(ctx, roleA, next); err != nil {
		t.Fatal(err)
	}
	if p, _ := r.RolePrivileges(ctx, roleA); !cmp.Equal(p, []dataverse.RolePrivilege{{PrivilegeID: privDel, Depth: dataverse.DepthLocal}}) || api.calls["RolePrivileges"] != 1 {
		t.Fatalf("a replacement made is recorded: %v, %d reads", p, api.calls["RolePrivileges"])
	}
	lost := snapshotWriter{Writer: privWriter{err: dataverse.ErrAnswerLost}, s: s}
	_ = lost.ReplacePrivileges(ctx, roleA, next)
	if _, err := r.RolePrivileges(ctx, roleA); err != nil || api.calls["RolePrivileges"] != 2 {
		t.Fatalf("after a lost answer the privileges are read alone: %d reads, %v", api.calls["RolePrivileges"], err)
	}
}

type privWriter struct {
	Writer
	err error
}

func (w privWriter) ReplacePrivileges(context.Context, string, []dataverse.RolePrivilege) error {
	return w.err
}

type nopTeamWriter struct {
	Writer
	err error
}

func (w nopTeamWriter) AddTeamMembers(context.Context, string, ...string) error    { return w.err }
func (w nopTeamWriter) RemoveTeamMembers(context.Context, string, ...string) error { return w.err }
func (w nopTeamWriter) UnassignTeamRole(context.Context, string, string) error     { return w.err }

func TestSnapshotDue(t *testing.T) {
	now := time.Now()
	s := &snapshot{}
	if !s.due(now, time.Minute) {
		t.Error("never read: due")
	}
	if err := s.refresh(context.Background(), environmentOf(), now); err != nil {
		t.Fatal(err)
	}
	if s.due(now.Add(59*time.Second), time.Minute) {
		t.Error("read within the interval: not due")
	}
	if !s.due(now.Add(time.Minute), time.Minute) {
		t.Error("read an interval ago: due")
	}
	s.failed = true
	if !s.due(now, time.Minute) {
		t.Error("the last read failed: due")
	}
}

// Issue 21: each environment's snapshot age is a metric, read at scrape time (an environment
// never read has none).
func TestSnapshotAgeMetric(t *testing.T) {
	p := &Pool{envs: map[string]*connection{}}
	read, never := &connection{snap: &snapshot{}}, &connection{snap: &snapshot{}}
	read.published.Store(read.snap)
	never.published.Store(never.snap)
	p.envs["contoso/dev"], p.envs["contoso/new"] = read, never
	if err := read.snap.refresh(context.Background(), environmentOf(), time.Now().Add(-90*time.Second)); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(p)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("series: %v", mfs)
	}
	m := mfs[0].GetMetric()[0]
	if age := m.GetGauge().GetValue(); mfs[0].GetName() != "dataverse_snapshot_age_seconds" || age < 90 || age > 100 {
		t.Fatalf("%s = %v", mfs[0].GetName(), age)
	}
	if d := cmp.Diff("environment=dev namespace=contoso", m.GetLabel()[0].GetName()+"="+m.GetLabel()[0].GetValue()+" "+m.GetLabel()[1].GetName()+"="+m.GetLabel()[1].GetValue()); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
}

// With change tracking on systemusers, what the snapshot cannot know is answered by catch-ups —
// one delta read shared by every look that needs it — instead of one read per person: a person
// asked from Entra ID is looked for in the changes since, and found when it arrives (its roles
// read with the intersect table, once); a record written is fresh again after the next catch-up;
// an expired token makes the snapshot due for a full read.
func TestSnapshotCatchesUpWithChangeTracking(t *testing.T) {
	ctx := context.Background()
	api := environmentOf()
	api.tracked = true
	s := &snapshot{}
	if err := s.refresh(ctx, api, time.Now()); err != nil {
		t.Fatal(err)
	}
	if api.calls["TrackUsers"] != 1 || api.calls["ListUsers"] != 0 || !s.tracked() {
		t.Fatalf("the full read goes through change tracking: %v", api.calls)
	}
	r := snapshotReader{Reader: api, bulk: api, s: s}
	w := snapshotWriter{Writer: nopWriter{}, s: s}

	const carolOID, carolID = "0a000000-0000-4000-8000-000000000003", "a0000000-0000-4000-8000-000000000003"
	if _, err := r.UserByObjectID(ctx, carolOID); !isNotFound(err) {
		t.Fatalf("first look: %v", err)
	}
	r.asked(carolOID) // addUser
	for i := 0; i < 5; i++ {
		if _, err := r.UserByObjectID(ctx, carolOID); !isNotFound(err) {
			t.Fatalf("not arrived yet: %v", err)
		}
		if _, err := r.UserByDomainName(ctx, "carol@contoso.com"); !isNotFound(err) {
			t.Fatalf("not arrived yet (by name): %v", err)
		}
	}
	if got := api.calls["TrackUsers"] - 1; got != 5 {
		t.Errorf("each look after the last needs one catch-up, shared by the look by name: %d catch-ups for 5 looks", got)
	}
	api.change(dataverse.SystemUser{ID: carolID, DomainName: "carol@contoso.com", AzureActiveDirectoryObjectID: carolOID, BusinessUnitID: bu})
	api.links = append(api.links, dataverse.UserRoleLink{UserID: carolID, RoleID: roleB})
	u, err := r.UserByObjectID(ctx, carolOID)
	if err != nil || u.ID != carolID {
		t.Fatalf("arrived: %v, %v", u, err)
	}
	for i := 0; i < 3; i++ {
		if roles, err := r.UserRoles(ctx, carolID); err != nil || len(roles) != 1 || roles[0].ID != roleB {
			t.Fatalf("the arrival's roles: %v, %v", roles, err)
		}
	}
	if api.calls["ListUserRoleLinks"] != 2 || api.calls["UserRoles"] != 0 || api.calls["UserByObjectID"] != 0 || api.calls["UserByDomainName"] != 0 {
		t.Errorf("arrivals are read with the catch-up and the intersect table, never alone: %v", api.calls)
	}

	before := api.calls["TrackUsers"]
	if err := w.UpdateUser(ctx, adaID, `W/"1"`, dataverse.UserPatch{}); err != nil {
		t.Fatal(err)
	}
	api.change(dataverse.SystemUser{ID: adaID, DomainName: "ada@contoso.com", AzureActiveDirectoryObjectID: adaOID, BusinessUnitID: bu, AccessMode: 1})
	for i := 0; i < 3; i++ {
		if u, err := r.UserByObjectID(ctx, adaOID); err != nil || u.AccessMode != 1 {
			t.Fatalf("a user written: %v, %v", u, err)
		}
	}
	if got := api.calls["TrackUsers"] - before; got != 1 || api.calls["UserByObjectID"] != 0 {
		t.Errorf("a user written is fresh again after one catch-up: %d catch-ups, %d reads alone", got, api.calls["UserByObjectID"])
	}

	expired := &expiringReader{countingReader: api}
	r.bulk = expired
	markStale(s, adaID)
	if _, err := r.UserByObjectID(ctx, adaOID); err != nil {
		t.Fatalf("after an expired token the user is read alone: %v", err)
	}
	if api.calls["UserByObjectID"] != 1 || !s.due(time.Now(), time.Hour) || s.tracked() {
		t.Errorf("an expired token: read alone (%d), the snapshot due for a full read (%v)", api.calls["UserByObjectID"], s.due(time.Now(), time.Hour))
	}
}

// expiringReader refuses every deltaLink as expired.
type expiringReader struct{ *countingReader }

func (r *expiringReader) TrackUsers(ctx context.Context, link string) (dataverse.UserDelta, error) {
	if link != "" {
		return dataverse.UserDelta{}, fmt.Errorf("%w: 400", dataverse.ErrDeltaExpired)
	}
	return r.countingReader.TrackUsers(ctx, link)
}

// An object in place is re-checked just after its environment's next snapshot read (due one
// interval after the last), not one interval after its own sync: the fleet's re-checks share one
// read per interval, and a change made behind the operator's back is seen within one interval.
func TestRecheckFollowsTheNextSnapshotRead(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	env := &v1alpha1.Environment{Spec: v1alpha1.EnvironmentSpec{Dataverse: &v1alpha1.DataverseTarget{SyncInterval: &metav1.Duration{Duration: 2 * time.Minute}}}}
	s := &snapshot{}
	tg := &Target{Env: env, Now: now, reader: snapshotReader{s: s}}
	if got := tg.recheck(); got != 2*time.Minute {
		t.Errorf("no snapshot read yet: re-check after the interval, got %v", got)
	}
	s.takenAt.Store(now.Add(-30 * time.Second).UnixNano())
	if got := tg.recheck(); got != 90*time.Second {
		t.Errorf("read 30 s ago: re-check when the next read is due, 90 s, got %v", got)
	}
	s.takenAt.Store(now.Add(-3 * time.Minute).UnixNano())
	if got := tg.recheck(); got != 2*time.Minute {
		t.Errorf("a read overdue (failing, throttled): re-check after the interval, got %v", got)
	}
}
