package entrasync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/internal/graph"
	"github.com/accessplane/dataverse-access-operator/internal/webapi/webapitest"
)

// The Pool: one snapshot per environment, read in bulk at most once per interval and kept up to
// date with the writes made, people the snapshot lacks read alone once, a failed observation
// kept stale and not retried before its Retry-After, and group claims arbitrated across
// environments (the older environment's decision stands). A fake Graph client counts requests
// the way Graph bills them: one per group resolution, one per page of 999 members, one per
// $batch of 20 people, one for subscribedSkus.

// fakeGraph is an in-memory tenant implementing Client.
type fakeGraph struct {
	mu     sync.Mutex
	users  []*graph.User
	groups []*fakeGroup
	skus   []graph.SubscribedSku
	// reads counts requests by operation; writes lists the writes sent, in order.
	reads  map[string]int
	writes []string
	// failReads, when set, is every read's answer.
	failReads error
	// lose: the next write of that operation is made and its answer lost (ErrAnswerLost).
	lose map[string]bool
	// inFlight, when set, runs once as a write is sent, before it lands.
	inFlight func()
}

type fakeGroup struct {
	graph.Group
	members []string // object ids
}

var _ Client = (*fakeGraph)(nil)

func (f *fakeGraph) read(op string, n int) error {
	if f.reads == nil {
		f.reads = map[string]int{}
	}
	if f.failReads != nil {
		f.reads[op]++
		return f.failReads
	}
	f.reads[op] += n
	return nil
}

// requests is how many read requests were sent.
func (f *fakeGraph) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.reads {
		n += c
	}
	return n
}

func (f *fakeGraph) sentWrites() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.writes)
}

func (f *fakeGraph) user(idOrUPN string) *graph.User {
	for _, u := range f.users {
		if strings.EqualFold(u.ID, idOrUPN) || strings.EqualFold(u.UserPrincipalName, idOrUPN) {
			return u
		}
	}
	return nil
}

func (f *fakeGraph) group(id string) *fakeGroup {
	for _, g := range f.groups {
		if strings.EqualFold(g.ID, id) {
			return g
		}
	}
	return nil
}

func (f *fakeGraph) Users(_ context.Context, ids []string) (map[string]*graph.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.read("Users", (len(ids)+graph.MaxBatch-1)/graph.MaxBatch); err != nil {
		return nil, err
	}
	out := map[string]*graph.User{}
	for _, id := range ids {
		if u := f.user(id); u != nil {
			c := *u
			c.AssignedLicenses = slices.Clone(u.AssignedLicenses)
			c.LicenseAssignmentStates = slices.Clone(u.LicenseAssignmentStates)
			out[id] = &c
		}
	}
	return out, nil
}

func (f *fakeGraph) GroupMembers(_ context.Context, id string) ([]graph.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.group(id)
	if g == nil {
		return nil, fmt.Errorf("group %s: %w", id, graph.ErrNotFound)
	}
	if err := f.read("GroupMembers", max(1, (len(g.members)+membersPage-1)/membersPage)); err != nil {
		return nil, err
	}
	var out []graph.Member
	for _, m := range g.members {
		upn := m
		if u := f.user(m); u != nil {
			upn = u.UserPrincipalName
		}
		out = append(out, graph.Member{ID: m, UserPrincipalName: upn})
	}
	return out, nil
}

func (f *fakeGraph) GroupsByName(_ context.Context, name string) ([]graph.Group, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.read("GroupsByName", 1); err != nil {
		return nil, err
	}
	var out []graph.Group
	for _, g := range f.groups {
		if strings.EqualFold(g.DisplayName, name) {
			out = append(out, g.Group)
		}
	}
	return out, nil
}

func (f *fakeGraph) Group(_ context.Context, id string) (*graph.Group, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.read("Group", 1); err != nil {
		return nil, err
	}
	g := f.group(id)
	if g == nil {
		return nil, fmt.Errorf("group %s: %w", id, graph.ErrNotFound)
	}
	c := g.Group
	return &c, nil
}

func (f *fakeGraph) SubscribedSkus(context.Context) ([]graph.SubscribedSku, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.read("SubscribedSkus", 1); err != nil {
		return nil, err
	}
	return slices.Clone(f.skus), nil
}

// answer is a write's answer: lost once when asked (the write itself is made).
func (f *fakeGraph) answer(op string) error {
	if f.lose[op] {
		delete(f.lose, op)
		return fmt.Errorf("%s: connection reset: %w", op, graph.ErrAnswerLost)
	}
	return nil
}

func (f *fakeGraph) AddMember(_ context.Context, groupID, userID string) error {
	if hook := f.inFlight; hook != nil {
		f.inFlight = nil
		hook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, "AddMember "+groupID+" "+userID)
	g := f.group(groupID)
	if !slices.Contains(g.members, userID) { // already a member: done, as graph.Client answers
		g.members = append(g.members, userID)
	}
	return f.answer("AddMember")
}

func (f *fakeGraph) RemoveMember(_ context.Context, groupID, userID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, "RemoveMember "+groupID+" "+userID)
	g := f.group(groupID)
	g.members = slices.DeleteFunc(g.members, func(m string) bool { return m == userID })
	return f.answer("RemoveMember")
}

