package dvsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// Secret is a credentials Secret as read: its data and resourceVersion.
type Secret struct {
	Data            map[string][]byte
	ResourceVersion string
}

// SecretReader reads a Secret of the Environment's namespace; nil, nil when it does not exist.
type SecretReader func(ctx context.Context, namespace, name string) (*Secret, error)

// Target is one Dataverse environment as a reconcile sees it.
type Target struct {
	Env *v1alpha1.Environment
	Now time.Time
	// Admin adds interactive users from Entra ID; nil when it cannot be built.
	Admin EntraAdder
	// EntraSyncWait is how soon a user awaiting Entra ID's sync is looked for again (zero: 30s).
	EntraSyncWait time.Duration
	// EntraChanged is set by a person's reconcile that has just changed its membership or
	// license in Entra ID: the person's sync then asks addUser at once.
	EntraChanged bool

	reader Reader
	// write is nil under managementPolicy Observe: see newTarget.
	write     Writer
	catalogue *catalogue
	added     *entraAdds
}

// newTarget is the one place the management policy is checked: only Manage gets a writer, so a
// target under Observe cannot write, whatever a kind's code does.
func newTarget(env *v1alpha1.Environment, now time.Time, c *connection, wait time.Duration) *Target {
	t := &Target{Env: env, Now: now, reader: snapshotReader{Reader: c.client, bulk: c.client, s: c.snap}, catalogue: c.catalogue, added: c.added, EntraSyncWait: wait}
	if c.admin != nil {
		t.Admin = c.admin
	}
	if env.Spec.Dataverse.ManagementPolicy == v1alpha1.ManagementManage {
		t.write = snapshotWriter{Writer: c.client, s: c.snap}
	}
	return t
}

// writer returns the target's writer; false under managementPolicy Observe.
func (t *Target) writer() (Writer, bool) { return t.write, t.write != nil }

// Pool keeps one Dataverse connection per Environment (rebuilt when its URL, environment id or
// credentials Secret change) and remembers when each object was last synced, so an object whose
// desired value and record are unchanged costs one round of reads per sync interval and no write.
// Everything it keeps is forgotten when its object or environment is gone (ForgetObject,
// ForgetEnvironment).
type Pool struct {
	Connector *dataverse.Connector
	Secrets   SecretReader
	// Credential turns the Secret's data into a token credential; tests inject a static one.
	Credential func(data map[string][]byte) (azcore.TokenCredential, error)
	// EntraSyncWait is how soon a user added from Entra ID (AwaitingEntraSync) is looked for
	// again; zero means 30 seconds (Entra ID's sync takes minutes).
	EntraSyncWait time.Duration

	mu     sync.Mutex
	envs   map[string]*connection
	synced map[string]syncedAt
}

// connection is one environment's client, built from its Secret.
type connection struct {
	// mu serializes reading the Secret, so a burst of objects reads it once.
	mu sync.Mutex
	// key says what the client was built from: URL, environment id, Secret resourceVersion.
	key       string
	target    string // URL and environment id only
	client    *dataverse.Client
	admin     *dataverse.AdminClient
	catalogue *catalogue
	added     *entraAdds
	// snap is the environment's bulk snapshot (users, roles, user–role links), read again every
	// sync interval; objects in place are re-checked just after it (Target.recheck), so a change
	// behind the operator's back is seen within one interval.
	snap *snapshot
	// published is snap, for the metrics to read without mu.
	published atomic.Pointer[snapshot]
	// failure is why no client could be built from the Secret last read; the Environment's next
	// reconcile reads it again.
	failure   *Result
	throttled time.Time
}

type syncedAt struct {
	uid         string
	fingerprint string
	due         time.Time
	result      Result
}

// NewPool returns a pool over one connector.
func NewPool(conn *dataverse.Connector, secrets SecretReader) *Pool {
	return &Pool{Connector: conn, Secrets: secrets, Credential: func(data map[string][]byte) (azcore.TokenCredential, error) {
		return dataverse.CredentialFromSecret(data, dataverse.CredentialOptions{})
	}}
}

func envKey(namespace, name string) string { return namespace + "/" + name }

func (p *Pool) connectionOf(env *v1alpha1.Environment) *connection {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.envs == nil {
		p.envs = map[string]*connection{}
	}
	k := envKey(env.Namespace, env.Name)
	c := p.envs[k]
	if c == nil {
		c = &connection{}
		p.envs[k] = c
	}
	return c
}

