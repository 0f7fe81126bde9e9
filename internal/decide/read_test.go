package decide

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// The contenders for one contested name, listed youngest first so that the first one older than
// carol is bob (t2): the one the controllers' claimedBefore named, while Converge named abe. abe
// and dora tie at t1 and abe's name breaks the tie.
var contenders = []struct {
	name    string
	created int
}{{"carol", 3}, {"bob", 2}, {"dora", 1}, {"abe", 1}}

// olderOf is the Older every contender must get: the oldest, abe, for all but abe itself.
var olderOf = map[string]string{"carol": "abe", "bob": "abe", "dora": "abe", "abe": ""}

// TestOlderIsTheOldest: SR9, DuplicateUserName, DuplicateApplicationId: whatever the order the
// Reader lists them in, every younger object with a contested name gets the oldest as Older, and
// the Environment's whole-list view (oldestBy) agrees on who keeps the name.
func TestOlderIsTheOldest(t *testing.T) {
	ctx := context.Background()
	e := prod(units("root", "emea<root"))

	var users []*v1alpha1.PlatformUser
	var apps []*v1alpha1.ApplicationUser
	var roles []*v1alpha1.SecurityRole
	for i, c := range contenders {
		users = append(users, user(c.name, userCreated(c.created), func(u *v1alpha1.PlatformUser) {
			u.Spec.UserName = []string{"ADA@contoso.com", "ada@contoso.com"}[i%2] // userName is case-insensitive
		}))
		apps = append(apps, app(c.name, func(a *v1alpha1.ApplicationUser) { a.CreationTimestamp = at(c.created) }))
		roles = append(roles, role(c.name, shown([]string{"Sales", "SALES"}[i%2]), roleCreated(c.created)))
	}
	// Older than every contender, but in another unit: not a duplicate (SR9), and alone in it.
	roles = append(roles, role("aaa-emea", shown("Sales"), ofUnit("emea"), roleCreated(-10)))
	// Another userName, applicationId: not contenders.
	users = append(users, user("zed", userCreated(-10)))
	apps = append(apps, app("zed", func(a *v1alpha1.ApplicationUser) {
		a.CreationTimestamp = at(-10)
		a.Spec.ApplicationID = "99999999-2222-3333-4444-555555555555"
	}))

	s := Snapshot{Environments: []v1alpha1.Environment{*e}, Users: usersOf(users...), Apps: appsOf(apps...), Teams: nil}
	for _, r := range roles {
		s.Roles = append(s.Roles, *r)
	}
	r := newSnapshotReader(&s)

	// The Reader lists them as the bug needs: the first older than carol is bob.
	listed, _ := r.UsersWithKey(ctx, ns, UserKey(&s.Users[0]))
	if got := []string{listed[0].Name, listed[1].Name}; !cmp.Equal(got, []string{"carol", "bob"}) {
		t.Fatalf("users listed %v, want carol then bob first", got)
	}

	for _, tc := range []struct {
		kind  string
		older func(i int) (string, error)
		keeps func(i int) string // the name's keeper by oldestBy; "" when not computed that way
	}{
		{"PlatformUser", func(i int) (string, error) {
			in, err := ReadPlatformUser(ctx, r, &s.Users[i], now)
			return nameOf(in.Older), err
		}, func(i int) string { return oldestBy(s.Users, UserKey)[UserKey(&s.Users[i])].Name }},
		{"ApplicationUser", func(i int) (string, error) {
			in, err := ReadApplicationUser(ctx, r, &s.Apps[i])
			return nameOf(in.Older), err
		}, func(i int) string { return oldestBy(s.Apps, ApplicationKey)[ApplicationKey(&s.Apps[i])].Name }},
		{"SecurityRole", func(i int) (string, error) {
			in, err := ReadSecurityRole(ctx, r, &s.Roles[i])
			return nameOf(in.Older), err
		}, nil},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			got, keeps := map[string]string{}, map[string]string{}
			for i, c := range contenders {
				older, err := tc.older(i)
				if err != nil {
					t.Fatal(err)
				}
				got[c.name] = older
				if tc.keeps != nil {
					keeps[c.name] = tc.keeps(i)
				}
			}
			if diff := cmp.Diff(olderOf, got); diff != "" {
				t.Errorf("Older by contender (-want +got):\n%s", diff)
			}
			if tc.keeps != nil {
				want := map[string]string{}
				for name := range olderOf {
					want[name] = "abe"
				}
				if diff := cmp.Diff(want, keeps); diff != "" {
					t.Errorf("oldestBy's keeper by contender (-want +got):\n%s", diff)
				}
			}
		})
	}

	t.Run("a role of another unit is not a duplicate", func(t *testing.T) {
		in, err := ReadSecurityRole(ctx, r, &s.Roles[len(s.Roles)-1])
		if err != nil {
			t.Fatal(err)
		}
		if in.Older != nil {
			t.Errorf("aaa-emea: Older %s, want none", in.Older.Name)
		}
	})
}

func nameOf[T interface{ GetName() string }](o T) string {
	var zero T
	if any(o) == any(zero) {
		return ""
	}
	return o.GetName()
}

