package dvsync

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// SecurityRole finds the role by name within its business unit, or creates it; replaces its
// privileges as a whole with the desired set when they differ; and sets its member's privilege
// inheritance. Built-in roles are adopted by name and never modified.
func SecurityRole(ctx context.Context, t *Target, d *decide.DesiredRole) Result {
	what := "role " + d.RoleName
	return t.convergeIn(ctx, what, d.BusinessUnit, func(ctx context.Context, r Reader, buID string) (Observation, error) {
		o, err := readRole(ctx, r, t.catalogue, d, buID)
		if err != nil {
			return Observation{Record: o.record()}, err
		}
		return compareRole(d, o), nil
	})
}

// observedRole is what Dataverse holds of a role, and the desired privileges in its terms.
type observedRole struct {
	Role           *dataverse.Role // nil: not in Dataverse
	BusinessUnitID string
	Privileges     []dataverse.RolePrivilege
	// Desired are the desired privileges as privilege ids and depths; privileges the environment
	// does not know are left out (a table not in the environment has none to grant).
	Desired []dataverse.RolePrivilege
}

func (o observedRole) record() *v1alpha1.DataverseRecord {
	if o.Role == nil {
		return nil
	}
	return &v1alpha1.DataverseRecord{ID: o.Role.ID}
}

func readRole(ctx context.Context, r Reader, cat *catalogue, d *decide.DesiredRole, buID string) (observedRole, error) {
	o := observedRole{BusinessUnitID: buID}
	role, err := r.RoleByName(ctx, d.RoleName, buID)
	if isNotFound(err) || d.BuiltIn && err == nil {
		o.Role = role
		return o, nil
	}
	if err != nil {
		return o, err
	}
	o.Role = role
	if o.Desired, err = privilegesOf(ctx, r, cat, d, buID); err != nil {
		return o, err
	}
	o.Privileges, err = r.RolePrivileges(ctx, role.ID)
	return o, err
}

// compareRole lists the writes that make Dataverse hold the desired role.
func compareRole(d *decide.DesiredRole, o observedRole) Observation {
	if d.BuiltIn {
		if o.Role == nil {
			return Observation{Record: &v1alpha1.DataverseRecord{}, Then: conflict(
				"built-in role %q is not in Dataverse's business unit %s: the operator adopts built-in roles and never creates them; check the environment's solution", d.RoleName, d.BusinessUnit)}
		}
		return Observation{Record: o.record()}
	}
	inh := inheritances[d.Inheritance]
	if o.Role == nil {
		return Observation{Record: &v1alpha1.DataverseRecord{}, Changes: []Change{{Op: OpCreateRole, Why: "role missing",
			Name: d.RoleName, BusinessUnitID: o.BusinessUnitID, Inheritance: inh}}}
	}
	obs := Observation{Record: o.record()}
	if o.Role.IsInherited != inh {
		obs.Changes = append(obs.Changes, Change{Op: OpSetInheritance, Record: o.Role.ID, ETag: o.Role.ETag, Inheritance: inh,
			Why: fmt.Sprintf("member's privilege inheritance is %d, decided %d", o.Role.IsInherited, inh)})
	}
	if missing, extra := privilegeDiff(o.Desired, o.Privileges); missing+extra > 0 {
		obs.Changes = append(obs.Changes, Change{Op: OpReplacePrivileges, Record: o.Role.ID, Privileges: o.Desired,
			Why: fmt.Sprintf("privileges differ (%d missing or at another depth, %d not decided)", missing, extra)})
	}
	return obs
}

var inheritances = map[v1alpha1.MemberPrivilegeInheritance]dataverse.Inheritance{
	v1alpha1.InheritDirectUserBasicAndTeam: dataverse.InheritanceDirectUserBasicAndTeam,
	v1alpha1.InheritTeamPrivilegesOnly:     dataverse.InheritanceTeamPrivilegesOnly,
}

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

// privilegesOf is the desired privilege set in Dataverse's terms: each table privilege above
// None at its depth, and each named privilege.
func privilegesOf(ctx context.Context, r Reader, cat *catalogue, d *decide.DesiredRole, buID string) ([]dataverse.RolePrivilege, error) {
	out := []dataverse.RolePrivilege{}
	for _, et := range d.Tables {
		privs, err := cat.table(ctx, r, et.Table)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, p := range access.Privileges {
			depth, ok := depthOf(access.LevelOf(et.Privileges, p))
			if pr, known := privs[rightOf[p]]; ok && known {
				out = append(out, dataverse.RolePrivilege{PrivilegeID: pr.ID, Depth: depth, BusinessUnitID: buID})
			}
		}
	}
	if len(d.Named) > 0 {
		names := make([]string, len(d.Named))
		for i, n := range d.Named {
			names[i] = n.Name
		}
		privs, err := cat.byName(ctx, r, names)
		if err != nil {
			return nil, err
		}
		for _, n := range d.Named {
			if depth, ok := depthOf(n.Level); ok {
				if pr, known := privs[n.Name]; known {
					out = append(out, dataverse.RolePrivilege{PrivilegeID: pr.ID, Depth: depth, BusinessUnitID: buID})
				}
			}
		}
	}
	return out, nil
}

// privilegeDiff counts desired privileges Dataverse lacks (or holds at another depth) and
// privileges it holds that were not desired.
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

// DeleteSecurityRole removes a custom role's record (deletionPolicy Delete): found by its id or,
// when its creation's answer was lost, by its name in its unit.
func DeleteSecurityRole(ctx context.Context, t *Target, recordID string, d *decide.DesiredRole) error {
	w, ok := t.writer()
	if !ok || d.BuiltIn {
		return nil
	}
	if recordID == "" {
		buID := t.businessUnitID(d.BusinessUnit)
		if buID == "" {
			return nil // its unit was never synced, so neither was the role
		}
		role, err := t.reader.RoleByName(ctx, d.RoleName, buID)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		recordID = role.ID
	}
	return ignoreNotFound(w.DeleteRole(ctx, recordID))
}

// catalogue caches the privilege ids of one environment: they never change, and looking them up
// per role would cost a request per table per reconcile.
type catalogue struct {
	mu     sync.Mutex
	tables map[string]map[dataverse.AccessRight]dataverse.Privilege
	named  map[string]dataverse.Privilege
}

func newCatalogue() *catalogue {
	return &catalogue{tables: map[string]map[dataverse.AccessRight]dataverse.Privilege{}, named: map[string]dataverse.Privilege{}}
}

func (c *catalogue) table(ctx context.Context, r Reader, table string) (map[dataverse.AccessRight]dataverse.Privilege, error) {
	c.mu.Lock()
	p, ok := c.tables[table]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := r.TablePrivileges(ctx, table)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.tables[table] = p
	c.mu.Unlock()
	return p, nil
}

func (c *catalogue) byName(ctx context.Context, r Reader, names []string) (map[string]dataverse.Privilege, error) {
	out := map[string]dataverse.Privilege{}
	var missing []string
	c.mu.Lock()
	for _, n := range names {
		if p, ok := c.named[n]; ok {
			out[n] = p
		} else {
			missing = append(missing, n)
		}
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	sort.Strings(missing)
	got, err := r.PrivilegesByName(ctx, missing...)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	for n, p := range got {
		c.named[n] = p
		out[n] = p
	}
	c.mu.Unlock()
	return out, nil
}
