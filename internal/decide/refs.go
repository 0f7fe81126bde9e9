package decide

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
)

// Roles are the SecurityRoles a decision may need, by object name. A name that is absent (or
// maps to nil) does not exist.
type Roles map[string]*v1alpha1.SecurityRole

// environmentNotFound is the verdict of an object whose Environment does not exist (EV3): it
// waits, Stalled, until someone creates it or corrects spec.environmentName.
func environmentNotFound(namespace, name string) Verdict {
	return StalledBy(v1alpha1.ReasonEnvironmentNotFound,
		fmt.Sprintf("Environment %s does not exist in namespace %s: create it, or correct spec.environmentName (EV3)", name, namespace))
}

// scope is an environment seen by the objects that belong to it: its business-unit tree and
// its roles.
type scope struct {
	env   *v1alpha1.Environment
	tree  butree.Tree
	roles Roles
}

func newScope(env *v1alpha1.Environment, roles Roles) scope {
	return scope{env: env, tree: butree.Tree(env.BusinessUnitParents()), roles: roles}
}

// businessUnit resolves a holder's unit (the spec, or the root) and checks it exists (EV3).
func (s scope) businessUnit(spec, holder string) (string, *Verdict) {
	bu := spec
	if bu == "" {
		bu = s.env.RootBusinessUnit()
	}
	if !s.tree.Has(bu) {
		return bu, &Verdict{Reason: v1alpha1.ReasonBusinessUnitNotFound, Stalled: true,
			Message: fmt.Sprintf("business unit %s of %s is not in environment %s's spec.businessUnits: add it there, or change spec.businessUnit (EV3)", bu, holder, s.env.Name)}
	}
	return bu, nil
}

// RoleBusinessUnit is the unit a role belongs to: its spec, or the environment's root.
func RoleBusinessUnit(role *v1alpha1.SecurityRole, env *v1alpha1.Environment) string {
	if role.Spec.BusinessUnit != "" {
		return role.Spec.BusinessUnit
	}
	return env.RootBusinessUnit()
}

// role returns the named role, or a verdict saying why it cannot be used (EV3).
func (s scope) role(name, holder, namespace string) (*v1alpha1.SecurityRole, *Verdict) {
	role := s.roles[name]
	if role == nil {
		return nil, &Verdict{Reason: v1alpha1.ReasonSecurityRoleNotFound, Stalled: true,
			Message: fmt.Sprintf("SecurityRole %s, assigned to %s, does not exist in namespace %s: create it, or remove it from spec.securityRoles (EV3)", name, holder, namespace)}
	}
	if role.Spec.EnvironmentName != s.env.Name {
		return nil, &Verdict{Reason: v1alpha1.ReasonRoleInOtherEnvironment, Stalled: true,
			Message: fmt.Sprintf("SecurityRole %s belongs to environment %s, not %s: assign a role of %s", name, role.Spec.EnvironmentName, s.env.Name, s.env.Name)}
	}
	return role, nil
}

// resolve checks each named role exists, belongs to the environment and is available in the
// holder's business unit bu (SR5). It returns the roles that resolve and the first problem.
func (s scope) resolve(names []string, bu, holder, namespace, source string) ([]v1alpha1.EffectiveRole, *Verdict) {
	var out []v1alpha1.EffectiveRole
	var problem *Verdict
	for _, name := range names {
		role, v := s.role(name, holder, namespace)
		if v == nil {
			if roleBU := RoleBusinessUnit(role, s.env); !s.tree.IsAtOrBelow(bu, roleBU) {
				v = &Verdict{Reason: v1alpha1.ReasonRoleNotInBusinessUnit, Stalled: true,
					Message: fmt.Sprintf("SecurityRole %s belongs to business unit %s, which is neither %s's unit %s nor above it (SR5): assign a role of %s or of a unit above it, or change spec.businessUnit",
						name, roleBU, holder, bu, bu)}
			}
		}
		if v != nil {
			if problem == nil {
				problem = v
			}
			continue
		}
		out = append(out, v1alpha1.EffectiveRole{Name: name, RoleName: role.DisplayRoleName(), Source: source})
	}
	return out, problem
}

// TeamIncludes reports whether user is a member of team (TM1): listed in an Owner or Access
// team's spec.members, or a direct member of a group team's group. Both must belong to the same
// environment. Controllers find candidate teams through indexes; this decides.
func TeamIncludes(team *v1alpha1.Team, user *v1alpha1.PlatformUser) bool {
	if team.Spec.EnvironmentName != user.Spec.EnvironmentName || !team.DeletionTimestamp.IsZero() {
		return false
	}
	if team.Spec.Type.IsGroupTeam() {
		return team.Spec.Group != "" && slices.Contains(user.Spec.SecurityGroups, team.Spec.Group)
	}
	return slices.Contains(team.Spec.Members, user.Name)
}

// Older reports whether a was created before b, name breaking ties: the older object keeps a
// contested name (DuplicateUserName, DuplicateApplicationId, DuplicateRoleName).
func Older(a, b metav1.Object) bool {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ta.Equal(&tb) {
		return ta.Before(&tb)
	}
	return a.GetName() < b.GetName()
}

// UserKey is the environment-scoped, case-insensitive identity of a PlatformUser's userName.
func UserKey(u *v1alpha1.PlatformUser) string {
	return u.Spec.EnvironmentName + "/" + strings.ToLower(u.Spec.UserName)
}

// ApplicationKey is the environment-scoped identity of an ApplicationUser's applicationId.
func ApplicationKey(a *v1alpha1.ApplicationUser) string {
	return a.Spec.EnvironmentName + "/" + strings.ToLower(a.Spec.ApplicationID)
}

// RoleKey is the environment-scoped, case-insensitive identity of a role's display name (SR9);
// the unit is compared separately.
func RoleKey(r *v1alpha1.SecurityRole) string {
	return r.Spec.EnvironmentName + "/" + strings.ToLower(r.DisplayRoleName())
}

// GrantsSystemAdministrator returns the administrator role that gives System Administrator
// (AM9), or "" when none does.
func GrantsSystemAdministrator(roles []v1alpha1.AdministratorRole) v1alpha1.AdministratorRole {
	for _, r := range roles {
		if r == v1alpha1.AdminGlobal || r == v1alpha1.AdminService {
			return r
		}
	}
	return ""
}