// Connect reads env's credentials Secret (one GET) and returns its target, rebuilding the client
// when the Secret, the URL or the environment id changed. The Environment's reconcile calls it,
// so a Secret its owner fixed is used at the environment's next reconcile. A missing Secret or
// unusable credentials are an outcome (Unauthorized, naming what to fix), not an error.
func (p *Pool) Connect(ctx context.Context, env *v1alpha1.Environment, now time.Time) (*Target, *Result) {
	c := p.connectionOf(env)
	c.mu.Lock()
	defer c.mu.Unlock()
	return p.connect(ctx, c, env, now)
}

// Target returns env's target for one of its objects without reading the Secret again when the
// environment is connected; only the first object of an environment not connected yet reads it.
func (p *Pool) Target(ctx context.Context, env *v1alpha1.Environment, now time.Time) (*Target, *Result) {
	c := p.connectionOf(env)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.target == targetKey(env) {
		if c.failure != nil {
			r := *c.failure
			return nil, &r
		}
		if c.client != nil {
			return p.observed(ctx, c, env, now)
		}
	}
	if _, failed := p.connect(ctx, c, env, now); failed != nil {
		return nil, failed
	}
	return p.observed(ctx, c, env, now)
}

// observed reads the environment's snapshot again when it is due, and returns the target. A
// throttled read is the object's outcome (Throttled, so the Environment says it too); any other
// failure is not: reads go to the Web API one by one until the next snapshot works, and the
// object's own read reports what failed.
func (p *Pool) observed(ctx context.Context, c *connection, env *v1alpha1.Environment, now time.Time) (*Target, *Result) {
	c.snap.mu.Lock()
	if c.snap.due(now, env.Spec.Dataverse.Interval().Duration) {
		_ = c.snap.refresh(ctx, c.client, now)
	}
	err, until := c.snap.err, c.snap.retryAt
	c.snap.mu.Unlock()
	if errors.Is(err, dataverse.ErrThrottled) && now.Before(until) {
		// Until its Retry-After every read would be throttled too: none is sent.
		r := Failed(err, "environment "+env.Name)
		r.RequeueAfter = until.Sub(now)
		return nil, &r
	}
	return newTarget(env, now, c, p.EntraSyncWait), nil
}

func targetKey(env *v1alpha1.Environment) string {
	return env.Spec.Dataverse.URL + "\x00" + env.Spec.Dataverse.EnvironmentID + "\x00" + env.Spec.Dataverse.CredentialsSecretRef.Name
}

func (p *Pool) connect(ctx context.Context, c *connection, env *v1alpha1.Environment, now time.Time) (*Target, *Result) {
	dv := env.Spec.Dataverse
	fail := func(r Result) (*Target, *Result) {
		c.target, c.key, c.client, c.admin, c.failure = targetKey(env), "", nil, nil, &r
		return nil, &r
	}
	s, err := p.Secrets(ctx, env.Namespace, dv.CredentialsSecretRef.Name)
	if err != nil {
		r := Failed(err, "environment "+env.Name)
		return nil, &r // not remembered: reading the Secret may work next time
	}
	if s == nil {
		return fail(Result{Reason: v1alpha1.ReasonUnauthorized, RequeueAfter: UnauthorizedRetry,
			Message: fmt.Sprintf("Secret %s named in environment %s's spec.dataverse.credentialsSecretRef does not exist in namespace %s: create it with tenantId, clientId and clientSecret (or federatedTokenFile)", dv.CredentialsSecretRef.Name, env.Name, env.Namespace)})
	}
	key := fingerprint(targetKey(env), s)
	if c.key == key && c.client != nil {
		return newTarget(env, now, c, p.EntraSyncWait), nil
	}
	cred, err := p.Credential(s.Data)
	if err != nil {
		return fail(Result{Reason: v1alpha1.ReasonUnauthorized, RequeueAfter: UnauthorizedRetry,
			Message: fmt.Sprintf("Secret %s of environment %s cannot be used: %v", dv.CredentialsSecretRef.Name, env.Name, err)})
	}
	cl, err := p.Connector.Environment(dv.URL, cred)
	if err != nil {
		return fail(Result{Reason: v1alpha1.ReasonSyncConflict, RequeueAfter: time.Minute,
			Message: fmt.Sprintf("environment %s's spec.dataverse.url cannot be used: %v", env.Name, err)})
	}
	admin, _ := p.Connector.Admin(cred) // absent only when the admin URL is unusable: addUser then says so
	// Another environment URL is another organization: its catalogue, people asked from Entra ID
	// and snapshot are not this one's (compared before the client is replaced).
	other := c.client == nil || c.client.URL() != cl.URL()
	c.target, c.key, c.client, c.admin, c.failure = targetKey(env), key, cl, admin, nil
	if c.catalogue == nil || other {
		c.catalogue, c.added, c.snap = newCatalogue(), &entraAdds{}, &snapshot{}
		c.published.Store(c.snap)
	}
	return newTarget(env, now, c, p.EntraSyncWait), nil
}

