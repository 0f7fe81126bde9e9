package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
)

// SecurityRoleReconciler validates a role's references (environment, business unit), the
// uniqueness of its name in its unit (SR9) and its webresource read (SR8), and shows its
// privileges after preset expansion (SR4) in canonical level names (SR2).
type SecurityRoleReconciler struct {
	client.Client
}

func (r *SecurityRoleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var role accessv1alpha1.SecurityRole
	if err := r.Get(ctx, req.NamespacedName, &role); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := role.DeepCopy()
	st := &role.Status
	st.ObservedGeneration = role.Generation
	st.RoleName = role.DisplayRoleName()
	st.Tables = access.ExpandRole(&role.Spec)
	conds := conditions{list: &st.Conditions, generation: role.Generation}

	// SR8 is a warning on the role itself: the role stays usable.
	if access.HasWebResourceRead(&role.Spec) {
		conds.set(accessv1alpha1.ConditionWebResourceReadable, true, accessv1alpha1.ReasonWebResourceReadable, "the role can read the webresource table")
	} else {
		conds.set(accessv1alpha1.ConditionWebResourceReadable, false, accessv1alpha1.ReasonMissingWebResourceRead,
			fmt.Sprintf("role %s has no Read on the webresource table: its holders see \"Missing prvReadWebResource privilege\" on forms with web resources unless another role grants it (SR8): add table webresource with read at Organization", st.RoleName))
	}

	v, err := r.verdict(ctx, &role)
	if err != nil {
		return ctrl.Result{}, err
	}
	conds.apply(v)
	return ctrl.Result{}, client.IgnoreNotFound(patchStatus(ctx, r.Client, before, &role, func(o client.Object) any { return o.(*accessv1alpha1.SecurityRole).Status }))
}

func (r *SecurityRoleReconciler) verdict(ctx context.Context, role *accessv1alpha1.SecurityRole) (verdict, error) {
	env, missing, err := environmentOf(ctx, r.Client, role.Namespace, role.Spec.EnvironmentName)
	if err != nil {
		return verdict{}, err
	}
	if missing != nil {
		role.Status.BusinessUnit = ""
		return *missing, nil
	}
	tree := butree.Tree(env.BusinessUnitParents())
	bu, v := businessUnitOf(role.Spec.BusinessUnit, env, tree, "SecurityRole "+role.Name)
	role.Status.BusinessUnit = bu
	if v != nil {
		return *v, nil
	}
	sameUnit := func(o client.Object) bool { return roleBusinessUnit(o.(*accessv1alpha1.SecurityRole), env) == bu }
	other, err := claimedBefore(ctx, r.Client, &accessv1alpha1.SecurityRoleList{}, role, indexRoleKey, lowerKey(role.Spec.EnvironmentName, role.DisplayRoleName()), sameUnit)
	if err != nil {
		return verdict{}, err
	}
	if other != nil {
		return stalledBy(accessv1alpha1.ReasonDuplicateRoleName,
			fmt.Sprintf("SecurityRole %s already has the name %q in business unit %s of environment %s (SR9): change spec.roleName or spec.businessUnit", other.GetName(), role.DisplayRoleName(), bu, env.Name)), nil
	}
	return ready(fmt.Sprintf("role %q of business unit %s, %d table(s)", role.DisplayRoleName(), bu, len(role.Spec.Tables))), nil
}

func (r *SecurityRoleReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		// Unfiltered: see ownStatusRevisits.
		For(&accessv1alpha1.SecurityRole{}).
		Watches(&accessv1alpha1.Environment{}, environmentToDependents(c, func() client.ObjectList { return &accessv1alpha1.SecurityRoleList{} }, nil)).
		// A role that gives up a contested name lets the next one take it (SR9).
		Watches(&accessv1alpha1.SecurityRole{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			role := o.(*accessv1alpha1.SecurityRole)
			return requestsFor(ctx, c, &accessv1alpha1.SecurityRoleList{}, role.Namespace, indexRoleKey, []string{lowerKey(role.Spec.EnvironmentName, role.DisplayRoleName())}, client.ObjectKeyFromObject(role))
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(opts).
		Complete(r)
}
