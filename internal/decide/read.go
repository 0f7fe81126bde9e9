package decide

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// Reader is what the decisions' inputs are read from: the controllers' informer cache, or plan's
// objects (Converge). A missing object is an answer (nil), not an error: the decision turns it
// into a condition (EV3). What a Reader returns is shared with it and must never be written;
// decisions never write their inputs.
//
// The lookups by key are the controllers' field indexes (controllers/indexes.go). They may
// return more than the decision uses (a team listing a user of another environment, say):
// TeamIncludes and the older-duplicate rule decide.
type Reader interface {
	// Environment is the named Environment, or nil when it does not exist.
	Environment(ctx context.Context, namespace, name string) (*v1alpha1.Environment, error)
	// SecurityRole is the named SecurityRole, or nil when it does not exist.
	SecurityRole(ctx context.Context, namespace, name string) (*v1alpha1.SecurityRole, error)
	// PlatformUser is the named PlatformUser, or nil when it does not exist.
	PlatformUser(ctx context.Context, namespace, name string) (*v1alpha1.PlatformUser, error)

	// UsersWithKey are the PlatformUsers whose UserKey is key.
	UsersWithKey(ctx context.Context, namespace, key string) ([]v1alpha1.PlatformUser, error)
	// AppsWithKey are the ApplicationUsers whose ApplicationKey is key.
	AppsWithKey(ctx context.Context, namespace, key string) ([]v1alpha1.ApplicationUser, error)
	// RolesWithKey are the SecurityRoles whose RoleKey is key.
	RolesWithKey(ctx context.Context, namespace, key string) ([]v1alpha1.SecurityRole, error)

	// UsersOf are the PlatformUsers whose spec.environmentName is environment.
	UsersOf(ctx context.Context, namespace, environment string) ([]v1alpha1.PlatformUser, error)
	// AppsOf are the ApplicationUsers whose spec.environmentName is environment.
	AppsOf(ctx context.Context, namespace, environment string) ([]v1alpha1.ApplicationUser, error)

	// TeamsListing are the teams whose spec.members lists member, a PlatformUser's name.
	TeamsListing(ctx context.Context, namespace, member string) ([]v1alpha1.Team, error)
	// GroupTeams are the teams of environment whose spec.group is group.
	GroupTeams(ctx context.Context, namespace, environment, group string) ([]v1alpha1.Team, error)
	// GroupMembers are the PlatformUsers of environment that list group in spec.securityGroups.
	GroupMembers(ctx context.Context, namespace, environment, group string) ([]v1alpha1.PlatformUser, error)
}

// ReadEnvironment gathers what an Environment's decision needs: its users and application users.
func ReadEnvironment(ctx context.Context, r Reader, env *v1alpha1.Environment, now time.Time) (EnvironmentInput, error) {
	in := EnvironmentInput{Environment: env, Now: now}
	var err error
	if in.Users, err = r.UsersOf(ctx, env.Namespace, env.Name); err != nil {
		return in, err
	}
	in.Apps, err = r.AppsOf(ctx, env.Namespace, env.Name)
	return in, err
}

// ReadSecurityRole gathers what a role's decision needs: its environment and, when that exists,
// the older role that holds its name in its unit (SR9).
func ReadSecurityRole(ctx context.Context, r Reader, role *v1alpha1.SecurityRole) (SecurityRoleInput, error) {
	in := SecurityRoleInput{Role: role}
	var err error
	if in.Environment, err = r.Environment(ctx, role.Namespace, role.Spec.EnvironmentName); err != nil || in.Environment == nil {
		return in, err
	}
	others, err := r.RolesWithKey(ctx, role.Namespace, RoleKey(role))
	if err != nil {
		return in, err
	}
	in.Older = oldestOther(role, others, func(o *v1alpha1.SecurityRole) bool { return SameRoleName(role, o, in.Environment) })
	return in, nil
}

// ReadPlatformUser gathers what a person's decision needs: its environment; when that exists, an
// older user with its userName; when there is none, the teams that may include it (TM1) and every
// role it may hold: its spec's, the built-ins it may get (AM9, AM8) and its teams'.
func ReadPlatformUser(ctx context.Context, r Reader, u *v1alpha1.PlatformUser, now time.Time) (PlatformUserInput, error) {
	in := PlatformUserInput{User: u, Now: now}
	var err error
	if in.Environment, err = r.Environment(ctx, u.Namespace, u.Spec.EnvironmentName); err != nil || in.Environment == nil {
		return in, err
	}
	others, err := r.UsersWithKey(ctx, u.Namespace, UserKey(u))
	if err != nil {
		return in, err
	}
	if in.Older = oldestOther(u, others, nil); in.Older != nil {
		return in, nil
	}
	if in.Teams, err = r.TeamsListing(ctx, u.Namespace, u.Name); err != nil {
		return in, err
	}
	for _, g := range u.Spec.SecurityGroups {
		teams, err := r.GroupTeams(ctx, u.Namespace, u.Spec.EnvironmentName, g)
		if err != nil {
			return in, err
		}
		in.Teams = append(in.Teams, teams...)
	}
	env := in.Environment
	builtIns := []string{v1alpha1.SystemAdministratorRoleName(env.Name), v1alpha1.StubDefaultRoleName(env.Name, env.Spec.Product)}
	in.Roles, err = readRoles(ctx, r, u.Namespace, u.Spec.SecurityRoles, builtIns, teamRoleNames(in.Teams))
	return in, err
}

