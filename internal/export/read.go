package export

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	v1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/graph"
)

// PageSize is the page manager export asks Dataverse for: the service's largest (Prefer:
// odata.maxpagesize, at most 5,000 rows), so a table costs a request per 5,000 rows.
const PageSize = 5000

// Dataverse is what the export reads of an environment, every table in pages (*dataverse.Client).
type Dataverse interface {
	WhoAmI(ctx context.Context) (dataverse.WhoAmIResult, error)
	ListBusinessUnits(ctx context.Context) ([]dataverse.BusinessUnit, error)
	ListRoles(ctx context.Context, businessUnitID string) ([]dataverse.Role, error)
	ListPrivileges(ctx context.Context) ([]dataverse.Privilege, error)
	ListPrivilegeTables(ctx context.Context) ([]dataverse.PrivilegeTable, error)
	ListRolePrivilegeLinks(ctx context.Context) ([]dataverse.RolePrivilegeLink, error)
	ListUsers(ctx context.Context, filter string) ([]dataverse.SystemUser, error)
	ListUserRoleLinks(ctx context.Context) ([]dataverse.UserRoleLink, error)
	ListTeams(ctx context.Context) ([]dataverse.Team, error)
	ListTeamMemberLinks(ctx context.Context) ([]dataverse.TeamMemberLink, error)
	ListTeamRoleLinks(ctx context.Context) ([]dataverse.TeamRoleLink, error)
}

// Graph is what the export reads of Entra ID (*graph.Client): people in $batches of 20, group
// members in pages of 999.
type Graph interface {
	Users(ctx context.Context, idsOrUPNs []string) (map[string]*graph.User, error)
	GroupMembers(ctx context.Context, groupID string) ([]graph.Member, error)
	ResolveGroup(ctx context.Context, idOrName string) (*graph.Group, error)
	SubscribedSkus(ctx context.Context) ([]graph.SubscribedSku, error)
}

// Admin is what the export asks the Power Platform admin API (*dataverse.AdminClient).
type Admin interface {
	SecurityGroup(ctx context.Context, environmentID string) (string, error)
}

// ReadOptions say which environment to read.
type ReadOptions struct {
	URL, EnvironmentID string
	// SecurityGroup is the environment's security group, an object id or a display name; "":
	// the one the admin API reports for EnvironmentID (Admin), else none.
	SecurityGroup string
	Admin         Admin
	// Progress gets a line per table read (nil: none).
	Progress io.Writer
}

