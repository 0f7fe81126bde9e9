package decide

import (
	"fmt"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
)

// SecurityRoleInput is what a role's decision reads.
type SecurityRoleInput struct {
	Role *v1alpha1.SecurityRole
	// Environment is nil when it does not exist.
	Environment *v1alpha1.Environment
	// Older is an older role of the same environment, name and business unit (SR9), or nil.
	Older *v1alpha1.SecurityRole
}

// SecurityRoleOutcome is the status to write and what the targets should hold.
type SecurityRoleOutcome struct {
	Status v1alpha1.SecurityRoleStatus
	// Desired is nil when nothing is to be synced (no environment, an unresolved unit, or a
	// duplicate name: NotSynced says why).
	Desired   *DesiredRole
	NotSynced string
}

// SecurityRole validates a role's references (environment, business unit), the uniqueness of its
// name in its unit (SR9) and its webresource read (SR8), and shows its privileges after preset
// expansion (SR4) in canonical level names (SR2).
func SecurityRole(in SecurityRoleInput) SecurityRoleOutcome {
	role := in.Role
	st := v1alpha1.SecurityRoleStatus{
		ObservedGeneration: role.Generation,
		RoleName:           role.DisplayRoleName(),
		Tables:             access.ExpandRole(&role.Spec),
		Dataverse:          role.Status.Dataverse, // observed by the sync target, not decided
	}
	conds, list := conditionsOf(role.Status.Conditions, role.Generation)

	// SR8 is a warning on the role itself: the role stays usable.
	if access.HasWebResourceRead(&role.Spec) {
		conds.Set(v1alpha1.ConditionWebResourceReadable, true, v1alpha1.ReasonWebResourceReadable, "the role can read the webresource table")
	} else {
		conds.Set(v1alpha1.ConditionWebResourceReadable, false, v1alpha1.ReasonMissingWebResourceRead,
			fmt.Sprintf("role %s has no Read on the webresource table: its holders see \"Missing prvReadWebResource privilege\" on forms with web resources unless another role grants it (SR8): add table webresource with read at Organization", st.RoleName))
	}
	v := roleVerdict(in, &st)
	conds.Apply(v)
	st.Conditions = *list
	out := SecurityRoleOutcome{Status: st}
	switch {
	case v.Reason == v1alpha1.ReasonDuplicateRoleName:
		out.NotSynced = notSynced(v.Reason)
	case in.Environment != nil:
		out.Desired = desiredRole(in.Role, &st)
	}
	return out
}

func roleVerdict(in SecurityRoleInput, st *v1alpha1.SecurityRoleStatus) Verdict {
	role, env := in.Role, in.Environment
	if env == nil {
		return environmentNotFound(role.Namespace, role.Spec.EnvironmentName)
	}
	s := scope{env: env, tree: butree.Tree(env.BusinessUnitParents())}
	bu, v := s.businessUnit(role.Spec.BusinessUnit, "SecurityRole "+role.Name)
	st.BusinessUnit = bu
	if v != nil {
		return *v
	}
	if in.Older != nil {
		return StalledBy(v1alpha1.ReasonDuplicateRoleName,
			fmt.Sprintf("SecurityRole %s already has the name %q in business unit %s of environment %s (SR9): change spec.roleName or spec.businessUnit", in.Older.Name, role.DisplayRoleName(), bu, env.Name))
	}
	return Ready(fmt.Sprintf("role %q of business unit %s, %d table(s)", role.DisplayRoleName(), bu, len(role.Spec.Tables)))
}

// SameRoleName reports whether other contests role's name (SR9): same environment, same display
// name (case-insensitive) and same business unit, and older.
func SameRoleName(role, other *v1alpha1.SecurityRole, env *v1alpha1.Environment) bool {
	return other.Name != role.Name && RoleKey(other) == RoleKey(role) &&
		RoleBusinessUnit(other, env) == RoleBusinessUnit(role, env) && Older(other, role)
}