func (f *fakeGraph) AssignLicense(_ context.Context, userID string, add, remove []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, fmt.Sprintf("AssignLicense %s +%v -%v", userID, add, remove))
	u := f.user(userID)
	for _, id := range add {
		u.AssignedLicenses = append(u.AssignedLicenses, graph.AssignedLicense{SkuID: id})
		u.LicenseAssignmentStates = append(u.LicenseAssignmentStates, graph.LicenseAssignmentState{SkuID: id, State: "Active"})
		for i := range f.skus {
			if f.skus[i].SkuID == id {
				f.skus[i].ConsumedUnits++
			}
		}
	}
	for _, id := range remove {
		u.AssignedLicenses = slices.DeleteFunc(u.AssignedLicenses, func(l graph.AssignedLicense) bool { return l.SkuID == id })
		u.LicenseAssignmentStates = slices.DeleteFunc(u.LicenseAssignmentStates, func(l graph.LicenseAssignmentState) bool { return l.SkuID == id })
	}
	return f.answer("AssignLicense")
}

// throttled is Graph's 429 with a Retry-After.
type throttled struct{ after time.Duration }

func (e throttled) Error() string            { return fmt.Sprintf("graph: throttled, retry after %s", e.after) }
func (e throttled) RetryHint() time.Duration { return e.after }
func (e throttled) Is(target error) bool     { return target == graph.ErrThrottled }

func personID(i int) string   { return fmt.Sprintf("b0000000-0000-4000-8000-%012d", i) }
func personName(i int) string { return fmt.Sprintf("p%02d@contoso.example", i) }
func personOf(i int, mut ...func(*Person)) Person {
	p := Person{UserName: personName(i), InSecurityGroup: true}
	for _, m := range mut {
		m(&p)
	}
	return p
}

const (
	otherSG    = "5a000000-0000-4000-8000-0000000000ff"
	poolPeople = 45
	unmanagedN = 1000
	// poolCost is one snapshot of poolTenant: 2 group resolutions (the security group by id,
	// "closers" by name) + 3 member pages (1,045 members: 2; closers: 1) + ceil(45/20) = 3
	// person batches + 1 subscribedSkus.
	poolCost = 2 + 3 + 3 + 1
)

// poolTenant: people p00…p44 (every tenth found by object id), all direct members of the
// security group with 1,000 members no person is; p00…p09 also of "closers"; a SKU with units
// left; "sg-other", another security group with only p00 as a member.
func poolTenant() (*fakeGraph, []Person) {
	f := &fakeGraph{skus: []graph.SubscribedSku{{SkuID: skuSales, SkuPartNumber: "DYN365_ENTERPRISE_SALES", PrepaidUnits: graph.Units{Enabled: 100}}}}
	sg := &fakeGroup{Group: graph.Group{ID: sgID, DisplayName: "sg-sales", SecurityEnabled: true}}
	closers := &fakeGroup{Group: graph.Group{ID: teamID, DisplayName: "closers", SecurityEnabled: true}}
	other := &fakeGroup{Group: graph.Group{ID: otherSG, DisplayName: "sg-other", SecurityEnabled: true}, members: []string{personID(0)}}
	var people []Person
	for i := 0; i < poolPeople; i++ {
		f.users = append(f.users, &graph.User{ID: personID(i), UserPrincipalName: personName(i), AccountEnabled: true, UsageLocation: "GB"})
		sg.members = append(sg.members, personID(i))
		p := personOf(i)
		if i%10 == 0 {
			p.ObjectID = personID(i)
		}
		if i < 10 {
			closers.members = append(closers.members, personID(i))
			p.Groups = []string{"closers"}
		}
		people = append(people, p)
	}
	for i := 0; i < unmanagedN; i++ {
		id := fmt.Sprintf("c0000000-0000-4000-8000-%012d", i)
		f.users = append(f.users, &graph.User{ID: id, UserPrincipalName: fmt.Sprintf("u%04d@contoso.example", i), AccountEnabled: true})
		sg.members = append(sg.members, id)
	}
	// Two people Entra ID has that no snapshot lists until they are asked for.
	f.users = append(f.users, &graph.User{ID: personID(90), UserPrincipalName: personName(90), AccountEnabled: true, UsageLocation: "GB"})
	f.groups = []*fakeGroup{sg, closers, other}
	return f, people
}

// adaTenant: ada, sign-in allowed, usage location GB, no license, in no group; the security
// group, closers and sg-other exist; the SKU has units left.
func adaTenant() *fakeGraph {
	return &fakeGraph{
		users: []*graph.User{{ID: adaID, UserPrincipalName: "ada@contoso.example", AccountEnabled: true, UsageLocation: "GB"}},
		groups: []*fakeGroup{
			{Group: graph.Group{ID: sgID, DisplayName: "sg-sales", SecurityEnabled: true}},
			{Group: graph.Group{ID: teamID, DisplayName: "closers", SecurityEnabled: true}},
		},
		skus: []graph.SubscribedSku{{SkuID: skuSales, SkuPartNumber: "DYN365_ENTERPRISE_SALES", PrepaidUnits: graph.Units{Enabled: 3}}},
	}
}

