package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// TestOwnWrites plays the orders in which a status write, its watch event and reconciles reading
// the cache can meet, and checks that the write's own event is dropped only when no reconcile
// waits for it, and that no reconcile decides from a cache behind the write.
func TestOwnWrites(t *testing.T) {
	key := types.NamespacedName{Namespace: "team-a", Name: "ada"}
	user := func(rv string) *accessv1alpha1.PlatformUser {
		return &accessv1alpha1.PlatformUser{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, ResourceVersion: rv}}
	}
	type step struct {
		do        string // "wrote" (read at "read", answered rv), "event", "check", "delete" or "wait"
		rv        string
		read      string        // wrote: the version the reconcile read
		wantPass  bool          // event, delete: the predicate lets it through
		wantCheck ownWriteCheck // check
		wantWait  time.Duration // check, ownWriteAhead: when to look again
		wait      time.Duration // wait: how long passes
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"nothing written: every event passes, every read is current", []step{
			{do: "event", rv: "7", wantPass: true},
			{do: "check", rv: "7", wantCheck: ownWriteNone},
		}},
		{"the write's own event is dropped; a later read holds the write", []step{
			{do: "wrote", rv: "8"},
			{do: "event", rv: "8", wantPass: false},
			{do: "check", rv: "8", wantCheck: ownWriteNone},
			// Forgotten once read: a later event of the same version (a resync) passes.
			{do: "event", rv: "8", wantPass: true},
		}},
		{"a read holding the write before its event came forgets it: the event passes", []step{
			{do: "wrote", rv: "8"},
			{do: "check", rv: "8", wantCheck: ownWriteNone},
			{do: "event", rv: "8", wantPass: true},
			{do: "check", rv: "9", wantCheck: ownWriteNone},
		}},
		{"a reconcile reading a cache behind the write waits for its event, which then passes", []step{
			{do: "wrote", rv: "8"},
			{do: "check", rv: "7", wantCheck: ownWriteAhead, wantWait: ownWriteGrace},
			{do: "event", rv: "8", wantPass: true},
			{do: "check", rv: "8", wantCheck: ownWriteNone},
		}},
		{"a read taken before the dropped event arrived reads again", []step{
			{do: "wrote", rv: "8"},
			{do: "event", rv: "8", wantPass: false},
			{do: "check", rv: "7", wantCheck: ownWriteArrived},
			{do: "check", rv: "8", wantCheck: ownWriteNone},
		}},
		{"someone else's write passes, before and after the own one", []step{
			{do: "wrote", rv: "8"},
			{do: "event", rv: "6", wantPass: true},
			{do: "event", rv: "8", wantPass: false},
			{do: "event", rv: "9", wantPass: true},
		}},
		{"a newer write replaces the pending one", []step{
			{do: "wrote", rv: "8"},
			{do: "wrote", rv: "9"},
			{do: "event", rv: "8", wantPass: true},
			{do: "event", rv: "9", wantPass: false},
		}},
		{"a reconcile behind the write waits at most the grace: its event may have come before the write was recorded", []step{
			{do: "wrote", read: "7", rv: "8"},
			{do: "wait", wait: 500 * time.Millisecond},
			{do: "check", rv: "9", wantCheck: ownWriteAhead, wantWait: ownWriteGrace - 500*time.Millisecond},
			{do: "wait", wait: ownWriteGrace},
			{do: "check", rv: "9", wantCheck: ownWriteNone},
			// Forgotten: its event, should it still come, passes and reconciles again.
			{do: "event", rv: "8", wantPass: true},
		}},
		{"a write that changed nothing leaves nothing to wait for", []step{
			{do: "wrote", read: "8", rv: "8"},
			{do: "check", rv: "9", wantCheck: ownWriteNone},
		}},
		{"a write that changed nothing after a cache behind the last one keeps that one's record", []step{
			{do: "wrote", read: "7", rv: "8"},
			{do: "event", rv: "8", wantPass: false},
			{do: "wrote", read: "7", rv: "8"},
			{do: "check", rv: "7", wantCheck: ownWriteArrived},
		}},
		{"deletion passes and forgets the write", []step{
			{do: "wrote", rv: "8"},
			{do: "delete", rv: "8", wantPass: true},
			{do: "check", rv: "7", wantCheck: ownWriteNone},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
			own := ownWrites{now: func() time.Time { return clock }}
			p := own.predicate()
			for i, s := range c.steps {
				switch s.do {
				case "wrote":
					read := s.read
					if read == "" {
						read = "7"
					}
					own.wrote(key, read, s.rv)
				case "wait":
					clock = clock.Add(s.wait)
				case "event":
					if got := p.Update(event.UpdateEvent{ObjectOld: user("1"), ObjectNew: user(s.rv)}); got != s.wantPass {
						t.Errorf("step %d: event of version %s passes = %v, want %v", i+1, s.rv, got, s.wantPass)
					}
				case "delete":
					if got := p.Delete(event.DeleteEvent{Object: user(s.rv)}); got != s.wantPass {
						t.Errorf("step %d: deletion passes = %v, want %v", i+1, got, s.wantPass)
					}
				case "check":
					if got, wait := own.check(key, s.rv); got != s.wantCheck || wait != s.wantWait {
						t.Errorf("step %d: check of a read at version %s = %d (wait %v), want %d (wait %v)", i+1, s.rv, got, wait, s.wantCheck, s.wantWait)
					}
				}
			}
		})
	}
}
