package dvsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// SecretReader reads a Secret's data from the Environment's namespace; found is false when the
// Secret does not exist.
type SecretReader func(ctx context.Context, namespace, name string) (data map[string][]byte, found bool, err error)

// Pool keeps one Dataverse client per Environment (rebuilt when its URL or credentials change)
// and remembers when each object was last synced, so an object whose decided state and record are
// unchanged costs one round of reads per sync interval and no write.
type Pool struct {
	Connector *dataverse.Connector
	Secrets   SecretReader
	// Credential turns the Secret's data into a token credential; tests inject a static one.
	Credential func(data map[string][]byte) (azcore.TokenCredential, error)
	// EntraSyncWait is how soon a user added from Entra ID (AwaitingEntraSync) is looked for
	// again; zero means 30 seconds (Entra ID's sync takes minutes).
	EntraSyncWait time.Duration

	mu        sync.Mutex
	targets   map[string]*pooled
	synced    map[string]syncedAt
	throttled map[string]time.Time
}

type pooled struct {
	fingerprint string
	client      *dataverse.Client
	admin       *dataverse.AdminClient
	catalogue   *catalogue
	added       *entraAdds
}

type syncedAt struct {
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

// Target connects to env's Dataverse. A missing Secret or unusable credentials are an outcome
// (Unauthorized, naming what to fix), not an error.
func (p *Pool) Target(ctx context.Context, env *v1alpha1.Environment, now time.Time) (*Target, *Result) {
	dv := env.Spec.Dataverse
	data, found, err := p.Secrets(ctx, env.Namespace, dv.CredentialsSecretRef.Name)
	if err != nil {
		r := Failed(err, "environment "+env.Name)
		return nil, &r
	}
	if !found {
		return nil, &Result{Reason: v1alpha1.ReasonUnauthorized, RequeueAfter: time.Minute,
			Message: fmt.Sprintf("Secret %s named in environment %s's spec.dataverse.credentialsSecretRef does not exist in namespace %s: create it with tenantId, clientId and clientSecret (or federatedTokenFile)", dv.CredentialsSecretRef.Name, env.Name, env.Namespace)}
	}
	fp := fingerprint(dv.URL, dv.EnvironmentID, data)
	key := env.Namespace + "/" + env.Name
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.targets == nil {
		p.targets = map[string]*pooled{}
	}
	t := p.targets[key]
	if t == nil || t.fingerprint != fp {
		cred, err := p.Credential(data)
		if err != nil {
			return nil, &Result{Reason: v1alpha1.ReasonUnauthorized, RequeueAfter: time.Minute,
				Message: fmt.Sprintf("Secret %s of environment %s cannot be used: %v", dv.CredentialsSecretRef.Name, env.Name, err)}
		}
		cl, err := p.Connector.Environment(dv.URL, cred)
		if err != nil {
			return nil, &Result{Reason: v1alpha1.ReasonSyncConflict, RequeueAfter: time.Minute,
				Message: fmt.Sprintf("environment %s's spec.dataverse.url cannot be used: %v", env.Name, err)}
		}
		admin, _ := p.Connector.Admin(cred) // absent only when the admin URL is unusable: addUser then says so
		t = &pooled{fingerprint: fp, client: cl, admin: admin, catalogue: newCatalogue(), added: &entraAdds{at: map[string]time.Time{}}}
		p.targets[key] = t
	}
	return &Target{Client: t.client, Admin: t.admin, Env: env, Now: now, catalogue: t.catalogue, added: t.added, EntraSyncWait: p.EntraSyncWait}, nil
}

// Forget drops an Environment's client (deleted, or its target removed).
func (p *Pool) Forget(namespace, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.targets, namespace+"/"+name)
}

// Fresh returns the last outcome of an object's sync and the time left until it is due, when its
// decided state (fingerprint) is unchanged and its sync interval has not passed, so the reconcile
// skips Dataverse.
func (p *Pool) Fresh(uid, fp string, now time.Time) (Result, time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.synced[uid]
	if !ok || s.fingerprint != fp || !now.Before(s.due) || !s.result.Synced() {
		return Result{}, 0, false
	}
	return s.result, s.due.Sub(now), true
}

// Record remembers an object's sync outcome until it is due again (jittered by up to a tenth, so
// a fleet synced together spreads out).
func (p *Pool) Record(uid, fp string, now time.Time, r Result) time.Duration {
	after := r.RequeueAfter
	if after > 0 {
		after += time.Duration(rand.Int64N(int64(after)/10 + 1))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.synced == nil {
		p.synced = map[string]syncedAt{}
	}
	p.synced[uid] = syncedAt{fingerprint: fp, due: now.Add(after), result: r}
	return after
}

// ForgetObject drops what the pool remembers of a deleted object.
func (p *Pool) ForgetObject(uid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.synced, uid)
}

func fingerprint(url, envID string, data map[string][]byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", url, envID)
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%s\x00", k, data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// NoteThrottled records that Dataverse throttled a request for an environment's objects until
// until, so the Environment can say so (Throttled is a state, not an error storm).
func (p *Pool) NoteThrottled(namespace, name string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.throttled == nil {
		p.throttled = map[string]time.Time{}
	}
	if k := namespace + "/" + name; until.After(p.throttled[k]) {
		p.throttled[k] = until
	}
}

// ThrottledUntil returns when requests to an environment resume, if it is throttled now.
func (p *Pool) ThrottledUntil(namespace, name string, now time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := namespace + "/" + name
	until, ok := p.throttled[k]
	if !ok || !now.Before(until) {
		delete(p.throttled, k)
		return time.Time{}, false
	}
	return until, true
}
