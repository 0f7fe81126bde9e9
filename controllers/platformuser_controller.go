package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/allocation"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
	"github.com/accessplane/dataverse-access-operator/internal/enablement"
)

// PlatformUserReconciler validates a person's user record: access mode, license seat,
// non-interactive slot, enablement, business unit and roles. It reads its grants from the
// Environment's ledger and never allocates itself (EV1).
type PlatformUserReconciler struct {
	client.Client
	Recorder events.EventRecorder
}

func (r *PlatformUserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var u accessv1alpha1.PlatformUser
	if err := r.Get(ctx, req.NamespacedName, &u); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !u.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := u.DeepCopy()
	wasEnabled, observed := u.Status.Enabled, u.Status.ObservedGeneration > 0
	oldSlot := conditionReason(u.Status.Conditions, accessv1alpha1.ConditionNonInteractiveSlot)
	oldSeat := conditionReason(u.Status.Conditions, accessv1alpha1.ConditionLicensed)

	if err := r.evaluate(ctx, &u); err != nil {
		return ctrl.Result{}, err
	}
	if err := patchStatus(ctx, r.Client, before, &u, func(o client.Object) any { return o.(*accessv1alpha1.PlatformUser).Status }); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.recordTransitions(&u, observed, wasEnabled, oldSlot, oldSeat)
	return ctrl.Result{}, nil
}

// evaluate fills u.Status from its spec, its environment and its roles.
func (r *PlatformUserReconciler) evaluate(ctx context.Context, u *accessv1alpha1.PlatformUser) error {
	st := &u.Status
	st.ObservedGeneration = u.Generation
	st.FullName = u.Spec.Profile.FullName()
	conds := conditions{list: &st.Conditions, generation: u.Generation}
	holder := "PlatformUser " + u.Name

	env, missing, err := environmentOf(ctx, r.Client, u.Namespace, u.Spec.EnvironmentName)
	if err != nil || missing != nil {
		if missing != nil {
			r.unresolved(u, conds, *missing)
		}
		return err
	}

	if v, err := r.duplicateOf(ctx, u); err != nil || v != nil {
		if v != nil {
			r.unresolved(u, conds, *v)
		}
		return err
	}

	tree := butree.Tree(env.BusinessUnitParents())
	bu, buProblem := businessUnitOf(u.Spec.BusinessUnit, env, tree, holder)
	st.BusinessUnit = bu

	decision := enablement.Decide(enablementInput(u, env))
	st.Enabled = decision.Enabled
	setAspect(conds, accessv1alpha1.ConditionEnabled, decision.EnabledAspect)
	setAspect(conds, accessv1alpha1.ConditionLicensed, decision.Licensed)
	setAspect(conds, accessv1alpha1.ConditionNonInteractiveSlot, decision.Slot)

	roles, rolesVerdict, err := r.effectiveRoles(ctx, u, env, tree, bu, decision.Enabled, holder)
	if err != nil {
		return err
	}
	st.EffectiveRoles = roles
	st.Access = accessOf(u.Spec.AccessMode, decision.Enabled && len(roles) > 0)

	// The order says which problem a person should fix first.
	switch {
	case buProblem != nil:
		conds.apply(*buProblem)
	case decision.Mismatch != nil:
		conds.apply(verdict{reason: decision.Mismatch.Reason, message: decision.Mismatch.Message, stalled: !decision.Mismatch.Pending})
	case rolesVerdict != nil:
		conds.apply(*rolesVerdict)
	default:
		conds.apply(ready(readyMessage(u, decision.Enabled, len(roles))))
	}
	conds.setRolesAssigned(rolesVerdict, len(roles))
	return nil
}

