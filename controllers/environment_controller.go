package controllers

import (
	"context"
	"fmt"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
	"github.com/accessplane/dataverse-access-operator/internal/dvsync"
)

// EnvironmentFinalizer keeps an Environment until nothing references it (EV4).
const EnvironmentFinalizer = "access.accessplane.io/environment-dependents"

// EnvironmentReconciler is the single authority over an environment's scarce things (EV1): it
// reads the environment's users and writes the ledger decide.Environment computes, keeps the
// built-in roles, and holds deletion until nothing references it.
type EnvironmentReconciler struct {
	client.Client
	// own keeps the reconciler's status writes until its cache has them (ownWrites).
	own      ownWrites
	Recorder events.EventRecorder
	// Now is the clock; tests may fix it.
	Now  func() time.Time
	sync *syncStep
}

func (r *EnvironmentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.scaffold().reconcile(ctx, req)
}

func (r *EnvironmentReconciler) scaffold() scaffold[accessv1alpha1.Environment, *accessv1alpha1.Environment] {
	return scaffold[accessv1alpha1.Environment, *accessv1alpha1.Environment]{
		client: r.Client, recorder: r.Recorder, decide: r.decide, own: &r.own, onDelete: r.reconcileDelete,
		// Held until nothing references the environment (EV4).
		finalizer: EnvironmentFinalizer,
		onGone:    func(key client.ObjectKey) { forgetEnvironment(key.Namespace, key.Name) },
		status:    func(e *accessv1alpha1.Environment) any { return e.Status },
		// A ledger computed from a stale read is refused by the API server and recomputed, so two
		// reconciles can never both grant (EV1).
		optimisticLock: true,
	}
}

func (r *EnvironmentReconciler) decide(ctx context.Context, env *accessv1alpha1.Environment) (decided, error) {
	// Built-in roles need a valid tree to belong to; the decision reports an invalid one (EV2).
	if butree.Tree(env.BusinessUnitParents()).Validate() == nil {
		if err := r.ensureBuiltInRoles(ctx, env); err != nil {
			return decided{}, err
		}
	}
	in := decide.EnvironmentInput{Environment: env, Now: now(r.Now)}
	var users accessv1alpha1.PlatformUserList
	if err := r.List(ctx, &users, client.InNamespace(env.Namespace), client.MatchingFields{indexEnvironment: env.Name}, shared); err != nil {
		return decided{}, err
	}
	var apps accessv1alpha1.ApplicationUserList
	if err := r.List(ctx, &apps, client.InNamespace(env.Namespace), client.MatchingFields{indexEnvironment: env.Name}, shared); err != nil {
		return decided{}, err
	}
	in.Users, in.Apps = users.Items, apps.Items
	synced := r.syncDataverse(ctx, env, users.Items)
	out := decide.Environment(in)
	env.Status = out.Status
	requeue := out.RequeueAfter
	if synced != nil {
		if until, ok := r.sync.pool.ThrottledUntil(env.Namespace, env.Name, now(r.Now)); ok && synced.Synced() {
			// Throttling met by any of its objects is the Environment's state until it passes.
			synced = &dvsync.Result{Reason: accessv1alpha1.ReasonThrottled, RequeueAfter: time.Until(until) + time.Second,
				Message: fmt.Sprintf("Dataverse throttles the operator (service protection limits); its requests to environment %s resume at %s", env.Name, until.UTC().Format(time.RFC3339))}
		}
		decide.ApplySynced(&env.Status.Conditions, env.Generation, synced.Reason, synced.Message)
		if requeue == 0 || (synced.RequeueAfter > 0 && synced.RequeueAfter < requeue) {
			requeue = synced.RequeueAfter
		}
	} else {
		decide.RemoveSynced(&env.Status.Conditions)
		env.Status.Dataverse = nil
	}
	observeEnvironment(env)
	return decided{events: out.Events, requeueAfter: requeue, deferWrite: out.Defer && (synced == nil || synced.Synced())}, nil
}

