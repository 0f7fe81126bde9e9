package dvsync

import (
	"context"
	"errors"
	"fmt"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// applied says how far an apply got and whether the kind must be observed again.
type applied struct {
	// done is how many changes were made (all of them unless an error stopped it).
	done int
	// observe is true when a change created a record: its id is needed by what follows.
	observe bool
}

// apply makes the observation's changes in order, and stops at the first that fails. Each
// change was decided by a comparison with what was just read; a change whose answer is lost
// (dataverse.ErrAnswerLost) is never sent again as is: the next sync observes first, so a record
// the service did make is found by its natural key and not created twice.
func (t *Target) apply(ctx context.Context, w Writer, obs Observation) (applied, error) {
	var a applied
	units := map[string]string{} // business units created by this apply, for their children
	for _, c := range obs.Changes {
		if err := t.applyOne(ctx, w, c, units); err != nil {
			return a, err
		}
		a.done++
		a.observe = a.observe || c.creates()
	}
	return a, nil
}

func (t *Target) applyOne(ctx context.Context, w Writer, c Change, units map[string]string) error {
	switch c.Op {
	case OpCreateBusinessUnit:
		parent := c.BusinessUnitID
		if parent == "" {
			parent = units[c.ParentName]
		}
		if parent == "" {
			return fmt.Errorf("business unit %s: its parent %s was not created", c.Name, c.ParentName)
		}
		id, err := w.CreateBusinessUnit(ctx, c.Name, parent)
		units[c.Name] = id
		return err
	case OpAddFromEntra:
		if t.Admin == nil {
			return errors.New("the admin API client could not be built: check --power-platform-api-url")
		}
		if err := t.Admin.AddUser(ctx, t.Env.Spec.Dataverse.EnvironmentID, c.ID); err != nil {
			return err
		}
		t.added.mark(c.ID, t.Now)
		if sr, ok := t.reader.(snapshotReader); ok {
			sr.asked(c.ID) // its next look needs what changed since
		}
		return nil
	case OpUpdateUser:
		return w.UpdateUser(ctx, c.Record, c.ETag, *c.Patch)
	case OpCreateApplicationUser:
		_, err := w.CreateApplicationUser(ctx, c.ID, c.BusinessUnitID)
		return err
	case OpAssignUserRole:
		return w.AssignUserRole(ctx, c.Record, c.ID)
	case OpUnassignUserRole:
		return ignoreNotFound(w.UnassignUserRole(ctx, c.Record, c.ID))
	case OpCreateRole:
		_, err := w.CreateRole(ctx, c.Name, c.BusinessUnitID, c.Inheritance)
		return err
	case OpSetInheritance:
		return w.SetRoleInheritance(ctx, c.Record, c.ETag, c.Inheritance)
	case OpReplacePrivileges:
		return w.ReplacePrivileges(ctx, c.Record, c.Privileges)
	case OpCreateTeam:
		_, err := w.CreateTeam(ctx, *c.Team)
		return err
	case OpAddTeamMembers:
		return w.AddTeamMembers(ctx, c.Record, c.Members...)
	case OpRemoveTeamMembers:
		return w.RemoveTeamMembers(ctx, c.Record, c.Members...)
	case OpAssignTeamRole:
		return w.AssignTeamRole(ctx, c.Record, c.ID)
	case OpUnassignTeamRole:
		return ignoreNotFound(w.UnassignTeamRole(ctx, c.Record, c.ID))
	}
	return fmt.Errorf("dvsync: unknown change %q", c.Op)
}

func ignoreNotFound(err error) error {
	if isNotFound(err) {
		return nil
	}
	return err
}

func isNotFound(err error) bool { return errors.Is(err, dataverse.ErrNotFound) }
