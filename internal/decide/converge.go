package decide

import (
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

// round runs every decision once over the snapshot and reports whether any status changed.
func (s *Snapshot) round(now time.Time) bool {
	changed := false
	set := func(dst, next any) {
		if !equality.Semantic.DeepEqual(dst, next) {
			changed = true
		}
	}
	envs := map[string]*v1alpha1.Environment{}
	for i := range s.Environments {
		envs[s.Environments[i].Name] = &s.Environments[i]
	}
	roles := Roles{}
	for i := range s.Roles {
		roles[s.Roles[i].Name] = &s.Roles[i]
	}

	for i := range s.Environments {
		env := &s.Environments[i]
		var users []v1alpha1.PlatformUser
		for j := range s.Users {
			if s.Users[j].Spec.EnvironmentName == env.Name {
				users = append(users, s.Users[j])
			}
		}
		var apps []v1alpha1.ApplicationUser
		for j := range s.Apps {
			if s.Apps[j].Spec.EnvironmentName == env.Name {
				apps = append(apps, s.Apps[j])
			}
		}
		next := Environment(EnvironmentInput{Environment: env, Users: users, Apps: apps, Now: now}).Status
		set(env.Status, next)
		env.Status = next
	}
	for i := range s.Roles {
		r := &s.Roles[i]
		env := envs[r.Spec.EnvironmentName]
		in := SecurityRoleInput{Role: r, Environment: env}
		if env != nil {
			for j := range s.Roles {
				if o := &s.Roles[j]; SameRoleName(r, o, env) && (in.Older == nil || Older(o, in.Older)) {
					in.Older = o
				}
			}
		}
		next := SecurityRole(in).Status
		set(r.Status, next)
		r.Status = next
	}
	oldestUser := oldestBy(s.Users, func(u *v1alpha1.PlatformUser) string { return UserKey(u) })
	for i := range s.Users {
		u := &s.Users[i]
		in := PlatformUserInput{User: u, Environment: envs[u.Spec.EnvironmentName], Roles: roles, Teams: s.Teams, Now: now}
		if o := oldestUser[UserKey(u)]; o.Name != u.Name {
			in.Older = o
		}
		next := PlatformUser(in).Status
		set(u.Status, next)
		u.Status = next
	}
	oldestApp := oldestBy(s.Apps, func(a *v1alpha1.ApplicationUser) string { return ApplicationKey(a) })
	for i := range s.Apps {
		a := &s.Apps[i]
		in := ApplicationUserInput{App: a, Environment: envs[a.Spec.EnvironmentName], Roles: roles}
		if o := oldestApp[ApplicationKey(a)]; o.Name != a.Name {
			in.Older = o
		}
		next := ApplicationUser(in).Status
		set(a.Status, next)
		a.Status = next
	}
	for i := range s.Teams {
		t := &s.Teams[i]
		next := Team(TeamInput{Team: t, Environment: envs[t.Spec.EnvironmentName], Roles: roles, Users: s.Users}).Status
		set(t.Status, next)
		t.Status = next
	}
	return changed
}

// oldestBy maps each key to its oldest object: the one that keeps a contested name.
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
