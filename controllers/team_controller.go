package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
)

// TeamReconciler validates a team's references — environment, business unit, roles (SR5),
// members — and counts its members: the listed users, or for a group team the users that list
// its group in spec.securityGroups (TM1).
type TeamReconciler struct {
	client.Client
}

func (r *TeamReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var team accessv1alpha1.Team
	if err := r.Get(ctx, req.NamespacedName, &team); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := team.DeepCopy()
	team.Status.ObservedGeneration = team.Generation
	v, err := r.verdict(ctx, &team)
	if err != nil {
		return ctrl.Result{}, err
	}
	conditions{list: &team.Status.Conditions, generation: team.Generation}.apply(v)
	return ctrl.Result{}, client.IgnoreNotFound(patchStatus(ctx, r.Client, before, &team, func(o client.Object) any { return o.(*accessv1alpha1.Team).Status }))
}

func (r *TeamReconciler) verdict(ctx context.Context, team *accessv1alpha1.Team) (verdict, error) {
	holder := "team " + team.Name
	env, missing, err := environmentOf(ctx, r.Client, team.Namespace, team.Spec.EnvironmentName)
	if err != nil {
		return verdict{}, err
	}
	if missing != nil {
		team.Status.MemberCount = 0
		return *missing, nil
	}
	tree := butree.Tree(env.BusinessUnitParents())
	bu, buProblem := businessUnitOf(team.Spec.BusinessUnit, env, tree, holder)
	team.Status.BusinessUnit = bu

	members, missingMember, err := r.members(ctx, team)
	if err != nil {
		return verdict{}, err
	}
	team.Status.MemberCount = int32(members)
	if buProblem != nil {
		return *buProblem, nil
	}
	_, roleProblem, err := roleResolver{Reader: r.Client, env: env, tree: tree}.resolve(ctx, team.Namespace, bu, holder, team.Spec.SecurityRoles, "")
	if err != nil {
		return verdict{}, err
	}
	if roleProblem != nil {
		return *roleProblem, nil
	}
	if missingMember != "" {
		return stalledBy(accessv1alpha1.ReasonTeamMemberNotFound,
			fmt.Sprintf("member %s of team %s is not a PlatformUser of environment %s: create it, or remove it from spec.members (EV3)", missingMember, team.Name, env.Name)), nil
	}
	return ready(fmt.Sprintf("%s team with %d member(s) and %d role(s)", team.Spec.Type, members, len(team.Spec.SecurityRoles))), nil
}

// members counts the resolved members and names the first listed member that does not resolve.
func (r *TeamReconciler) members(ctx context.Context, team *accessv1alpha1.Team) (int, string, error) {
	if team.Spec.Type.IsGroupTeam() {
		var users accessv1alpha1.PlatformUserList
		if err := r.List(ctx, &users, client.InNamespace(team.Namespace), client.MatchingFields{indexUserGroups: groupKeyOf(team)}); err != nil {
			return 0, "", err
		}
		return len(users.Items), "", nil
	}
	count, missing := 0, ""
	for _, name := range team.Spec.Members {
		var u accessv1alpha1.PlatformUser
		err := r.Get(ctx, client.ObjectKey{Namespace: team.Namespace, Name: name}, &u)
		switch {
		case err == nil && u.Spec.EnvironmentName == team.Spec.EnvironmentName:
			count++
		case err == nil || apierrors.IsNotFound(err):
			if missing == "" {
				missing = name
			}
		default:
			return 0, "", err
		}
	}
	return count, missing, nil
}

func (r *TeamReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	c := mgr.GetClient()
	teamsOfUser := func(ctx context.Context, o client.Object) []reconcile.Request {
		u := o.(*accessv1alpha1.PlatformUser)
		reqs := requestsFor(ctx, c, &accessv1alpha1.TeamList{}, u.Namespace, indexMembers, []string{u.Name}, client.ObjectKey{})
		var groups []string
		for _, g := range u.Spec.SecurityGroups {
			groups = append(groups, key(u.Spec.EnvironmentName, g))
		}
		return append(reqs, requestsFor(ctx, c, &accessv1alpha1.TeamList{}, u.Namespace, indexGroupKey, groups, client.ObjectKey{})...)
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Unfiltered: see ownStatusRevisits.
		For(&accessv1alpha1.Team{}).
		Watches(&accessv1alpha1.Environment{}, environmentToDependents(c, func() client.ObjectList { return &accessv1alpha1.TeamList{} }, nil)).
		Watches(&accessv1alpha1.SecurityRole{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return requestsFor(ctx, c, &accessv1alpha1.TeamList{}, o.GetNamespace(), indexRoles, []string{o.GetName()}, client.ObjectKey{})
		}), builder.WithPredicates(roleChanged())).
		// Membership follows users: creation, deletion, and changes of their groups (TM1).
		Watches(&accessv1alpha1.PlatformUser{}, handler.EnqueueRequestsFromMapFunc(teamsOfUser), builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(e event.UpdateEvent) bool {
				a, b := e.ObjectOld.(*accessv1alpha1.PlatformUser), e.ObjectNew.(*accessv1alpha1.PlatformUser)
				return !equalStrings(a.Spec.SecurityGroups, b.Spec.SecurityGroups)
			},
		})).
		WithOptions(opts).
		Complete(r)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