func poolOf(f *fakeGraph) *Pool {
	return &Pool{
		Secret: func(context.Context, string, string) (*SecretData, error) {
			return &SecretData{Data: map[string][]byte{"tenantId": []byte("contoso.example")}, ResourceVersion: "1"}, nil
		},
		Credential: func(map[string][]byte) (azcore.TokenCredential, error) { return &webapitest.Cred{Token: "t"}, nil },
		NewClient:  func(string, azcore.TokenCredential) (Client, error) { return f, nil },
	}
}

var poolT0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

const interval = 10 * time.Minute

func specOf(key string, created time.Time, mut ...func(*Spec)) Spec {
	s := Spec{Key: key, Namespace: strings.SplitN(key, "/", 2)[0], SecretName: "graph", Policy: PolicyManage, Manage: DefaultManage,
		SecurityGroup: sgID, Interval: interval, Created: created}
	for _, m := range mut {
		m(&s)
	}
	return s
}

func withGroups(gs ...string) func(*Spec) { return func(s *Spec) { s.GroupTeamGroups = gs } }
func managing(m Manage) func(*Spec)       { return func(s *Spec) { s.Manage = m } }

// adaAs is ada as an environment decided her: in the security group or not, with mutations.
func adaAs(in bool, mut ...func(*Person)) Person {
	p := Person{UserName: "ada@contoso.example", InSecurityGroup: in}
	for _, m := range mut {
		m(&p)
	}
	return p
}

func listOf(ps ...Person) func() []Person { return func() []Person { return ps } }

// observeNow is the read before a person's decision, which must succeed.
func observeNow(t *testing.T, p *Pool, spec Spec, person Person, people func() []Person, at time.Time) *PersonState {
	t.Helper()
	ps, err := p.Person(context.Background(), spec, person, people, at)
	if err != nil || ps == nil {
		t.Fatalf("Person(%s) in %s: %v, %v", person.UserName, spec.Key, ps, err)
	}
	return ps
}

func kinds(ps []Problem) []ProblemKind {
	var out []ProblemKind
	for _, p := range ps {
		out = append(out, p.Kind)
	}
	return out
}

// ops names each change by its op, group and person ("AddMember <group><user>").
func ops(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, string(c.Op)+" "+c.Group+c.User)
	}
	return out
}

func TestPoolObservesOncePerInterval(t *testing.T) {
	ctx := context.Background()
	f, people := poolTenant()
	p := poolOf(f)
	spec := specOf("team-a/prod", poolT0, withGroups("closers"))
	listed := 0
	list := func() []Person { listed++; return people }

	at := poolT0
	for round := 0; round < 3; round++ { // three reconciles of every person within the interval
		for i, person := range people {
			ps := observeNow(t, p, spec, person, list, at)
			if !ps.Found || !ps.InSecurityGroup || ps.ObjectID != personID(i) {
				t.Fatalf("%s observed as %+v", person.UserName, ps)
			}
			pr, _ := p.SyncPerson(ctx, spec, person, "team-a/"+person.UserName)
			if pr.Err != nil || len(pr.Wrote)+len(pr.Pending)+len(pr.Facts.Problems) > 0 {
				t.Fatalf("%s: %+v", person.UserName, pr)
			}
		}
		at = at.Add(interval/3 - time.Second)
	}
	if got := f.requests(); got != poolCost {
		t.Errorf("%d people reconciled 3 times in one interval cost %d requests (%v), want one snapshot: %d", poolPeople, got, f.reads, poolCost)
	}
	if diff := cmp.Diff(map[string]int{"Group": 1, "GroupsByName": 1, "GroupMembers": 3, "Users": 3, "SubscribedSkus": 1}, f.reads); diff != "" {
		t.Errorf("requests by operation (-want +got):\n%s", diff)
	}
	if listed != 1 {
		t.Errorf("the people were listed %d times, want once per snapshot", listed)
	}
	if e := p.envs[spec.Key]; e.snap.Requests != poolCost {
		t.Errorf("the snapshot says it cost %d requests, want %d", e.snap.Requests, poolCost)
	}
	if w := f.sentWrites(); len(w) > 0 {
		t.Errorf("nothing differs, yet sent %v", w)
	}

	// The Environment's view is the same snapshot.
	v, err := p.Environment(ctx, spec, people, at)
	if err != nil || v.SecurityGroup.Unmanaged.Count != unmanagedN || len(v.SecurityGroup.Unmanaged.First) != MaxUnmanagedListed {
		t.Fatalf("Environment view: %+v, %v", v, err)
	}
	if v.SecurityGroup.Members != nil {
		t.Errorf("the view copies no members")
	}
	if got := f.requests(); got != poolCost {
		t.Errorf("the Environment's view read Graph again: %d requests", got)
	}

	// The interval elapsed: one new snapshot, then none again.
	at = poolT0.Add(interval)
	for _, person := range people {
		observeNow(t, p, spec, person, list, at)
	}
	if got := f.requests(); got != 2*poolCost {
		t.Errorf("after the interval: %d requests, want %d", got, 2*poolCost)
	}
	if listed != 2 {
		t.Errorf("the people were listed %d times, want twice", listed)
	}
}

