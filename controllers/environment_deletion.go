package controllers

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// reconcileDelete holds an Environment's deletion until no user, role or team of it is left
// (EV4), says what it waits for, then removes its built-in roles and its finalizer.
func (r *EnvironmentReconciler) reconcileDelete(ctx context.Context, env *accessv1alpha1.Environment) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(env, EnvironmentFinalizer) {
		return ctrl.Result{}, nil
	}
	waiting, builtIns, err := r.dependents(ctx, env)
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(waiting) > 0 {
		before := env.DeepCopy()
		env.Status = decide.EnvironmentDeletion(env, waiting)
		// Dependents' deletions re-trigger this reconcile; the requeue is a safety net only.
		return ctrl.Result{RequeueAfter: time.Minute}, r.scaffold().writeStatus(ctx, before, env)
	}
	for i := range builtIns {
		if err := r.Delete(ctx, &builtIns[i]); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, err
		}
	}
	patch := client.MergeFrom(env.DeepCopy())
	controllerutil.RemoveFinalizer(env, EnvironmentFinalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, env, patch))
}

// dependents describes what still references env, and lists the built-in roles it owns.
func (r *EnvironmentReconciler) dependents(ctx context.Context, env *accessv1alpha1.Environment) ([]string, []accessv1alpha1.SecurityRole, error) {
	in := []client.ListOption{client.InNamespace(env.Namespace), client.MatchingFields{indexEnvironment: env.Name}}
	var users accessv1alpha1.PlatformUserList
	var apps accessv1alpha1.ApplicationUserList
	var teams accessv1alpha1.TeamList
	var roles accessv1alpha1.SecurityRoleList
	for _, l := range []client.ObjectList{&users, &apps, &teams, &roles} {
		if err := r.List(ctx, l, in...); err != nil {
			return nil, nil, err
		}
	}
	var builtIns []accessv1alpha1.SecurityRole
	custom := 0
	for _, role := range roles.Items {
		if role.Labels[decide.BuiltInLabel] == env.Name {
			builtIns = append(builtIns, role)
		} else {
			custom++
		}
	}
	var waiting []string
	for _, c := range []struct {
		n    int
		kind string
	}{{len(users.Items), "PlatformUser"}, {len(apps.Items), "ApplicationUser"}, {len(teams.Items), "Team"}, {custom, "SecurityRole"}} {
		if c.n > 0 {
			waiting = append(waiting, fmt.Sprintf("%d %s(s)", c.n, c.kind))
		}
	}
	return waiting, builtIns, nil
}
