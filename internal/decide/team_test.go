package decide

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// TestTeam covers every reason the Team decision can produce: Ready, EnvironmentNotFound,
// BusinessUnitNotFound, SecurityRoleNotFound, RoleInOtherEnvironment, RoleNotInBusinessUnit and
// TeamMemberNotFound, and the member count of each team type (TM1).
func TestTeam(t *testing.T) {
	people := usersOf(
		user("ada", groups("sg", "g-support")),
		user("bob", groups("g-support")),
		user("cy", groups("sg")),
		user("ann", userEnv("dev"), groups("g-support")),
	)
	cases := []struct {
		name  string
		team  *v1alpha1.Team
		env   *v1alpha1.Environment
		users []v1alpha1.PlatformUser
		want  v1alpha1.TeamStatus
		says  []string
	}{
		{name: "EV3 Ready: an Owner team whose listed members exist",
			team: team("sellers", members("ada", "bob")), env: prod(), users: people,
			want: v1alpha1.TeamStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready"), MemberCount: 2, BusinessUnit: "root"},
			says: []string{"Owner team with 2 member(s) and 1 role(s)"}},
		{name: "TM1 a group team's members are the users of its environment that list its group",
			team: team("support", groupTeam("g-support")), env: prod(), users: append(people, people[0]),
			want: v1alpha1.TeamStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready"), MemberCount: 2, BusinessUnit: "root"},
			says: []string{"AADSecurityGroup team with 2 member(s)"}},
		{name: "TM1 a group team of a group nobody lists has no member and is Ready",
			team: team("empty", groupTeam("g-nobody")), env: prod(), users: people,
			want: v1alpha1.TeamStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready"), BusinessUnit: "root"}},
		{name: "TM4 an Access team holds no role and is Ready",
			team: team("reviewers", members("cy"), teamHolds(), func(t *v1alpha1.Team) { t.Spec.Type = v1alpha1.TeamAccess }), env: prod(), users: people,
			want: v1alpha1.TeamStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready"), MemberCount: 1, BusinessUnit: "root"}},
		{name: "SR5 a team may hold roles of its unit and of the units above it",
			team: team("paris", teamUnit("france"), teamHolds("sales", "emea-sales")), env: prod(regions),
			want: v1alpha1.TeamStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready"), BusinessUnit: "france"}},
		{name: "EV3 EnvironmentNotFound",
			team: team("sellers", members("ada"), func(t *v1alpha1.Team) { t.Spec.EnvironmentName = "nowhere" }), users: people,
			want: v1alpha1.TeamStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("EnvironmentNotFound")...)},
			says: []string{"Environment nowhere does not exist in namespace team-a"}},
		{name: "EV3 BusinessUnitNotFound",
			team: team("sellers", members("ada"), teamUnit("emea")), env: prod(), users: people,
			want: v1alpha1.TeamStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("BusinessUnitNotFound")...), MemberCount: 1, BusinessUnit: "emea"},
			says: []string{"business unit emea of team sellers is not in environment prod's spec.businessUnits"}},
		{name: "EV3 SecurityRoleNotFound",
			team: team("sellers", members("ada"), teamHolds("sales", "ghost")), env: prod(), users: people,
			want: v1alpha1.TeamStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("SecurityRoleNotFound")...), MemberCount: 1, BusinessUnit: "root"},
			says: []string{"SecurityRole ghost, assigned to team sellers, does not exist in namespace team-a: create it, or remove it from spec.securityRoles (EV3)"}},
		{name: "EV3 RoleInOtherEnvironment",
			team: team("sellers", teamHolds("dev-sales")), env: prod(),
			want: v1alpha1.TeamStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("RoleInOtherEnvironment")...), BusinessUnit: "root"}},
		{name: "SR5 RoleNotInBusinessUnit: a team of apac cannot hold a role of emea",
			team: team("sydney", teamUnit("apac"), teamHolds("emea-sales")), env: prod(regions),
			want: v1alpha1.TeamStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("RoleNotInBusinessUnit")...), BusinessUnit: "apac"},
			says: []string{"SecurityRole emea-sales belongs to business unit emea, which is neither team sydney's unit apac nor above it (SR5)"}},
		{name: "EV3 TeamMemberNotFound: a listed member that does not exist",
			team: team("sellers", members("ada", "ghost", "bob")), env: prod(), users: people,
			want: v1alpha1.TeamStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("TeamMemberNotFound")...), MemberCount: 2, BusinessUnit: "root"},
			says: []string{"member ghost of team sellers is not a PlatformUser of environment prod: create it, or remove it from spec.members (EV3)"}},
		{name: "EV3 TeamMemberNotFound: a listed member of another environment",
			team: team("sellers", members("ann")), env: prod(), users: people,
			want: v1alpha1.TeamStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("TeamMemberNotFound")...), BusinessUnit: "root"},
			says: []string{"member ann of team sellers"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := untouched(t, TeamInput{Team: c.team, Environment: c.env, Roles: stdRoles(), Users: c.users}, Team).Status
			if diff := cmp.Diff(c.want, got, statusOpts); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			wantContains(t, message(t, got.Conditions, "Ready"), c.says)
			checkStalled(t, got.Conditions)
			fixpoint(t, got, func(st v1alpha1.TeamStatus) v1alpha1.TeamStatus {
				tm := c.team.DeepCopy()
				tm.Status = st
				return Team(TeamInput{Team: tm, Environment: c.env, Roles: stdRoles(), Users: c.users}).Status
			})
		})
	}
}