func TestPoolReadsANewPersonAloneOnce(t *testing.T) {
	ctx := context.Background()
	f, people := poolTenant()
	p := poolOf(f)
	spec := specOf("team-a/prod", poolT0)
	list := listOf(people[:3]...)
	observeNow(t, p, spec, people[0], list, poolT0)
	base := f.requests() // 1 group + 2 pages + 1 batch + 1 skus

	newcomer := personOf(90)
	for i := 0; i < 3; i++ {
		ps := observeNow(t, p, spec, newcomer, list, poolT0.Add(time.Minute))
		if !ps.Found || ps.ObjectID != personID(90) || ps.InSecurityGroup {
			t.Fatalf("newcomer observed as %+v", ps)
		}
	}
	if got := f.requests() - base; got != 1 {
		t.Errorf("a person the snapshot lacks cost %d requests over three reads, want 1", got)
	}

	ghost := Person{UserName: "ghost@contoso.example", InSecurityGroup: true}
	for i := 0; i < 3; i++ {
		if ps := observeNow(t, p, spec, ghost, list, poolT0.Add(time.Minute)); ps.Found {
			t.Fatalf("ghost found: %+v", ps)
		}
		pr, _ := p.SyncPerson(ctx, spec, ghost, "team-a/ghost")
		if diff := cmp.Diff([]ProblemKind{PersonNotFound}, kinds(pr.Facts.Problems)); diff != "" || len(pr.Wrote)+len(pr.Pending) > 0 {
			t.Errorf("ghost: problems (-want +got):\n%s; wrote %v, pending %v", diff, pr.Wrote, pr.Pending)
		}
	}
	if got := f.requests() - base; got != 2 {
		t.Errorf("a person Entra ID lacks was read %d times, want once (then known absent)", got-1)
	}
	if w := f.sentWrites(); len(w) > 0 {
		t.Errorf("sent %v", w)
	}
}

// People created after the snapshot (a GitOps sync applying forty at once) are read together at
// the first one's miss, twenty to a $batch, not one request each.
func TestPoolReadsNewcomersTogether(t *testing.T) {
	f, people := poolTenant()
	p := poolOf(f)
	spec := specOf("team-a/prod", poolT0)
	observeNow(t, p, spec, people[0], listOf(people[:3]...), poolT0)
	base := f.requests()
	newcomers := people[3:43] // in Entra ID, not managed when the snapshot was read
	all := listOf(people[:43]...)
	for _, n := range newcomers {
		if ps := observeNow(t, p, spec, n, all, poolT0.Add(time.Minute)); ps == nil || !ps.Found {
			t.Fatalf("newcomer %s observed as %+v", n.UserName, ps)
		}
	}
	if got := f.requests() - base; got != 2 {
		t.Errorf("40 newcomers cost %d requests, want 2 ($batches of 20)", got)
	}
}

func TestPoolObserveFailureKeepsStaleSnapshot(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		err  error
		wait time.Duration
	}{
		{"429 with Retry-After 45s", throttled{45 * time.Second}, 45 * time.Second},
		{"no Retry-After: 15s", fmt.Errorf("graph: %w", graph.ErrServer), observeRetry},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, people := poolTenant()
			p := poolOf(f)
			spec := specOf("team-a/prod", poolT0)
			list := listOf(people...)
			observeNow(t, p, spec, people[1], list, poolT0)
			good := f.requests()

			// Due again, and Graph fails: the last snapshot is kept, the failure said.
			f.failReads = c.err
			failedAt := poolT0.Add(interval)
			ps, err := p.Person(ctx, spec, people[1], list, failedAt)
			if err == nil || ps == nil || !ps.Found || !ps.InSecurityGroup {
				t.Fatalf("a failed observation gives the stale state and the error: %+v, %v", ps, err)
			}
			if got := f.requests() - good; got != 1 {
				t.Fatalf("the failed observation sent %d requests, want 1 (it stops at the first failure)", got)
			}
			// Not retried before the wait, however many reconciles ask.
			for _, d := range []time.Duration{0, time.Second, c.wait / 2, c.wait - time.Second} {
				ps, err := p.Person(ctx, spec, people[2], list, failedAt.Add(d))
				if !errors.Is(err, c.err) || ps == nil || !ps.Found {
					t.Errorf("at +%s: %+v, %v, want the stale state and the failure", d, ps, err)
				}
				if pr, _ := p.SyncPerson(ctx, spec, people[2], "team-a/p02"); pr.Err != nil || len(pr.Facts.Problems) > 0 {
					t.Errorf("at +%s the stale snapshot is compared with: %+v", d, pr)
				}
			}
			if got := f.requests() - good; got != 1 {
				t.Errorf("retried before the wait of %s: %d requests", c.wait, got)
			}
			// The wait over, Graph answering again: observed anew.
			f.failReads = nil
			if _, err := p.Person(ctx, spec, people[2], list, failedAt.Add(c.wait)); err != nil {
				t.Fatalf("after the wait: %v", err)
			}
			if got := f.requests() - good; got != 1+good { // the failure, then one snapshot
				t.Errorf("after the wait: %d requests, want %d", got, 1+good)
			}
		})
	}

	t.Run("the first observation fails: no state, and SyncPerson writes nothing", func(t *testing.T) {
		f := adaTenant()
		f.failReads = throttled{time.Minute}
		p := poolOf(f)
		spec := specOf("team-a/prod", poolT0)
		ps, err := p.Person(ctx, spec, adaAs(true), listOf(adaAs(true)), poolT0)
		if ps != nil || !errors.Is(err, graph.ErrThrottled) {
			t.Fatalf("Person: %+v, %v", ps, err)
		}
		pr, _ := p.SyncPerson(ctx, spec, adaAs(true), "team-a/ada")
		if !errors.Is(pr.Err, graph.ErrThrottled) || len(pr.Wrote) > 0 || len(f.sentWrites()) > 0 {
			t.Errorf("SyncPerson without a snapshot: %+v, sent %v", pr, f.sentWrites())
		}
		if _, err := p.Person(ctx, spec, adaAs(true), listOf(adaAs(true)), poolT0.Add(59*time.Second)); f.requests() != 1 || err == nil {
			t.Errorf("retried before Retry-After: %d requests, %v", f.requests(), err)
		}
	})
}

