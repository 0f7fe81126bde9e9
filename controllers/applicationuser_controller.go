package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
)

// ApplicationUserReconciler validates a server-to-server application user (AM7): it needs no
// license and no slot, is enabled as its spec says, and needs a role to do anything (EN5).
type ApplicationUserReconciler struct {
	client.Client
	Recorder events.EventRecorder
}

func (r *ApplicationUserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var app accessv1alpha1.ApplicationUser
	if err := r.Get(ctx, req.NamespacedName, &app); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !app.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := app.DeepCopy()
	wasEnabled, observed := app.Status.Enabled, app.Status.ObservedGeneration > 0
	app.Status.ObservedGeneration = app.Generation
	conds := conditions{list: &app.Status.Conditions, generation: app.Generation}
	v, err := r.verdict(ctx, &app, conds)
	if err != nil {
		return ctrl.Result{}, err
	}
	conds.apply(v)
	if err := patchStatus(ctx, r.Client, before, &app, func(o client.Object) any { return o.(*accessv1alpha1.ApplicationUser).Status }); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// AM7: disabling an application user breaks the integrations that use it.
	if r.Recorder != nil && !app.Spec.Enabled && (wasEnabled || !observed) {
		r.Recorder.Eventf(&app, nil, corev1.EventTypeWarning, "ApplicationUserDisabled", "Disable",
			"application user %s (application %s) is disabled: every integration that uses it stops working (AM7)", app.Name, app.Spec.ApplicationID)
	}
	return ctrl.Result{}, nil
}

func (r *ApplicationUserReconciler) verdict(ctx context.Context, app *accessv1alpha1.ApplicationUser, conds conditions) (verdict, error) {
	holder := "ApplicationUser " + app.Name
	st := &app.Status
	st.Enabled = false
	st.Access = accessv1alpha1.AccessNoAccess
	env, missing, err := environmentOf(ctx, r.Client, app.Namespace, app.Spec.EnvironmentName)
	if err != nil {
		return verdict{}, err
	}
	if missing != nil {
		st.EffectiveRoles = nil
		conds.remove(accessv1alpha1.ConditionEnabled)
		conds.remove(accessv1alpha1.ConditionRolesAssigned)
		return *missing, nil
	}
	other, err := claimedBefore(ctx, r.Client, &accessv1alpha1.ApplicationUserList{}, app, indexAppKey, lowerKey(app.Spec.EnvironmentName, app.Spec.ApplicationID), nil)
	if err != nil {
		return verdict{}, err
	}
	if other != nil {
		st.EffectiveRoles = nil
		return stalledBy(accessv1alpha1.ReasonDuplicateApplicationID,
			fmt.Sprintf("ApplicationUser %s already has applicationId %s in environment %s: delete this object or change its applicationId", other.GetName(), app.Spec.ApplicationID, env.Name)), nil
	}

	// AM7: enabled on creation, as the spec says; no license, no slot.
	st.Enabled = app.Spec.Enabled
	if app.Spec.Enabled {
		conds.set(accessv1alpha1.ConditionEnabled, true, accessv1alpha1.ReasonEnabled, "application users are enabled on creation and need no license (AM7)")
	} else {
		conds.set(accessv1alpha1.ConditionEnabled, false, accessv1alpha1.ReasonDisabled, "spec.enabled is false: integrations that use this application user do not work (AM7)")
	}

	tree := butree.Tree(env.BusinessUnitParents())
	bu, buProblem := businessUnitOf(app.Spec.BusinessUnit, env, tree, holder)
	st.BusinessUnit = bu
	roles, problem, err := roleResolver{Reader: r.Client, env: env, tree: tree}.resolve(ctx, app.Namespace, bu, holder, app.Spec.SecurityRoles, string(accessv1alpha1.RoleSourceDirect))
	if err != nil {
		return verdict{}, err
	}
	st.EffectiveRoles = roles
	st.Access = accessOf(accessv1alpha1.AccessModeNonInteractive, st.Enabled && len(roles) > 0)
	if problem == nil {
		switch {
		case st.Enabled && len(roles) == 0:
			problem = &verdict{reason: accessv1alpha1.ReasonNoSecurityRole, stalled: true,
				message: fmt.Sprintf("application user %s is enabled but holds no security role, so it cannot act (EN5): add a role to spec.securityRoles", app.Name)}
		case !st.Enabled && len(app.Spec.SecurityRoles) > 0 && !env.Spec.Settings.AllowRoleAssignmentOnDisabledUsers:
			problem = &verdict{reason: accessv1alpha1.ReasonRoleAssignmentToDisabledUser, stalled: true,
				message: fmt.Sprintf("roles can be assigned only to enabled users and application user %s is disabled (EN6): enable it, remove spec.securityRoles, or set environment %s's spec.settings.allowRoleAssignmentOnDisabledUsers to true", app.Name, env.Name)}
		}
	}
	conds.setRolesAssigned(problem, len(roles))
	switch {
	case buProblem != nil:
		return *buProblem, nil
	case problem != nil:
		return *problem, nil
	case !st.Enabled:
		return ready(fmt.Sprintf("application user %s is disabled, as spec.enabled asks", app.Name)), nil
	}
	return ready(fmt.Sprintf("application user %s is enabled with %d role(s); it is not counted toward the seven non-interactive users (AM7)", app.Name, len(roles))), nil
}

func (r *ApplicationUserReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		// Unfiltered: see ownStatusRevisits.
		For(&accessv1alpha1.ApplicationUser{}).
		Watches(&accessv1alpha1.Environment{}, environmentToDependents(c, func() client.ObjectList { return &accessv1alpha1.ApplicationUserList{} }, nil)).
		Watches(&accessv1alpha1.SecurityRole{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return requestsFor(ctx, c, &accessv1alpha1.ApplicationUserList{}, o.GetNamespace(), indexRoles, []string{o.GetName()}, client.ObjectKey{})
		}), builder.WithPredicates(roleChanged())).
		Watches(&accessv1alpha1.ApplicationUser{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			a := o.(*accessv1alpha1.ApplicationUser)
			return requestsFor(ctx, c, &accessv1alpha1.ApplicationUserList{}, a.Namespace, indexAppKey, []string{lowerKey(a.Spec.EnvironmentName, a.Spec.ApplicationID)}, client.ObjectKeyFromObject(a))
		}), builder.WithPredicates(createdOrDeleted())).
		WithOptions(opts).
		Complete(r)
}
