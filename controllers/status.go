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
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

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
	// own records the reconciler's status writes until the cache has them (ownWrites).
	own *ownWrites
	// finalizer, when set, is added before anything is decided, so the decision and the status
	// write's optimistic lock start from the version that holds it.
	finalizer string
}

func (s scaffold[T, P]) reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := P(new(T))
	if err := s.client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) && s.onGone != nil {
			s.onGone(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if s.own != nil {
		switch check, wait := s.own.check(req.NamespacedName, obj.GetResourceVersion()); check {
		case ownWriteAhead:
			// The cache may not have caught up with this reconciler's last status write: deciding
			// now could judge "unchanged" against a status the server no longer holds and skip a
			// needed write. That write's watch event reconciles the object again, or the requeue
			// once the grace has passed.
			return ctrl.Result{RequeueAfter: wait}, nil
		case ownWriteArrived:
			// The write reached the cache after obj was read from it: read again.
			if err := s.client.Get(ctx, req.NamespacedName, obj); err != nil {
				return ctrl.Result{}, client.IgnoreNotFound(err)
			}
		}
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		if s.onDelete == nil {
			return ctrl.Result{}, nil
		}
		return s.onDelete(ctx, obj)
	}
	if s.finalizer != "" && !controllerutil.ContainsFinalizer(obj, s.finalizer) {
		patch := client.MergeFrom(obj.DeepCopyObject().(P))
		controllerutil.AddFinalizer(obj, s.finalizer)
		if err := s.client.Patch(ctx, obj, patch); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
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

// writeStatus patches obj's status when it differs from before, and only then, and records the
// write with s.own so its watch event does not reconcile the object again.
func (s scaffold[T, P]) writeStatus(ctx context.Context, before, obj P) error {
	if equality.Semantic.DeepEqual(s.status(before), s.status(obj)) {
		return nil
	}
	var opts []client.MergeFromOption
	if s.optimisticLock {
		opts = append(opts, client.MergeFromWithOptimisticLock{})
	}
	key := client.ObjectKeyFromObject(obj)
	if s.own != nil {
		s.own.writing(key, s.status(obj))
	}
	err := s.client.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, opts...))
	if s.own != nil {
		if err != nil {
			s.own.failed(key)
		} else {
			s.own.wrote(key, before.GetResourceVersion(), obj.GetResourceVersion())
		}
	}
	if apierrors.IsConflict(err) {
		return fmt.Errorf("%s changed while its status was decided; deciding again: %w", obj.GetName(), err)
	}
	return client.IgnoreNotFound(err)
}