func TestPoolShapeChangeObservesAgain(t *testing.T) {
	ctx := context.Background()
	f, people := poolTenant()
	p := poolOf(f)
	list := listOf(people...)
	// "openers" names no group: one request, a GroupNotFound, no members.
	spec := specOf("team-a/prod", poolT0, withGroups("closers", "openers"))
	observeNow(t, p, spec, people[0], list, poolT0)
	if got := f.requests(); got != poolCost+1 {
		t.Fatalf("first snapshot: %d requests, want %d", got, poolCost+1)
	}
	n := f.requests()

	// Neither the order of the group team groups nor the manage list is the snapshot's shape.
	same := spec
	same.GroupTeamGroups = []string{"openers", "closers"}
	same.Manage = Manage{SecurityGroupMembership: true, Licenses: true}
	observeNow(t, p, same, people[0], list, poolT0.Add(time.Minute))
	if f.requests() != n {
		t.Errorf("an unchanged shape observed again: %d requests", f.requests()-n)
	}

	// The security group changed: observed at once, well within the interval.
	moved := spec
	moved.SecurityGroup = "sg-other"
	if ps := observeNow(t, p, moved, people[1], list, poolT0.Add(2*time.Minute)); ps.InSecurityGroup {
		t.Errorf("p01 is not a member of sg-other: %+v", ps)
	}
	if ps := observeNow(t, p, moved, people[0], list, poolT0.Add(2*time.Minute)); !ps.InSecurityGroup {
		t.Errorf("p00 is a member of sg-other: %+v", ps)
	}
	if got := f.requests() - n; got != poolCost { // sg-other has one page, not two; openers one more
		t.Errorf("the new shape cost %d requests, want %d", got, poolCost)
	}

	// A group team added, and Graph failing: what was read is of other groups, so it is dropped.
	n = f.requests()
	f.failReads = throttled{time.Minute}
	grown := moved
	grown.GroupTeamGroups = []string{"closers", "openers", "sg-sales"}
	if ps, err := p.Person(ctx, grown, people[0], list, poolT0.Add(3*time.Minute)); ps != nil || err == nil {
		t.Errorf("a failed observation of a new shape keeps no state of the old one: %+v, %v", ps, err)
	}
	if pr, _ := p.SyncPerson(ctx, grown, people[0], "team-a/p00"); pr.Err == nil {
		t.Errorf("SyncPerson without a snapshot of the new shape: %+v", pr)
	}
	if _, err := p.Person(ctx, grown, people[0], list, poolT0.Add(3*time.Minute+30*time.Second)); err == nil || f.requests()-n != 1 {
		t.Errorf("retried before Retry-After: %d requests, %v", f.requests()-n, err)
	}
}

