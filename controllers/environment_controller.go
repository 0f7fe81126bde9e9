package controllers

import (
	"context"
	"fmt"
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
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
)

// EnvironmentFinalizer keeps an Environment until nothing references it (EV4).
const EnvironmentFinalizer = "access.accessplane.io/environment-dependents"

// builtInLabel marks the SecurityRoles an Environment creates and keeps.
const builtInLabel = "access.accessplane.io/built-in-of"

// EnvironmentReconciler is the single authority over an environment's scarce things (EV1): it
// allocates the seven non-interactive slots and the license seats, keeps the ledger in its status,
// keeps the built-in roles, counts users, and holds deletion until nothing references it.
type EnvironmentReconciler struct {
	client.Client
	Recorder events.EventRecorder
	// Now is the clock; tests may fix it.
	Now func() time.Time
}

func (r *EnvironmentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var env accessv1alpha1.Environment
	if err := r.Get(ctx, req.NamespacedName, &env); err != nil {
		if apierrors.IsNotFound(err) {
			forgetEnvironment(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !env.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, &env)
	}
	if !controllerutil.ContainsFinalizer(&env, EnvironmentFinalizer) {
		patch := client.MergeFrom(env.DeepCopy())
		controllerutil.AddFinalizer(&env, EnvironmentFinalizer)
		if err := r.Patch(ctx, &env, patch); err != nil {
			return ctrl.Result{}, err
		}
	}
	before := env.DeepCopy()
	st := &env.Status
	st.ObservedGeneration = env.Generation
	conds := conditions{list: &st.Conditions, generation: env.Generation}

	tree := butree.Tree(env.BusinessUnitParents())
	if err := tree.Validate(); err != nil {
		conds.apply(stalledBy(accessv1alpha1.ReasonBusinessUnitCycle,
			fmt.Sprintf("the business-unit tree of environment %s is invalid (EV2): %v: correct spec.businessUnits", env.Name, err)))
		return ctrl.Result{}, r.writeStatus(ctx, before, &env)
	}
	if err := r.ensureBuiltInRoles(ctx, &env); err != nil {
		return ctrl.Result{}, err
	}

	var users accessv1alpha1.PlatformUserList
	if err := r.List(ctx, &users, client.InNamespace(env.Namespace), client.MatchingFields{indexEnvironment: env.Name}); err != nil {
		return ctrl.Result{}, err
	}
	var apps accessv1alpha1.ApplicationUserList
	if err := r.List(ctx, &apps, client.InNamespace(env.Namespace), client.MatchingFields{indexEnvironment: env.Name}); err != nil {
		return ctrl.Result{}, err
	}
	settle := allocate(&env, users.Items, r.now())
	st.Users = countUsers(users.Items, apps.Items)
	if settle > 0 {
		// Claims of a burst are settling (EV1): the environment is still working, not Ready.
		conds.apply(waitingFor(accessv1alpha1.ReasonAwaitingAllocation, "allocating: new claims are granted in creation order once their burst has settled; "+readySummary(&env)))
	} else {
		conds.apply(ready(readySummary(&env)))
	}
	observeEnvironment(&env, users.Items, apps.Items)
	if err := r.writeStatus(ctx, before, &env); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: settle}, nil
}

// writeStatus patches the status with an optimistic lock: a ledger computed from a stale read
// is refused by the API server and recomputed, so two reconciles can never both grant (EV1).
func (r *EnvironmentReconciler) writeStatus(ctx context.Context, before, env *accessv1alpha1.Environment) error {
	err := patchStatus(ctx, r.Client, before, env, func(o client.Object) any { return o.(*accessv1alpha1.Environment).Status }, client.MergeFromWithOptimisticLock{})
	if apierrors.IsConflict(err) {
		return fmt.Errorf("environment %s changed while its ledger was computed; recomputing: %w", env.Name, err)
	}
	return err
}

func (r *EnvironmentReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// ensureBuiltInRoles creates and keeps the roles the rules need: System Administrator (AM9),
// Basic User, and the stub default role of the product (AM8).
func (r *EnvironmentReconciler) ensureBuiltInRoles(ctx context.Context, env *accessv1alpha1.Environment) error {
	wanted := map[string]accessv1alpha1.BuiltInRole{
		accessv1alpha1.SystemAdministratorRoleName(env.Name):           accessv1alpha1.BuiltInSystemAdministrator,
		env.Name + accessv1alpha1.BasicUserRoleSuffix:                  accessv1alpha1.BuiltInBasicUser,
		accessv1alpha1.StubDefaultRoleName(env.Name, env.Spec.Product): stubDefaultBuiltIn(env.Spec.Product),
	}
	for name, builtIn := range wanted {
		role := &accessv1alpha1.SecurityRole{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: env.Namespace}}
		if _, err := controllerutil.CreateOrPatch(ctx, r.Client, role, func() error {
			spec := access.BuiltInRoleSpec(env.Name, builtIn)
			if role.Labels == nil {
				role.Labels = map[string]string{}
			}
			role.Labels[builtInLabel] = env.Name
			if !equality.Semantic.DeepEqual(role.Spec, spec) {
				role.Spec = spec
			}
			return controllerutil.SetControllerReference(env, role, r.Scheme())
		}); err != nil {
			return fmt.Errorf("keeping built-in role %s: %w", name, err)
		}
	}
	// A product change leaves the other stub default role behind: remove it.
	other := accessv1alpha1.StubDefaultRoleName(env.Name, otherProduct(env.Spec.Product))
	stale := &accessv1alpha1.SecurityRole{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: env.Namespace, Name: other}, stale); err == nil && stale.Labels[builtInLabel] == env.Name {
		return client.IgnoreNotFound(r.Delete(ctx, stale))
	}
	return nil
}

func stubDefaultBuiltIn(p accessv1alpha1.Product) accessv1alpha1.BuiltInRole {
	if p == accessv1alpha1.ProductPowerApps {
		return accessv1alpha1.BuiltInCommonDataServiceUser
	}
	return accessv1alpha1.BuiltInSalesperson
}

func otherProduct(p accessv1alpha1.Product) accessv1alpha1.Product {
	if p == accessv1alpha1.ProductPowerApps {
		return accessv1alpha1.ProductDynamics365
	}
	return accessv1alpha1.ProductPowerApps
}

func (r *EnvironmentReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	userEnv := func(o client.Object) string { return o.(*accessv1alpha1.PlatformUser).Spec.EnvironmentName }
	appEnv := func(o client.Object) string { return o.(*accessv1alpha1.ApplicationUser).Spec.EnvironmentName }
	teamEnv := func(o client.Object) string { return o.(*accessv1alpha1.Team).Spec.EnvironmentName }
	roleEnv := func(o client.Object) string { return o.(*accessv1alpha1.SecurityRole).Spec.EnvironmentName }
	return ctrl.NewControllerManagedBy(mgr).
		// Unfiltered: see ownStatusRevisits.
		For(&accessv1alpha1.Environment{}).
		Owns(&accessv1alpha1.SecurityRole{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&accessv1alpha1.PlatformUser{}, toEnvironment(userEnv), builder.WithPredicates(userAllocationChanged())).
		Watches(&accessv1alpha1.ApplicationUser{}, toEnvironment(appEnv), builder.WithPredicates(appUserCountChanged())).
		Watches(&accessv1alpha1.Team{}, toEnvironment(teamEnv), builder.WithPredicates(createdOrDeleted())).
		Watches(&accessv1alpha1.SecurityRole{}, toEnvironment(roleEnv), builder.WithPredicates(createdOrDeleted())).
		WithOptions(opts).
		Complete(r)
}