// Read reads an environment into a Source: Dataverse always, Entra ID when g is not nil.
func Read(ctx context.Context, dv Dataverse, g Graph, o ReadOptions) (Source, error) {
	src := Source{URL: o.URL, EnvironmentID: o.EnvironmentID, ReadAt: time.Now().UTC().Truncate(time.Second), Entra: g != nil}
	progress := func(format string, a ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "export: "+format+"\n", a...)
		}
	}
	if o.SecurityGroup == "" && o.Admin != nil && o.EnvironmentID != "" {
		sg, err := o.Admin.SecurityGroup(ctx, o.EnvironmentID)
		if err != nil {
			return src, fmt.Errorf("the admin API's environment %s (its security group): %w", o.EnvironmentID, err)
		}
		o.SecurityGroup = sg
		if sg == "" {
			progress("the admin API reports no security group for environment %s", o.EnvironmentID)
		} else {
			progress("the admin API reports security group %s", sg)
		}
	}
	who, err := dv.WhoAmI(ctx)
	if err != nil {
		return src, fmt.Errorf("WhoAmI: %w", err)
	}
	units, err := dv.ListBusinessUnits(ctx)
	if err != nil {
		return src, fmt.Errorf("business units: %w", err)
	}
	for _, u := range units {
		src.Units = append(src.Units, Unit{ID: lower(u.ID), Name: u.Name, ParentID: lower(u.ParentID)})
	}
	progress("%d business units", len(units))
	if err := readRoles(ctx, dv, &src); err != nil {
		return src, err
	}
	progress("%d security roles", len(src.Roles))
	users, err := dv.ListUsers(ctx, "deletedstate eq 0")
	if err != nil {
		return src, fmt.Errorf("users: %w", err)
	}
	userRoles, err := dv.ListUserRoleLinks(ctx)
	if err != nil {
		return src, fmt.Errorf("user roles: %w", err)
	}
	rolesOf := map[string][]string{}
	for _, l := range userRoles {
		rolesOf[lower(l.UserID)] = append(rolesOf[lower(l.UserID)], lower(l.RoleID))
	}
	for _, u := range users {
		id := lower(u.ID)
		if u.IsApplicationUser() {
			if id == lower(who.UserID) {
				src.SignedInAs = lower(u.ApplicationID)
			}
			src.Applications = append(src.Applications, ApplicationUser{ID: id, ApplicationID: lower(u.ApplicationID), Name: u.FullName,
				Disabled: u.IsDisabled, UnitID: lower(u.BusinessUnitID), RoleIDs: rolesOf[id]})
			continue
		}
		p := User{ID: id, UserName: u.DomainName, FullName: u.FullName, EntraObjectID: lower(u.AzureActiveDirectoryObjectID),
			Disabled: u.IsDisabled, UnitID: lower(u.BusinessUnitID), RoleIDs: rolesOf[id], Licensed: u.IsLicensed}
		p.AccessMode, p.AccessModeName = accessModeOf(u.AccessMode)
		// A stub is a placeholder data import made: it "cannot be synchronized to Office 365"
		// (the seed's "How stub users are created"), so Dataverse holds no Entra object id for it.
		p.Stub = p.EntraObjectID == "" && !servicePrincipals[u.FullName] && p.AccessMode != ""
		src.Users = append(src.Users, p)
	}
	progress("%d people, %d application users", len(src.Users), len(src.Applications))
	if err := readTeams(ctx, dv, &src); err != nil {
		return src, err
	}
	progress("%d teams", len(src.Teams))
	if g != nil {
		if err := readEntra(ctx, g, o.SecurityGroup, &src); err != nil {
			return src, err
		}
		progress("Entra ID: licenses and group memberships of %d people", len(src.Users))
	} else if o.SecurityGroup != "" {
		src.SecurityGroup = o.SecurityGroup
	}
	return src, nil
}

func lower(s string) string { return strings.ToLower(s) }

// accessModeOf maps systemuser.accessmode to the API's; "" with its name for a mode it has no
// PlatformUser for.
func accessModeOf(m dataverse.AccessMode) (v1alpha1.AccessMode, string) {
	switch m {
	case dataverse.AccessModeReadWrite:
		return v1alpha1.AccessModeReadWrite, "Read-Write"
	case dataverse.AccessModeAdministrative:
		return v1alpha1.AccessModeAdministrative, "Administrative"
	case dataverse.AccessModeNonInteractive:
		return v1alpha1.AccessModeNonInteractive, "Non-interactive"
	case dataverse.AccessModeRead:
		return "", "Read"
	case dataverse.AccessModeSupportUser:
		return "", "Support user"
	case dataverse.AccessModeDelegatedAdmin:
		return "", "Delegated admin"
	}
	return "", fmt.Sprintf("accessmode %d", int(m))
}

var rightPrivilege = map[dataverse.AccessRight]access.Privilege{
	dataverse.RightCreate: access.Create, dataverse.RightRead: access.Read, dataverse.RightWrite: access.Write,
	dataverse.RightDelete: access.Delete, dataverse.RightAppend: access.Append, dataverse.RightAppendTo: access.AppendTo,
	dataverse.RightAssign: access.Assign, dataverse.RightShare: access.Share,
}

var depthLevel = map[dataverse.Depth]v1alpha1.AccessLevel{
	dataverse.DepthBasic: v1alpha1.AccessUser, dataverse.DepthLocal: v1alpha1.AccessBusinessUnit,
	dataverse.DepthDeep: v1alpha1.AccessParentChildBusinessUnits, dataverse.DepthGlobal: v1alpha1.AccessOrganization,
}

