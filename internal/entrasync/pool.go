package entrasync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/accessplane/dataverse-access-operator/internal/graph"
)

// Spec is one environment's Entra ID target as the pool needs it: plain values the controller
// reads from Environment.spec.entra.
type Spec struct {
	// Key identifies the environment (namespace/name).
	Key        string
	Namespace  string
	SecretName string
	Policy     Policy
	// Manage is what spec.entra.manage lists (under Observe, what would be written).
	Manage          Manage
	SecurityGroup   string
	GroupTeamGroups []string
	Interval        time.Duration
	// Created is when the Environment was created: of two environments deciding one group's
	// membership of one person differently, the older one's decision stands.
	Created time.Time
}

// shape is what a snapshot was read for: a change of it means a new snapshot.
func (s Spec) shape() string {
	g := append([]string(nil), s.GroupTeamGroups...)
	sort.Strings(g)
	return strings.Join([]string{s.SecretName, s.SecurityGroup, strings.Join(g, ",")}, "\x00")
}

// SecretData is a credentials Secret as read: nil when it does not exist.
type SecretData struct {
	Data            map[string][]byte
	ResourceVersion string
}

// Pool keeps, per environment, one Graph client and one snapshot of what Entra ID holds, read in
// bulk at most once per interval (Observe) and kept up to date with the writes made, so a
// person's reconcile compares in memory and a person the snapshot does not know yet costs one
// read. It also keeps, per group and person, the membership each environment decided, so two
// environments managing one group cannot undo each other's writes.
type Pool struct {
	Connector *graph.Connector
	// Secret reads a credentials Secret of the namespace; nil, nil when it does not exist.
	Secret func(ctx context.Context, namespace, name string) (*SecretData, error)
	// Credential turns a Secret's data into a token credential.
	Credential func(data map[string][]byte) (azcore.TokenCredential, error)
	// NewClient makes the tenant's client; nil: Connector.Tenant. Tests may inject one.
	NewClient func(tenant string, cred azcore.TokenCredential) (Client, error)

	mu     sync.Mutex
	envs   map[string]*envState
	claims map[claimKey]map[string]claim
}

type envState struct {
	// mu serializes observing, comparing and recording; writes are sent outside it.
	mu        sync.Mutex
	secretKey string // Secret name and resourceVersion the client was built from
	client    Client
	connected time.Time // when the Secret was last read by Connect
	// failure is why no client could be built; cleared when the Secret changes.
	failure error
	shape   string
	snap    *Snapshot
	taken   time.Time
	// observeErr is why the last observation failed, retried after retryAt.
	observeErr error
	retryAt    time.Time
}

type claimKey struct{ group, user string }

type claim struct {
	env     string
	created time.Time
	want    bool
	owner   string
}

// ErrNoCredentials: the credentials Secret is missing or unusable; the message says what to fix.
var ErrNoCredentials = errors.New("entra: no usable credentials")

func (p *Pool) env(key string) *envState {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.envs == nil {
		p.envs = map[string]*envState{}
	}
	e := p.envs[key]
	if e == nil {
		e = &envState{}
		p.envs[key] = e
	}
	return e
}

// Connect reads the environment's credentials Secret (one GET) and rebuilds its client when the
// Secret changed. The Environment's reconcile calls it; a connected environment reads its Secret
// again once per interval (with its snapshot), one without a usable client at every call, so a
// fixed Secret is used at the Environment's next reconcile.
func (p *Pool) Connect(ctx context.Context, spec Spec, now time.Time) error {
	e := p.env(spec.Key)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.client != nil && now.Sub(e.connected) < spec.Interval {
		return nil
	}
	if err := p.connect(ctx, e, spec); err != nil {
		return err
	}
	e.connected = now
	return nil
}

func (p *Pool) connect(ctx context.Context, e *envState, spec Spec) error {
	s, err := p.Secret(ctx, spec.Namespace, spec.SecretName)
	if err != nil {
		return err // not remembered: reading the Secret may work next time
	}
	fail := func(err error) error {
		e.secretKey, e.client, e.failure = "", nil, err
		return err
	}
	if s == nil {
		return fail(fmt.Errorf("%w: Secret %s named by the Environment's spec.entra (or spec.dataverse) credentialsSecretRef does not exist in namespace %s: create it with tenantId, clientId and clientSecret (or federatedTokenFile)", ErrNoCredentials, spec.SecretName, spec.Namespace))
	}
	key := spec.SecretName + "\x00" + s.ResourceVersion
	if e.secretKey == key && (e.client != nil || e.failure != nil) {
		return e.failure
	}
	cred, err := p.Credential(s.Data)
	if err != nil {
		return fail(fmt.Errorf("%w: Secret %s cannot be used for Microsoft Graph: %v", ErrNoCredentials, spec.SecretName, err))
	}
	tenant := strings.TrimSpace(string(s.Data["tenantId"]))
	var cl Client
	if p.NewClient != nil {
		cl, err = p.NewClient(tenant, cred)
	} else {
		cl, err = p.Connector.Tenant(tenant, cred)
	}
	if err != nil {
		return fail(fmt.Errorf("%w: Secret %s: %v", ErrNoCredentials, spec.SecretName, err))
	}
	e.secretKey, e.client, e.failure = key, cl, nil
	e.snap = nil // another identity may see another tenant
	// A new identity is tried at once: the last one's failure (a 403 before a permission was
	// granted) says nothing of it.
	e.observeErr, e.retryAt = nil, time.Time{}
	return nil
}

