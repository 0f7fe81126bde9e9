package dvsync

import (
	"context"
	"fmt"
	"regexp"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// guid is an Entra object id.
var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

var teamTypes = map[v1alpha1.TeamType]dataverse.TeamType{
	v1alpha1.TeamOwner: dataverse.TeamTypeOwner, v1alpha1.TeamAccess: dataverse.TeamTypeAccess,
	v1alpha1.TeamAADSecurityGroup: dataverse.TeamTypeSecurityGroup, v1alpha1.TeamAADOfficeGroup: dataverse.TeamTypeOfficeGroup,
}

// Team finds the team — a group team by its group and membership type, another by name within
// its unit — or creates it with its type; makes the members of an Owner or Access team exactly
// the decided ones (a group team's members come from Entra ID); and makes its roles exact.
// memberIDs are the Dataverse ids of the PlatformUsers spec.members names, "" for one not synced
// yet; roleNames are the display names of its roles.
func Team(ctx context.Context, t *Target, team *v1alpha1.Team, memberIDs map[string]string, roleNames []string) Result {
	what := "team " + team.DisplayTeamName()
	buID := t.businessUnitID(team.Status.BusinessUnit)
	if buID == "" {
		return pending("waiting for environment %s to sync business unit %s", t.Env.Name, team.Status.BusinessUnit)
	}
	var d differences
	var rec *dataverse.Team
	var err error
	group := team.Spec.Type.IsGroupTeam()
	if group && !guid.MatchString(team.Spec.Group) {
		return Result{Reason: v1alpha1.ReasonSyncConflict, RequeueAfter: t.Env.Spec.Dataverse.Interval().Duration,
			Message: fmt.Sprintf("spec.group is %q, but Dataverse finds a group team by its Entra group's object id: set spec.group to the group's object id (a GUID), and list the same id in its members' spec.securityGroups", team.Spec.Group)}
	}
	if group {
		rec, err = t.Client.TeamByGroup(ctx, team.Spec.Group, dataverse.MembershipMembersAndGuests)
	} else {
		rec, err = t.Client.TeamByName(ctx, team.DisplayTeamName(), buID)
	}
	if err != nil && !isNotFound(err) {
		return Failed(err, what)
	}
	if rec == nil {
		d.add("team missing")
		if !t.Manage() {
			return t.finish(&d, &v1alpha1.DataverseRecord{}, what)
		}
		nt := dataverse.NewTeam{Name: team.DisplayTeamName(), TeamType: teamTypes[team.Spec.Type], BusinessUnitID: buID}
		if group {
			nt.GroupObjectID, nt.MembershipType = team.Spec.Group, dataverse.MembershipMembersAndGuests
		}
		id, err := t.Client.CreateTeam(ctx, nt)
		if err != nil {
			return Failed(err, what)
		}
		if rec, err = t.Client.GetTeam(ctx, id); err != nil {
			return holding(Failed(err, what), &v1alpha1.DataverseRecord{ID: id})
		}
	}
	if !group {
		if res, ok := exactMembers(ctx, t, &d, rec.ID, memberIDs, what); !ok {
			return holding(res, &v1alpha1.DataverseRecord{ID: rec.ID})
		}
	}
	if team.Spec.Type != v1alpha1.TeamAccess { // TM4: access teams hold no roles
		if res, ok := exactRoles(ctx, t, &d, rec.ID, buID, roleNames, nil, what, t.Client.TeamRoles, t.Client.AssignTeamRole, t.Client.UnassignTeamRole); !ok {
			return holding(res, &v1alpha1.DataverseRecord{ID: rec.ID})
		}
	}
	return t.finish(&d, &v1alpha1.DataverseRecord{ID: rec.ID}, what)
}

func exactMembers(ctx context.Context, t *Target, d *differences, teamID string, memberIDs map[string]string, what string) (Result, bool) {
	want := map[string]bool{}
	for name, id := range memberIDs {
		if id == "" {
			return pending("waiting for member %s of %s to be synced to Dataverse", name, what), false
		}
		want[id] = true
	}
	held, err := t.Client.TeamMembers(ctx, teamID)
	if err != nil {
		return Failed(err, what), false
	}
	have := map[string]bool{}
	for _, id := range held {
		have[id] = true
	}
	var add, remove []string
	for _, id := range sortedKeys(want) {
		if !have[id] {
			add = append(add, id)
		}
	}
	for _, id := range sortedKeys(have) {
		if !want[id] {
			remove = append(remove, id)
		}
	}
	if len(add) > 0 {
		d.add("%d member(s) missing", len(add))
	}
	if len(remove) > 0 {
		d.add("%d member(s) not decided", len(remove))
	}
	if t.Manage() {
		if len(add) > 0 {
			if err := t.Client.AddTeamMembers(ctx, teamID, add...); err != nil {
				return Failed(err, what), false
			}
		}
		if len(remove) > 0 {
			if err := t.Client.RemoveTeamMembers(ctx, teamID, remove...); err != nil {
				return Failed(err, what), false
			}
		}
	}
	return Result{}, true
}

// DeleteTeam removes the team's record (deletionPolicy Delete).
func DeleteTeam(ctx context.Context, t *Target, team *v1alpha1.Team) error {
	if team.Status.Dataverse == nil || team.Status.Dataverse.ID == "" {
		return nil
	}
	if err := t.Client.DeleteTeam(ctx, team.Status.Dataverse.ID); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}