// readRoles reads the roles and turns every privilege id back into a table and a right, or a
// name, through the environment's catalogue (privileges, privilegeobjecttypecodes).
func readRoles(ctx context.Context, dv Dataverse, src *Source) error {
	roles, err := dv.ListRoles(ctx, "")
	if err != nil {
		return fmt.Errorf("roles: %w", err)
	}
	privs, err := dv.ListPrivileges(ctx)
	if err != nil {
		return fmt.Errorf("privileges: %w", err)
	}
	tables, err := dv.ListPrivilegeTables(ctx)
	if err != nil {
		return fmt.Errorf("privilege tables: %w", err)
	}
	links, err := dv.ListRolePrivilegeLinks(ctx)
	if err != nil {
		return fmt.Errorf("role privileges: %w", err)
	}
	byID := map[string]dataverse.Privilege{}
	for _, p := range privs {
		byID[lower(p.ID)] = p
	}
	tableOf := map[string]string{}
	rights := map[string]map[dataverse.AccessRight]bool{}
	for _, t := range tables {
		table := lower(t.Table)
		if table == "" || table == "none" {
			continue
		}
		tableOf[lower(t.PrivilegeID)] = table
		if p, ok := byID[lower(t.PrivilegeID)]; ok {
			if rights[table] == nil {
				rights[table] = map[dataverse.AccessRight]bool{}
			}
			rights[table][p.AccessRight] = true
		}
	}
	root := ""
	for _, u := range src.Units {
		if u.ParentID == "" {
			root = u.ID
		}
	}
	builtInByName := map[string]v1alpha1.BuiltInRole{}
	for b := range builtInSuffix { // the API's built-in roles
		builtInByName[access.BuiltInDisplayName(b)] = b
	}
	type held struct {
		tables  map[string]*v1alpha1.TablePrivileges
		named   []string
		unknown []string
	}
	of := map[string]*held{}
	for _, l := range links {
		depth, ok := l.Depth()
		if !ok {
			continue
		}
		rid := lower(l.RoleID)
		h := of[rid]
		if h == nil {
			h = &held{tables: map[string]*v1alpha1.TablePrivileges{}}
			of[rid] = h
		}
		p, known := byID[lower(l.PrivilegeID)]
		table := tableOf[lower(l.PrivilegeID)]
		switch {
		case !known:
			h.unknown = append(h.unknown, lower(l.PrivilegeID))
		case table != "":
			tp := h.tables[table]
			if tp == nil {
				tp = &v1alpha1.TablePrivileges{}
				h.tables[table] = tp
			}
			if right, ok := rightPrivilege[p.AccessRight]; ok {
				access.SetLevel(tp, right, depthLevel[depth])
			} else {
				h.unknown = append(h.unknown, p.Name)
			}
		default:
			// A named privilege (miscellaneous or privacy): the sync writes it as prv<Name>.
			h.named = append(h.named, strings.TrimPrefix(p.Name, "prv"))
		}
	}
	hasSalesperson, hasCDS := false, false
	for _, r := range roles {
		id := lower(r.ID)
		role := Role{ID: id, Name: r.Name, UnitID: lower(r.BusinessUnitID), ParentRootRoleID: lower(r.ParentRootRoleID),
			Inherited: r.IsInherited == dataverse.InheritanceDirectUserBasicAndTeam}
		// Built-in roles are adopted by name in the root unit (docs/design.md, "What is applied
		// where"), so they are recognised the same way.
		if b, ok := builtInByName[r.Name]; ok && role.UnitID == root && (role.ParentRootRoleID == "" || role.ParentRootRoleID == id) {
			role.BuiltIn = b
			hasSalesperson = hasSalesperson || b == v1alpha1.BuiltInSalesperson
			hasCDS = hasCDS || b == v1alpha1.BuiltInCommonDataServiceUser
		}
		role.Managed = r.IsManaged && role.BuiltIn == ""
		if h := of[id]; h != nil {
			for table, tp := range h.tables {
				own := v1alpha1.OwnershipUserOrTeam
				// An organization-owned table has no Assign or Share privilege (our reading of
				// the catalogue: records nobody owns cannot be assigned or shared).
				if !rights[table][dataverse.RightAssign] && !rights[table][dataverse.RightShare] {
					own = v1alpha1.OwnershipOrganization
				}
				role.Tables = append(role.Tables, TablePrivileges{Table: table, Ownership: own, Privileges: *tp})
			}
			sort.Slice(role.Tables, func(i, j int) bool { return role.Tables[i].Table < role.Tables[j].Table })
			role.Named, role.Unknown = h.named, h.unknown
		}
		src.Roles = append(src.Roles, role)
	}
	if !hasSalesperson && hasCDS {
		src.Product = v1alpha1.ProductPowerApps
	}
	return nil
}