// effectiveRoles resolves direct, administrator-role, stub-default and team roles, and applies
// EN5 (an enabled user needs a role) and EN6 (roles only for enabled users).
func (r *PlatformUserReconciler) effectiveRoles(ctx context.Context, u *accessv1alpha1.PlatformUser, env *accessv1alpha1.Environment, tree butree.Tree, bu string, enabled bool, holder string) ([]accessv1alpha1.EffectiveRole, *verdict, error) {
	res := roleResolver{Reader: r.Client, env: env, tree: tree}
	direct, problem, err := res.resolve(ctx, u.Namespace, bu, holder, u.Spec.SecurityRoles, string(accessv1alpha1.RoleSourceDirect))
	if err != nil {
		return nil, nil, err
	}
	roles := direct
	pending := func(name, why string) *verdict {
		v := waitingFor(accessv1alpha1.ReasonReconciling, fmt.Sprintf("waiting for environment %s to create its built-in role %s (%s)", env.Name, name, why))
		return &v
	}
	if admin := grantsSystemAdministrator(u.Spec.AdministratorRoles); admin != "" && !u.Spec.Stub {
		name := accessv1alpha1.SystemAdministratorRoleName(env.Name)
		got, v, err := res.resolve(ctx, u.Namespace, bu, holder, []string{name}, accessv1alpha1.RoleSourceAdministratorRolePrefix+string(admin))
		if err != nil {
			return nil, nil, err
		}
		if v != nil && problem == nil {
			problem = pending(name, "AM9")
		}
		roles = append(roles, got...)
	}
	if u.Spec.Stub {
		name := accessv1alpha1.StubDefaultRoleName(env.Name, env.Spec.Product)
		role, v, err := res.get(ctx, u.Namespace, name, holder)
		if err != nil {
			return nil, nil, err
		}
		if v != nil {
			if problem == nil {
				problem = pending(name, "AM8")
			}
		} else {
			// The stub default role is exempt from SR5 and EN6: the product assigns it on import.
			roles = append(roles, accessv1alpha1.EffectiveRole{Name: name, RoleName: role.DisplayRoleName(), Source: string(accessv1alpha1.RoleSourceStubDefault)})
		}
	}
	teamRoles, err := res.teamRoles(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	roles = append(roles, teamRoles...)

	if problem != nil {
		return roles, problem, nil
	}
	switch {
	case enabled && len(roles) == 0:
		how := "add a role to spec.securityRoles, or make the user a member of a group team that holds one"
		remove := "to remove access, remove the user from the environment's security group instead of removing its roles"
		if env.Spec.SecurityGroup != "" {
			remove = fmt.Sprintf("to remove access, remove %s from spec.securityGroups instead of removing its roles", env.Spec.SecurityGroup)
		}
		return roles, &verdict{reason: accessv1alpha1.ReasonNoSecurityRole, stalled: true,
			message: fmt.Sprintf("%s is enabled but holds no security role, so it cannot get in (EN5): %s; %s", u.Spec.UserName, how, remove)}, nil
	case !enabled && !u.Spec.Stub && len(u.Spec.SecurityRoles) > 0 && !env.Spec.Settings.AllowRoleAssignmentOnDisabledUsers:
		return roles, &verdict{reason: accessv1alpha1.ReasonRoleAssignmentToDisabledUser, stalled: true,
			message: fmt.Sprintf("roles can be assigned only to enabled users and %s is disabled (EN6): enable it, remove spec.securityRoles, or set environment %s's spec.settings.allowRoleAssignmentOnDisabledUsers to true",
				u.Spec.UserName, env.Name)}, nil
	}
	return roles, nil, nil
}

// duplicateOf refuses a userName that an older PlatformUser of the environment already has.
func (r *PlatformUserReconciler) duplicateOf(ctx context.Context, u *accessv1alpha1.PlatformUser) (*verdict, error) {
	other, err := claimedBefore(ctx, r.Client, &accessv1alpha1.PlatformUserList{}, u, indexUserKey, lowerKey(u.Spec.EnvironmentName, u.Spec.UserName), nil)
	if err != nil || other == nil {
		return nil, err
	}
	return &verdict{reason: accessv1alpha1.ReasonDuplicateUserName, stalled: true,
		message: fmt.Sprintf("PlatformUser %s already has userName %s in environment %s: delete this object or change its userName", other.GetName(), u.Spec.UserName, u.Spec.EnvironmentName)}, nil
}

// unresolved writes a verdict that stops evaluation and clears what cannot be known.
func (r *PlatformUserReconciler) unresolved(u *accessv1alpha1.PlatformUser, conds conditions, v verdict) {
	u.Status.Enabled = false
	u.Status.Access = accessv1alpha1.AccessNoAccess
	u.Status.EffectiveRoles = nil
	for _, t := range []string{accessv1alpha1.ConditionEnabled, accessv1alpha1.ConditionLicensed, accessv1alpha1.ConditionNonInteractiveSlot, accessv1alpha1.ConditionRolesAssigned} {
		conds.remove(t)
	}
	conds.apply(v)
}

func (r *PlatformUserReconciler) recordTransitions(u *accessv1alpha1.PlatformUser, observed, wasEnabled bool, oldSlot, oldSeat string) {
	if r.Recorder == nil {
		return
	}
	if observed && !wasEnabled && u.Status.Enabled {
		r.Recorder.Eventf(u, nil, corev1.EventTypeNormal, "Enabled", "Enable",
			"%s was disabled and is now enabled: send it a new invitation to access the environment (EN7)", u.Spec.UserName)
	}
	if observed && wasEnabled && !u.Status.Enabled {
		r.Recorder.Eventf(u, nil, corev1.EventTypeWarning, "Disabled", "Disable", "%s is no longer enabled: %s",
			u.Spec.UserName, conditionMessage(u.Status.Conditions, accessv1alpha1.ConditionEnabled))
	}
	if slot := conditionReason(u.Status.Conditions, accessv1alpha1.ConditionNonInteractiveSlot); slot != oldSlot {
		switch slot {
		case accessv1alpha1.ReasonSlotGranted:
			r.Recorder.Eventf(u, nil, corev1.EventTypeNormal, accessv1alpha1.ReasonSlotGranted, "Allocate", "granted a non-interactive slot of environment %s", u.Spec.EnvironmentName)
		case accessv1alpha1.ReasonNonInteractiveLimitReached:
			r.Recorder.Eventf(u, nil, corev1.EventTypeWarning, accessv1alpha1.ReasonNonInteractiveLimitReached, "Allocate", "%s", conditionMessage(u.Status.Conditions, accessv1alpha1.ConditionNonInteractiveSlot))
		}
	}
	if seat := conditionReason(u.Status.Conditions, accessv1alpha1.ConditionLicensed); seat != oldSeat && seat == accessv1alpha1.ReasonSeatsExhausted {
		r.Recorder.Eventf(u, nil, corev1.EventTypeWarning, accessv1alpha1.ReasonSeatsExhausted, "Allocate", "%s", conditionMessage(u.Status.Conditions, accessv1alpha1.ConditionLicensed))
	}
}

// enablementInput gathers the decision's inputs from the user and its environment's ledger.
func enablementInput(u *accessv1alpha1.PlatformUser, env *accessv1alpha1.Environment) enablement.Input {
	in := enablement.Input{User: u.Name, UserName: u.Spec.UserName, Environment: env.Name, Spec: u.Spec, SecurityGroup: env.Spec.SecurityGroup}
	if len(env.Spec.Licenses) > 0 {
		in.OfferedSKUs = []string{}
		for _, l := range env.Spec.Licenses {
			in.OfferedSKUs = append(in.OfferedSKUs, l.SKU)
			if l.SKU == u.Spec.License {
				in.SeatsOfSKU = l.Seats
			}
		}
		for _, s := range env.Status.Seats {
			if s.SKU == u.Spec.License {
				in.Seat = grantOf(ledgerOf(s.Holders, s.Waiting), u.Name, int(s.Seats))
			}
		}
	}
	if l := env.Status.NonInteractive; l != nil {
		in.Slot = grantOf(ledgerOf(l.Holders, l.Waiting), u.Name, int(l.Limit))
	}
	return in
}

func grantOf(l allocation.Ledger, name string, capacity int) enablement.Grant {
	p, ok := l.Find(name)
	return enablement.Grant{Known: ok, Held: p.Held, Position: p.Position, Waiting: p.Waiting, Free: capacity - len(l.Holders)}
}

func setAspect(conds conditions, condType string, a enablement.Aspect) {
	if !a.Applies {
		conds.remove(condType)
		return
	}
	conds.set(condType, a.OK, a.Reason, a.Message)
}

// accessOf is what a principal reaches (AM4): nothing unless enabled with a role.
func accessOf(mode accessv1alpha1.AccessMode, canGetIn bool) accessv1alpha1.Access {
	switch {
	case !canGetIn:
		return accessv1alpha1.AccessNoAccess
	case mode == accessv1alpha1.AccessModeAdministrative:
		return accessv1alpha1.AccessSettingsOnly
	case mode == accessv1alpha1.AccessModeNonInteractive:
		return accessv1alpha1.AccessProgrammatic
	}
	return accessv1alpha1.AccessFull
}

func readyMessage(u *accessv1alpha1.PlatformUser, enabled bool, roles int) string {
	if !enabled {
		return fmt.Sprintf("%s is disabled, as spec.enabled asks", u.Spec.UserName)
	}
	return fmt.Sprintf("%s is enabled (%s) with %d effective role(s)", u.Spec.UserName, u.Spec.AccessMode, roles)
}

func (r *PlatformUserReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		// Unfiltered: see ownStatusRevisits.
		For(&accessv1alpha1.PlatformUser{}).
		Watches(&accessv1alpha1.Environment{}, environmentToUsers(c)).
		// A role reaches its direct holders and, through the teams that hold it, their members:
		// a team role that did not resolve before is in no user's index yet.
		Watches(&accessv1alpha1.SecurityRole{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			reqs := requestsFor(ctx, c, &accessv1alpha1.PlatformUserList{}, o.GetNamespace(), indexRoles, []string{o.GetName()}, types.NamespacedName{})
			var teams accessv1alpha1.TeamList
			if err := c.List(ctx, &teams, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexRoles: o.GetName()}); err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "listing teams of a role", "role", o.GetName())
			}
			for i := range teams.Items {
				reqs = append(reqs, usersOfTeam(ctx, c, &teams.Items[i])...)
			}
			return reqs
		}), builder.WithPredicates(roleChanged())).
		Watches(&accessv1alpha1.Team{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return usersOfTeam(ctx, c, o.(*accessv1alpha1.Team))
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&accessv1alpha1.PlatformUser{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			u := o.(*accessv1alpha1.PlatformUser)
			return requestsFor(ctx, c, &accessv1alpha1.PlatformUserList{}, u.Namespace, indexUserKey, []string{lowerKey(u.Spec.EnvironmentName, u.Spec.UserName)}, client.ObjectKeyFromObject(u))
		}), builder.WithPredicates(createdOrDeleted())).
		WithOptions(opts).
		Complete(r)
}

