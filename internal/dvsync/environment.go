package dvsync

import (
	"context"
	"fmt"
	"strings"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// Environment connects (WhoAmI), adopts the organization's root business unit as the declared
// root whatever its name, creates the declared units under their parents, and lists the
// non-interactive users no PlatformUser manages: they hold slots first (the seven are the
// service's seven). It returns the status to record and the Synced outcome.
func Environment(ctx context.Context, t *Target, users []v1alpha1.PlatformUser) (*v1alpha1.EnvironmentDataverseStatus, Result) {
	env := t.Env
	st := &v1alpha1.EnvironmentDataverseStatus{}
	who, err := t.Client.WhoAmI(ctx)
	if err != nil {
		return nil, Failed(err, "environment "+env.Name)
	}
	st.OrganizationID = who.OrganizationID
	units, err := t.Client.ListBusinessUnits(ctx)
	if err != nil {
		return nil, Failed(err, "environment "+env.Name)
	}
	var root *dataverse.BusinessUnit
	for i := range units {
		if units[i].ParentID == "" {
			root = &units[i]
		}
	}
	if root == nil {
		return nil, Failed(fmt.Errorf("Dataverse has no root business unit"), "environment "+env.Name)
	}

	var d differences
	ids := map[string]string{env.RootBusinessUnit(): root.ID}
	// Parents before children: the tree is valid (EV2) or the decision stopped before the sync.
	for _, name := range topDown(env) {
		if _, done := ids[name]; done {
			continue
		}
		parentID := ids[parentOf(env, name)]
		if parentID == "" {
			continue // its parent is missing and not created (Observe): reported there
		}
		if id := findUnit(units, name, parentID); id != "" {
			ids[name] = id
			continue
		}
		d.add("business unit %s missing", name)
		if t.Manage() {
			id, err := t.Client.CreateBusinessUnit(ctx, name, parentID)
			if err != nil {
				return nil, Failed(err, "business unit "+name)
			}
			ids[name] = id
		}
	}
	for _, b := range env.Spec.BusinessUnits {
		if id := ids[b.Name]; id != "" {
			st.BusinessUnits = append(st.BusinessUnits, v1alpha1.BusinessUnitRecord{Name: b.Name, ID: id})
		}
	}
	if len(env.Spec.BusinessUnits) == 0 {
		st.BusinessUnits = []v1alpha1.BusinessUnitRecord{{Name: env.RootBusinessUnit(), ID: root.ID}}
	}

	nonInteractive, err := t.Client.ListNonInteractiveUsers(ctx)
	if err != nil {
		return nil, Failed(err, "environment "+env.Name)
	}
	st.UnmanagedNonInteractive = unmanaged(nonInteractive, users)

	res := t.finish(&d, &v1alpha1.DataverseRecord{ID: who.OrganizationID}, "environment "+env.Name)
	return st, res
}

// unmanaged are the non-interactive people in Dataverse that no PlatformUser of the environment
// names, by object id or user name.
func unmanaged(inDataverse []dataverse.SystemUser, users []v1alpha1.PlatformUser) []string {
	managed := map[string]bool{}
	for i := range users {
		managed[strings.ToLower(users[i].Spec.UserName)] = true
		if id := users[i].Spec.EntraObjectID; id != "" {
			managed[strings.ToLower(id)] = true
		}
	}
	var out []string
	for _, u := range inDataverse {
		if u.IsApplicationUser() || managed[strings.ToLower(u.DomainName)] || (u.AzureActiveDirectoryObjectID != "" && managed[strings.ToLower(u.AzureActiveDirectoryObjectID)]) {
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

func parentOf(env *v1alpha1.Environment, name string) string {
	for _, b := range env.Spec.BusinessUnits {
		if b.Name == name {
			return b.Parent
		}
	}
	return ""
}

// topDown lists the declared units so that every parent comes before its children.
func topDown(env *v1alpha1.Environment) []string {
	children := map[string][]string{}
	for _, b := range env.Spec.BusinessUnits {
		if b.Parent != "" {
			children[b.Parent] = append(children[b.Parent], b.Name)
		}
	}
	out := []string{env.RootBusinessUnit()}
	for i := 0; i < len(out) && i <= len(env.Spec.BusinessUnits); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}