// ForgetEnvironment drops what the pool keeps of an environment (deleted, or its target removed),
// and the connector's limiter and metrics for its URL when no other environment uses it.
func (p *Pool) ForgetEnvironment(namespace, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.envs[envKey(namespace, name)]
	delete(p.envs, envKey(namespace, name))
	if c == nil || c.client == nil {
		return
	}
	for _, other := range p.envs {
		if other.client != nil && other.client.URL() == c.client.URL() {
			return
		}
	}
	c.client.Forget()
}

// Fresh returns the last outcome of an object's sync and the time left until it is due, when its
// desired value (fingerprint) is unchanged and it is not due yet, so the reconcile skips
// Dataverse: whatever else reconciles the object (its own status write coming back, a watch)
// costs no request. That holds for an outcome that is not Synced too (a problem reported until
// the next interval, a wait until its retry time), except Unauthorized: a Secret its owner fixed
// is used at the next reconcile.
func (p *Pool) Fresh(key, uid, fp string, now time.Time) (Result, time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.synced[key]
	if !ok || s.uid != uid || s.fingerprint != fp || !now.Before(s.due) || s.result.Reason == v1alpha1.ReasonUnauthorized {
		return Result{}, 0, false
	}
	return s.result, s.due.Sub(now), true
}

// LastSynced reports whether the object's last recorded sync, of the same decision (uid and
// fingerprint), found it in place, however long ago.
func (p *Pool) LastSynced(key, uid, fp string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.synced[key]
	return ok && s.uid == uid && s.fingerprint == fp && s.result.Synced()
}

// Record remembers an object's sync outcome until it is due again (jittered by up to a tenth, so
// a fleet synced together spreads out).
func (p *Pool) Record(key, uid, fp string, now time.Time, r Result) time.Duration {
	after := r.RequeueAfter
	if after > 0 {
		after += time.Duration(rand.Int64N(int64(after)/10 + 1))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.synced == nil {
		p.synced = map[string]syncedAt{}
	}
	p.synced[key] = syncedAt{uid: uid, fingerprint: fp, due: now.Add(after), result: r}
	return after
}

// ForgetObject drops what the pool remembers of an object that is gone.
func (p *Pool) ForgetObject(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.synced, key)
}

// NoteThrottled records that Dataverse throttled a request for an environment's objects until
// until, so the Environment can say so (Throttled is a state, not an error storm).
func (p *Pool) NoteThrottled(env *v1alpha1.Environment, until time.Time) {
	c := p.connectionOf(env)
	p.mu.Lock()
	defer p.mu.Unlock()
	if until.After(c.throttled) {
		c.throttled = until
	}
}

// ThrottledUntil returns when requests to an environment resume, if it is throttled now.
func (p *Pool) ThrottledUntil(env *v1alpha1.Environment, now time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.envs[envKey(env.Namespace, env.Name)]
	if c == nil || !now.Before(c.throttled) {
		return time.Time{}, false
	}
	return c.throttled, true
}

// Sizes reports how many entries each of the pool's maps holds, for tests and debugging: every
// one returns to its size once the objects and environments it was about are gone.
func (p *Pool) Sizes() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{"environments": len(p.envs), "synced": len(p.synced), "entraAdds": 0}
	if p.Connector != nil {
		out["limiters"] = p.Connector.Limiters()
	}
	for _, c := range p.envs {
		out["entraAdds"] += c.added.size()
	}
	return out
}

func fingerprint(target string, s *Secret) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", target, s.ResourceVersion)
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for k := range keys {
		fmt.Fprintf(h, "%s\x00%s\x00", keys[k], s.Data[keys[k]])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// snapshotAge is the age of each environment's bulk snapshot at scrape time.
var snapshotAge = prometheus.NewDesc("dataverse_snapshot_age_seconds",
	"Age of an environment's bulk snapshot of people, roles and their links (read again every sync interval; growing beyond that: its reads fail or are throttled).",
	[]string{"namespace", "environment"}, nil)

// Describe and Collect make the pool a Prometheus collector of its snapshots' ages.
func (p *Pool) Describe(ch chan<- *prometheus.Desc) { ch <- snapshotAge }

func (p *Pool) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for k, c := range p.envs {
		snap := c.published.Load()
		if snap == nil {
			continue
		}
		taken := snap.takenAt.Load()
		if taken == 0 {
			continue
		}
		ns, name, _ := strings.Cut(k, "/")
		ch <- prometheus.MustNewConstMetric(snapshotAge, prometheus.GaugeValue, now.Sub(time.Unix(0, taken)).Seconds(), ns, name)
	}
}
