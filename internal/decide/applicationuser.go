package decide

import (
	"fmt"
	"strings"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
)

// ApplicationUserInput is what an application user's decision reads.
type ApplicationUserInput struct {
	App *v1alpha1.ApplicationUser
	// Environment is nil when it does not exist.
	Environment *v1alpha1.Environment
	// Roles holds the roles spec.securityRoles names; absent ones do not exist.
	Roles Roles
	// Older is an older ApplicationUser of the environment with the same applicationId, or nil.
	Older *v1alpha1.ApplicationUser
}

// ApplicationUserOutcome is the status to write and the events to record.
type ApplicationUserOutcome struct {
	Status v1alpha1.ApplicationUserStatus
	Events []Event
	// Desired is what the targets should hold; nil when nothing is to be synced (no
	// environment, or a duplicate: NotSynced says why).
	Desired   *DesiredApplicationUser
	NotSynced string
}

// ApplicationUser decides a server-to-server application user (AM7): it needs no license and no
// slot, is enabled as its spec says, needs a role to do anything (EN5), and gets roles assigned
// only while enabled (EN6).
func ApplicationUser(in ApplicationUserInput) ApplicationUserOutcome {
	app, prev := in.App, &in.App.Status
	var st v1alpha1.ApplicationUserStatus
	st.ObservedGeneration = app.Generation
	st.BusinessUnit = prev.BusinessUnit
	st.AssignedRoles = prev.AssignedRoles
	st.FirstEnabledTime = prev.FirstEnabledTime
	st.Dataverse = prev.Dataverse // observed by the sync target, not decided
	st.Access = v1alpha1.AccessNoAccess
	conds, list := conditionsOf(prev.Conditions, app.Generation)

	var v Verdict
	var out ApplicationUserOutcome
	switch {
	case in.Environment == nil:
		v = environmentNotFound(app.Namespace, app.Spec.EnvironmentName)
	case in.Older != nil:
		v = StalledBy(v1alpha1.ReasonDuplicateApplicationID,
			fmt.Sprintf("ApplicationUser %s already has applicationId %s in environment %s: delete this object or change its applicationId", in.Older.Name, app.Spec.ApplicationID, app.Spec.EnvironmentName))
		out.NotSynced = notSynced(v1alpha1.ReasonDuplicateApplicationID)
	default:
		v = decideApp(in, &st, conds)
		out.Desired = &DesiredApplicationUser{ApplicationID: app.Spec.ApplicationID, BusinessUnit: st.BusinessUnit,
			Disabled: !app.Spec.Enabled, Roles: v1alpha1.DirectRoleNames(st.EffectiveRoles)}
	}
	if !v.IsReady() && (in.Environment == nil || in.Older != nil) {
		// Nothing about the user can be known: no aspect may linger from an earlier decision.
		conds.Remove(v1alpha1.ConditionEnabled)
		conds.Remove(v1alpha1.ConditionRolesAssigned)
	}
	conds.Apply(v)
	st.Conditions = *list

	var events []Event
	// AM7: disabling an application user breaks the integrations that use it.
	if !app.Spec.Enabled && (prev.Enabled || prev.ObservedGeneration == 0) {
		events = append(events, Event{eventWarning, "ApplicationUserDisabled", "Disable",
			fmt.Sprintf("application user %s (application %s) is disabled: every integration that uses it stops working (AM7)", app.Name, app.Spec.ApplicationID)})
	}
	out.Status, out.Events = st, events
	return out
}

func decideApp(in ApplicationUserInput, st *v1alpha1.ApplicationUserStatus, conds Conditions) Verdict {
	app, env := in.App, in.Environment
	holder := "ApplicationUser " + app.Name
	s := newScope(env, in.Roles)

	// AM7: enabled on creation, as the spec says; no license, no slot.
	st.Enabled = app.Spec.Enabled
	if app.Spec.Enabled {
		conds.Set(v1alpha1.ConditionEnabled, true, v1alpha1.ReasonEnabled, "application users are enabled on creation and need no license (AM7)")
	} else {
		conds.Set(v1alpha1.ConditionEnabled, false, v1alpha1.ReasonDisabled, "spec.enabled is false: integrations that use this application user do not work (AM7)")
	}

	bu, buProblem := s.businessUnit(app.Spec.BusinessUnit, holder)
	st.BusinessUnit = bu
	direct, problem := s.resolve(app.Spec.SecurityRoles, bu, holder, app.Namespace, string(v1alpha1.RoleSourceDirect))
	roles, refused := assignable(direct, app.Status.AssignedRoles, st.Enabled || env.Spec.Settings.AllowRoleAssignmentOnDisabledUsers)
	st.AssignedRoles = nil
	for _, r := range roles {
		st.AssignedRoles = append(st.AssignedRoles, r.Name)
	}
	st.EffectiveRoles = roles
	st.Access = access.AccessOf(v1alpha1.AccessModeNonInteractive, st.Enabled, len(roles) > 0)
	if problem == nil {
		switch {
		case len(refused) > 0:
			problem = &Verdict{Reason: v1alpha1.ReasonRoleAssignmentToDisabledUser, Stalled: true,
				Message: fmt.Sprintf("roles can be assigned only to enabled users and application user %s is disabled, so %s cannot be assigned (EN6): enable it, remove %s from spec.securityRoles, or set environment %s's spec.settings.allowRoleAssignmentOnDisabledUsers to true",
					app.Name, strings.Join(refused, ", "), strings.Join(refused, ", "), env.Name)}
		case st.Enabled && len(roles) == 0:
			problem = &Verdict{Reason: v1alpha1.ReasonNoSecurityRole, Stalled: true,
				Message: fmt.Sprintf("application user %s is enabled but holds no security role, so it cannot act (EN5): add a role to spec.securityRoles", app.Name)}
		}
	}
	setRolesAssigned(conds, problem, len(roles))
	switch {
	case buProblem != nil:
		return *buProblem
	case problem != nil:
		return *problem
	case !st.Enabled:
		msg := fmt.Sprintf("application user %s is disabled, as spec.enabled asks", app.Name)
		if len(roles) > 0 {
			msg += fmt.Sprintf("; it keeps its %d assigned role(s) (EN6)", len(roles))
		}
		return Ready(msg)
	}
	return Ready(fmt.Sprintf("application user %s is enabled with %d role(s); it is not counted toward the seven non-interactive users (AM7)", app.Name, len(roles)))
}