// observeRetry is how soon a failed observation is tried again when Graph said nothing.
const observeRetry = 15 * time.Second

// fresh makes e's snapshot current: read in bulk when there is none, it is older than the
// interval or the environment's groups changed; otherwise kept. A failed observation keeps the
// older snapshot (stale facts, not none) and is not retried before its Retry-After.
func (p *Pool) fresh(ctx context.Context, e *envState, spec Spec, people func() []Person, now time.Time) error {
	if e.client == nil {
		if e.failure != nil {
			return e.failure
		}
		if err := p.connect(ctx, e, spec); err != nil {
			return err
		}
	}
	due := e.snap == nil || e.shape != spec.shape() || now.Sub(e.taken) >= spec.Interval
	if !due {
		return nil
	}
	if e.observeErr != nil && now.Before(e.retryAt) && e.shape == spec.shape() {
		return e.observeErr
	}
	env := Environment{SecurityGroup: spec.SecurityGroup, GroupTeamGroups: spec.GroupTeamGroups, Manage: spec.Manage, People: people()}
	s, err := Observe(ctx, e.client, env)
	if err != nil {
		wait := observeRetry
		if d, ok := graph.RetryAfter(err); ok && d > 0 {
			wait = d
		}
		e.observeErr, e.retryAt = err, now.Add(wait)
		if e.shape != spec.shape() {
			e.snap = nil // what was read is of other groups
		}
		e.shape = spec.shape()
		return err
	}
	e.snap, e.taken, e.shape, e.observeErr = s, now, spec.shape(), nil
	return nil
}

// person returns the person's state, read alone when the snapshot does not know it yet (a user
// created after the snapshot was taken).
func (p *Pool) person(ctx context.Context, e *envState, spec Spec, person Person, others func() []Person) (*PersonState, error) {
	s := e.snap
	if ps := s.Person(person); ps != nil {
		return ps, nil
	}
	k := PersonKey(person)
	if k == "" {
		return &PersonState{}, nil
	}
	// Every managed person the snapshot lacks is read now, in $batches of 20: people created
	// together (a GitOps sync) cost one request per twenty, not one each.
	keys, seen := []string{k}, map[string]bool{k: true}
	if others != nil {
		for _, o := range others() {
			ok := PersonKey(o)
			if ok != "" && !seen[ok] && s.Person(o) == nil {
				seen[ok] = true
				keys = append(keys, ok)
			}
		}
	}
	users, err := e.client.Users(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("person %s: %w", person.UserName, err)
	}
	s.Requests += (len(keys) + graph.MaxBatch - 1) / graph.MaxBatch
	for _, key := range keys {
		ps := &PersonState{}
		if u := users[key]; u != nil {
			*ps = s.personOf(u)
		}
		s.People[key] = ps
		s.refresh(ps)
	}
	return s.People[k], nil
}

// Person is what Entra ID holds for one person (a copy), for the person's decision: observed in
// bulk with the environment's people when the snapshot is due, alone when it is new. An error
// with a non-nil state means the state is the last one known.
func (p *Pool) Person(ctx context.Context, spec Spec, person Person, people func() []Person, now time.Time) (*PersonState, error) {
	e := p.env(spec.Key)
	e.mu.Lock()
	defer e.mu.Unlock()
	err := p.fresh(ctx, e, spec, people, now)
	if e.snap == nil {
		return nil, err
	}
	ps, perr := p.person(ctx, e, spec, person, people)
	if perr != nil {
		return nil, perr
	}
	c := *ps
	c.Licenses = append([]License(nil), ps.Licenses...)
	c.Groups = append([]string(nil), ps.Groups...)
	return &c, err
}

// View is what an Environment's status shows of Entra ID.
type View struct {
	SecurityGroup *GroupState
	Groups        []*GroupState
	Skus          []Sku
}