// TestPoolArbitration: two environments manage one security group and decide it differently for
// ada. The older environment (by Created, then by key) wins: the younger gets a GroupConflict and
// writes nothing to that group; the older writes, and is told the younger's owner to wake.
func TestPoolArbitration(t *testing.T) {
	ctx := context.Background()
	const oldOwner, youngOwner = "team-a/ada", "team-b/ada"
	older := specOf("team-a/prod", poolT0)
	younger := specOf("team-b/prod", poolT0.Add(time.Hour))
	in, out := adaAs(true), adaAs(false)

	t.Run("the older decides first: the younger is refused, the older learns whom it overruled", func(t *testing.T) {
		f := adaTenant()
		p := poolOf(f)
		observeNow(t, p, older, in, listOf(in), poolT0)
		pr, overruled := p.SyncPerson(ctx, older, in, oldOwner)
		if diff := cmp.Diff([]string{"AddMember " + sgID + adaID}, ops(pr.Wrote)); diff != "" || len(overruled) > 0 {
			t.Fatalf("older: wrote (-want +got):\n%s; overruled %v", diff, overruled)
		}
		// The younger observes ada a member and decides her out.
		observeNow(t, p, younger, out, listOf(out), poolT0.Add(time.Minute))
		pr, overruled = p.SyncPerson(ctx, younger, out, youngOwner)
		if diff := cmp.Diff([]ProblemKind{GroupConflict}, kinds(pr.Facts.Problems)); diff != "" {
			t.Errorf("younger: problems (-want +got):\n%s", diff)
		}
		if len(pr.Wrote)+len(pr.Pending) > 0 || len(overruled) > 0 {
			t.Errorf("younger: wrote %v, pending %v, overruled %v", pr.Wrote, pr.Pending, overruled)
		}
		if msg := pr.Facts.Problems[0].Message; !strings.Contains(msg, "team-a/prod") || !strings.Contains(msg, "older environment's decision stands") {
			t.Errorf("the conflict names the older environment: %q", msg)
		}
		if diff := cmp.Diff([]string{"AddMember " + sgID + " " + adaID}, f.sentWrites()); diff != "" {
			t.Errorf("writes (-want +got):\n%s", diff)
		}
		// The older again: nothing to write, and the younger's owner to tell.
		pr, overruled = p.SyncPerson(ctx, older, in, oldOwner)
		if len(pr.Wrote)+len(pr.Facts.Problems) > 0 {
			t.Errorf("older again: %+v", pr)
		}
		if diff := cmp.Diff([]string{youngOwner}, overruled); diff != "" {
			t.Errorf("overruled (-want +got):\n%s", diff)
		}
		if got := p.Sizes()["entraClaims"]; got != 1 {
			t.Errorf("claims: %d, want 1 (one group, one person)", got)
		}

		// Forgetting the younger's person: the older overrules no one.
		p.ForgetPerson(youngOwner)
		if _, overruled = p.SyncPerson(ctx, older, in, oldOwner); len(overruled) > 0 {
			t.Errorf("after ForgetPerson: overruled %v", overruled)
		}
		// Forgetting the older environment: the younger's decision is no longer refused.
		p.ForgetEnvironment(older.Key)
		pr, _ = p.SyncPerson(ctx, younger, out, youngOwner)
		if len(pr.Facts.Problems) > 0 {
			t.Errorf("younger after ForgetEnvironment(older): %v", pr.Facts.Problems)
		}
		if diff := cmp.Diff([]string{"RemoveMember " + sgID + adaID}, ops(pr.Wrote)); diff != "" {
			t.Errorf("younger after ForgetEnvironment(older): wrote (-want +got):\n%s", diff)
		}
		p.ForgetPerson(youngOwner)
		p.ForgetEnvironment(younger.Key)
		if diff := cmp.Diff(map[string]int{"entraEnvironments": 0, "entraClaims": 0, "entraPeople": 0}, p.Sizes()); diff != "" {
			t.Errorf("sizes once all is forgotten (-want +got):\n%s", diff)
		}
	})

	t.Run("the younger decides first (the older's claim not known yet, as after a restart): the older's decision still stands at once", func(t *testing.T) {
		f := adaTenant()
		f.groups[0].members = []string{adaID}
		p := poolOf(f)
		observeNow(t, p, older, in, listOf(in), poolT0)
		observeNow(t, p, younger, out, listOf(out), poolT0)
		pr, _ := p.SyncPerson(ctx, younger, out, youngOwner)
		if diff := cmp.Diff([]string{"RemoveMember " + sgID + adaID}, ops(pr.Wrote)); diff != "" {
			t.Fatalf("younger, unopposed yet: wrote (-want +got):\n%s", diff)
		}
		pr, overruled := p.SyncPerson(ctx, older, in, oldOwner)
		if diff := cmp.Diff([]string{youngOwner}, overruled); diff != "" {
			t.Errorf("overruled (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"AddMember " + sgID + adaID}, ops(pr.Wrote)); diff != "" {
			t.Errorf("older: the younger's removal is undone at once (-want +got):\n%s", diff)
		}
		if pr.Facts.Person == nil || !pr.Facts.Person.InSecurityGroup {
			t.Errorf("older: ada is a member again: %+v", pr.Facts.Person)
		}
		pr, _ = p.SyncPerson(ctx, younger, out, youngOwner)
		if diff := cmp.Diff([]ProblemKind{GroupConflict}, kinds(pr.Facts.Problems)); diff != "" || len(pr.Wrote) > 0 {
			t.Errorf("younger, woken: problems (-want +got):\n%s; wrote %v", diff, pr.Wrote)
		}
		if diff := cmp.Diff([]string{"RemoveMember " + sgID + " " + adaID, "AddMember " + sgID + " " + adaID}, f.sentWrites()); diff != "" {
			t.Errorf("writes (-want +got):\n%s", diff)
		}
	})

	t.Run("same Created: the smaller key is the older", func(t *testing.T) {
		f := adaTenant()
		p := poolOf(f)
		a, b := specOf("team-a/prod", poolT0), specOf("team-b/prod", poolT0)
		observeNow(t, p, a, in, listOf(in), poolT0)
		observeNow(t, p, b, out, listOf(out), poolT0)
		p.SyncPerson(ctx, b, out, youngOwner)
		if _, overruled := p.SyncPerson(ctx, a, in, oldOwner); !slices.Equal(overruled, []string{youngOwner}) {
			t.Errorf("team-a/prod overrules team-b/prod: %v", overruled)
		}
		if pr, _ := p.SyncPerson(ctx, b, out, youngOwner); !slices.Equal(kinds(pr.Facts.Problems), []ProblemKind{GroupConflict}) {
			t.Errorf("team-b/prod is refused: %v", pr.Facts.Problems)
		}
	})

	t.Run("the same decision: no conflict, one write", func(t *testing.T) {
		f := adaTenant()
		p := poolOf(f)
		observeNow(t, p, older, in, listOf(in), poolT0)
		observeNow(t, p, younger, in, listOf(in), poolT0)
		for _, s := range []struct {
			spec  Spec
			owner string
		}{{older, oldOwner}, {younger, youngOwner}, {older, oldOwner}} {
			pr, overruled := p.SyncPerson(ctx, s.spec, in, s.owner)
			if len(pr.Facts.Problems) > 0 || len(overruled) > 0 || pr.Err != nil {
				t.Errorf("%s: problems %v, overruled %v, %v", s.spec.Key, pr.Facts.Problems, overruled, pr.Err)
			}
		}
		if diff := cmp.Diff([]string{"AddMember " + sgID + " " + adaID}, f.sentWrites()); diff != "" {
			t.Errorf("writes (-want +got):\n%s", diff)
		}
	})

	t.Run("the younger refused a group still writes the rest, and still reports the conflict", func(t *testing.T) {
		f := adaTenant()
		p := poolOf(f)
		lic := Manage{SecurityGroupMembership: true, Licenses: true}
		y := specOf("team-b/prod", poolT0.Add(time.Hour), managing(lic))
		licensed := func(q *Person) { q.License = "DYN365_ENTERPRISE_SALES" }
		f.groups[0].members = []string{adaID}
		observeNow(t, p, older, in, listOf(in), poolT0)
		p.SyncPerson(ctx, older, in, oldOwner)
		observeNow(t, p, y, adaAs(false, licensed), listOf(adaAs(false, licensed)), poolT0)
		pr, _ := p.SyncPerson(ctx, y, adaAs(false, licensed), youngOwner)
		if diff := cmp.Diff([]string{"AssignLicense " + adaID}, ops(pr.Wrote)); diff != "" {
			t.Errorf("younger: wrote (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]ProblemKind{GroupConflict}, kinds(pr.Facts.Problems)); diff != "" {
			t.Errorf("younger: problems once the license is written (-want +got):\n%s", diff)
		}
	})
}

func TestPoolObserveWritesNothing(t *testing.T) {
	ctx := context.Background()
	f := adaTenant()
	p := poolOf(f)
	spec := specOf("team-a/prod", poolT0, withGroups("closers"), managing(Manage{SecurityGroupMembership: true, GroupTeamMembership: true, Licenses: true}))
	spec.Policy = PolicyObserve
	ada := adaAs(true, func(q *Person) { q.License = "DYN365_ENTERPRISE_SALES"; q.Groups = []string{"closers"} })
	observeNow(t, p, spec, ada, listOf(ada), poolT0)
	for i := 0; i < 2; i++ {
		pr, overruled := p.SyncPerson(ctx, spec, ada, "team-a/ada")
		if diff := cmp.Diff([]string{"AddMember " + sgID + adaID, "AddMember " + teamID + adaID, "AssignLicense " + adaID}, ops(pr.Pending)); diff != "" {
			t.Errorf("pending (-want +got):\n%s", diff)
		}
		if len(pr.Wrote) > 0 || pr.Changed() || len(overruled) > 0 || pr.Err != nil {
			t.Errorf("under Observe: %+v, overruled %v", pr, overruled)
		}
	}
	if w := f.sentWrites(); len(w) > 0 {
		t.Errorf("under Observe sent %v", w)
	}
	if got := p.Sizes()["entraClaims"]; got != 0 {
		t.Errorf("under Observe nothing is managed, so nothing is claimed: %d claims", got)
	}
}

func TestPoolLostAnswerObservesAgain(t *testing.T) {
	ctx := context.Background()
	f := adaTenant()
	f.lose = map[string]bool{"AddMember": true}
	p := poolOf(f)
	spec := specOf("team-a/prod", poolT0, managing(Manage{SecurityGroupMembership: true, Licenses: true}))
	ada := adaAs(true, func(q *Person) { q.License = "DYN365_ENTERPRISE_SALES" })
	observeNow(t, p, spec, ada, listOf(ada), poolT0)
	n := f.requests()

	pr, _ := p.SyncPerson(ctx, spec, ada, "team-a/ada")
	if !errors.Is(pr.Err, graph.ErrAnswerLost) || pr.Lost == nil || pr.Lost.Op != OpAddMember || !pr.Changed() {
		t.Fatalf("a lost answer: %+v", pr)
	}
	if diff := cmp.Diff([]string{"AssignLicense " + adaID}, ops(pr.Pending)); diff != "" || len(pr.Wrote) > 0 {
		t.Errorf("after the lost answer nothing more is sent: pending (-want +got):\n%s; wrote %v", diff, pr.Wrote)
	}
	// The next reconcile observes again, well within the interval, and decides from what is.
	ps := observeNow(t, p, spec, ada, listOf(ada), poolT0.Add(time.Second))
	if f.requests() == n || !ps.InSecurityGroup {
		t.Errorf("after a lost answer the next read observes again: %d requests, %+v", f.requests()-n, ps)
	}
	pr, _ = p.SyncPerson(ctx, spec, ada, "team-a/ada")
	if diff := cmp.Diff([]string{"AssignLicense " + adaID}, ops(pr.Wrote)); diff != "" || pr.Err != nil {
		t.Errorf("the lost add is not sent again: wrote (-want +got):\n%s; %v", diff, pr.Err)
	}
	if diff := cmp.Diff([]string{"AddMember " + sgID + " " + adaID, fmt.Sprintf("AssignLicense %s +[%s] -[]", adaID, skuSales)}, f.sentWrites()); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
}

func TestPoolWritesKeepTheSnapshot(t *testing.T) {
	ctx := context.Background()
	f := adaTenant()
	p := poolOf(f)
	spec := specOf("team-a/prod", poolT0, withGroups("closers"), managing(Manage{SecurityGroupMembership: true, GroupTeamMembership: true, Licenses: true}))
	ada := adaAs(true, func(q *Person) { q.License = "DYN365_ENTERPRISE_SALES"; q.Groups = []string{"closers"} })
	observeNow(t, p, spec, ada, listOf(ada), poolT0)
	n := f.requests()

	pr, _ := p.SyncPerson(ctx, spec, ada, "team-a/ada")
	if diff := cmp.Diff([]string{"AddMember " + sgID + adaID, "AddMember " + teamID + adaID, "AssignLicense " + adaID}, ops(pr.Wrote)); diff != "" || pr.Err != nil {
		t.Fatalf("wrote (-want +got):\n%s; %v", diff, pr.Err)
	}
	got := pr.Facts.Person
	if got == nil || !got.InSecurityGroup || !slices.Equal(got.Groups, []string{"closers"}) {
		t.Errorf("the facts after the writes: %+v", got)
	}
	if l, ok := got.License("DYN365_ENTERPRISE_SALES"); !ok || !l.Direct {
		t.Errorf("the license after the writes: %+v", got.Licenses)
	}
	for i := 0; i < 3; i++ {
		pr, _ = p.SyncPerson(ctx, spec, ada, "team-a/ada")
		if len(pr.Wrote)+len(pr.Pending)+len(pr.Facts.Problems)+len(pr.Facts.Drift) > 0 || pr.Err != nil {
			t.Errorf("compared again: %+v", pr)
		}
	}
	if ps := observeNow(t, p, spec, ada, listOf(ada), poolT0.Add(time.Minute)); !ps.InSecurityGroup {
		t.Errorf("Person after the writes: %+v", ps)
	}
	v, _ := p.Environment(ctx, spec, []Person{ada}, poolT0.Add(time.Minute))
	if v == nil || v.Skus[0].Consumed != 1 {
		t.Errorf("the unit consumed is counted: %+v", v)
	}
	if f.requests() != n {
		t.Errorf("the writes cost %d reads", f.requests()-n)
	}
	if len(f.sentWrites()) != 3 {
		t.Errorf("writes: %v", f.sentWrites())
	}
}

// A write in flight while another reconcile observes: the new snapshot was read before the write
// landed, so the write is recorded into it, and the person's next reconcile sends nothing again
// (the small Entra bench's 13 and 15 writes for 11 before this).
func TestPoolWriteInFlightDuringObservationIsKept(t *testing.T) {
	ctx := context.Background()
	f := adaTenant()
	p := poolOf(f)
	spec := specOf("team-a/prod", poolT0)
	ada := adaAs(true)
	observeNow(t, p, spec, ada, listOf(ada), poolT0)
	n := f.requests()
	f.inFlight = func() {
		// Another person's reconcile, an interval later: the snapshot is due, and read anew.
		if ps := observeNow(t, p, spec, ada, listOf(ada), poolT0.Add(interval)); ps.InSecurityGroup {
			t.Fatalf("the fake landed the write before it was sent: %+v", ps)
		}
	}
	pr, _ := p.SyncPerson(ctx, spec, ada, "team-a/ada")
	if diff := cmp.Diff([]string{"AddMember " + sgID + adaID}, ops(pr.Wrote)); diff != "" || pr.Err != nil {
		t.Fatalf("wrote (-want +got):\n%s; %v", diff, pr.Err)
	}
	if f.requests() == n {
		t.Fatal("no observation was made while the write was in flight: the test tests nothing")
	}
	for i := 0; i < 2; i++ {
		if pr, _ = p.SyncPerson(ctx, spec, ada, "team-a/ada"); len(pr.Wrote)+len(pr.Pending) > 0 || pr.Err != nil {
			t.Errorf("reconcile %d after the write: %+v", i+1, pr)
		}
	}
	if diff := cmp.Diff([]string{"AddMember " + sgID + " " + adaID}, f.sentWrites()); diff != "" {
		t.Errorf("writes sent (-want +got):\n%s", diff)
	}
}
