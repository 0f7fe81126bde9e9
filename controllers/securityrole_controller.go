package controllers

import (
	"context"

	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
	"github.com/accessplane/dataverse-access-operator/internal/dvsync"
)

// SecurityRoleReconciler reads a role's environment and any older role with its name in its unit,
// decides with decide.SecurityRole (SR2, SR4, SR8, SR9, EV3), and applies the desired role.
type SecurityRoleReconciler struct {
	client.Client
	Recorder events.EventRecorder
	sync     *syncStep
}

const kindSecurityRole = "SecurityRole"

func (r *SecurityRoleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return scaffold[accessv1alpha1.SecurityRole, *accessv1alpha1.SecurityRole]{
		client: r.Client, recorder: r.Recorder, decide: r.decide,
		status: func(role *accessv1alpha1.SecurityRole) any { return role.Status },
		onGone: func(ctx context.Context, key client.ObjectKey) (ctrl.Result, error) {
			return r.sync.gone(ctx, r.Client, kindSecurityRole, key, deleteRoleRecord)
		},
		onDelete: r.reconcileDelete,
	}.reconcile(ctx, req)
}

func (r *SecurityRoleReconciler) decide(ctx context.Context, role *accessv1alpha1.SecurityRole) (decision, error) {
	in, err := decide.ReadSecurityRole(ctx, newCacheReader(r.Client), role)
	if err != nil {
		return decision{}, err
	}
	out := decide.SecurityRole(in)
	role.Status = out.Status
	return decision{act: func(ctx context.Context) (acted, error) {
		if role.Spec.BuiltIn == "" { // built-in roles are adopted, never created or deleted
			if err := r.sync.keepRecordFinalizer(ctx, r.Client, in.Environment, role, out.Desired != nil); err != nil {
				return acted{}, err
			}
		}
		after, events := r.sync.run(ctx, syncInput{env: in.Environment, obj: role, kind: kindSecurityRole,
			conditions: &role.Status.Conditions, record: &role.Status.Dataverse, desired: out.Desired, notSynced: out.NotSynced,
			apply: func(ctx context.Context, t *dvsync.Target) dvsync.Result {
				return dvsync.SecurityRole(ctx, t, out.Desired)
			}})
		return acted{events: events, requeueAfter: after}, nil
	}}, nil
}

// reconcileDelete removes a custom role's record when its environment deletes records.
func (r *SecurityRoleReconciler) reconcileDelete(ctx context.Context, role *accessv1alpha1.SecurityRole) (ctrl.Result, error) {
	return r.sync.deleteInDataverse(ctx, r.Client, role, role.Spec.EnvironmentName, deleteRoleRecord)
}

// deleteRoleRecord deletes a custom role's record, found by its id or its name in its unit.
func deleteRoleRecord(ctx context.Context, env *accessv1alpha1.Environment, t *dvsync.Target, o client.Object) error {
	role := o.(*accessv1alpha1.SecurityRole)
	return dvsync.DeleteSecurityRole(ctx, t, recordID(role.Status.Dataverse), &decide.DesiredRole{
		RoleName: role.DisplayRoleName(), BusinessUnit: decide.RoleBusinessUnit(role, env), BuiltIn: role.Spec.BuiltIn != ""})
}

func (r *SecurityRoleReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.SecurityRole{}).
		Watches(&accessv1alpha1.SecurityRole{}, r.sync.recordDeletions(kindSecurityRole)).
		Watches(&accessv1alpha1.Environment{}, environmentToDependents(c, func() client.ObjectList { return &accessv1alpha1.SecurityRoleList{} }, nil)).
		// A role that gives up a contested name lets the next one take it (SR9).
		Watches(&accessv1alpha1.SecurityRole{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			role := o.(*accessv1alpha1.SecurityRole)
			return requestsFor(ctx, c, &accessv1alpha1.SecurityRoleList{}, role.Namespace, indexRoleKey, []string{decide.RoleKey(role)}, client.ObjectKeyFromObject(role))
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(opts).
		Complete(r)
}