// Environment is the environment's groups (with the members no person of people is) and the
// tenant's SKUs, observing when the snapshot is due.
func (p *Pool) Environment(ctx context.Context, spec Spec, people []Person, now time.Time) (*View, error) {
	e := p.env(spec.Key)
	e.mu.Lock()
	defer e.mu.Unlock()
	err := p.fresh(ctx, e, spec, func() []Person { return people }, now)
	if e.snap == nil {
		return nil, err
	}
	e.snap.countUnmanaged(people)
	v := &View{Skus: append([]Sku(nil), e.snap.Skus...)}
	cp := func(g *GroupState) *GroupState {
		if g == nil {
			return nil
		}
		c := *g
		c.Members = nil
		return &c
	}
	v.SecurityGroup = cp(e.snap.SecurityGroup)
	for _, g := range e.snap.Groups {
		v.Groups = append(v.Groups, cp(g))
	}
	return v, err
}

// SyncPerson compares one person with the snapshot and, under Manage, makes the writes found:
// the per-person step of Target.Sync, against the environment's shared snapshot. owner names the
// person's object (its claims are dropped with it, Forget). A group decided differently for the
// person by an older environment is a GroupConflict and gets no write; an older environment
// overruling a younger one returns the younger one's owners in Overruled, to be told.
func (p *Pool) SyncPerson(ctx context.Context, spec Spec, person Person, owner string) (PersonResult, []string) {
	e := p.env(spec.Key)
	e.mu.Lock()
	if e.snap == nil || e.client == nil {
		// Person (the read before the decision) observes; without a snapshot it failed, and
		// said why.
		err := e.observeErr
		if err == nil {
			err = e.failure
		}
		if err == nil {
			err = errors.New("entra: the environment has not been observed yet")
		}
		e.mu.Unlock()
		return PersonResult{Person: person, Err: err}, nil
	}
	ps, err := p.person(ctx, e, spec, person, nil)
	if err != nil {
		e.mu.Unlock()
		return PersonResult{Person: person, Err: err}, nil
	}
	changes, facts := ComparePerson(person, e.snap, spec.Manage)
	var overruled []string
	var refused []Problem // the GroupConflicts arbitration found: comparing again does not
	if spec.Policy == PolicyManage && ps.Found {
		n := len(facts.Problems)
		changes, overruled = p.arbitrate(spec, person, owner, ps, e.snap, changes, &facts)
		refused = slices.Clone(facts.Problems[n:])
	}
	cl := e.client
	e.mu.Unlock()

	pr := PersonResult{Person: person, Facts: facts}
	if spec.Policy != PolicyManage {
		pr.Pending = changes
		return pr, overruled
	}
	for i, c := range changes {
		if err := applyOne(ctx, cl, c); err != nil {
			pr.Err = err
			if errors.Is(err, graph.ErrAnswerLost) {
				lost := c
				pr.Lost, pr.Pending = &lost, changes[i+1:]
				e.mu.Lock()
				e.taken = time.Time{} // the next reconcile observes again, and decides
				e.mu.Unlock()
			} else {
				pr.Pending = changes[i:]
			}
			break
		}
		pr.Wrote = append(pr.Wrote, c)
		e.mu.Lock()
		// Recorded in the snapshot that is current now, not only the one the change was decided
		// on: another reconcile may have observed while this write was in flight, and a member
		// list read before the write landed lacks it, so the person's next reconcile would send
		// it again (the small Entra bench's 12 and 13 writes for 11). Recording is idempotent,
		// so a snapshot read after the write landed loses nothing.
		if e.snap != nil {
			e.snap.record(c)
		}
		e.mu.Unlock()
		p.recordElsewhere(spec.Key, c)
	}
	if len(pr.Wrote) > 0 {
		e.mu.Lock()
		if e.snap != nil {
			_, pr.Facts = ComparePerson(person, e.snap, spec.Manage)
			pr.Facts.Problems = append(pr.Facts.Problems, refused...)
			if ps := e.snap.Person(person); ps != nil {
				c := *ps
				pr.Facts.Person = &c
			}
		}
		e.mu.Unlock()
	}
	return pr, overruled
}

// recordElsewhere makes a write made for one environment part of every other environment's
// snapshot that holds the group or the person (object ids are unique, so other tenants' are
// untouched): each snapshot is read on its own, and without it an older environment whose
// decision a younger one undid before its claim was known (after a restart) would still see its
// own state, write nothing and report Synced until its next observation; two environments
// deciding alike would both send the write. It runs under no lock, and takes each environment's
// lock after the pool's is released.
func (p *Pool) recordElsewhere(key string, c Change) {
	p.mu.Lock()
	others := make([]*envState, 0, len(p.envs))
	for k, e := range p.envs {
		if k != key {
			others = append(others, e)
		}
	}
	p.mu.Unlock()
	for _, o := range others {
		o.mu.Lock()
		if o.snap != nil {
			o.snap.record(c)
		}
		o.mu.Unlock()
	}
}