// ReadApplicationUser gathers what an application user's decision needs: its environment; when
// that exists, an older application user with its applicationId; when there is none, its roles.
func ReadApplicationUser(ctx context.Context, r Reader, app *v1alpha1.ApplicationUser) (ApplicationUserInput, error) {
	in := ApplicationUserInput{App: app}
	var err error
	if in.Environment, err = r.Environment(ctx, app.Namespace, app.Spec.EnvironmentName); err != nil || in.Environment == nil {
		return in, err
	}
	others, err := r.AppsWithKey(ctx, app.Namespace, ApplicationKey(app))
	if err != nil {
		return in, err
	}
	if in.Older = oldestOther(app, others, nil); in.Older != nil {
		return in, nil
	}
	in.Roles, err = readRoles(ctx, r, app.Namespace, app.Spec.SecurityRoles)
	return in, err
}

// ReadTeam gathers what a team's decision needs: its environment and, when that exists, its roles
// and the users that may be members: the listed ones that exist, or for a group team those that
// list its group (TM1).
func ReadTeam(ctx context.Context, r Reader, team *v1alpha1.Team) (TeamInput, error) {
	in := TeamInput{Team: team}
	var err error
	if in.Environment, err = r.Environment(ctx, team.Namespace, team.Spec.EnvironmentName); err != nil || in.Environment == nil {
		return in, err
	}
	if in.Roles, err = readRoles(ctx, r, team.Namespace, team.Spec.SecurityRoles); err != nil {
		return in, err
	}
	if team.Spec.Type.IsGroupTeam() {
		if team.Spec.Group != "" {
			in.Users, err = r.GroupMembers(ctx, team.Namespace, team.Spec.EnvironmentName, team.Spec.Group)
		}
		return in, err
	}
	for _, name := range team.Spec.Members {
		u, err := r.PlatformUser(ctx, team.Namespace, name)
		if err != nil {
			return in, err
		}
		if u != nil {
			in.Users = append(in.Users, *u)
		}
	}
	return in, nil
}

// oldestOther is the object that keeps self's contested name (DuplicateUserName,
// DuplicateApplicationId, DuplicateRoleName): the oldest, by Older, of the others that contest
// it (contests; nil: all do) and are older than self. It is nil when self is the oldest. The
// order of others does not matter: the cluster and plan name the same object.
func oldestOther[T any, P interface {
	*T
	metav1.Object
}](self metav1.Object, others []T, contests func(P) bool) P {
	var out P
	for i := range others {
		o := P(&others[i])
		if o.GetName() == self.GetName() || !Older(o, self) || (contests != nil && !contests(o)) {
			continue
		}
		if out == nil || Older(o, out) {
			out = o
		}
	}
	return out
}

// oldestBy is the same rule over a whole list at once, for the Environment, which sees every
// user: it maps each key to its oldest object, the one that keeps the contested name. For every
// o of items, oldestBy(items, key)[key(o)] is o exactly when oldestOther(o, the items with o's
// key, nil) is nil.
func oldestBy[T any, P interface {
	*T
	metav1.Object
}](items []T, key func(P) string) map[string]P {
	out := map[string]P{}
	for i := range items {
		o := P(&items[i])
		k := key(o)
		if cur, ok := out[k]; !ok || Older(o, cur) {
			out[k] = o
		}
	}
	return out
}

// readRoles reads the named roles, each once; one that does not exist maps to nil.
func readRoles(ctx context.Context, r Reader, namespace string, names ...[]string) (Roles, error) {
	out := Roles{}
	for _, list := range names {
		for _, name := range list {
			if _, done := out[name]; done || name == "" {
				continue
			}
			role, err := r.SecurityRole(ctx, namespace, name)
			if err != nil {
				return nil, err
			}
			out[name] = role
		}
	}
	return out, nil
}

// teamRoleNames are the roles the teams hold.
func teamRoleNames(teams []v1alpha1.Team) []string {
	var out []string
	for i := range teams {
		out = append(out, teams[i].Spec.SecurityRoles...)
	}
	return out
}
