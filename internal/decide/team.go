package decide

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// TeamInput is what a team's decision reads.
type TeamInput struct {
	Team *v1alpha1.Team
	// Environment is nil when it does not exist.
	Environment *v1alpha1.Environment
	// Roles holds the roles spec.securityRoles names; absent ones do not exist.
	Roles Roles
	// Users that may be members: those spec.members names that exist, and for a group team those
	// that list its group. TeamIncludes decides.
	Users []v1alpha1.PlatformUser
}

// Team validates a team's references — environment, business unit, roles (SR5), members (EV3) —
// and counts its members: the listed users, or for a group team the users that list its group
// in spec.securityGroups (TM1).
func Team(in TeamInput) TeamOutcome {
	team := in.Team
	// The record is observed by the sync target, not decided.
	st := v1alpha1.TeamStatus{ObservedGeneration: team.Generation, Dataverse: team.Status.Dataverse}
	conds, list := conditionsOf(team.Status.Conditions, team.Generation)
	conds.Apply(teamVerdict(in, &st))
	st.Conditions = *list
	out := TeamOutcome{Status: st}
	if in.Environment != nil {
		out.Desired = desiredTeam(in, &st)
	}
	return out
}

// TeamOutcome is the status to write and what the targets should hold.
type TeamOutcome struct {
	Status v1alpha1.TeamStatus
	// Desired is nil when nothing is to be synced (no environment, or an unresolved unit).
	Desired *DesiredTeam
}

func teamVerdict(in TeamInput, st *v1alpha1.TeamStatus) Verdict {
	team, env := in.Team, in.Environment
	if env == nil {
		return environmentNotFound(team.Namespace, team.Spec.EnvironmentName)
	}
	holder := "team " + team.Name
	s := newScope(env, in.Roles)
	bu, buProblem := s.businessUnit(team.Spec.BusinessUnit, holder)
	st.BusinessUnit = bu

	members, missing := teamMembers(team, in.Users)
	st.MemberCount = int32(members)
	if buProblem != nil {
		return *buProblem
	}
	if _, problem := s.resolve(team.Spec.SecurityRoles, bu, holder, team.Namespace, ""); problem != nil {
		return *problem
	}
	if missing != "" {
		return StalledBy(v1alpha1.ReasonTeamMemberNotFound,
			fmt.Sprintf("member %s of team %s is not a PlatformUser of environment %s: create it, or remove it from spec.members (EV3)", missing, team.Name, env.Name))
	}
	return Ready(fmt.Sprintf("%s team with %s and %d role(s)", team.Spec.Type, memberPhrase(members), len(team.Spec.SecurityRoles)))
}

func memberPhrase(n int) string { return fmt.Sprintf("%d member(s)", n) }

// OnlyMemberCountChanged reports whether next differs from prev only by the member count and the
// Ready message that states it: a group team's count alone may wait for its group's burst of
// joining users to end (the controller's recount debounce).
func OnlyMemberCountChanged(prev, next *v1alpha1.TeamStatus) bool {
	if prev.MemberCount == next.MemberCount || prev.ObservedGeneration != next.ObservedGeneration {
		return false
	}
	p := prev.DeepCopy()
	p.MemberCount = next.MemberCount
	for i := range p.Conditions {
		if c := &p.Conditions[i]; c.Type == v1alpha1.ConditionReady {
			c.Message = strings.Replace(c.Message, memberPhrase(int(prev.MemberCount)), memberPhrase(int(next.MemberCount)), 1)
		}
	}
	return equality.Semantic.DeepEqual(p, next)
}

// teamMembers counts the members and names the first listed member that does not resolve.
func teamMembers(team *v1alpha1.Team, users []v1alpha1.PlatformUser) (int, string) {
	if team.Spec.Type.IsGroupTeam() {
		seen := map[string]bool{}
		for i := range users {
			if !seen[users[i].Name] && TeamIncludes(team, &users[i]) {
				seen[users[i].Name] = true
			}
		}
		return len(seen), ""
	}
	byName := make(map[string]*v1alpha1.PlatformUser, len(users))
	for i := range users {
		byName[users[i].Name] = &users[i]
	}
	count, missing := 0, ""
	for _, name := range team.Spec.Members {
		if u := byName[name]; u != nil && u.Spec.EnvironmentName == team.Spec.EnvironmentName {
			count++
		} else if missing == "" {
			missing = name
		}
	}
	return count, missing
}
