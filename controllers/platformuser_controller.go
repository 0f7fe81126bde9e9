package controllers

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"
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

// PlatformUserReconciler reads what a person's user record depends on — its environment and
// ledger, its roles, its teams, an older user with the same name — decides with
// decide.PlatformUser, and applies the desired person to the environment's targets. It reads its
// grants from the Environment's ledger and never allocates itself (EV1).
type PlatformUserReconciler struct {
	client.Client
	Recorder events.EventRecorder
	// Now is the clock; tests may fix it.
	Now   func() time.Time
	sync  *syncStep
	entra *entraStep
}

func (r *PlatformUserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return scaffold[accessv1alpha1.PlatformUser, *accessv1alpha1.PlatformUser]{
		client: r.Client, recorder: r.Recorder, decide: r.decide,
		status: func(u *accessv1alpha1.PlatformUser) any { return u.Status },
		onGone: func(_ context.Context, key client.ObjectKey) (ctrl.Result, error) {
			r.sync.forget(kindPlatformUser, key)
			r.entra.forget(key)
			return ctrl.Result{}, nil
		},
	}.reconcile(ctx, req)
}

const kindPlatformUser = "PlatformUser"

func (r *PlatformUserReconciler) decide(ctx context.Context, u *accessv1alpha1.PlatformUser) (decision, error) {
	in, err := decide.ReadPlatformUser(ctx, newCacheReader(r.Client), u, now(r.Now))
	if err != nil {
		return decision{}, err
	}
	entraRead := r.entra.observe(ctx, r.Client, in.Environment, u)
	in.Entra = entraRead.person
	out := decide.PlatformUser(in)
	u.Status = out.Status
	return decision{events: out.Events, deferWrite: out.Defer, act: func(ctx context.Context) (acted, error) {
		if out.Defer {
			return acted{}, nil // the Environment's next ledger write wakes the user
		}
		// Entra ID first: the membership and license it writes are what Dataverse then follows.
		eo := r.entra.run(ctx, entraRead, in.Environment, u, out.Desired)
		if eo != nil {
			u.Status.Entra = eo.status
		} else if !r.entra.targetOf(in.Environment) {
			u.Status.Entra = nil
		}
		after, events := r.sync.run(ctx, syncInput{env: in.Environment, obj: u, kind: kindPlatformUser,
			conditions: &u.Status.Conditions, record: &u.Status.Dataverse, desired: out.Desired, notSynced: out.NotSynced, entra: eo,
			apply: func(ctx context.Context, t *dvsync.Target) dvsync.Result {
				return dvsync.PlatformUser(ctx, t, out.Desired)
			}})
		if eo != nil {
			events = append(eo.events, events...)
		}
		return acted{events: events, requeueAfter: after}, nil
	}}, nil
}

func (r *PlatformUserReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.PlatformUser{}).
		Watches(&accessv1alpha1.Environment{}, environmentToUsers(c)).
		// A role reaches its direct holders and, through the teams that hold it, their members:
		// a team role that did not resolve before is in no user's index yet.
		Watches(&accessv1alpha1.SecurityRole{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			reqs := requestsFor(ctx, c, &accessv1alpha1.PlatformUserList{}, o.GetNamespace(), indexRoles, []string{o.GetName()}, types.NamespacedName{})
			var teams accessv1alpha1.TeamList
			if err := c.List(ctx, &teams, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexRoles: o.GetName()}, shared); err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "listing teams of a role", "role", o.GetName())
			}
			for i := range teams.Items {
				reqs = append(reqs, usersOfTeam(ctx, c, &teams.Items[i])...)
			}
			return reqs
		}), builder.WithPredicates(roleChanged())).
		Watches(&accessv1alpha1.Team{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return usersOfTeam(ctx, c, o.(*accessv1alpha1.Team))
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&accessv1alpha1.PlatformUser{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			u := o.(*accessv1alpha1.PlatformUser)
			return requestsFor(ctx, c, &accessv1alpha1.PlatformUserList{}, u.Namespace, indexUserKey, []string{decide.UserKey(u)}, client.ObjectKeyFromObject(u))
		}), builder.WithPredicates(createdOrDeleted())).
		WatchesRawSource(r.entra.wake().source()).
		WithOptions(opts).
		Complete(r)
}

// usersOfTeam is every user a team's change can concern: its listed members, the members of its
// group (TM1), and the users whose status says they got roles from it.
func usersOfTeam(ctx context.Context, c client.Reader, t *accessv1alpha1.Team) []reconcile.Request {
	reqs := requestsFor(ctx, c, &accessv1alpha1.PlatformUserList{}, t.Namespace, indexUserTeams, []string{t.Name}, types.NamespacedName{})
	reqs = append(reqs, requestsFor(ctx, c, &accessv1alpha1.PlatformUserList{}, t.Namespace, indexUserGroups, []string{groupKeyOf(t)}, types.NamespacedName{})...)
	for _, m := range t.Spec.Members {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: t.Namespace, Name: m}})
	}
	return reqs
}

func groupKeyOf(t *accessv1alpha1.Team) string {
	if t.Spec.Group == "" {
		return ""
	}
	return key(t.Spec.EnvironmentName, t.Spec.Group)
}
