package dvsync

import (
	"context"
	"fmt"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// depthOf maps an access level to a privilege depth (SR2: Basic, Local, Deep, Global).
func depthOf(l v1alpha1.AccessLevel) (dataverse.Depth, bool) {
	switch l.Canonical() {
	case v1alpha1.AccessUser:
		return dataverse.DepthBasic, true
	case v1alpha1.AccessBusinessUnit:
		return dataverse.DepthLocal, true
	case v1alpha1.AccessParentChildBusinessUnits:
		return dataverse.DepthDeep, true
	case v1alpha1.AccessOrganization:
		return dataverse.DepthGlobal, true
	}
	return 0, false
}

var rightOf = map[access.Privilege]dataverse.AccessRight{
	access.Create: dataverse.RightCreate, access.Read: dataverse.RightRead, access.Write: dataverse.RightWrite,
	access.Delete: dataverse.RightDelete, access.Append: dataverse.RightAppend, access.AppendTo: dataverse.RightAppendTo,
	access.Assign: dataverse.RightAssign, access.Share: dataverse.RightShare,
}

func inheritanceOf(role *v1alpha1.SecurityRole) dataverse.Inheritance {
	if role.Spec.MemberPrivilegeInheritance == v1alpha1.InheritTeamPrivilegesOnly {
		return dataverse.InheritanceTeamPrivilegesOnly
	}
	return dataverse.InheritanceDirectUserBasicAndTeam
}

// SecurityRole finds the role by name within its business unit, or creates it; replaces its
// privileges as a whole with the decided set (presets expanded, levels mapped to depths, named
// privileges) when they differ; and sets its member's privilege inheritance. Built-in roles are
// adopted by name and never modified.
func SecurityRole(ctx context.Context, t *Target, role *v1alpha1.SecurityRole) Result {
	what := "role " + role.Status.RoleName
	buID := t.businessUnitID(role.Status.BusinessUnit)
	if buID == "" {
		return pending("waiting for environment %s to sync business unit %s", t.Env.Name, role.Status.BusinessUnit)
	}
	var d differences
	found, err := t.Client.RoleByName(ctx, role.Status.RoleName, buID)
	if err != nil && !isNotFound(err) {
		return Failed(err, what)
	}
	if role.Spec.BuiltIn != "" {
		if found == nil {
			return Result{Reason: v1alpha1.ReasonSyncConflict, RequeueAfter: t.Env.Spec.Dataverse.Interval().Duration,
				Message: fmt.Sprintf("built-in role %q is not in Dataverse's business unit %s: the operator adopts built-in roles and never creates them; check the environment's solution", role.Status.RoleName, role.Status.BusinessUnit)}
		}
		return t.finish(&d, &v1alpha1.DataverseRecord{ID: found.ID}, what)
	}
	if found == nil {
		d.add("role missing")
		if !t.Manage() {
			return t.finish(&d, &v1alpha1.DataverseRecord{}, what)
		}
		id, err := t.Client.CreateRole(ctx, role.Status.RoleName, buID, inheritanceOf(role))
		if err != nil {
			return Failed(err, what)
		}
		if found, err = t.Client.GetRole(ctx, id); err != nil {
			return holding(Failed(err, what), &v1alpha1.DataverseRecord{ID: id})
		}
	}
	if found.IsInherited != inheritanceOf(role) {
		d.add("member's privilege inheritance is %d, decided %d", found.IsInherited, inheritanceOf(role))
		if t.Manage() {
			if err := t.Client.SetRoleInheritance(ctx, found.ID, found.ETag, inheritanceOf(role)); err != nil {
				return holding(Failed(err, what), &v1alpha1.DataverseRecord{ID: found.ID})
			}
		}
	}
	want, err := desiredPrivileges(ctx, t, role, buID)
	if err != nil {
		return holding(Failed(err, what), &v1alpha1.DataverseRecord{ID: found.ID})
	}
	have, err := t.Client.RolePrivileges(ctx, found.ID)
	if err != nil {
		return holding(Failed(err, what), &v1alpha1.DataverseRecord{ID: found.ID})
	}
	if missing, extra := privilegeDiff(want, have); missing+extra > 0 {
		d.add("privileges differ (%d missing or at another depth, %d not decided)", missing, extra)
		if t.Manage() {
			if err := t.Client.ReplacePrivileges(ctx, found.ID, want); err != nil {
				return holding(Failed(err, what), &v1alpha1.DataverseRecord{ID: found.ID})
			}
		}
	}
	return t.finish(&d, &v1alpha1.DataverseRecord{ID: found.ID}, what)
}

// desiredPrivileges is the role's decided privilege set in Dataverse's terms: each table
// privilege above None at its depth, and each named privilege as prv<Name>. Privileges the
// environment does not know are left out (a table not in the environment has none to grant).
func desiredPrivileges(ctx context.Context, t *Target, role *v1alpha1.SecurityRole, buID string) ([]dataverse.RolePrivilege, error) {
	var out []dataverse.RolePrivilege
	for _, et := range role.Status.Tables {
		privs, err := t.catalogue.table(ctx, t.Client, et.Table)
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return nil, err
		}
		for _, p := range access.Privileges {
			depth, ok := depthOf(access.LevelOf(et.Privileges, p))
			if pr, known := privs[rightOf[p]]; ok && known {
				out = append(out, dataverse.RolePrivilege{PrivilegeID: pr.ID, Depth: depth, BusinessUnitID: buID})
			}
		}
	}
	named := map[string]v1alpha1.AccessLevel{}
	for _, list := range [][]v1alpha1.NamedPrivilege{role.Spec.MiscellaneousPrivileges, role.Spec.PrivacyPrivileges} {
		for _, n := range list {
			named["prv"+n.Name] = n.Level
		}
	}
	if len(named) > 0 {
		names := make([]string, 0, len(named))
		for n := range named {
			names = append(names, n)
		}
		privs, err := t.catalogue.byName(ctx, t.Client, names)
		if err != nil {
			return nil, err
		}
		for n, l := range named {
			if depth, ok := depthOf(l); ok {
				if pr, known := privs[n]; known {
					out = append(out, dataverse.RolePrivilege{PrivilegeID: pr.ID, Depth: depth, BusinessUnitID: buID})
				}
			}
		}
	}
	return out, nil
}

// privilegeDiff counts decided privileges Dataverse lacks (or holds at another depth) and
// privileges it holds that were not decided.
func privilegeDiff(want, have []dataverse.RolePrivilege) (missing, extra int) {
	held := map[string]dataverse.Depth{}
	for _, p := range have {
		held[p.PrivilegeID] = p.Depth
	}
	wanted := map[string]bool{}
	for _, p := range want {
		wanted[p.PrivilegeID] = true
		if d, ok := held[p.PrivilegeID]; !ok || d != p.Depth {
			missing++
		}
	}
	for _, p := range have {
		if !wanted[p.PrivilegeID] {
			extra++
		}
	}
	return missing, extra
}

// DeleteSecurityRole removes a custom role's record (deletionPolicy Delete).
func DeleteSecurityRole(ctx context.Context, t *Target, role *v1alpha1.SecurityRole) error {
	if role.Spec.BuiltIn != "" || role.Status.Dataverse == nil || role.Status.Dataverse.ID == "" {
		return nil
	}
	if err := t.Client.DeleteRole(ctx, role.Status.Dataverse.ID); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}
