package controllers

import (
	"context"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// Field indexes let a change reach exactly the objects that depend on it.
const (
	// indexEnvironment: spec.environmentName, on every kind but Environment.
	indexEnvironment = "spec.environmentName"
	// indexRoles: the SecurityRole object names a principal or team refers to (spec, resolved
	// status, and the built-in roles it would get), so a role's change reaches only its holders.
	indexRoles = "roles"
	// indexUserKey: environment/userName of PlatformUsers, for DuplicateUserName.
	indexUserKey = "userKey"
	// indexAppKey: environment/applicationId of ApplicationUsers, for DuplicateApplicationId.
	indexAppKey = "applicationKey"
	// indexRoleKey: environment/roleName of SecurityRoles, for DuplicateRoleName (SR9).
	indexRoleKey = "roleKey"
	// indexMembers: the PlatformUser names an Owner or Access team lists.
	indexMembers = "spec.members"
	// indexGroupKey: environment/group of group teams (TM1).
	indexGroupKey = "groupKey"
	// indexUserGroups: environment/group for every security group a PlatformUser is in (TM1).
	indexUserGroups = "groupKeys"
	// indexUserTeams: the teams a PlatformUser got roles from, as written in its status.
	indexUserTeams = "teams"
)

func key(parts ...string) string { return strings.Join(parts, "/") }

type indexSpec struct {
	obj     client.Object
	field   string
	extract client.IndexerFunc
}

// environmentNameOf is the Environment an object of any kind but Environment names.
func environmentNameOf(o client.Object) string {
	switch t := o.(type) {
	case *accessv1alpha1.PlatformUser:
		return t.Spec.EnvironmentName
	case *accessv1alpha1.ApplicationUser:
		return t.Spec.EnvironmentName
	case *accessv1alpha1.SecurityRole:
		return t.Spec.EnvironmentName
	case *accessv1alpha1.Team:
		return t.Spec.EnvironmentName
	}
	return ""
}

func indexes() []indexSpec {
	envOf := func(o client.Object) []string { return []string{environmentNameOf(o)} }
	return []indexSpec{
		{&accessv1alpha1.PlatformUser{}, indexEnvironment, envOf},
		{&accessv1alpha1.ApplicationUser{}, indexEnvironment, envOf},
		{&accessv1alpha1.SecurityRole{}, indexEnvironment, envOf},
		{&accessv1alpha1.Team{}, indexEnvironment, envOf},
		{&accessv1alpha1.PlatformUser{}, indexRoles, func(o client.Object) []string {
			u := o.(*accessv1alpha1.PlatformUser)
			return roleRefs(u.Spec.SecurityRoles, u.Status.EffectiveRoles, expectedBuiltInRoles(u)...)
		}},
		{&accessv1alpha1.ApplicationUser{}, indexRoles, func(o client.Object) []string {
			u := o.(*accessv1alpha1.ApplicationUser)
			return roleRefs(u.Spec.SecurityRoles, u.Status.EffectiveRoles)
		}},
		{&accessv1alpha1.Team{}, indexRoles, func(o client.Object) []string {
			return o.(*accessv1alpha1.Team).Spec.SecurityRoles
		}},
		{&accessv1alpha1.PlatformUser{}, indexUserKey, func(o client.Object) []string {
			u := o.(*accessv1alpha1.PlatformUser)
			return []string{decide.UserKey(u)}
		}},
		{&accessv1alpha1.ApplicationUser{}, indexAppKey, func(o client.Object) []string {
			u := o.(*accessv1alpha1.ApplicationUser)
			return []string{decide.ApplicationKey(u)}
		}},
		{&accessv1alpha1.SecurityRole{}, indexRoleKey, func(o client.Object) []string {
			r := o.(*accessv1alpha1.SecurityRole)
			return []string{decide.RoleKey(r)}
		}},
		{&accessv1alpha1.Team{}, indexMembers, func(o client.Object) []string {
			return o.(*accessv1alpha1.Team).Spec.Members
		}},
		{&accessv1alpha1.Team{}, indexGroupKey, func(o client.Object) []string {
			t := o.(*accessv1alpha1.Team)
			if t.Spec.Group == "" {
				return nil
			}
			return []string{key(t.Spec.EnvironmentName, t.Spec.Group)}
		}},
		{&accessv1alpha1.PlatformUser{}, indexUserGroups, func(o client.Object) []string {
			u := o.(*accessv1alpha1.PlatformUser)
			out := make([]string, 0, len(u.Spec.SecurityGroups))
			for _, g := range u.Spec.SecurityGroups {
				out = append(out, key(u.Spec.EnvironmentName, g))
			}
			return out
		}},
		{&accessv1alpha1.PlatformUser{}, indexUserTeams, func(o client.Object) []string {
			var out []string
			for _, r := range o.(*accessv1alpha1.PlatformUser).Status.EffectiveRoles {
				if t, ok := strings.CutPrefix(r.Source, accessv1alpha1.RoleSourceTeamPrefix); ok {
					out = append(out, t)
				}
			}
			return out
		}},
	}
}

// expectedBuiltInRoles are the built-in roles a user would get without listing them (AM8, AM9),
// indexed so that the roles' creation reaches the user.
func expectedBuiltInRoles(u *accessv1alpha1.PlatformUser) []string {
	var out []string
	if decide.GrantsSystemAdministrator(u.Spec.AdministratorRoles) != "" {
		out = append(out, accessv1alpha1.SystemAdministratorRoleName(u.Spec.EnvironmentName))
	}
	if u.Spec.Stub {
		out = append(out,
			accessv1alpha1.StubDefaultRoleName(u.Spec.EnvironmentName, accessv1alpha1.ProductDynamics365),
			accessv1alpha1.StubDefaultRoleName(u.Spec.EnvironmentName, accessv1alpha1.ProductPowerApps))
	}
	return out
}

func roleRefs(spec []string, effective []accessv1alpha1.EffectiveRole, extra ...string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, n := range spec {
		add(n)
	}
	for _, r := range effective {
		add(r.Name)
	}
	for _, n := range extra {
		add(n)
	}
	return out
}

func registerIndexes(ctx context.Context, mgr ctrl.Manager) error {
	for _, ix := range indexes() {
		if err := mgr.GetFieldIndexer().IndexField(ctx, ix.obj, ix.field, ix.extract); err != nil {
			return err
		}
	}
	return nil
}

// requestsFor lists objects of list's kind in namespace whose index field has one of the values
// and returns a request for each, skipping skip.
func requestsFor(ctx context.Context, c client.Reader, list client.ObjectList, namespace, field string, values []string, skip types.NamespacedName) []reconcile.Request {
	seen := map[types.NamespacedName]bool{skip: true}
	var reqs []reconcile.Request
	for _, v := range values {
		if v == "" {
			continue
		}
		if err := c.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{field: v}, shared); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing dependents", "field", field, "value", v)
			continue
		}
		for _, o := range objectsOf(list) {
			nn := types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
			if !seen[nn] {
				seen[nn] = true
				reqs = append(reqs, reconcile.Request{NamespacedName: nn})
			}
		}
	}
	return reqs
}

// objectsOf returns the items of a typed list as client.Objects.
func objectsOf(list client.ObjectList) []client.Object {
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil
	}
	out := make([]client.Object, 0, len(items))
	for _, it := range items {
		if o, ok := it.(client.Object); ok {
			out = append(out, o)
		}
	}
	return out
}
