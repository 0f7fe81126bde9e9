package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// TestOwnWrites plays the orders in which a status write, its watch event and reconciles reading
// the cache can meet, and checks that the write's own event is dropped only when no reconcile
// waits for it, and that no reconcile decides from a cache behind the write.
func TestOwnWrites(t *testing.T) {
	key := types.NamespacedName{Namespace: "team-a", Name: "ada"}
	// A user at a version, with a status that names what was written ("" for the one before).
	user := func(rv, status string) *accessv1alpha1.PlatformUser {
		return &accessv1alpha1.PlatformUser{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, ResourceVersion: rv, Generation: 1},
			Status: accessv1alpha1.PlatformUserStatus{FullName: status}}
	}
	type step struct {
		// "writing" (status), "wrote" (read at "read", answered rv), "failed", "event" (rv,
		// status; "spec" also changes the generation), "check", "delete" or "wait"
		do        string
		rv        string
		read      string
		status    string
		spec      bool
		wantPass  bool          // event, delete: the predicate lets it through
		wantCheck ownWriteCheck // check
		wantWait  time.Duration // check, ownWriteAhead: when to look again
		wait      time.Duration // wait: how long passes
	}
	// write is a write of status "S" read at version 7 that answered rv.
	write := func(rv string) []step {
		return []step{{do: "writing", status: "S"}, {do: "wrote", read: "7", rv: rv}}
	}
	join := func(parts ...[]step) []step {
		var out []step
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"nothing written: every event passes, every read is current", []step{
			{do: "event", rv: "7", wantPass: true},
			{do: "check", rv: "7", wantCheck: ownWriteNone},
		}},
		{"the write's own event is dropped; a later read holds the write", join(write("8"), []step{
			{do: "event", rv: "8", status: "S", wantPass: false},
			{do: "check", rv: "8", wantCheck: ownWriteNone},
			// Forgotten once read: a later event of the same version (a resync) passes.
			{do: "event", rv: "8", status: "S", wantPass: true},
		})},
		{"the write's event coming before its answer is known by its status, and dropped", []step{
			{do: "writing", status: "S"},
			{do: "event", rv: "8", status: "S", wantPass: false},
			{do: "wrote", read: "7", rv: "8"},
			{do: "check", rv: "8", wantCheck: ownWriteNone},
		}},
		{"an update before the answer that changed more than the status is not the write's", []step{
			{do: "writing", status: "S"},
			{do: "event", rv: "8", status: "S", spec: true, wantPass: true},
			{do: "wrote", read: "7", rv: "9"},
			{do: "event", rv: "9", status: "S", wantPass: false},
		}},
		{"an update before the answer with another status is not the write's", []step{
			{do: "writing", status: "S"},
			{do: "event", rv: "8", status: "other", wantPass: true},
			{do: "wrote", read: "7", rv: "9"},
			{do: "event", rv: "9", status: "S", wantPass: false},
		}},
		{"a reconcile reading a cache behind the write waits for its event, which then passes", join(write("8"), []step{
			{do: "check", rv: "7", wantCheck: ownWriteAhead, wantWait: ownWriteGrace},
			{do: "event", rv: "8", status: "S", wantPass: true},
			{do: "check", rv: "8", wantCheck: ownWriteNone},
		})},
		{"a read taken before the dropped event arrived reads again", join(write("8"), []step{
			{do: "event", rv: "8", status: "S", wantPass: false},
			{do: "check", rv: "7", wantCheck: ownWriteArrived},
			{do: "check", rv: "8", wantCheck: ownWriteNone},
		})},
		{"someone else's write passes, before and after the own one", join(write("8"), []step{
			{do: "event", rv: "6", status: "other", wantPass: true},
			{do: "event", rv: "8", status: "S", wantPass: false},
			{do: "event", rv: "9", status: "other", wantPass: true},
		})},
		{"a read holding the write before its event came forgets it: the event passes", join(write("8"), []step{
			{do: "check", rv: "8", wantCheck: ownWriteNone},
			{do: "event", rv: "8", status: "S", wantPass: true},
			{do: "check", rv: "9", wantCheck: ownWriteNone},
		})},
		{"a newer write replaces the pending one", join(write("8"), write("9"), []step{
			{do: "event", rv: "8", status: "S", wantPass: true},
			{do: "event", rv: "9", status: "S", wantPass: false},
		})},
		{"a reconcile behind the write waits at most the grace, should its event never come", join(write("8"), []step{
			{do: "wait", wait: 500 * time.Millisecond},
			{do: "check", rv: "9", wantCheck: ownWriteAhead, wantWait: ownWriteGrace - 500*time.Millisecond},
			{do: "wait", wait: ownWriteGrace},
			{do: "check", rv: "9", wantCheck: ownWriteNone},
			// Forgotten: its event, should it still come, passes and reconciles again.
			{do: "event", rv: "8", status: "S", wantPass: true},
		})},
		{"a write that changed nothing leaves nothing to wait for", []step{
			{do: "writing", status: "S"},
			{do: "wrote", read: "8", rv: "8"},
			{do: "check", rv: "9", wantCheck: ownWriteNone},
		}},
		{"a failed write leaves nothing to wait for", []step{
			{do: "writing", status: "S"},
			{do: "failed"},
			{do: "event", rv: "8", status: "S", wantPass: true},
			{do: "check", rv: "7", wantCheck: ownWriteNone},
		}},
		{"deletion passes and forgets the write", join(write("8"), []step{
			{do: "delete", rv: "8", wantPass: true},
			{do: "check", rv: "7", wantCheck: ownWriteNone},
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
			own := ownWrites{now: func() time.Time { return clock }}
			p := own.predicate(func(o client.Object) any { return o.(*accessv1alpha1.PlatformUser).Status })
			for i, s := range c.steps {
				switch s.do {
				case "writing":
					own.writing(key, user("", s.status).Status)
				case "wrote":
					own.wrote(key, s.read, s.rv)
				case "failed":
					own.failed(key)
				case "wait":
					clock = clock.Add(s.wait)
				case "event":
					cur := user(s.rv, s.status)
					if s.spec {
						cur.Generation++
					}
					if got := p.Update(event.UpdateEvent{ObjectOld: user("7", ""), ObjectNew: cur}); got != s.wantPass {
						t.Errorf("step %d: event of version %s passes = %v, want %v", i+1, s.rv, got, s.wantPass)
					}
				case "delete":
					if got := p.Delete(event.DeleteEvent{Object: user(s.rv, "")}); got != s.wantPass {
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
