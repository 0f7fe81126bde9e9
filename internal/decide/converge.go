package decide

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// Snapshot is every object of one namespace, as read from a cluster or from files.
type Snapshot struct {
	Environments []v1alpha1.Environment
	Roles        []v1alpha1.SecurityRole
	Users        []v1alpha1.PlatformUser
	Apps         []v1alpha1.ApplicationUser
	Teams        []v1alpha1.Team
}

// DeepCopy returns a copy that shares nothing with s.
func (s Snapshot) DeepCopy() Snapshot {
	var out Snapshot
	for i := range s.Environments {
		out.Environments = append(out.Environments, *s.Environments[i].DeepCopy())
	}
	for i := range s.Roles {
		out.Roles = append(out.Roles, *s.Roles[i].DeepCopy())
	}
	for i := range s.Users {
		out.Users = append(out.Users, *s.Users[i].DeepCopy())
	}
	for i := range s.Apps {
		out.Apps = append(out.Apps, *s.Apps[i].DeepCopy())
	}
	for i := range s.Teams {
		out.Teams = append(out.Teams, *s.Teams[i].DeepCopy())
	}
	return out
}

// maxRounds bounds Converge: each round lets one more kind see the others' new status (the
// environment's ledger, then the users' grants, then the counts), so a handful suffices.
const maxRounds = 10

// Converge returns a copy of s with every object's status as the controllers would write it once
// converged at time now (claims created more than allocation.SettleWindow before now are
// granted), including the built-in SecurityRoles each Environment creates. It calls the same
// decisions as the controllers, round after round, until no status changes.
func Converge(s Snapshot, now time.Time) Snapshot {
	out := s.DeepCopy()
	out.Roles = append(out.Roles, missingBuiltIns(&out)...)
	for round := 0; round < maxRounds; round++ {
		if !out.round(now) {
			break
		}
	}
	return out
}

// missingBuiltIns are the built-in roles the Environments would create that s lacks, created
// with their environment.
func missingBuiltIns(s *Snapshot) []v1alpha1.SecurityRole {
	have := map[string]bool{}
	for i := range s.Roles {
		have[s.Roles[i].Name] = true
	}
	var out []v1alpha1.SecurityRole
	for i := range s.Environments {
		env := &s.Environments[i]
		for name, builtIn := range BuiltInRoles(env) {
			if have[name] {
				continue
			}
			have[name] = true
			out = append(out, v1alpha1.SecurityRole{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: env.Namespace, CreationTimestamp: env.CreationTimestamp,
					Labels: map[string]string{BuiltInLabel: env.Name}},
				Spec: BuiltInRoleSpec(env, builtIn, nil),
			})
		}
	}
	return out
}

// round runs every decision once over the snapshot and reports whether any status changed. Each
// kind reads, through the controllers' gatherers, the statuses the kinds before it have just
// written in this round: environments, roles, users, application users, teams.
func (s *Snapshot) round(now time.Time) bool {
	// A snapshot's reads never fail: their errors are always nil.
	ctx, r := context.Background(), newSnapshotReader(s)
	changed := false
	set := func(dst, next any) {
		if !equality.Semantic.DeepEqual(dst, next) {
			changed = true
		}
	}
	for i := range s.Environments {
		env := &s.Environments[i]
		in, _ := ReadEnvironment(ctx, r, env, now)
		next := Environment(in).Status
		set(env.Status, next)
		env.Status = next
	}
	for i := range s.Roles {
		role := &s.Roles[i]
		in, _ := ReadSecurityRole(ctx, r, role)
		next := SecurityRole(in).Status
		set(role.Status, next)
		role.Status = next
	}
	for i := range s.Users {
		u := &s.Users[i]
		in, _ := ReadPlatformUser(ctx, r, u, now)
		next := PlatformUser(in).Status
		set(u.Status, next)
		u.Status = next
	}
	for i := range s.Apps {
		a := &s.Apps[i]
		in, _ := ReadApplicationUser(ctx, r, a)
		next := ApplicationUser(in).Status
		set(a.Status, next)
		a.Status = next
	}
	for i := range s.Teams {
		t := &s.Teams[i]
		in, _ := ReadTeam(ctx, r, t)
		next := Team(in).Status
		set(t.Status, next)
		t.Status = next
	}
	return changed
}

// snapshotReader is a Reader over a Snapshot, in the role of the controllers' field indexes. Its
// lookups are built once, from the specs, which a round does not change; they point into the
// snapshot, so every read sees the statuses written so far. Lists keep the snapshot's order.
type snapshotReader struct {
	envs  map[nsKey]*v1alpha1.Environment
	roles map[nsKey]*v1alpha1.SecurityRole
	users map[nsKey]*v1alpha1.PlatformUser

	usersByKey   map[nsKey][]*v1alpha1.PlatformUser
	appsByKey    map[nsKey][]*v1alpha1.ApplicationUser
	rolesByKey   map[nsKey][]*v1alpha1.SecurityRole
	usersOf      map[nsKey][]*v1alpha1.PlatformUser
	appsOf       map[nsKey][]*v1alpha1.ApplicationUser
	teamsListing map[nsKey][]*v1alpha1.Team
	groupTeams   map[nsKey][]*v1alpha1.Team
	groupMembers map[nsKey][]*v1alpha1.PlatformUser
}

