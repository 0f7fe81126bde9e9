package dvsync

import (
	"context"
	"strings"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// Environment connects (WhoAmI), adopts the organization's root business unit as the declared
// root whatever its name, creates the declared units under their parents, and lists the
// non-interactive users no PlatformUser manages (they hold slots first: the seven are the
// service's seven). Result.Environment is what it recorded.
func Environment(ctx context.Context, t *Target, d *decide.DesiredEnvironment) Result {
	what := "environment " + t.Env.Name
	return t.converge(ctx, what, func(ctx context.Context, r Reader) (Observation, error) {
		o, err := readEnvironment(ctx, r)
		if err != nil {
			return Observation{}, err
		}
		return compareEnvironment(d, o), nil
	})
}

// observedEnvironment is what Dataverse holds of an environment.
type observedEnvironment struct {
	OrganizationID string
	Units          []dataverse.BusinessUnit
	NonInteractive []dataverse.SystemUser
}

func readEnvironment(ctx context.Context, r Reader) (observedEnvironment, error) {
	var o observedEnvironment
	who, err := r.WhoAmI(ctx)
	if err != nil {
		return o, err
	}
	o.OrganizationID = who.OrganizationID
	if o.Units, err = r.ListBusinessUnits(ctx); err != nil {
		return o, err
	}
	o.NonInteractive, err = r.ListNonInteractiveUsers(ctx)
	return o, err
}

// compareEnvironment maps the desired units to Dataverse's, parents first, and lists the units
// to create (each under its parent, created earlier in the same apply when it is new too).
func compareEnvironment(d *decide.DesiredEnvironment, o observedEnvironment) Observation {
	obs := Observation{Record: &v1alpha1.DataverseRecord{ID: o.OrganizationID}}
	var root *dataverse.BusinessUnit
	for i := range o.Units {
		if o.Units[i].ParentID == "" {
			root = &o.Units[i]
		}
	}
	if root == nil {
		obs.Then = conflict("Dataverse has no root business unit: the environment is not usable")
		return obs
	}
	st := &v1alpha1.EnvironmentDataverseStatus{OrganizationID: o.OrganizationID}
	ids := map[string]string{}
	for i, u := range d.BusinessUnits {
		if i == 0 { // the root, parents before children (decide.DesiredEnvironment)
			ids[u.Name] = root.ID
		} else if parent := ids[u.Parent]; parent != "" {
			ids[u.Name] = findUnit(o.Units, u.Name, parent)
		}
		if ids[u.Name] != "" {
			st.BusinessUnits = append(st.BusinessUnits, v1alpha1.BusinessUnitRecord{Name: u.Name, ID: ids[u.Name]})
			continue
		}
		obs.Changes = append(obs.Changes, Change{Op: OpCreateBusinessUnit, Why: "business unit " + u.Name + " missing",
			Name: u.Name, ParentName: u.Parent, BusinessUnitID: ids[u.Parent]})
	}
	st.UnmanagedNonInteractive = unmanaged(o.NonInteractive, d.ManagedPeople)
	obs.Environment = st
	return obs
}

// unmanaged are the non-interactive people in Dataverse that no PlatformUser of the environment
// names, by user name or object id.
func unmanaged(inDataverse []dataverse.SystemUser, managedPeople []string) []string {
	managed := make(map[string]bool, len(managedPeople))
	for _, p := range managedPeople {
		managed[p] = true
	}
	var out []string
	for _, u := range inDataverse {
		oid := strings.ToLower(u.AzureActiveDirectoryObjectID)
		if u.IsApplicationUser() || managed[strings.ToLower(u.DomainName)] || (oid != "" && managed[oid]) {
			continue
		}
		out = append(out, u.DomainName)
	}
	return out
}

func findUnit(units []dataverse.BusinessUnit, name, parentID string) string {
	for _, u := range units {
		if strings.EqualFold(u.Name, name) && u.ParentID == parentID {
			return u.ID
		}
	}
	return ""
}

// businessUnitID is the Dataverse id of a declared unit, as the Environment's sync recorded it.
func (t *Target) businessUnitID(name string) string {
	return t.Env.Status.Dataverse.BusinessUnitID(name)
}