func appsOf(as ...*v1alpha1.ApplicationUser) []v1alpha1.ApplicationUser {
	out := make([]v1alpha1.ApplicationUser, len(as))
	for i, a := range as {
		out[i] = *a
	}
	return out
}

// TestReadPlatformUser: a user's input holds its environment, the teams that may include it
// (listing it, or of its groups: TM1) and every role it may hold: its spec's, its teams' and the
// built-ins it may get (AM9, AM8), a missing one as nil. A duplicate or a user of a missing
// environment reads nothing more.
func TestReadPlatformUser(t *testing.T) {
	ctx := context.Background()
	e := prod()
	sa := builtIn(e, v1alpha1.BuiltInSystemAdministrator)
	s := Snapshot{
		Environments: []v1alpha1.Environment{*e},
		Roles:        []v1alpha1.SecurityRole{*role("sales"), *role("team-role"), *sa, *role("unrelated")},
		Users: usersOf(
			user("ada", userCreated(1), withRoles("sales", "missing"), groups("sg", "g-support")),
			user("ada-copy", userCreated(2), func(u *v1alpha1.PlatformUser) { u.Spec.UserName = "ada@contoso.com" }),
			user("nomad", userEnv("nowhere")),
		),
		Teams: teamsOf(
			team("sellers", members("bob", "ada"), teamHolds("team-role")),
			team("support", groupTeam("g-support"), teamHolds("group-role")),
			team("others", members("bob"), teamHolds("unrelated")),
			team("elsewhere", groupTeam("g-other"), teamHolds("unrelated")),
		),
	}
	r := newSnapshotReader(&s)
	env, ada := &s.Environments[0], &s.Users[0]
	rolesNamed := func(names ...string) Roles {
		out := Roles{}
		for _, n := range names {
			out[n] = nil
			for i := range s.Roles {
				if s.Roles[i].Name == n {
					out[n] = &s.Roles[i]
				}
			}
		}
		return out
	}

	for _, tc := range []struct {
		name string
		user *v1alpha1.PlatformUser
		want PlatformUserInput
	}{
		{"its teams, and the roles of its spec, its teams and its built-ins", ada, PlatformUserInput{
			User: ada, Environment: env, Now: now,
			Teams: []v1alpha1.Team{s.Teams[0], s.Teams[1]},
			Roles: rolesNamed("sales", "missing", "team-role", "group-role",
				v1alpha1.SystemAdministratorRoleName("prod"), v1alpha1.StubDefaultRoleName("prod", v1alpha1.ProductDynamics365)),
		}},
		{"a duplicate reads no teams and no roles", &s.Users[1], PlatformUserInput{
			User: &s.Users[1], Environment: env, Now: now, Older: ada,
		}},
		{"a user of a missing environment reads nothing more", &s.Users[2], PlatformUserInput{
			User: &s.Users[2], Now: now,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadPlatformUser(ctx, r, tc.user, now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("input (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadTeamAndEnvironment: a team reads the listed members that exist, or for a group team the
// users of its group (TM1); an Environment reads its users and application users.
func TestReadTeamAndEnvironment(t *testing.T) {
	ctx := context.Background()
	s := Snapshot{
		Environments: []v1alpha1.Environment{*prod(), *env("test")},
		Roles:        []v1alpha1.SecurityRole{*role("sales")},
		Users: usersOf(user("ada", groups("g-support")), user("bob", groups("sg")),
			user("cy", userEnv("test"), groups("g-support"))),
		Apps: appsOf(app("etl"), app("etl-test", func(a *v1alpha1.ApplicationUser) { a.Spec.EnvironmentName = "test" })),
		Teams: teamsOf(team("sellers", members("bob", "nobody", "cy")), team("support", groupTeam("g-support")),
			team("no-group", groupTeam(""))),
	}
	r := newSnapshotReader(&s)
	members := func(t *v1alpha1.Team) []string {
		in, err := ReadTeam(ctx, r, t)
		if err != nil {
			return []string{err.Error()}
		}
		return namesOf(in.Users)
	}
	got := map[string][]string{}
	for i := range s.Teams {
		got["Team/"+s.Teams[i].Name] = members(&s.Teams[i])
	}
	for i := range s.Environments {
		in, err := ReadEnvironment(ctx, r, &s.Environments[i], now)
		if err != nil {
			t.Fatal(err)
		}
		got["Environment/"+s.Environments[i].Name] = append(namesOf(in.Users), namesOf(in.Apps)...)
	}
	want := map[string][]string{
		"Team/sellers":     {"bob", "cy"}, // cy is of another environment: the decision says so (EV3)
		"Team/support":     {"ada"},
		"Team/no-group":    nil,
		"Environment/prod": {"ada", "bob", "etl"},
		"Environment/test": {"cy", "etl-test"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
}

func namesOf[T any, P interface {
	*T
	GetName() string
}](items []T) []string {
	var out []string
	for i := range items {
		out = append(out, P(&items[i]).GetName())
	}
	return out
}
