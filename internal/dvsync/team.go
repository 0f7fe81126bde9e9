package dvsync

import (
	"context"
	"fmt"
	"regexp"
	"sort"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// guid is an Entra object id.
var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

var teamTypes = map[v1alpha1.TeamType]dataverse.TeamType{
	v1alpha1.TeamOwner: dataverse.TeamTypeOwner, v1alpha1.TeamAccess: dataverse.TeamTypeAccess,
	v1alpha1.TeamAADSecurityGroup: dataverse.TeamTypeSecurityGroup, v1alpha1.TeamAADOfficeGroup: dataverse.TeamTypeOfficeGroup,
}

// Team finds the team — a group team by its group and membership type, another by name within
// its unit — or creates it with its type; makes the members of an Owner or Access team exactly
// the desired ones (a group team's members come from Entra ID); and makes its roles exact.
func Team(ctx context.Context, t *Target, d *decide.DesiredTeam) Result {
	what := "team " + d.TeamName
	if d.Type.IsGroupTeam() && !guid.MatchString(d.Group) {
		return t.outcome(Observation{Then: conflict("spec.group is %q, but Dataverse finds a group team by its Entra group's object id: set spec.group to the group's object id (a GUID), and list the same id in its members' spec.securityGroups", d.Group)}, what, nil)
	}
	return t.convergeIn(ctx, what, d.BusinessUnit, func(ctx context.Context, r Reader, buID string) (Observation, error) {
		o, err := readTeam(ctx, r, d, buID)
		if err != nil {
			return Observation{Record: o.record()}, err
		}
		return compareTeam(d, o, what), nil
	})
}

// observedTeam is what Dataverse holds of a team.
type observedTeam struct {
	Team    *dataverse.Team // nil: not in Dataverse
	Members []string
	// Principal holds the team's roles and the ids of the desired ones it lacks.
	Principal observedUser
}

func (o observedTeam) record() *v1alpha1.DataverseRecord {
	if o.Team == nil {
		return nil
	}
	return &v1alpha1.DataverseRecord{ID: o.Team.ID}
}

func readTeam(ctx context.Context, r Reader, d *decide.DesiredTeam, buID string) (observedTeam, error) {
	o := observedTeam{Principal: observedUser{BusinessUnitID: buID}}
	team, err := findTeam(ctx, r, d, buID)
	if isNotFound(err) {
		return o, nil
	}
	if err != nil {
		return o, err
	}
	o.Team = team
	if d.Members != nil && membersKnown(d) {
		if o.Members, err = r.TeamMembers(ctx, team.ID); err != nil {
			return o, err
		}
	}
	if d.HoldsRoles {
		return o, readRoles(ctx, r, &o.Principal, team.ID, d.Roles, r.TeamRoles)
	}
	return o, nil
}

func findTeam(ctx context.Context, r Reader, d *decide.DesiredTeam, buID string) (*dataverse.Team, error) {
	if d.Type.IsGroupTeam() {
		return r.TeamByGroup(ctx, d.Group, dataverse.MembershipMembersAndGuests)
	}
	return r.TeamByName(ctx, d.TeamName, buID)
}

func membersKnown(d *decide.DesiredTeam) bool {
	for _, m := range d.Members {
		if m.RecordID == "" {
			return false
		}
	}
	return true
}

// compareTeam lists the writes that make Dataverse hold the desired team.
func compareTeam(d *decide.DesiredTeam, o observedTeam, what string) Observation {
	if o.Team == nil {
		nt := dataverse.NewTeam{Name: d.TeamName, TeamType: teamTypes[d.Type], BusinessUnitID: o.Principal.BusinessUnitID}
		if d.Type.IsGroupTeam() {
			nt.GroupObjectID, nt.MembershipType = d.Group, dataverse.MembershipMembersAndGuests
		}
		return Observation{Record: &v1alpha1.DataverseRecord{}, Changes: []Change{{Op: OpCreateTeam, Why: "team missing", Team: &nt}}}
	}
	obs := Observation{Record: o.record()}
	if d.Members != nil {
		for _, m := range d.Members {
			if m.RecordID == "" {
				obs.Then = pending("waiting for member %s of %s to be synced to Dataverse", m.Name, what)
				break
			}
		}
		if obs.Then == nil {
			obs.Changes = append(obs.Changes, exactMembers(o.Team.ID, d.Members, o.Members)...)
		}
	}
	if d.HoldsRoles {
		changes, wait := exactRoles(o.Team.ID, d.Roles, nil, o.Principal, what, OpAssignTeamRole, OpUnassignTeamRole)
		obs.Changes = append(obs.Changes, changes...)
		if obs.Then == nil {
			obs.Then = wait
		}
	}
	return obs
}

func exactMembers(teamID string, desired []decide.DesiredMember, held []string) []Change {
	want, have := map[string]bool{}, map[string]bool{}
	for _, m := range desired {
		want[m.RecordID] = true
	}
	for _, id := range held {
		have[id] = true
	}
	var add, remove []string
	for id := range want {
		if !have[id] {
			add = append(add, id)
		}
	}
	for id := range have {
		if !want[id] {
			remove = append(remove, id)
		}
	}
	sort.Strings(add)
	sort.Strings(remove)
	var out []Change
	if len(add) > 0 {
		out = append(out, Change{Op: OpAddTeamMembers, Why: fmt.Sprintf("%d member(s) missing", len(add)), Record: teamID, Members: add})
	}
	if len(remove) > 0 {
		out = append(out, Change{Op: OpRemoveTeamMembers, Why: fmt.Sprintf("%d member(s) not decided", len(remove)), Record: teamID, Members: remove})
	}
	return out
}

// DeleteTeam removes the team's record (deletionPolicy Delete): found by its id or, when its
// creation's answer was lost, by its natural key.
func DeleteTeam(ctx context.Context, t *Target, recordID string, d *decide.DesiredTeam) error {
	w, ok := t.writer()
	if !ok {
		return nil
	}
	if recordID == "" {
		buID := t.businessUnitID(d.BusinessUnit)
		if buID == "" || (d.Type.IsGroupTeam() && !guid.MatchString(d.Group)) {
			return nil // never synced
		}
		team, err := findTeam(ctx, t.reader, d, buID)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		recordID = team.ID
	}
	return ignoreNotFound(w.DeleteTeam(ctx, recordID))
}