// usersOfTeam is every user a team's change can concern: its listed members, the members of its
// group (TM1), and the users whose status says they got roles from it.
func usersOfTeam(ctx context.Context, c client.Reader, t *accessv1alpha1.Team) []reconcile.Request {
	reqs := requestsFor(ctx, c, &accessv1alpha1.PlatformUserList{}, t.Namespace, indexUserTeams, []string{t.Name}, types.NamespacedName{})
	reqs = append(reqs, requestsFor(ctx, c, &accessv1alpha1.PlatformUserList{}, t.Namespace, indexUserGroups, []string{groupKeyOf(t)}, types.NamespacedName{})...)
	for _, m := range t.Spec.Members {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: t.Namespace, Name: m}})
	}
	return reqs
}

func groupKeyOf(t *accessv1alpha1.Team) string {
	if t.Spec.Group == "" {
		return ""
	}
	return key(t.Spec.EnvironmentName, t.Spec.Group)
}

// ledgerOf converts a ledger from the Environment's status.
func ledgerOf(holders, waiting []accessv1alpha1.LedgerEntry) allocation.Ledger {
	var l allocation.Ledger
	for _, h := range holders {
		l.Holders = append(l.Holders, allocation.Entry{Name: h.Name, Since: h.Since.Time})
	}
	for _, w := range waiting {
		l.Waiting = append(l.Waiting, allocation.Entry{Name: w.Name, Since: w.Since.Time})
	}
	return l
}