// arbitrate records the person's decided membership of each managed group and drops the writes
// an older environment's different decision forbids (GroupConflict). It runs under e.mu.
func (p *Pool) arbitrate(spec Spec, person Person, owner string, ps *PersonState, s *Snapshot, changes []Change, f *Facts) ([]Change, []string) {
	type decision struct {
		g    *GroupState
		want bool
	}
	var ds []decision
	if g := s.SecurityGroup; g != nil && g.Problem == nil && spec.Manage.SecurityGroupMembership {
		ds = append(ds, decision{g, person.InSecurityGroup})
	}
	if spec.Manage.GroupTeamMembership {
		for _, g := range s.Groups {
			if g.Problem == nil {
				ds = append(ds, decision{g, listed(person.Groups, g)})
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.claims == nil {
		p.claims = map[claimKey]map[string]claim{}
	}
	blocked := map[string]bool{}
	var overruled []string
	for _, d := range ds {
		k := claimKey{d.g.ID, ps.ObjectID}
		byEnv := p.claims[k]
		if byEnv == nil {
			byEnv = map[string]claim{}
			p.claims[k] = byEnv
		}
		mine := claim{env: spec.Key, created: spec.Created, want: d.want, owner: owner}
		byEnv[spec.Key] = mine
		for envKey, other := range byEnv {
			if envKey == spec.Key || other.want == d.want {
				continue
			}
			if older(other, mine) {
				blocked[d.g.ID] = true
				f.Problems = append(f.Problems, Problem{Kind: GroupConflict, Name: d.g.Ref,
					Message: fmt.Sprintf("group %s (%s) is also managed by environment %s, which decided %s %s of it, and this environment decided %s: the older environment's decision stands and nothing is written to it for %s; manage each group from one environment",
						d.g.Ref, d.g.ID, other.env, person.UserName, memberWord(other.want), memberWord(d.want), person.UserName)})
			} else {
				overruled = append(overruled, other.owner)
			}
		}
	}
	if len(blocked) == 0 {
		return changes, overruled
	}
	kept := changes[:0:0]
	for _, c := range changes {
		if (c.Op == OpAddMember || c.Op == OpRemoveMember) && blocked[c.Group] {
			continue
		}
		kept = append(kept, c)
	}
	return kept, overruled
}

func older(a, b claim) bool {
	if !a.created.Equal(b.created) {
		return a.created.Before(b.created)
	}
	return a.env < b.env
}

// GroupID is the object id a group the environment names (its security group or a group team's
// group, by display name or id) resolved to in the last snapshot; false when it did not resolve
// or was not observed yet.
func (p *Pool) GroupID(key, ref string) (string, bool) {
	e := p.env(key)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.snap == nil {
		return "", false
	}
	for _, g := range e.snap.groups() {
		if strings.EqualFold(strings.TrimSpace(g.Ref), strings.TrimSpace(ref)) && g.Problem == nil && g.ID != "" {
			return g.ID, true
		}
	}
	return "", false
}

// ForgetPerson drops the membership decisions of a person's object that is gone.
func (p *Pool) ForgetPerson(owner string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, byEnv := range p.claims {
		for env, c := range byEnv {
			if c.owner == owner {
				delete(byEnv, env)
			}
		}
		if len(byEnv) == 0 {
			delete(p.claims, k)
		}
	}
}

// ForgetEnvironment drops what the pool keeps of an environment (deleted, or its Entra target
// removed): its client, snapshot and membership decisions.
func (p *Pool) ForgetEnvironment(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.envs, key)
	for k, byEnv := range p.claims {
		delete(byEnv, key)
		if len(byEnv) == 0 {
			delete(p.claims, k)
		}
	}
}

// Sizes reports what the pool keeps, for the manager's memory figures.
func (p *Pool) Sizes() map[string]int {
	p.mu.Lock()
	out := map[string]int{"entraEnvironments": len(p.envs), "entraClaims": len(p.claims), "entraPeople": 0}
	envs := make([]*envState, 0, len(p.envs))
	for _, e := range p.envs {
		envs = append(envs, e)
	}
	p.mu.Unlock() // an envState's lock is taken before the pool's, never after
	for _, e := range envs {
		e.mu.Lock()
		if e.snap != nil {
			out["entraPeople"] += len(e.snap.People)
		}
		e.mu.Unlock()
	}
	return out
}
