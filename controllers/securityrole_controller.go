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

// SecurityRoleReconciler reads a role's environment and any older role with its name in its unit
// and writes what decide.SecurityRole decides (SR2, SR4, SR8, SR9, EV3).
type SecurityRoleReconciler struct {
	client.Client
	// own keeps the reconciler's status writes until its cache has them (ownWrites).
	own      ownWrites
	Recorder events.EventRecorder
	sync     *syncStep
}

func (r *SecurityRoleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return scaffold[accessv1alpha1.SecurityRole, *accessv1alpha1.SecurityRole]{
		client: r.Client, recorder: r.Recorder, decide: r.decide, own: &r.own,
		status: func(role *accessv1alpha1.SecurityRole) any { return role.Status },
		onDelete: func(ctx context.Context, role *accessv1alpha1.SecurityRole) (ctrl.Result, error) {
			return r.sync.deleteInDataverse(ctx, r.Client, role, role.Spec.EnvironmentName, func(ctx context.Context, t *dvsync.Target) error {
				return dvsync.DeleteSecurityRole(ctx, t, role)
			})
		},
	}.reconcile(ctx, req)
}

func (r *SecurityRoleReconciler) decide(ctx context.Context, role *accessv1alpha1.SecurityRole) (decided, error) {
	in := decide.SecurityRoleInput{Role: role}
	var err error
	if in.Environment, err = environmentOf(ctx, r.Client, role.Namespace, role.Spec.EnvironmentName); err != nil {
		return decided{}, err
	}
	if in.Environment != nil {
		sameName := func(o client.Object) bool {
			return decide.SameRoleName(role, o.(*accessv1alpha1.SecurityRole), in.Environment)
		}
		older, err := claimedBefore(ctx, r.Client, &accessv1alpha1.SecurityRoleList{}, role, indexRoleKey, decide.RoleKey(role), sameName)
		if err != nil {
			return decided{}, err
		}
		if older != nil {
			in.Older = older.(*accessv1alpha1.SecurityRole)
		}
	}
	role.Status = decide.SecurityRole(in)
	after, events := r.sync.run(ctx, syncInput{env: in.Environment, obj: role, conditions: &role.Status.Conditions, record: &role.Status.Dataverse,
		decided: []any{role.Spec, role.Status.RoleName, role.Status.BusinessUnit, role.Status.Tables},
		skip:    unsynced(role.Status.Conditions),
		apply: func(ctx context.Context, t *dvsync.Target) dvsync.Result {
			return dvsync.SecurityRole(ctx, t, role)
		}})
	if role.Spec.BuiltIn == "" {
		if err := keepDataverseFinalizer(ctx, r.Client, in.Environment, role, role.Status.Dataverse); err != nil {
			return decided{}, err
		}
	}
	return decided{events: events, requeueAfter: after}, nil
}

func (r *SecurityRoleReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		// Its own status writes come back only when a reconcile waits for them (ownWrites).
		For(&accessv1alpha1.SecurityRole{}, builder.WithPredicates(r.own.predicate(func(o client.Object) any { return o.(*accessv1alpha1.SecurityRole).Status }))).
		Watches(&accessv1alpha1.Environment{}, environmentToDependents(c, func() client.ObjectList { return &accessv1alpha1.SecurityRoleList{} }, nil)).
		// A role that gives up a contested name lets the next one take it (SR9).
		Watches(&accessv1alpha1.SecurityRole{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			role := o.(*accessv1alpha1.SecurityRole)
			return requestsFor(ctx, c, &accessv1alpha1.SecurityRoleList{}, role.Namespace, indexRoleKey, []string{decide.RoleKey(role)}, client.ObjectKeyFromObject(role))
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(opts).
		Complete(r)
}
