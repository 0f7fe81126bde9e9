package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// ownWrites remembers, per object, the resourceVersion of the last status a reconciler wrote
// until its informer cache has it. It serves two ends:
//
//   - The watch event of that write tells the reconciler nothing it does not know, so its
//     predicate drops it: an object is reconciled once per reason, not once more per status write
//     (a role change reaches each holder once).
//   - A reconcile that reads the object from a cache still behind that write does not decide
//     from the stale status (it might judge "unchanged" and skip a needed write): it waits for the
//     write's watch event, which the predicate then lets through, or reads again once the event
//     has arrived.
//
// Only equality of resourceVersions is used; they are opaque and never ordered.
type ownWrites struct {
	mu      sync.Mutex
	pending map[types.NamespacedName]*ownWrite
	// now is the clock; tests may fix it.
	now func() time.Time
}

type ownWrite struct {
	resourceVersion string
	at              time.Time
	// arrived: the write's watch event has been seen, so the cache holds the write or newer.
	arrived bool
	// wanted: a reconcile waits for the write's event; it must pass the predicate.
	wanted bool
}

// ownWriteGrace bounds how long a reconcile waits for the cache to catch up with a write whose
// watch event it has not seen: the event normally comes within milliseconds, but it may have come
// before the write was recorded, a write that changed nothing has none, and a watch restarted
// with a fresh list may skip it. After the grace the record is forgotten, so the write's event,
// if it still comes, passes and reconciles again: the grace costs time, never a missed write.
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

// wrote records a status write: the object was read at readVersion and the write answered
// writtenVersion. A write that left the version as read changed nothing the cache lacks.
func (w *ownWrites) wrote(key types.NamespacedName, readVersion, writtenVersion string) {
	if writtenVersion == readVersion {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == nil {
		w.pending = map[types.NamespacedName]*ownWrite{}
	}
	if p, ok := w.pending[key]; ok && p.resourceVersion == writtenVersion {
		return // a write that changed nothing answers the version of the one before
	}
	w.pending[key] = &ownWrite{resourceVersion: writtenVersion, at: w.clock()}
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
	case p.resourceVersion == resourceVersion:
		// The cache holds the write: nothing to wait for. Should its event come after this, it
		// passes and reconciles once more, which writes nothing.
		delete(w.pending, key)
		return ownWriteNone, 0
	case p.arrived:
		// The read is older than the write, or newer than it (someone wrote since); a fresh read
		// is at least as new as the write either way.
		delete(w.pending, key)
		return ownWriteArrived, 0
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
// waits for it; every other event passes.
func (w *ownWrites) predicate() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			key := types.NamespacedName{Namespace: e.ObjectNew.GetNamespace(), Name: e.ObjectNew.GetName()}
			w.mu.Lock()
			defer w.mu.Unlock()
			p, ok := w.pending[key]
			if !ok || p.resourceVersion != e.ObjectNew.GetResourceVersion() {
				return true
			}
			if p.wanted {
				delete(w.pending, key)
				return true
			}
			p.arrived = true
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
