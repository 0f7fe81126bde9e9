package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// decided is what a kind's decide step returns besides the status it set on the object.
type decided struct {
	events       []decide.Event
	requeueAfter time.Duration
	// deferWrite skips the status write: the decision says a write now would be overwritten soon
	// (decide.PlatformUserOutcome.Defer, decide.EnvironmentOutcome.Defer).
	deferWrite bool
}

// scaffold is the reconcile every kind shares: get the object, hand a deleting one to onDelete,
// read and decide (decide sets the object's status), write the status only when it differs,
// record the decided events. Reconcilers supply the read-and-decide step and little else.
type scaffold[T any, P interface {
	*T
	client.Object
}] struct {
	client   client.Client
	recorder events.EventRecorder
	// decide reads what the object's decision needs and sets obj's status from it.
	decide func(ctx context.Context, obj P) (decided, error)
	// status returns the status struct, for the "only when it differs" comparison.
	status func(P) any
	// onDelete handles an object being deleted; nil leaves it alone.
	onDelete func(ctx context.Context, obj P) (ctrl.Result, error)
	// onGone runs when the object no longer exists.
	onGone func(key client.ObjectKey)
	// optimisticLock refuses a status computed from a stale read (the Environment's ledger, EV1).
	optimisticLock bool
}

func (s scaffold[T, P]) reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := P(new(T))
	if err := s.client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) && s.onGone != nil {
			s.onGone(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		if s.onDelete == nil {
			return ctrl.Result{}, nil
		}
		return s.onDelete(ctx, obj)
	}
	before := obj.DeepCopyObject().(P)
	out, err := s.decide(ctx, obj)
	if err != nil {
		return ctrl.Result{}, err
	}
	if out.deferWrite {
		return ctrl.Result{RequeueAfter: out.requeueAfter}, nil
	}
	if err := s.writeStatus(ctx, before, obj); err != nil {
		return ctrl.Result{}, err
	}
	if s.recorder != nil {
		for _, e := range out.events {
			s.recorder.Eventf(obj, nil, e.Type, e.Reason, e.Action, "%s", e.Message)
		}
	}
	return ctrl.Result{RequeueAfter: out.requeueAfter}, nil
}

// writeStatus patches obj's status when it differs from before, and only then.
//
// ownStatusRevisits: before is read from the cache, which can lag the reconciler's own last
// write, so "unchanged" may be judged against a stale status and a needed write skipped. Every
// reconciler therefore watches its own kind unfiltered: once the cache catches up with a status
// write, the object is reconciled again against what the server holds, and that reconcile writes
// nothing unless the status really differs.
func (s scaffold[T, P]) writeStatus(ctx context.Context, before, obj P) error {
	if equality.Semantic.DeepEqual(s.status(before), s.status(obj)) {
		return nil
	}
	var opts []client.MergeFromOption
	if s.optimisticLock {
		opts = append(opts, client.MergeFromWithOptimisticLock{})
	}
	err := s.client.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, opts...))
	if apierrors.IsConflict(err) {
		return fmt.Errorf("%s changed while its status was decided; deciding again: %w", obj.GetName(), err)
	}
	return client.IgnoreNotFound(err)
}