var teamTypes = map[dataverse.TeamType]v1alpha1.TeamType{
	dataverse.TeamTypeOwner: v1alpha1.TeamOwner, dataverse.TeamTypeAccess: v1alpha1.TeamAccess,
	dataverse.TeamTypeSecurityGroup: v1alpha1.TeamAADSecurityGroup, dataverse.TeamTypeOfficeGroup: v1alpha1.TeamAADOfficeGroup,
}

func readTeams(ctx context.Context, dv Dataverse, src *Source) error {
	teams, err := dv.ListTeams(ctx)
	if err != nil {
		return fmt.Errorf("teams: %w", err)
	}
	members, err := dv.ListTeamMemberLinks(ctx)
	if err != nil {
		return fmt.Errorf("team members: %w", err)
	}
	roles, err := dv.ListTeamRoleLinks(ctx)
	if err != nil {
		return fmt.Errorf("team roles: %w", err)
	}
	membersOf, rolesOf := map[string][]string{}, map[string][]string{}
	for _, m := range members {
		membersOf[lower(m.TeamID)] = append(membersOf[lower(m.TeamID)], lower(m.UserID))
	}
	for _, r := range roles {
		rolesOf[lower(r.TeamID)] = append(rolesOf[lower(r.TeamID)], lower(r.RoleID))
	}
	for _, t := range teams {
		id := lower(t.ID)
		src.Teams = append(src.Teams, Team{ID: id, Name: t.Name, Type: teamTypes[t.TeamType], IsDefault: t.IsDefault,
			UnitID: lower(t.BusinessUnitID), Group: lower(t.AzureActiveDirectoryObjectID), MemberIDs: membersOf[id], RoleIDs: rolesOf[id]})
	}
	return nil
}

// readEntra reads each person's licenses and sign-in, and the direct members of the security
// group and of the group teams' groups.
func readEntra(ctx context.Context, g Graph, securityGroup string, src *Source) error {
	skus, err := g.SubscribedSkus(ctx)
	if err != nil {
		return fmt.Errorf("Entra ID subscribedSkus: %w", err)
	}
	part := map[string]string{}
	for _, s := range skus {
		part[lower(s.SkuID)] = s.SkuPartNumber
	}
	groups := map[string]bool{}
	if securityGroup != "" {
		grp, err := g.ResolveGroup(ctx, securityGroup)
		if err != nil {
			return fmt.Errorf("--security-group %s: %w", securityGroup, err)
		}
		src.SecurityGroup = lower(grp.ID)
		groups[src.SecurityGroup] = true
	}
	for _, t := range src.Teams {
		if t.Group != "" && !t.IsDefault {
			groups[t.Group] = true
		}
	}
	memberOf := map[string][]string{}
	ids := make([]string, 0, len(groups))
	for id := range groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		ms, err := g.GroupMembers(ctx, id)
		if err != nil {
			return fmt.Errorf("Entra ID members of group %s: %w", id, err)
		}
		for _, m := range ms {
			memberOf[lower(m.ID)] = append(memberOf[lower(m.ID)], id)
		}
	}
	var ask []string
	for _, u := range src.Users {
		if u.EntraObjectID != "" {
			ask = append(ask, u.EntraObjectID)
		}
	}
	people, err := g.Users(ctx, ask)
	if err != nil {
		return fmt.Errorf("Entra ID people: %w", err)
	}
	for i := range src.Users {
		u := &src.Users[i]
		p := people[u.EntraObjectID]
		if p == nil {
			continue
		}
		u.SignInBlocked = !p.AccountEnabled
		for _, l := range p.AssignedLicenses {
			if n := part[lower(l.SkuID)]; n != "" {
				u.Licenses = append(u.Licenses, n)
			}
		}
		u.Groups = memberOf[lower(p.ID)]
	}
	return nil
}
