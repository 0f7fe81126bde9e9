package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

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

// deleteInDataverse removes a deleted object's record when its environment says Delete (del
// finds it by its id or its natural key), then lets the object go. Without a target (or with
// Orphan, or Observe) the record stays.
func (s *syncStep) deleteInDataverse(ctx context.Context, c client.Client, obj client.Object, envName string, del func(context.Context, *accessv1alpha1.Environment, *dvsync.Target) error) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, DataverseFinalizer) {
		return ctrl.Result{}, nil
	}
	env, err := newCacheReader(c).Environment(ctx, obj.GetNamespace(), envName)
	if err != nil {
		return ctrl.Result{}, err
	}
	if s.deletesRecords(env) {
		t, failed := s.pool.Target(ctx, env, now(s.now))
		if failed != nil {
			return ctrl.Result{RequeueAfter: failed.RequeueAfter}, nil
		}
		if err := del(ctx, env, t); err != nil {
			r := dvsync.Failed(err, obj.GetName())
			ctrl.LoggerFrom(ctx).Info("deleting the Dataverse record failed; retrying", "reason", r.Reason, "message", r.Message)
			return ctrl.Result{RequeueAfter: r.RequeueAfter}, nil
		}
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
