package controllers

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
)

// roleResolver resolves the SecurityRole references of a principal or team (EV3, SR5).
type roleResolver struct {
	client.Reader
	env  *accessv1alpha1.Environment
	tree butree.Tree
}

// resolve gets each named role and checks it belongs to the environment and is available in the
// business unit bu (SR5). It returns the roles that resolve and the first problem, if any.
func (r roleResolver) resolve(ctx context.Context, namespace, bu, holder string, names []string, source string) ([]accessv1alpha1.EffectiveRole, *verdict, error) {
	var out []accessv1alpha1.EffectiveRole
	var problem *verdict
	for _, name := range names {
		role, v, err := r.get(ctx, namespace, name, holder)
		if err != nil {
			return nil, nil, err
		}
		if v == nil {
			roleBU := roleBusinessUnit(role, r.env)
			if !r.tree.IsAtOrBelow(bu, roleBU) {
				v = &verdict{reason: accessv1alpha1.ReasonRoleNotInBusinessUnit, stalled: true,
					message: fmt.Sprintf("SecurityRole %s belongs to business unit %s, which is neither %s's unit %s nor above it (SR5): assign a role of %s or of a unit above it, or change spec.businessUnit",
						name, roleBU, holder, bu, bu)}
			}
		}
		if v != nil {
			if problem == nil {
				problem = v
			}
			continue
		}
		out = append(out, accessv1alpha1.EffectiveRole{Name: name, RoleName: role.DisplayRoleName(), Source: source})
	}
	return out, problem, nil
}

// get returns the role, or a verdict saying why it cannot be used.
func (r roleResolver) get(ctx context.Context, namespace, name, holder string) (*accessv1alpha1.SecurityRole, *verdict, error) {
	var role accessv1alpha1.SecurityRole
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &role); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &verdict{reason: accessv1alpha1.ReasonSecurityRoleNotFound, stalled: true,
				message: fmt.Sprintf("SecurityRole %s, assigned to %s, does not exist in namespace %s: create it, or remove it from spec.securityRoles (EV3)", name, holder, namespace)}, nil
		}
		return nil, nil, err
	}
	if role.Spec.EnvironmentName != r.env.Name {
		return nil, &verdict{reason: accessv1alpha1.ReasonRoleInOtherEnvironment, stalled: true,
			message: fmt.Sprintf("SecurityRole %s belongs to environment %s, not %s: assign a role of %s", name, role.Spec.EnvironmentName, r.env.Name, r.env.Name)}, nil
	}
	return &role, nil, nil
}

// roleBusinessUnit is the unit a role belongs to: its spec, or the environment's root.
func roleBusinessUnit(role *accessv1alpha1.SecurityRole, env *accessv1alpha1.Environment) string {
	if role.Spec.BusinessUnit != "" {
		return role.Spec.BusinessUnit
	}
	return env.RootBusinessUnit()
}

// environmentOf gets the Environment an object names (EV3). A missing one is a verdict, not an
// error: the object waits, Stalled, until someone creates it or corrects spec.environmentName.
func environmentOf(ctx context.Context, c client.Reader, namespace, name string) (*accessv1alpha1.Environment, *verdict, error) {
	var env accessv1alpha1.Environment
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &env); err != nil {
		if apierrors.IsNotFound(err) {
			v := stalledBy(accessv1alpha1.ReasonEnvironmentNotFound,
				fmt.Sprintf("Environment %s does not exist in namespace %s: create it, or correct spec.environmentName (EV3)", name, namespace))
			return nil, &v, nil
		}
		return nil, nil, err
	}
	return &env, nil, nil
}

// businessUnitOf resolves a principal's unit and checks it exists (EV3).
func businessUnitOf(spec string, env *accessv1alpha1.Environment, tree butree.Tree, holder string) (string, *verdict) {
	bu := spec
	if bu == "" {
		bu = env.RootBusinessUnit()
	}
	if !tree.Has(bu) {
		return bu, &verdict{reason: accessv1alpha1.ReasonBusinessUnitNotFound, stalled: true,
			message: fmt.Sprintf("business unit %s of %s is not in environment %s's spec.businessUnits: add it there, or change spec.businessUnit (EV3)", bu, holder, env.Name)}
	}
	return bu, nil
}

// teamRoles returns the roles a user gets from the teams it belongs to: Owner and Access teams
// that list it, and group teams of the groups it is a direct member of (TM1). A team's own
// problems (a missing role, a role from another unit) are reported on the team, so such roles are
// left out here.
func (r roleResolver) teamRoles(ctx context.Context, u *accessv1alpha1.PlatformUser) ([]accessv1alpha1.EffectiveRole, error) {
	teams := map[string]*accessv1alpha1.Team{}
	var byMember accessv1alpha1.TeamList
	if err := r.List(ctx, &byMember, client.InNamespace(u.Namespace), client.MatchingFields{indexMembers: u.Name}); err != nil {
		return nil, err
	}
	for i := range byMember.Items {
		teams[byMember.Items[i].Name] = &byMember.Items[i]
	}
	for _, g := range u.Spec.SecurityGroups {
		var byGroup accessv1alpha1.TeamList
		if err := r.List(ctx, &byGroup, client.InNamespace(u.Namespace), client.MatchingFields{indexGroupKey: key(u.Spec.EnvironmentName, g)}); err != nil {
			return nil, err
		}
		for i := range byGroup.Items {
			teams[byGroup.Items[i].Name] = &byGroup.Items[i]
		}
	}
	names := make([]string, 0, len(teams))
	for n, t := range teams {
		if t.Spec.EnvironmentName == u.Spec.EnvironmentName && t.DeletionTimestamp.IsZero() {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []accessv1alpha1.EffectiveRole
	for _, n := range names {
		t := teams[n]
		teamBU, v := businessUnitOf(t.Spec.BusinessUnit, r.env, r.tree, "team "+t.Name)
		if v != nil {
			continue
		}
		roles, _, err := r.resolve(ctx, u.Namespace, teamBU, "team "+t.Name, t.Spec.SecurityRoles, accessv1alpha1.RoleSourceTeamPrefix+t.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, roles...)
	}
	return out, nil
}

// grantsSystemAdministrator returns the administrator role that gives System Administrator
// (AM9), or "" when none does.
func grantsSystemAdministrator(roles []accessv1alpha1.AdministratorRole) accessv1alpha1.AdministratorRole {
	for _, r := range roles {
		if r == accessv1alpha1.AdminGlobal || r == accessv1alpha1.AdminService {
			return r
		}
	}
	return ""
}