// TestTeamIncludes: which users a team includes (TM1).
func TestTeamIncludes(t *testing.T) {
	deleting := func(t *v1alpha1.Team) { ts := at(10); t.DeletionTimestamp = &ts }
	cases := []struct {
		name string
		team *v1alpha1.Team
		user *v1alpha1.PlatformUser
		want bool
	}{
		{"TM1 an Owner team includes its listed members", team("t", members("ada")), user("ada"), true},
		{"TM1 an Owner team does not include a user that lists its group", team("t", members("bob")), user("ada", groups("g")), false},
		{"TM1 a group team includes a direct member of its group", team("t", groupTeam("g")), user("ada", groups("sg", "g")), true},
		{"TM1 a group team ignores spec.members", team("t", groupTeam("g"), members("ada")), user("ada"), false},
		{"TM1 a team of another environment includes nobody of this one", team("t", members("ada"), func(t *v1alpha1.Team) { t.Spec.EnvironmentName = "dev" }), user("ada"), false},
		{"TM1 a team being deleted includes nobody", team("t", members("ada"), deleting), user("ada"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := TeamIncludes(c.team, c.user); got != c.want {
				t.Errorf("TeamIncludes = %v, want %v", got, c.want)
			}
		})
	}
}

// TestOnlyMemberCountChanged: a group team's new status may wait for its group's burst only when
// nothing but the count (and the Ready message stating it) changed; any other news is written.
func TestOnlyMemberCountChanged(t *testing.T) {
	decideWith := func(tm *v1alpha1.Team, env *v1alpha1.Environment, us ...*v1alpha1.PlatformUser) v1alpha1.TeamStatus {
		return Team(TeamInput{Team: tm, Environment: env, Roles: stdRoles(), Users: usersOf(us...)}).Status
	}
	ada, bob := user("ada", groups("g-support")), user("bob", groups("g-support"))
	prev := decideWith(team("support", groupTeam("g-support")), prod(), ada)
	// Each next status is decided from the team as the controller reads it: with prev recorded.
	support := func() *v1alpha1.Team {
		tm := team("support", groupTeam("g-support"))
		tm.Status = *prev.DeepCopy()
		return tm
	}
	cases := []struct {
		name string
		next v1alpha1.TeamStatus
		want bool
	}{
		{"a member joined: only the count and its Ready message changed", decideWith(support(), prod(), ada, bob), true},
		{"nothing changed", prev, false},
		{"the count changed and the team is no longer Ready (its role is gone)",
			Team(TeamInput{Team: support(), Environment: prod(), Roles: Roles{}, Users: usersOf(ada, bob)}).Status, false},
		{"the count changed with a new generation", func() v1alpha1.TeamStatus {
			tm := support()
			tm.Generation = 2
			return decideWith(tm, prod(), ada, bob)
		}(), false},
		{"the count changed and so did the business unit", func() v1alpha1.TeamStatus {
			st := decideWith(support(), prod(), ada, bob)
			st.BusinessUnit = "emea"
			return st
		}(), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := OnlyMemberCountChanged(&prev, &c.next); got != c.want {
				t.Errorf("OnlyMemberCountChanged = %v, want %v\nprev %+v\nnext %+v", got, c.want, prev, c.next)
			}
		})
	}
}
