package controllers

import (
	"context"
	"fmt"
	"slices"
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
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
	"github.com/accessplane/dataverse-access-operator/internal/dvsync"
)

// EnvironmentFinalizer keeps an Environment until nothing references it (EV4).
const EnvironmentFinalizer = "access.accessplane.io/environment-dependents"

// EnvironmentReconciler is the single authority over an environment's scarce things (EV1): it
// reads the environment's users, decides its ledger with decide.Environment, keeps the built-in
// roles, applies its business units to Dataverse, and holds deletion until nothing references it.
type EnvironmentReconciler struct {
	client.Client
	Recorder events.EventRecorder
	// Now is the clock; tests may fix it.
	Now   func() time.Time
	sync  *syncStep
	entra *entraStep
}

const kindEnvironment = "Environment"

func (r *EnvironmentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.scaffold().reconcile(ctx, req)
}

func (r *EnvironmentReconciler) scaffold() scaffold[accessv1alpha1.Environment, *accessv1alpha1.Environment] {
	return scaffold[accessv1alpha1.Environment, *accessv1alpha1.Environment]{
		client: r.Client, recorder: r.Recorder, decide: r.decide, onDelete: r.reconcileDelete,
		// Held until nothing references the environment (EV4).
		finalizer: EnvironmentFinalizer,
		onGone: func(_ context.Context, key client.ObjectKey) (ctrl.Result, error) {
			forgetEnvironment(key.Namespace, key.Name)
			r.sync.forget(kindEnvironment, key)
			r.entra.forgetEnvironment(key)
			return ctrl.Result{}, nil
		},
		status: func(e *accessv1alpha1.Environment) any { return e.Status },
		// A ledger computed from a stale read is refused by the API server and recomputed, so two
		// reconciles can never both grant (EV1).
		optimisticLock: true,
	}
}

func (r *EnvironmentReconciler) decide(ctx context.Context, env *accessv1alpha1.Environment) (decision, error) {
	in, err := decide.ReadEnvironment(ctx, newCacheReader(r.Client), env, now(r.Now))
	if err != nil {
		return decision{}, err
	}
	out := decide.Environment(in)
	env.Status = out.Status
	return decision{events: out.Events, requeueAfter: out.RequeueAfter, deferWrite: out.Defer, act: func(ctx context.Context) (acted, error) {
		if out.Desired != nil { // built-in roles belong to a valid tree (EV2)
			if err := r.ensureBuiltInRoles(ctx, env); err != nil {
				return acted{}, err
			}
		}
		a := r.syncDataverse(ctx, env, out.Desired)
		if er, ok := r.entra.observeEnvironment(ctx, r.Client, env); ok {
			// Entra ID's part of Synced: a group that cannot be used, or Graph failing, comes
			// before Dataverse's outcome; with Entra ID the only target it is all of it.
			if !r.sync.targetOf(env) || !er.Synced() {
				decide.ApplySynced(&env.Status.Conditions, env.Generation, er.Reason, er.Message)
				a.write = a.write || !er.Synced()
			}
			a.requeueAfter = soonest(a.requeueAfter, er.RequeueAfter)
		}
		observeEnvironment(env)
		return a, nil
	}}, nil
}

// syncDataverse applies the environment's business units to Dataverse and records what it
// observed (unit ids, the non-interactive users no PlatformUser manages) in status.dataverse. The
// decision allocated from the previous observation; when this one changes what it counted, the
// environment is decided again at once.
func (r *EnvironmentReconciler) syncDataverse(ctx context.Context, env *accessv1alpha1.Environment, desired *decide.DesiredEnvironment) acted {
	if !r.sync.targetOf(env) {
		decide.RemoveSynced(&env.Status.Conditions)
		env.Status.Dataverse = nil
		r.sync.forget(kindEnvironment, client.ObjectKeyFromObject(env)) // a target removed
		return acted{}
	}
	if desired == nil { // an invalid tree (EV2): nothing to sync; Ready says why
		decide.ApplySynced(&env.Status.Conditions, env.Generation, accessv1alpha1.ReasonSyncPending,
			"not synced: the business-unit tree is invalid (EV2); correct spec.businessUnits")
		return acted{}
	}
	start := now(r.Now)
	key, uid, fp := objectKey(kindEnvironment, env), string(env.UID), syncFingerprint(env, desired)
	res, left, fresh := r.sync.pool.Fresh(key, uid, fp, start)
	if !fresh || env.Status.Dataverse == nil {
		// The Environment reads its credentials Secret (one GET per sync, not per object), so a
		// Secret its owner fixed is used at its next reconcile.
		if t, failed := r.sync.pool.Connect(ctx, env, start); failed != nil {
			res = *failed
		} else {
			res = dvsync.Environment(ctx, t, desired)
		}
		left = r.sync.pool.Record(key, uid, fp, start, res)
	}
	a := acted{requeueAfter: left, events: syncEvents(res)}
	if res.Environment != nil {
		if recounted(env.Status.Dataverse, res.Environment) {
			a.requeueAfter, a.write = time.Millisecond, true
		}
		env.Status.Dataverse = res.Environment
	}
	if until, ok := r.sync.pool.ThrottledUntil(env, now(r.Now)); ok && res.Synced() {
		// Throttling met by any of its objects is the Environment's state until it passes.
		res = dvsync.Result{Reason: accessv1alpha1.ReasonThrottled, RequeueAfter: until.Sub(now(r.Now)) + time.Second,
			Message: fmt.Sprintf("Dataverse throttles the operator (service protection limits); its requests to environment %s resume at %s", env.Name, until.UTC().Format(time.RFC3339))}
		a.requeueAfter = soonest(a.requeueAfter, res.RequeueAfter)
	}
	decide.ApplySynced(&env.Status.Conditions, env.Generation, res.Reason, res.Message)
	if !res.Synced() {
		a.write = true // a deferred ledger write still says why the sync stopped
	}
	return a
}

// recounted reports whether an observation changes what the allocation counted: the first one,
// or other unmanaged non-interactive users.
func recounted(before, after *accessv1alpha1.EnvironmentDataverseStatus) bool {
	return before == nil || !slices.Equal(before.UnmanagedNonInteractive, after.UnmanagedNonInteractive)
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
		}); apierrors.IsAlreadyExists(err) {
			// The cache has yet to see a role this manager (or its predecessor) created: the
			// role's create event wakes the Environment, whose next reconcile patches it.
			continue
		} else if err != nil {
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
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.Environment{}).
		Owns(&accessv1alpha1.SecurityRole{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&accessv1alpha1.PlatformUser{}, toEnvironment(), builder.WithPredicates(userAllocationChanged())).
		Watches(&accessv1alpha1.ApplicationUser{}, toEnvironment(), builder.WithPredicates(appUserCountChanged())).
		Watches(&accessv1alpha1.Team{}, toEnvironment(), builder.WithPredicates(createdOrDeleted())).
		Watches(&accessv1alpha1.SecurityRole{}, toEnvironment(), builder.WithPredicates(createdOrDeleted())).
		WatchesRawSource(r.sync.wake.source()).
		WithOptions(opts).
		Complete(r)
}