// nsKey is a lookup key within a namespace.
type nsKey struct{ namespace, key string }

func groupKey(environment, group string) string { return environment + "/" + group }

func newSnapshotReader(s *Snapshot) *snapshotReader {
	r := &snapshotReader{
		envs: map[nsKey]*v1alpha1.Environment{}, roles: map[nsKey]*v1alpha1.SecurityRole{}, users: map[nsKey]*v1alpha1.PlatformUser{},
		usersByKey: map[nsKey][]*v1alpha1.PlatformUser{}, appsByKey: map[nsKey][]*v1alpha1.ApplicationUser{},
		rolesByKey: map[nsKey][]*v1alpha1.SecurityRole{}, usersOf: map[nsKey][]*v1alpha1.PlatformUser{},
		appsOf: map[nsKey][]*v1alpha1.ApplicationUser{}, teamsListing: map[nsKey][]*v1alpha1.Team{},
		groupTeams: map[nsKey][]*v1alpha1.Team{}, groupMembers: map[nsKey][]*v1alpha1.PlatformUser{},
	}
	for i := range s.Environments {
		e := &s.Environments[i]
		r.envs[nsKey{e.Namespace, e.Name}] = e
	}
	for i := range s.Roles {
		o := &s.Roles[i]
		r.roles[nsKey{o.Namespace, o.Name}] = o
		add(r.rolesByKey, o.Namespace, RoleKey(o), o)
	}
	for i := range s.Users {
		u := &s.Users[i]
		r.users[nsKey{u.Namespace, u.Name}] = u
		add(r.usersByKey, u.Namespace, UserKey(u), u)
		add(r.usersOf, u.Namespace, u.Spec.EnvironmentName, u)
		for _, g := range u.Spec.SecurityGroups {
			add(r.groupMembers, u.Namespace, groupKey(u.Spec.EnvironmentName, g), u)
		}
	}
	for i := range s.Apps {
		a := &s.Apps[i]
		add(r.appsByKey, a.Namespace, ApplicationKey(a), a)
		add(r.appsOf, a.Namespace, a.Spec.EnvironmentName, a)
	}
	for i := range s.Teams {
		t := &s.Teams[i]
		for _, m := range t.Spec.Members {
			add(r.teamsListing, t.Namespace, m, t)
		}
		if t.Spec.Group != "" {
			add(r.groupTeams, t.Namespace, groupKey(t.Spec.EnvironmentName, t.Spec.Group), t)
		}
	}
	return r
}

func add[T any](m map[nsKey][]*T, namespace, key string, o *T) {
	k := nsKey{namespace, key}
	m[k] = append(m[k], o)
}

// values copies the objects as they are now: a list read, like the cache's.
func values[T any](m map[nsKey][]*T, namespace, key string) []T {
	ptrs := m[nsKey{namespace, key}]
	if len(ptrs) == 0 {
		return nil
	}
	out := make([]T, len(ptrs))
	for i, p := range ptrs {
		out[i] = *p
	}
	return out
}

func (r *snapshotReader) Environment(_ context.Context, namespace, name string) (*v1alpha1.Environment, error) {
	return r.envs[nsKey{namespace, name}], nil
}

func (r *snapshotReader) SecurityRole(_ context.Context, namespace, name string) (*v1alpha1.SecurityRole, error) {
	return r.roles[nsKey{namespace, name}], nil
}

func (r *snapshotReader) PlatformUser(_ context.Context, namespace, name string) (*v1alpha1.PlatformUser, error) {
	return r.users[nsKey{namespace, name}], nil
}

func (r *snapshotReader) UsersWithKey(_ context.Context, namespace, key string) ([]v1alpha1.PlatformUser, error) {
	return values(r.usersByKey, namespace, key), nil
}

func (r *snapshotReader) AppsWithKey(_ context.Context, namespace, key string) ([]v1alpha1.ApplicationUser, error) {
	return values(r.appsByKey, namespace, key), nil
}

func (r *snapshotReader) RolesWithKey(_ context.Context, namespace, key string) ([]v1alpha1.SecurityRole, error) {
	return values(r.rolesByKey, namespace, key), nil
}

func (r *snapshotReader) UsersOf(_ context.Context, namespace, environment string) ([]v1alpha1.PlatformUser, error) {
	return values(r.usersOf, namespace, environment), nil
}

func (r *snapshotReader) AppsOf(_ context.Context, namespace, environment string) ([]v1alpha1.ApplicationUser, error) {
	return values(r.appsOf, namespace, environment), nil
}

func (r *snapshotReader) TeamsListing(_ context.Context, namespace, member string) ([]v1alpha1.Team, error) {
	return values(r.teamsListing, namespace, member), nil
}

func (r *snapshotReader) GroupTeams(_ context.Context, namespace, environment, group string) ([]v1alpha1.Team, error) {
	return values(r.groupTeams, namespace, groupKey(environment, group)), nil
}

func (r *snapshotReader) GroupMembers(_ context.Context, namespace, environment, group string) ([]v1alpha1.PlatformUser, error) {
	return values(r.groupMembers, namespace, groupKey(environment, group)), nil
}