// syncDataverse connects to the environment's Dataverse, adopts and creates its business units
// and counts the non-interactive users no PlatformUser manages, into env.Status.Dataverse, before
// the decision allocates slots from it. nil when the environment has no target.
func (r *EnvironmentReconciler) syncDataverse(ctx context.Context, env *accessv1alpha1.Environment, users []accessv1alpha1.PlatformUser) *dvsync.Result {
	if !r.sync.targetOf(env) {
		return nil
	}
	managed := make([]string, 0, len(users))
	for i := range users {
		managed = append(managed, users[i].Spec.UserName+"/"+users[i].Spec.EntraObjectID)
	}
	sort.Strings(managed)
	now := now(r.Now)
	uid, fp := string(env.UID), syncFingerprint(env, env.Generation, managed)
	if res, left, ok := r.sync.pool.Fresh(uid, fp, now); ok && env.Status.Dataverse != nil {
		res.RequeueAfter = left
		return &res
	}
	t, failed := r.sync.pool.Target(ctx, env, now)
	if failed != nil {
		return failed
	}
	st, res := dvsync.Environment(ctx, t, users)
	if st != nil {
		env.Status.Dataverse = st
	}
	res.RequeueAfter = r.sync.pool.Record(uid, fp, now, res)
	return &res
}

// ensureBuiltInRoles creates and keeps the roles the rules need (decide.BuiltInRoles) with the
// spec decide.BuiltInRoleSpec gives, and removes the stub default role a product change left.
func (r *EnvironmentReconciler) ensureBuiltInRoles(ctx context.Context, env *accessv1alpha1.Environment) error {
	for name, builtIn := range decide.BuiltInRoles(env) {
		role := &accessv1alpha1.SecurityRole{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: env.Namespace}}
		if _, err := controllerutil.CreateOrPatch(ctx, r.Client, role, func() error {
			var current *accessv1alpha1.SecurityRoleSpec
			if !role.CreationTimestamp.IsZero() {
				current = &role.Spec
			}
			spec := decide.BuiltInRoleSpec(env, builtIn, current)
			if role.Labels == nil {
				role.Labels = map[string]string{}
			}
			role.Labels[decide.BuiltInLabel] = env.Name
			if !equality.Semantic.DeepEqual(role.Spec, spec) {
				role.Spec = spec
			}
			return controllerutil.SetControllerReference(env, role, r.Scheme())
		}); err != nil {
			return fmt.Errorf("keeping built-in role %s: %w", name, err)
		}
	}
	var stale accessv1alpha1.SecurityRole
	switch err := r.Get(ctx, client.ObjectKey{Namespace: env.Namespace, Name: decide.StaleBuiltInRole(env)}, &stale); {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("reading the stub default role a product change left: %w", err)
	case stale.Labels[decide.BuiltInLabel] == env.Name:
		return client.IgnoreNotFound(r.Delete(ctx, &stale))
	}
	return nil
}

func (r *EnvironmentReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	userEnv := func(o client.Object) string { return o.(*accessv1alpha1.PlatformUser).Spec.EnvironmentName }
	appEnv := func(o client.Object) string { return o.(*accessv1alpha1.ApplicationUser).Spec.EnvironmentName }
	teamEnv := func(o client.Object) string { return o.(*accessv1alpha1.Team).Spec.EnvironmentName }
	roleEnv := func(o client.Object) string { return o.(*accessv1alpha1.SecurityRole).Spec.EnvironmentName }
	return ctrl.NewControllerManagedBy(mgr).
		// Its own status writes come back only when a reconcile waits for them (ownWrites).
		For(&accessv1alpha1.Environment{}, builder.WithPredicates(r.own.predicate(func(o client.Object) any { return o.(*accessv1alpha1.Environment).Status }))).
		Owns(&accessv1alpha1.SecurityRole{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&accessv1alpha1.PlatformUser{}, toEnvironment(userEnv), builder.WithPredicates(userAllocationChanged())).
		Watches(&accessv1alpha1.ApplicationUser{}, toEnvironment(appEnv), builder.WithPredicates(appUserCountChanged())).
		Watches(&accessv1alpha1.Team{}, toEnvironment(teamEnv), builder.WithPredicates(createdOrDeleted())).
		Watches(&accessv1alpha1.SecurityRole{}, toEnvironment(roleEnv), builder.WithPredicates(createdOrDeleted())).
		WatchesRawSource(source.Channel(r.sync.throttledEvents(), &handler.EnqueueRequestForObject{})).
		WithOptions(opts).
		Complete(r)
}
