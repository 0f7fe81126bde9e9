package dvsync

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

func envNamed(name string) *v1alpha1.Environment {
	return &v1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
}

// TestThrottledUntil: throttling met by any object is the Environment's state until the latest
// retry time, then it is gone.
func TestThrottledUntil(t *testing.T) {
	var p Pool
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if _, ok := p.ThrottledUntil(envNamed("env"), t0); ok {
		t.Fatal("an environment nothing throttled is not throttled")
	}
	p.NoteThrottled(envNamed("env"), t0.Add(5*time.Second))
	p.NoteThrottled(envNamed("env"), t0.Add(2*time.Second)) // an earlier time does not shorten it
	if until, ok := p.ThrottledUntil(envNamed("env"), t0.Add(time.Second)); !ok || !until.Equal(t0.Add(5*time.Second)) {
		t.Errorf("ThrottledUntil = %v, %v; want %v, true", until, ok, t0.Add(5*time.Second))
	}
	if _, ok := p.ThrottledUntil(envNamed("other"), t0.Add(time.Second)); ok {
		t.Error("another environment is not throttled")
	}
	if _, ok := p.ThrottledUntil(envNamed("env"), t0.Add(5*time.Second)); ok {
		t.Error("throttling ends at the retry time")
	}
}

// TestPoolForgets: what the pool keeps of an object or an environment is gone with it, and a
// fresh outcome is reused only for the same object (uid), desired value and before it is due.
func TestPoolForgets(t *testing.T) {
	var p Pool
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	synced := Result{Reason: v1alpha1.ReasonSynced, RequeueAfter: time.Minute}
	p.Record("PlatformUser/ns/ada", "uid-1", "fp", t0, synced)
	if _, _, ok := p.Fresh("PlatformUser/ns/ada", "uid-1", "fp", t0.Add(time.Second)); !ok {
		t.Fatal("an unchanged object within its interval reuses its outcome")
	}
	for name, fresh := range map[string]bool{
		"another desired value": p.fresh("PlatformUser/ns/ada", "uid-1", "fp2", t0.Add(time.Second)),
		"a recreated object":    p.fresh("PlatformUser/ns/ada", "uid-2", "fp", t0.Add(time.Second)),
		"past its interval":     p.fresh("PlatformUser/ns/ada", "uid-1", "fp", t0.Add(2*time.Minute)),
	} {
		if fresh {
			t.Errorf("%s: synced again", name)
		}
	}
	// A problem reported until the next interval is reused too (its own status write coming back
	// costs no request); Unauthorized is not, so a fixed Secret is used at once.
	p.Record("PlatformUser/ns/bob", "uid-3", "fp", t0, Result{Reason: v1alpha1.ReasonEnablementDrift, RequeueAfter: time.Minute})
	p.Record("PlatformUser/ns/eve", "uid-4", "fp", t0, Result{Reason: v1alpha1.ReasonUnauthorized, RequeueAfter: time.Minute})
	if !p.fresh("PlatformUser/ns/bob", "uid-3", "fp", t0.Add(time.Second)) || p.fresh("PlatformUser/ns/eve", "uid-4", "fp", t0.Add(time.Second)) {
		t.Error("EnablementDrift is reused until due; Unauthorized is not")
	}
	p.ForgetObject("PlatformUser/ns/bob")
	p.ForgetObject("PlatformUser/ns/eve")
	p.NoteThrottled(envNamed("env"), t0)
	if got := p.Sizes(); got["synced"] != 1 || got["environments"] != 1 {
		t.Fatalf("sizes %v", got)
	}
	p.ForgetObject("PlatformUser/ns/ada")
	p.ForgetEnvironment("ns", "env")
	if got := p.Sizes(); got["synced"] != 0 || got["environments"] != 0 {
		t.Errorf("sizes after forgetting: %v", got)
	}
}

func (p *Pool) fresh(key, uid, fp string, now time.Time) bool {
	_, _, ok := p.Fresh(key, uid, fp, now)
	return ok
}
