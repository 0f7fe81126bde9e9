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
// environment, its roles, an older user with the same application id — decides with
// decide.ApplicationUser (AM7, EN5, EN6), and applies the desired application user.
type ApplicationUserReconciler struct {
	client.Client
	Recorder events.EventRecorder
	sync     *syncStep
}

const kindApplicationUser = "ApplicationUser"

func (r *ApplicationUserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return scaffold[accessv1alpha1.ApplicationUser, *accessv1alpha1.ApplicationUser]{
		client: r.Client, recorder: r.Recorder, decide: r.decide,
		status: func(a *accessv1alpha1.ApplicationUser) any { return a.Status },
		onGone: func(ctx context.Context, key client.ObjectKey) (ctrl.Result, error) {
			return r.sync.gone(ctx, r.Client, kindApplicationUser, key, deleteApplicationUserRecord)
		},
		onDelete: r.reconcileDelete,
	}.reconcile(ctx, req)
}

func (r *ApplicationUserReconciler) decide(ctx context.Context, app *accessv1alpha1.ApplicationUser) (decision, error) {
	in, err := decide.ReadApplicationUser(ctx, newCacheReader(r.Client), app)
	if err != nil {
		return decision{}, err
	}
	out := decide.ApplicationUser(in)
	app.Status = out.Status
	return decision{events: out.Events, act: func(ctx context.Context) (acted, error) {
		// Before anything is created: a record made is a record the finalizer removes.
		if err := r.sync.keepRecordFinalizer(ctx, r.Client, in.Environment, app, out.Desired != nil); err != nil {
			return acted{}, err
		}
		after, events := r.sync.run(ctx, syncInput{env: in.Environment, obj: app, kind: kindApplicationUser,
			conditions: &app.Status.Conditions, record: &app.Status.Dataverse, desired: out.Desired, notSynced: out.NotSynced,
			apply: func(ctx context.Context, t *dvsync.Target) dvsync.Result {
				return dvsync.ApplicationUser(ctx, t, app.Name, out.Desired)
			}})
		return acted{events: events, requeueAfter: after}, nil
	}}, nil
}

// reconcileDelete removes the application user's record when its environment deletes records.
func (r *ApplicationUserReconciler) reconcileDelete(ctx context.Context, app *accessv1alpha1.ApplicationUser) (ctrl.Result, error) {
	return r.sync.deleteInDataverse(ctx, r.Client, app, app.Spec.EnvironmentName, deleteApplicationUserRecord)
}

// deleteApplicationUserRecord deletes an application user's record, found by its id or its
// application id.
func deleteApplicationUserRecord(ctx context.Context, _ *accessv1alpha1.Environment, t *dvsync.Target, o client.Object) error {
	app := o.(*accessv1alpha1.ApplicationUser)
	return dvsync.DeleteApplicationUser(ctx, t, recordID(app.Status.Dataverse), app.Spec.ApplicationID)
}

func (r *ApplicationUserReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.ApplicationUser{}).
		Watches(&accessv1alpha1.ApplicationUser{}, r.sync.recordDeletions(kindApplicationUser)).
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
