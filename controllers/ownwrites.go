package controllers

import (
	"crypto/sha256"
	"encoding/json"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// ownWrites remembers a reconciler's last status write per object until its informer cache has
// it. It serves two ends:
//
//   - The watch event of that write tells the reconciler nothing it does not know, so its
//     predicate drops it: an object is reconciled once per reason, not once more per status write
//     (a role change reaches each holder once).
//   - A reconcile that reads the object from a cache still behind that write does not decide
//     from the stale status (it might judge "unchanged" and skip a needed write): it waits for the
//     write's watch event, which the predicate then lets through, or reads again once the event
//     has arrived.
//
// The write's event is known by the resourceVersion the write answered, or, when the event comes
// before that answer, by carrying exactly the written status in an update that changed nothing
// else. resourceVersions are compared for equality only; they are opaque and never ordered.
type ownWrites struct {
	mu      sync.Mutex
	pending map[types.NamespacedName]*ownWrite
	// statusOf returns an object's status (set by predicate).
	statusOf func(client.Object) any
	// now is the clock; tests may fix it.
	now func() time.Time
}

type ownWrite struct {
	// status is a digest of the written status's JSON, until the write's answer is known.
	status *[sha256.Size]byte
	// resourceVersion is the write's answer; empty while the write is in flight.
	resourceVersion string
	at              time.Time
	// seen is the resourceVersion of the write's watch event once it came: the cache holds the
	// write (or newer) from then on.
	seen string
	// wanted: a reconcile waits for the write's event; it must pass the predicate.
	wanted bool
}

// ownWriteGrace bounds how long a reconcile waits for the cache to catch up with a write whose
// watch event it has not seen: the event normally comes within milliseconds, but a watch
// restarted with a fresh list may skip it. After the grace the record is forgotten, so the
// write's event, if it still comes, passes and reconciles again: the grace costs time, never a
// missed write.
const ownWriteGrace = 2 * time.Second

// ownWriteCheck is what a reconcile should do with the object it read.
type ownWriteCheck int

const (
	// ownWriteNone: decide from the object read; no write of this reconciler is missing from it.
	ownWriteNone ownWriteCheck = iota
	// ownWriteAhead: the cache may be behind the last write; its watch event will reconcile
	// again, or the requeue after the returned wait.
	ownWriteAhead
	// ownWriteArrived: the write reached the cache after the object was read: read again.
	ownWriteArrived
)

func (w *ownWrites) clock() time.Time {
	if w.now != nil {
		return w.now()
	}
	return time.Now()
}

// writing records a status write about to be sent; wrote or failed follows it.
func (w *ownWrites) writing(key types.NamespacedName, status any) {
	digest, err := statusDigest(status)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		delete(w.pending, key) // unknown content: no event will be taken for the write's
		return
	}
	if w.pending == nil {
		w.pending = map[types.NamespacedName]*ownWrite{}
	}
	w.pending[key] = &ownWrite{status: digest, at: w.clock()}
}

// wrote records the write's answer: the object was read at readVersion and the write answered
// writtenVersion. A write that left the version as read changed nothing and has no event.
func (w *ownWrites) wrote(key types.NamespacedName, readVersion, writtenVersion string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, ok := w.pending[key]
	switch {
	case !ok:
	case writtenVersion == readVersion:
		delete(w.pending, key)
	case p.seen == "":
		p.resourceVersion, p.status = writtenVersion, nil // the version tells its event now
	case p.seen != writtenVersion:
		// The event taken for this write was not its own (an identical status written by
		// someone else): the cache is not known to hold this write.
		p.seen, p.resourceVersion, p.status = "", writtenVersion, nil
	}
}

// failed forgets a write that was not made.
func (w *ownWrites) failed(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.pending, key)
}

// check compares the resourceVersion of the object a reconcile read with the last write; for
// ownWriteAhead, wait is when to look again if the write's event does not come first.
func (w *ownWrites) check(key types.NamespacedName, resourceVersion string) (ownWriteCheck, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, ok := w.pending[key]
	switch {
	case !ok:
		return ownWriteNone, 0
	case p.seen != "":
		delete(w.pending, key)
		if p.seen == resourceVersion {
			return ownWriteNone, 0
		}
		// Read before the event came, or after someone wrote since: a fresh read is at least
		// as new as the write either way.
		return ownWriteArrived, 0
	case p.resourceVersion == resourceVersion:
		// The cache holds the write before its event was handed out: nothing to wait for, and
		// the event, when it comes, passes and reconciles once more, writing nothing.
		delete(w.pending, key)
		return ownWriteNone, 0
	}
	age := w.clock().Sub(p.at)
	if age >= ownWriteGrace {
		delete(w.pending, key)
		return ownWriteNone, 0
	}
	p.wanted = true
	return ownWriteAhead, ownWriteGrace - age
}

// predicate drops the watch event of the reconciler's own last status write unless a reconcile
// waits for it; every other event passes. statusOf returns an object's status.
func (w *ownWrites) predicate(statusOf func(client.Object) any) predicate.Predicate {
	w.statusOf = statusOf
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			key := types.NamespacedName{Namespace: e.ObjectNew.GetNamespace(), Name: e.ObjectNew.GetName()}
			w.mu.Lock()
			defer w.mu.Unlock()
			p, ok := w.pending[key]
			if !ok || p.seen != "" || !w.isWrite(p, e.ObjectOld, e.ObjectNew) {
				return true
			}
			if p.wanted {
				delete(w.pending, key)
				return true
			}
			p.seen = e.ObjectNew.GetResourceVersion()
			return false
		},
		DeleteFunc: func(e event.DeleteEvent) bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			delete(w.pending, types.NamespacedName{Namespace: e.Object.GetNamespace(), Name: e.Object.GetName()})
			return true
		},
	}
}

// isWrite reports whether an update is the event of write p: it carries the version the write
// answered or, while the answer is not known, the written status with nothing else changed.
func (w *ownWrites) isWrite(p *ownWrite, old, cur client.Object) bool {
	if p.resourceVersion != "" {
		return p.resourceVersion == cur.GetResourceVersion()
	}
	if w.statusOf == nil || p.status == nil || !onlyStatusChanged(old, cur) {
		return false
	}
	digest, err := statusDigest(w.statusOf(cur))
	return err == nil && *digest == *p.status
}

// statusDigest identifies a status by its JSON, which is what the API server stores: an object
// read back from a watch digests like the status that was written.
func statusDigest(status any) (*[sha256.Size]byte, error) {
	data, err := json.Marshal(status)
	if err != nil {
		return nil, err
	}
	d := sha256.Sum256(data)
	return &d, nil
}

// onlyStatusChanged reports whether an update left everything but the status (and the
// bookkeeping every write changes) as it was.
func onlyStatusChanged(old, cur client.Object) bool {
	return old.GetGeneration() == cur.GetGeneration() &&
		deletionEqual(old, cur) &&
		equality.Semantic.DeepEqual(old.GetFinalizers(), cur.GetFinalizers()) &&
		equality.Semantic.DeepEqual(old.GetLabels(), cur.GetLabels()) &&
		equality.Semantic.DeepEqual(old.GetAnnotations(), cur.GetAnnotations()) &&
		equality.Semantic.DeepEqual(old.GetOwnerReferences(), cur.GetOwnerReferences())
}
