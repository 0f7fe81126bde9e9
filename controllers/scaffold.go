package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"

	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// decision is what a kind's read-and-decide step returns besides the status it set on the object.
type decision struct {
	events       []decide.Event
	requeueAfter time.Duration
	// deferWrite skips the status write: the decision says a write now would be overwritten soon
	// (decide.PlatformUserOutcome.Defer, decide.EnvironmentOutcome.Defer).
	deferWrite bool
	// act makes what was decided hold outside the object's status — finalizers, owned objects,
	// the external targets — and may add to the status being written (Synced, status.dataverse).
	// nil: nothing to do.
	act func(ctx context.Context) (acted, error)
}

// acted is what acting adds to a decision.
type acted struct {
	events       []decide.Event
	requeueAfter time.Duration
	// write forces the status write of a deferred decision: acting changed what it would write.
	write bool
}

// scaffold is the reconcile every kind shares (docs/design.md, "Sync contract"):
// read → decide (pure) → act → write status. The status write is deferred, so it happens even
// when acting fails, with the condition that says why; it is made only when the status differs.
type scaffold[T any, P interface {
	*T
	client.Object
}] struct {
	client   client.Client
	recorder events.EventRecorder
	// decide reads what the object's decision needs and decides: it sets obj's status and says
	// what to act on.
	decide func(ctx context.Context, obj P) (decision, error)
	// status returns the status struct, for the "only when it differs" comparison.
	status func(P) any
	// onDelete handles an object being deleted; nil leaves it alone.
	onDelete func(ctx context.Context, obj P) (ctrl.Result, error)
	// onGone forgets what the reconciler keeps in memory about an object that no longer exists,
	// and finishes what its deletion left (a record whose finalizer the API server skipped).
	onGone func(ctx context.Context, key client.ObjectKey) (ctrl.Result, error)
	// optimisticLock refuses a status computed from a stale read (the Environment's ledger, EV1).
	optimisticLock bool
	// finalizer, when set, is added before anything is decided, so the decision and the status
	// write's optimistic lock start from the version that holds it.
	finalizer string
}

func (s scaffold[T, P]) reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	obj := P(new(T))
	if err := s.client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) && s.onGone != nil {
			return s.onGone(ctx, req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
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
	d, err := s.decide(ctx, obj)
	if err != nil {
		return ctrl.Result{}, err // nothing was decided: the status stays as it was
	}
	var a acted
	var actErr error
	if d.act != nil {
		a, actErr = d.act(ctx)
	}
	res = ctrl.Result{RequeueAfter: soonest(d.requeueAfter, a.requeueAfter)}
	if d.deferWrite && !a.write && actErr == nil {
		return res, nil
	}
	if err := s.writeStatus(ctx, before, obj); err != nil {
		if apierrors.IsConflict(err) && actErr == nil {
			// Decided from a cache behind the server (an own write not seen yet, or another
			// change): decide again from the next read, quietly; nothing was lost.
			ctrl.LoggerFrom(ctx).V(1).Info("status changed while it was decided; deciding again", "error", err.Error())
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		return ctrl.Result{}, errors.Join(actErr, err)
	}
	if s.recorder != nil {
		for _, e := range append(d.events, a.events...) {
			s.recorder.Eventf(obj, nil, e.Type, e.Reason, e.Action, "%s", e.Message)
		}
	}
	return res, actErr
}

// conflictRetry is how soon a status refused as stale is decided again: the cache catches up
// within milliseconds.
const conflictRetry = 50 * time.Millisecond

// writeStatus patches obj's status when it differs from before, and only then.
func (s scaffold[T, P]) writeStatus(ctx context.Context, before, obj P) error {
	keepTransitionTimes(any(before), any(obj))
	if equality.Semantic.DeepEqual(s.status(before), s.status(obj)) {
		return nil
	}
	var opts []client.MergeFromOption
	if s.optimisticLock {
		opts = append(opts, client.MergeFromWithOptimisticLock{})
	}
	err := s.client.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, opts...))
	if apierrors.IsConflict(err) {
		return fmt.Errorf("%s changed while its status was decided: %w", obj.GetName(), err)
	}
	return client.IgnoreNotFound(err)
}

// keepTransitionTimes gives every condition whose status is the one the object had before the
// reconcile its earlier lastTransitionTime: a condition's status may be set twice within one
// reconcile (the decision sets Ready, the sync's verdict sets it back), and that is no transition.
// Without it such a reconcile rewrote the status with only a new timestamp, and that write woke
// the object again.
func keepTransitionTimes(before, after any) {
	b, ok1 := before.(accessv1alpha1.ConditionsGetter)
	a, ok2 := after.(accessv1alpha1.ConditionsGetter)
	if !ok1 || !ok2 {
		return
	}
	prev, next := b.GetConditions(), a.GetConditions()
	for i := range next {
		if p := meta.FindStatusCondition(prev, next[i].Type); p != nil && p.Status == next[i].Status {
			next[i].LastTransitionTime = p.LastTransitionTime
		}
	}
}

// soonest is the earlier of two requeues, 0 meaning none.
func soonest(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

func now(clock func() time.Time) time.Time {
	if clock != nil {
		return clock()
	}
	return time.Now()
}
