package dvsync

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// ApplicationUser finds the application user by application id (soft-deleted rows ignored) or
// creates it under its unit with the Web API (not the admin API, which would grant System
// Administrator), sets isdisabled as desired, and makes its direct roles the desired ones.
func ApplicationUser(ctx context.Context, t *Target, name string, d *decide.DesiredApplicationUser) Result {
	what := "application user " + name
	return t.convergeIn(ctx, what, d.BusinessUnit, func(ctx context.Context, r Reader, buID string) (Observation, error) {
		o, err := readApplicationUser(ctx, r, d, buID)
		if err != nil {
			return Observation{Record: o.record()}, err
		}
		return compareApplicationUser(d, o, what), nil
	})
}

func readApplicationUser(ctx context.Context, r Reader, d *decide.DesiredApplicationUser, buID string) (observedUser, error) {
	o := observedUser{BusinessUnitID: buID}
	rec, err := r.UserByApplicationID(ctx, d.ApplicationID)
	if isNotFound(err) {
		return o, nil
	}
	if err != nil {
		return o, err
	}
	o.User = rec
	return o, readRoles(ctx, r, &o, rec.ID, d.Roles, r.UserRoles)
}

// compareApplicationUser lists the writes that make Dataverse hold the desired application user.
func compareApplicationUser(d *decide.DesiredApplicationUser, o observedUser, what string) Observation {
	if o.User == nil {
		return Observation{Record: &v1alpha1.DataverseRecord{}, Changes: []Change{{Op: OpCreateApplicationUser, Why: "application user missing",
			ID: d.ApplicationID, BusinessUnitID: o.BusinessUnitID}}}
	}
	rec := o.User
	obs := Observation{Record: observed(rec)}
	after := *obs.Record
	patch := dataverse.UserPatch{}
	var why []string
	if rec.IsDisabled != d.Disabled {
		why = append(why, fmt.Sprintf("isdisabled %t, decided %t", rec.IsDisabled, d.Disabled))
		disabled := d.Disabled
		patch.IsDisabled, after.IsDisabled = &disabled, &disabled
	}
	if rec.BusinessUnitID != o.BusinessUnitID {
		why = append(why, "business unit differs, decided "+d.BusinessUnit)
		patch.BusinessUnitID = o.BusinessUnitID
	}
	if len(why) > 0 {
		obs.Changes = append(obs.Changes, Change{Op: OpUpdateUser, Why: strings.Join(why, "; "), Record: rec.ID, ETag: rec.ETag, Patch: &patch})
	}
	changes, wait := exactRoles(rec.ID, d.Roles, nil, o, what, OpAssignUserRole, OpUnassignUserRole)
	obs.Changes = append(obs.Changes, changes...)
	obs.After, obs.Then = &after, wait
	return obs
}

// DeleteApplicationUser removes the application user's record (deletionPolicy Delete): found by
// its id or, when its creation's answer was lost, by its application id. The service wants it
// disabled first.
func DeleteApplicationUser(ctx context.Context, t *Target, recordID, applicationID string) error {
	w, ok := t.writer()
	if !ok {
		return nil
	}
	var rec *dataverse.SystemUser
	var err error
	if recordID != "" {
		rec, err = t.reader.GetUser(ctx, recordID)
	} else {
		rec, err = t.reader.UserByApplicationID(ctx, applicationID)
	}
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !rec.IsDisabled {
		disabled := true
		if err := w.UpdateUser(ctx, rec.ID, rec.ETag, dataverse.UserPatch{IsDisabled: &disabled}); err != nil {
			return err
		}
	}
	return ignoreNotFound(w.DeleteApplicationUser(ctx, rec.ID))
}

func sortedRoles(roles []dataverse.Role) []dataverse.Role {
	out := append([]dataverse.Role(nil), roles...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
