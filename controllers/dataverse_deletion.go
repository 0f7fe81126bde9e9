package controllers

import (
	"context"
	"sync"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dvsync"
)

// DataverseFinalizer holds an object whose record the operator deletes from Dataverse when it is
// deleted (spec.dataverse.deletionPolicy Delete): roles, teams and application users.
const DataverseFinalizer = "access.accessplane.io/dataverse-record"

// deletesRecords reports whether env's target deletes the records of deleted objects: Manage
// with deletionPolicy Delete.
func (s *syncStep) deletesRecords(env *accessv1alpha1.Environment) bool {
	return s.targetOf(env) && env.Spec.Dataverse.DeletionPolicy == accessv1alpha1.DeletionDelete &&
		env.Spec.Dataverse.ManagementPolicy == accessv1alpha1.ManagementManage
}

// keepRecordFinalizer adds the finalizer before anything is created in Dataverse when the
// environment deletes records and the object is to be synced (synced: its decision has a desired
// value; a duplicate's record belongs to the older object), so an object deleted right after its
// record was made (even one whose creation's answer was lost) still has it removed; it lets the
// object go otherwise.
func (s *syncStep) keepRecordFinalizer(ctx context.Context, c client.Client, env *accessv1alpha1.Environment, obj client.Object, synced bool) error {
	want := s.deletesRecords(env) && synced
	if want == controllerutil.ContainsFinalizer(obj, DataverseFinalizer) {
		return nil
	}
	// Patched on a copy: the answer carries the server's status, and obj holds the decided one
	// the scaffold writes next. obj takes the new finalizers and resourceVersion.
	cp := obj.DeepCopyObject().(client.Object)
	patch := client.MergeFrom(cp.DeepCopyObject().(client.Object))
	if want {
		controllerutil.AddFinalizer(cp, DataverseFinalizer)
	} else {
		controllerutil.RemoveFinalizer(cp, DataverseFinalizer)
	}
	if err := c.Patch(ctx, cp, patch); err != nil {
		return err
	}
	obj.SetFinalizers(cp.GetFinalizers())
	obj.SetResourceVersion(cp.GetResourceVersion())
	return nil
}

// recordDeleter deletes a kind's record in Dataverse, found by the object's record id or its
// natural key.
type recordDeleter func(ctx context.Context, env *accessv1alpha1.Environment, t *dvsync.Target, obj client.Object) error

// tombstones keeps the last state of objects that were deleted while they still held
// DataverseFinalizer. A DELETE that races the finalizer being added removes the object anyway
// (the API server checks the finalizers it read, not the ones written meanwhile:
// kubernetes/kubernetes#77988), so the operator deletes the record it may have made from the
// object's last state once the object is gone.
type tombstones struct {
	mu   sync.Mutex
	objs map[string]client.Object
}

func (t *tombstones) put(key string, obj client.Object) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.objs == nil {
		t.objs = map[string]client.Object{}
	}
	t.objs[key] = obj
}

func (t *tombstones) get(key string) client.Object {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.objs[key]
}

func (t *tombstones) drop(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.objs, key)
}

func (t *tombstones) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.objs)
}

// recordDeletions watches a kind's deletions: one gone while holding DataverseFinalizer leaves a
// tombstone, and is reconciled again once the tombstone is kept (so its reconcile finds it).
func (s *syncStep) recordDeletions(kind string) handler.EventHandler {
	return handler.Funcs{DeleteFunc: func(_ context.Context, e event.DeleteEvent, q queue) {
		if s == nil || !controllerutil.ContainsFinalizer(e.Object, DataverseFinalizer) {
			return
		}
		s.tombs.put(objectKey(kind, e.Object), e.Object)
		q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(e.Object)})
	}}
}

// gone forgets what is kept of an object that no longer exists and, when it went while holding
// DataverseFinalizer, deletes its record as its deletion would have (retrying until Dataverse
// answers).
func (s *syncStep) gone(ctx context.Context, c client.Client, kind string, key client.ObjectKey, del recordDeleter) (ctrl.Result, error) {
	s.forget(kind, key)
	if s == nil {
		return ctrl.Result{}, nil
	}
	k := kind + "/" + key.Namespace + "/" + key.Name
	obj := s.tombs.get(k)
	if obj == nil {
		return ctrl.Result{}, nil
	}
	env, err := newCacheReader(c).Environment(ctx, key.Namespace, environmentNameOf(obj))
	if err != nil {
		return ctrl.Result{}, err
	}
	if res, done := s.deleteRecord(ctx, env, obj, del); !done {
		return res, nil
	}
	s.tombs.drop(k)
	return ctrl.Result{}, nil
}

// deleteRecord deletes obj's record when env deletes records; done is false with a requeue when
// Dataverse could not be asked or answered.
func (s *syncStep) deleteRecord(ctx context.Context, env *accessv1alpha1.Environment, obj client.Object, del recordDeleter) (ctrl.Result, bool) {
	if !s.deletesRecords(env) {
		return ctrl.Result{}, true
	}
	t, failed := s.pool.Target(ctx, env, now(s.now))
	if failed != nil {
		return ctrl.Result{RequeueAfter: failed.RequeueAfter}, false
	}
	if err := del(ctx, env, t, obj); err != nil {
		r := dvsync.Failed(err, obj.GetName())
		ctrl.LoggerFrom(ctx).Info("deleting the Dataverse record failed; retrying", "reason", r.Reason, "message", r.Message)
		return ctrl.Result{RequeueAfter: r.RequeueAfter}, false
	}
	return ctrl.Result{}, true
}

// deleteInDataverse removes a deleted object's record when its environment says Delete (del
// finds it by its id or its natural key), then lets the object go. Without a target (or with
// Orphan, or Observe) the record stays.
func (s *syncStep) deleteInDataverse(ctx context.Context, c client.Client, obj client.Object, envName string, del recordDeleter) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, DataverseFinalizer) {
		return ctrl.Result{}, nil
	}
	env, err := newCacheReader(c).Environment(ctx, obj.GetNamespace(), envName)
	if err != nil {
		return ctrl.Result{}, err
	}
	if res, done := s.deleteRecord(ctx, env, obj, del); !done {
		return res, nil
	}
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	controllerutil.RemoveFinalizer(obj, DataverseFinalizer)
	return ctrl.Result{}, client.IgnoreNotFound(c.Patch(ctx, obj, patch))
}

func recordID(r *accessv1alpha1.DataverseRecord) string {
	if r == nil {
		return ""
	}
	return r.ID
}
