package controllers

import (
	"context"

	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
	"github.com/accessplane/dataverse-access-operator/internal/dvsync"
)

// ApplicationUserReconciler reads what a server-to-server application user depends on — its
// environment, its roles, an older user with the same application id — and writes what
// decide.ApplicationUser decides (AM7, EN5, EN6).
type ApplicationUserReconciler struct {
	client.Client
	// own keeps the reconciler's status writes until its cache has them (ownWrites).
	own      ownWrites
	Recorder events.EventRecorder
	sync     *syncStep
}

func (r *ApplicationUserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return scaffold[accessv1alpha1.ApplicationUser, *accessv1alpha1.ApplicationUser]{
		client: r.Client, recorder: r.Recorder, decide: r.decide, own: &r.own,
		status: func(a *accessv1alpha1.ApplicationUser) any { return a.Status },
		onDelete: func(ctx context.Context, a *accessv1alpha1.ApplicationUser) (ctrl.Result, error) {
			return r.sync.deleteInDataverse(ctx, r.Client, a, a.Spec.EnvironmentName, func(ctx context.Context, t *dvsync.Target) error {
				return dvsync.DeleteApplicationUser(ctx, t, a)
			})
		},
	}.reconcile(ctx, req)
}

func (r *ApplicationUserReconciler) decide(ctx context.Context, app *accessv1alpha1.ApplicationUser) (decided, error) {
	in := decide.ApplicationUserInput{App: app}
	var err error
	if in.Environment, err = environmentOf(ctx, r.Client, app.Namespace, app.Spec.EnvironmentName); err != nil {
		return decided{}, err
	}
	if in.Environment != nil {
		older, err := claimedBefore(ctx, r.Client, &accessv1alpha1.ApplicationUserList{}, app, indexAppKey, decide.ApplicationKey(app), nil)
		if err != nil {
			return decided{}, err
		}
		if older != nil {
			in.Older = older.(*accessv1alpha1.ApplicationUser)
		} else if in.Roles, err = rolesNamed(ctx, r.Client, app.Namespace, app.Spec.SecurityRoles); err != nil {
			return decided{}, err
		}
	}
	out := decide.ApplicationUser(in)
	app.Status = out.Status
	after, events := r.sync.run(ctx, syncInput{env: in.Environment, obj: app, conditions: &app.Status.Conditions, record: &app.Status.Dataverse,
		decided: []any{app.Spec, app.Status.AssignedRoles, app.Status.EffectiveRoles, app.Status.BusinessUnit},
		skip:    unsynced(app.Status.Conditions),
		apply: func(ctx context.Context, t *dvsync.Target) dvsync.Result {
			return dvsync.ApplicationUser(ctx, t, app, accessv1alpha1.DirectRoleNames(app.Status.EffectiveRoles))
		}})
	if err := keepDataverseFinalizer(ctx, r.Client, in.Environment, app, app.Status.Dataverse); err != nil {
		return decided{}, err
	}
	return decided{events: append(out.Events, events...), requeueAfter: after}, nil
}

func (r *ApplicationUserReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		// Its own status writes come back only when a reconcile waits for them (ownWrites).
		For(&accessv1alpha1.ApplicationUser{}, builder.WithPredicates(r.own.predicate(func(o client.Object) any { return o.(*accessv1alpha1.ApplicationUser).Status }))).
		Watches(&accessv1alpha1.Environment{}, environmentToDependents(c, func() client.ObjectList { return &accessv1alpha1.ApplicationUserList{} }, nil)).
		Watches(&accessv1alpha1.SecurityRole{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return requestsFor(ctx, c, &accessv1alpha1.ApplicationUserList{}, o.GetNamespace(), indexRoles, []string{o.GetName()}, client.ObjectKey{})
		}), builder.WithPredicates(roleChanged())).
		Watches(&accessv1alpha1.ApplicationUser{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			a := o.(*accessv1alpha1.ApplicationUser)
			return requestsFor(ctx, c, &accessv1alpha1.ApplicationUserList{}, a.Namespace, indexAppKey, []string{decide.ApplicationKey(a)}, client.ObjectKeyFromObject(a))
		}), builder.WithPredicates(createdOrDeleted())).
		WithOptions(opts).
		Complete(r)
}
