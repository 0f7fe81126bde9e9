package controllers

import (
	"context"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// wakeups reconciles Environments on request from other reconcilers (an object of it was
// throttled). It hands each request straight to the controller's work queue, which keeps one
// entry per key, so no wake-up is ever dropped and a burst costs one reconcile; requests made
// before the controller starts wait in pending.
type wakeups struct {
	mu      sync.Mutex
	q       queue
	pending map[client.ObjectKey]bool
}

func (w *wakeups) add(key client.ObjectKey) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.q != nil {
		w.q.Add(reconcile.Request{NamespacedName: key})
		return
	}
	if w.pending == nil {
		w.pending = map[client.ObjectKey]bool{}
	}
	w.pending[key] = true
}

func (w *wakeups) size() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// source is the controller's source of these wake-ups.
func (w *wakeups) source() source.Source {
	return source.Func(func(_ context.Context, q queue) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.q = q
		for key := range w.pending {
			q.Add(reconcile.Request{NamespacedName: key})
		}
		w.pending = nil
		return nil
	})
}
