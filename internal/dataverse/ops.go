package dataverse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/accessplane/dataverse-access-operator/internal/webapi"
)

// checkIDs refuses anything but GUIDs where an id goes into a URL or a $filter.
func checkIDs(op string, ids ...string) error { return webapi.CheckGUIDs("dataverse", op, ids...) }

// notFound is the error of a query that matched nothing (the service answers 200 with no rows).
func notFound(op, what string) error {
	return &Error{Operation: op, Method: http.MethodGet, StatusCode: http.StatusNotFound, Message: what + " not found", kind: ErrNotFound}
}

func one[T any](op, what string, rows []T) (*T, error) {
	switch len(rows) {
	case 0:
		return nil, notFound(op, what)
	case 1:
		return &rows[0], nil
	}
	return nil, &Error{Operation: op, Method: http.MethodGet, StatusCode: http.StatusOK, Message: fmt.Sprintf("%s matched %d records", what, len(rows)), kind: ErrDuplicate}
}

func (cl *Client) get(ctx context.Context, op, u string, out any) error {
	return cl.t.Do(ctx, &webapi.Call{Op: op, Method: http.MethodGet, URL: u, Idempotent: true, Out: out})
}

func (cl *Client) filter(ctx context.Context, op, set, sel, filter string, out any) error {
	return cl.get(ctx, op, cl.query(set, "$select", sel, "$filter", filter), out)
}

// --- WhoAmI ---

// WhoAmI answers who the credential is in this environment; it proves the application user exists.
func (cl *Client) WhoAmI(ctx context.Context) (WhoAmIResult, error) {
	var r WhoAmIResult
	err := cl.get(ctx, "WhoAmI", cl.api+"WhoAmI", &r)
	return r, err
}

// --- systemusers ---

// GetUser reads a user by id.
func (cl *Client) GetUser(ctx context.Context, id string) (*SystemUser, error) {
	if err := checkIDs("GetUser", id); err != nil {
		return nil, err
	}
	var u SystemUser
	if err := cl.get(ctx, "GetUser", cl.query("systemusers("+id+")", "$select", systemUserSelect), &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UserByObjectID reads a user through the azureactivedirectoryobjectid alternate key.
func (cl *Client) UserByObjectID(ctx context.Context, objectID string) (*SystemUser, error) {
	if err := checkIDs("UserByObjectID", objectID); err != nil {
		return nil, err
	}
	var u SystemUser
	err := cl.get(ctx, "UserByObjectID", cl.query("systemusers(azureactivedirectoryobjectid="+objectID+")", "$select", systemUserSelect), &u)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// UserByDomainName finds a user by UPN.
func (cl *Client) UserByDomainName(ctx context.Context, upn string) (*SystemUser, error) {
	var p webapi.Page[SystemUser]
	if err := cl.filter(ctx, "UserByDomainName", "systemusers", systemUserSelect, "domainname eq "+quote(upn), &p); err != nil {
		return nil, err
	}
	return one("UserByDomainName", "user "+upn, p.Value)
}

// UserByApplicationID finds an application user by its app registration's client id, ignoring
// records being deleted (deletedstate != 0), which keep their applicationid for a while.
func (cl *Client) UserByApplicationID(ctx context.Context, appID string) (*SystemUser, error) {
	if err := checkIDs("UserByApplicationID", appID); err != nil {
		return nil, err
	}
	var p webapi.Page[SystemUser]
	if err := cl.filter(ctx, "UserByApplicationID", "systemusers", systemUserSelect, "applicationid eq "+appID+" and deletedstate eq 0", &p); err != nil {
		return nil, err
	}
	return one("UserByApplicationID", "application user "+appID, p.Value)
}

// ListUsers reads every user matching an OData $filter (empty: all), page by page. Build string
// literals in filter with QuoteString.
func (cl *Client) ListUsers(ctx context.Context, filter string) ([]SystemUser, error) {
	params := []string{"$select", systemUserSelect}
	if filter != "" {
		params = append(params, "$filter", filter)
	}
	return list[SystemUser](ctx, cl, "ListUsers", cl.query("systemusers", params...))
}

// UserDelta is a change-tracking read of systemusers: the users created or changed (every user on
// a first read), the ids of the users deleted since, and the deltaLink to read next.
type UserDelta struct {
	Users   []SystemUser
	Deleted []string
	Link    string
}

// TrackUsers reads systemusers with change tracking: in full with Prefer: odata.track-changes
// when deltaLink is "", else what changed since that deltaLink (Microsoft Learn, "Use change
// tracking to synchronize data with external systems"; no $filter is allowed with it, so every
// user comes, application users included). A refused deltaLink — 400, 404 or 410; the
// documentation does not say which the service sends for an expired token — is ErrDeltaExpired.
func (cl *Client) TrackUsers(ctx context.Context, deltaLink string) (UserDelta, error) {
	first := deltaLink
	if first == "" {
		first = cl.query("systemusers", "$select", systemUserSelect)
	}
	d, err := webapi.ListDelta[SystemUser](ctx, cl.t, "TrackUsers", first, http.Header{"Prefer": {"odata.maxpagesize=" + strconv.Itoa(cl.conn.opts.PageSize)}})
	if err != nil {
		var de *Error
		if deltaLink != "" && errors.As(err, &de) && (de.StatusCode == http.StatusBadRequest || de.StatusCode == http.StatusNotFound || de.StatusCode == http.StatusGone) {
			return UserDelta{}, fmt.Errorf("%w: %w", ErrDeltaExpired, err)
		}
		return UserDelta{}, err
	}
	return UserDelta{Users: d.Rows, Deleted: d.Deleted, Link: d.Link}, nil
}

// ChangeTrackingEnabled reads a table's ChangeTrackingEnabled (EntityDefinitions, by logical name):
// only such a table answers Prefer: odata.track-changes.
func (cl *Client) ChangeTrackingEnabled(ctx context.Context, logicalName string) (bool, error) {
	var def struct {
		ChangeTrackingEnabled bool `json:"ChangeTrackingEnabled"`
	}
	u := cl.query("EntityDefinitions(LogicalName="+quote(logicalName)+")", "$select", "ChangeTrackingEnabled")
	err := cl.get(ctx, "ChangeTrackingEnabled", u, &def)
	return def.ChangeTrackingEnabled, err
}

// ListNonInteractiveUsers reads the people in access mode 4: the ones the limit of seven counts
// (application users have accessmode 4 too but never count, AM7).
func (cl *Client) ListNonInteractiveUsers(ctx context.Context) ([]SystemUser, error) {
	users, err := cl.ListUsers(ctx, "accessmode eq 4 and applicationid eq null and deletedstate eq 0")
	if err != nil {
		return nil, err
	}
	out := users[:0]
	for _, u := range users {
		if !u.IsApplicationUser() {
			out = append(out, u)
		}
	}
	return out, nil
}

// CreateApplicationUser creates the user of an app registration in a business unit; the service
// makes it non-interactive and enabled.
func (cl *Client) CreateApplicationUser(ctx context.Context, appID, businessUnitID string) (string, error) {
	if err := checkIDs("CreateApplicationUser", appID, businessUnitID); err != nil {
		return "", err
	}
	return cl.create(ctx, "CreateApplicationUser", "systemusers", map[string]any{
		"applicationid":             appID,
		"businessunitid@odata.bind": "/businessunits(" + businessUnitID + ")",
	})
}

// UpdateUser PATCHes a user. etag non-empty makes it conditional (If-Match): a change made by
// someone else since the read answers ErrPreconditionFailed instead of being overwritten.
func (cl *Client) UpdateUser(ctx context.Context, id, etag string, p UserPatch) error {
	if err := checkIDs("UpdateUser", id); err != nil {
		return err
	}
	if p.BusinessUnitID != "" {
		if err := checkIDs("UpdateUser", p.BusinessUnitID); err != nil {
			return err
		}
	}
	return cl.patch(ctx, "UpdateUser", "systemusers("+id+")", etag, p.body())
}

// patch updates an existing record only: without an ETag it sends If-Match: * so a PATCH never
// upserts a record that was deleted meanwhile. Setting fields to values is idempotent.
func (cl *Client) patch(ctx context.Context, op, path, etag string, body map[string]any) error {
	if etag == "" {
		etag = "*"
	}
	return cl.t.Do(ctx, &webapi.Call{Op: op, Method: http.MethodPatch, URL: cl.api + path, Body: body, Header: http.Header{"If-Match": {etag}}, Idempotent: true})
}

// DeleteApplicationUser deletes an application user; the service wants it disabled first.
func (cl *Client) DeleteApplicationUser(ctx context.Context, id string) error {
	return cl.delete(ctx, "DeleteApplicationUser", "systemusers", id)
}

func (cl *Client) delete(ctx context.Context, op, set, id string) error {
	if err := checkIDs(op, id); err != nil {
		return err
	}
	return cl.t.Do(ctx, &webapi.Call{Op: op, Method: http.MethodDelete, URL: cl.api + set + "(" + id + ")", Idempotent: true})
}

// UserRoles lists the roles assigned directly to a user.
func (cl *Client) UserRoles(ctx context.Context, userID string) ([]Role, error) {
	if err := checkIDs("UserRoles", userID); err != nil {
		return nil, err
	}
	return list[Role](ctx, cl, "UserRoles", cl.query("systemusers("+userID+")/systemuserroles_association", "$select", roleSelect))
}

// --- roles ---

// GetRole reads a role by id.
func (cl *Client) GetRole(ctx context.Context, id string) (*Role, error) {
	if err := checkIDs("GetRole", id); err != nil {
		return nil, err
	}
	var r Role
	if err := cl.get(ctx, "GetRole", cl.query("roles("+id+")", "$select", roleSelect), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RoleByName finds a role by name within a business unit (names are unique there, SR9).
func (cl *Client) RoleByName(ctx context.Context, name, businessUnitID string) (*Role, error) {
	if err := checkIDs("RoleByName", businessUnitID); err != nil {
		return nil, err
	}
	var p webapi.Page[Role]
	if err := cl.filter(ctx, "RoleByName", "roles", roleSelect, "name eq "+quote(name)+" and _businessunitid_value eq "+businessUnitID, &p); err != nil {
		return nil, err
	}
	return one("RoleByName", "role "+name, p.Value)
}

// ListRoles reads the roles of a business unit (empty: all roles).
func (cl *Client) ListRoles(ctx context.Context, businessUnitID string) ([]Role, error) {
	params := []string{"$select", roleSelect}
	if businessUnitID != "" {
		if err := checkIDs("ListRoles", businessUnitID); err != nil {
			return nil, err
		}
		params = append(params, "$filter", "_businessunitid_value eq "+businessUnitID)
	}
	return list[Role](ctx, cl, "ListRoles", cl.query("roles", params...))
}

// CreateRole creates a role in a business unit; the service gives it a few default privileges,
// which ReplacePrivileges then replaces.
func (cl *Client) CreateRole(ctx context.Context, name, businessUnitID string, inh Inheritance) (string, error) {
	if err := checkIDs("CreateRole", businessUnitID); err != nil {
		return "", err
	}
	return cl.create(ctx, "CreateRole", "roles", map[string]any{
		"name":                      name,
		"businessunitid@odata.bind": "/businessunits(" + businessUnitID + ")",
		"isinherited":               int(inh),
	})
}

// SetRoleInheritance PATCHes isinherited (conditional on etag when given).
func (cl *Client) SetRoleInheritance(ctx context.Context, id, etag string, inh Inheritance) error {
	if err := checkIDs("SetRoleInheritance", id); err != nil {
		return err
	}
	return cl.patch(ctx, "SetRoleInheritance", "roles("+id+")", etag, map[string]any{"isinherited": int(inh)})
}

// DeleteRole deletes a role.
func (cl *Client) DeleteRole(ctx context.Context, id string) error {
	return cl.delete(ctx, "DeleteRole", "roles", id)
}

// ReplacePrivileges sets a role's privileges as a whole (bound action ReplacePrivilegesRole).
// Replacing with the same set twice is the same as once, so it is idempotent: a 5xx or a lost
// answer is retried.
func (cl *Client) ReplacePrivileges(ctx context.Context, roleID string, privs []RolePrivilege) error {
	if err := checkIDs("ReplacePrivileges", roleID); err != nil {
		return err
	}
	if privs == nil {
		privs = []RolePrivilege{}
	}
	body := map[string]any{"Privileges": privs}
	return cl.t.Do(ctx, &webapi.Call{Op: "ReplacePrivileges", Method: http.MethodPost,
		URL: cl.api + "roles(" + roleID + ")/Microsoft.Dynamics.CRM.ReplacePrivilegesRole", Body: body, Idempotent: true})
}

// RolePrivileges reads a role's privileges (function RetrieveRolePrivilegesRole).
func (cl *Client) RolePrivileges(ctx context.Context, roleID string) ([]RolePrivilege, error) {
	if err := checkIDs("RolePrivileges", roleID); err != nil {
		return nil, err
	}
	var r struct {
		RolePrivileges []RolePrivilege `json:"RolePrivileges"`
	}
	if err := cl.get(ctx, "RolePrivileges", cl.api+"RetrieveRolePrivilegesRole(RoleId="+roleID+")", &r); err != nil {
		return nil, err
	}
	return r.RolePrivileges, nil
}

// --- privileges ---

// TablePrivileges returns a table's privileges by access right, found through
// privilegeobjecttypecodes (the privilege names carry the schema name, which the operator's API
// does not know: webresource is prvReadWebResource).
func (cl *Client) TablePrivileges(ctx context.Context, table string) (map[AccessRight]Privilege, error) {
	var codes webapi.Page[struct {
		PrivilegeID string `json:"_privilegeid_value"`
	}]
	if err := cl.filter(ctx, "TablePrivileges", "privilegeobjecttypecodes", "_privilegeid_value", "objecttypecode eq "+quote(strings.ToLower(table)), &codes); err != nil {
		return nil, err
	}
	if len(codes.Value) == 0 {
		return nil, notFound("TablePrivileges", "privileges of table "+table)
	}
	var clauses []string
	for _, c := range codes.Value {
		if err := checkIDs("TablePrivileges", c.PrivilegeID); err != nil {
			return nil, err
		}
		clauses = append(clauses, "privilegeid eq "+c.PrivilegeID)
	}
	privs, err := list[Privilege](ctx, cl, "TablePrivileges", cl.query("privileges", "$select", privilegeSelect, "$filter", strings.Join(clauses, " or ")))
	if err != nil {
		return nil, err
	}
	out := map[AccessRight]Privilege{}
	for _, p := range privs {
		out[p.AccessRight] = p
	}
	return out, nil
}

// PrivilegesByName returns privileges by name (prvExportToExcel, …); names not found are absent
// from the map.
func (cl *Client) PrivilegesByName(ctx context.Context, names ...string) (map[string]Privilege, error) {
	out := map[string]Privilege{}
	// Twenty names a request keeps the URL far under the service's length limit.
	for start := 0; start < len(names); start += 20 {
		end := min(start+20, len(names))
		var clauses []string
		for _, n := range names[start:end] {
			clauses = append(clauses, "name eq "+quote(n))
		}
		privs, err := list[Privilege](ctx, cl, "PrivilegesByName", cl.query("privileges", "$select", privilegeSelect, "$filter", strings.Join(clauses, " or ")))
		if err != nil {
			return nil, err
		}
		for _, p := range privs {
			out[p.Name] = p
		}
	}
	return out, nil
}

// --- teams ---

// GetTeam reads a team by id.
func (cl *Client) GetTeam(ctx context.Context, id string) (*Team, error) {
	if err := checkIDs("GetTeam", id); err != nil {
		return nil, err
	}
	var t Team
	if err := cl.get(ctx, "GetTeam", cl.query("teams("+id+")", "$select", teamSelect), &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// TeamByName finds a team by name within a business unit.
func (cl *Client) TeamByName(ctx context.Context, name, businessUnitID string) (*Team, error) {
	if err := checkIDs("TeamByName", businessUnitID); err != nil {
		return nil, err
	}
	var p webapi.Page[Team]
	if err := cl.filter(ctx, "TeamByName", "teams", teamSelect, "name eq "+quote(name)+" and _businessunitid_value eq "+businessUnitID, &p); err != nil {
		return nil, err
	}
	return one("TeamByName", "team "+name, p.Value)
}

// TeamByGroup finds the team of an Entra group with a membership type.
func (cl *Client) TeamByGroup(ctx context.Context, groupObjectID string, mt MembershipType) (*Team, error) {
	if err := checkIDs("TeamByGroup", groupObjectID); err != nil {
		return nil, err
	}
	var p webapi.Page[Team]
	if err := cl.filter(ctx, "TeamByGroup", "teams", teamSelect, fmt.Sprintf("azureactivedirectoryobjectid eq %s and membershiptype eq %d", groupObjectID, mt), &p); err != nil {
		return nil, err
	}
	return one("TeamByGroup", "team of group "+groupObjectID, p.Value)
}

// NewTeam describes a team to create.
type NewTeam struct {
	Name           string
	TeamType       TeamType
	BusinessUnitID string
	// GroupObjectID and MembershipType: group teams only.
	GroupObjectID  string
	MembershipType MembershipType
}

// CreateTeam creates a team.
func (cl *Client) CreateTeam(ctx context.Context, t NewTeam) (string, error) {
	if err := checkIDs("CreateTeam", t.BusinessUnitID); err != nil {
		return "", err
	}
	body := map[string]any{
		"name":                      t.Name,
		"teamtype":                  int(t.TeamType),
		"businessunitid@odata.bind": "/businessunits(" + t.BusinessUnitID + ")",
	}
	if t.TeamType == TeamTypeSecurityGroup || t.TeamType == TeamTypeOfficeGroup {
		if err := checkIDs("CreateTeam", t.GroupObjectID); err != nil {
			return "", err
		}
		body["azureactivedirectoryobjectid"] = t.GroupObjectID
		body["membershiptype"] = int(t.MembershipType)
	}
	return cl.create(ctx, "CreateTeam", "teams", body)
}

// DeleteTeam deletes a team.
func (cl *Client) DeleteTeam(ctx context.Context, id string) error {
	return cl.delete(ctx, "DeleteTeam", "teams", id)
}

// TeamMembers lists the ids of a team's members.
func (cl *Client) TeamMembers(ctx context.Context, teamID string) ([]string, error) {
	if err := checkIDs("TeamMembers", teamID); err != nil {
		return nil, err
	}
	users, err := list[SystemUser](ctx, cl, "TeamMembers", cl.query("teams("+teamID+")/teammembership_association", "$select", "systemuserid"))
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	return ids, nil
}

// AddTeamMembers adds users to an Owner or Access team (action AddMembersTeam). Members of group
// teams come from Entra ID.
func (cl *Client) AddTeamMembers(ctx context.Context, teamID string, userIDs ...string) error {
	return cl.members(ctx, "AddTeamMembers", "AddMembersTeam", teamID, userIDs)
}

// RemoveTeamMembers removes users from an Owner or Access team (action RemoveMembersTeam).
func (cl *Client) RemoveTeamMembers(ctx context.Context, teamID string, userIDs ...string) error {
	return cl.members(ctx, "RemoveTeamMembers", "RemoveMembersTeam", teamID, userIDs)
}

// members sends a membership action; adding a member twice or removing an absent one changes
// nothing, so it is idempotent: a 5xx or a lost answer is retried. (The emulator answers such a
// resend 204; if the service answered it with an error instead, the caller's re-read of the
// members would still converge.)
func (cl *Client) members(ctx context.Context, op, action, teamID string, userIDs []string) error {
	if err := checkIDs(op, append([]string{teamID}, userIDs...)...); err != nil {
		return err
	}
	if len(userIDs) == 0 {
		return nil
	}
	members := make([]map[string]string, len(userIDs))
	for i, id := range userIDs {
		members[i] = map[string]string{"@odata.type": "Microsoft.Dynamics.CRM.systemuser", "systemuserid": id}
	}
	return cl.t.Do(ctx, &webapi.Call{Op: op, Method: http.MethodPost, URL: cl.api + "teams(" + teamID + ")/Microsoft.Dynamics.CRM." + action,
		Body: map[string]any{"Members": members}, Idempotent: true})
}

// TeamRoles lists the roles a team holds.
func (cl *Client) TeamRoles(ctx context.Context, teamID string) ([]Role, error) {
	if err := checkIDs("TeamRoles", teamID); err != nil {
		return nil, err
	}
	return list[Role](ctx, cl, "TeamRoles", cl.query("teams("+teamID+")/teamroles_association", "$select", roleSelect))
}

// --- business units ---

// RootBusinessUnit reads the one unit without a parent. It carries the organization's name.
func (cl *Client) RootBusinessUnit(ctx context.Context) (*BusinessUnit, error) {
	var p webapi.Page[BusinessUnit]
	if err := cl.filter(ctx, "RootBusinessUnit", "businessunits", businessUnitSelect, "_parentbusinessunitid_value eq null", &p); err != nil {
		return nil, err
	}
	return one("RootBusinessUnit", "root business unit", p.Value)
}

// ListBusinessUnits reads every business unit.
func (cl *Client) ListBusinessUnits(ctx context.Context) ([]BusinessUnit, error) {
	return list[BusinessUnit](ctx, cl, "ListBusinessUnits", cl.query("businessunits", "$select", businessUnitSelect))
}

// CreateBusinessUnit creates a unit under a parent.
func (cl *Client) CreateBusinessUnit(ctx context.Context, name, parentID string) (string, error) {
	if err := checkIDs("CreateBusinessUnit", parentID); err != nil {
		return "", err
	}
	return cl.create(ctx, "CreateBusinessUnit", "businessunits", map[string]any{
		"name": name, "parentbusinessunitid@odata.bind": "/businessunits(" + parentID + ")",
	})
}

// --- role assignment ($ref associations) ---

// AssignUserRole associates a role with a user (systemuserroles_association).
func (cl *Client) AssignUserRole(ctx context.Context, userID, roleID string) error {
	return cl.associate(ctx, "AssignUserRole", "systemusers", userID, "systemuserroles_association", roleID)
}

// UnassignUserRole removes a role from a user.
func (cl *Client) UnassignUserRole(ctx context.Context, userID, roleID string) error {
	return cl.disassociate(ctx, "UnassignUserRole", "systemusers", userID, "systemuserroles_association", roleID)
}

// AssignTeamRole associates a role with a team (teamroles_association).
func (cl *Client) AssignTeamRole(ctx context.Context, teamID, roleID string) error {
	return cl.associate(ctx, "AssignTeamRole", "teams", teamID, "teamroles_association", roleID)
}

// UnassignTeamRole removes a role from a team.
func (cl *Client) UnassignTeamRole(ctx context.Context, teamID, roleID string) error {
	return cl.disassociate(ctx, "UnassignTeamRole", "teams", teamID, "teamroles_association", roleID)
}

// associate POSTs a $ref. Not idempotent over the wire: a second association answers a duplicate,
// so an unknown outcome (a 5xx, a lost answer) is not resent but returned as ErrAnswerLost;
// callers read the association back instead.
func (cl *Client) associate(ctx context.Context, op, set, id, nav, roleID string) error {
	if err := checkIDs(op, id, roleID); err != nil {
		return err
	}
	return cl.t.Do(ctx, &webapi.Call{Op: op, Method: http.MethodPost, URL: cl.api + set + "(" + id + ")/" + nav + "/$ref",
		Body: map[string]string{"@odata.id": cl.api + "roles(" + roleID + ")"}})
}

func (cl *Client) disassociate(ctx context.Context, op, set, id, nav, roleID string) error {
	if err := checkIDs(op, id, roleID); err != nil {
		return err
	}
	return cl.t.Do(ctx, &webapi.Call{Op: op, Method: http.MethodDelete,
		URL: cl.api + set + "(" + id + ")/" + nav + "/$ref?$id=" + webapi.EscapeQuery(cl.api+"roles("+roleID+")"), Idempotent: true})
}

// RetryConflict runs fn until it succeeds, fails with anything but ErrPreconditionFailed, or has
// run attempts times. fn must re-read the record it writes, so each try carries a fresh ETag: a
// change someone else made in between is seen and kept rather than overwritten.
func RetryConflict(ctx context.Context, attempts int, fn func(ctx context.Context) error) error {
	var err error
	for i := 0; i < max(attempts, 1); i++ {
		if err = fn(ctx); err == nil || !errors.Is(err, ErrPreconditionFailed) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// --- bulk reads (docs/design.md, "Observing at scale") ---

// UserRoleLink is one row of the systemuserroles intersect table: a role assigned to a user.
type UserRoleLink struct {
	UserID string `json:"systemuserid"`
	RoleID string `json:"roleid"`
}

// ListUserRoleLinks reads every user–role association of the environment, flat and paged
// through the intersect entity set systemuserrolescollection (5,000 rows a page): one request per
// 5,000 assignments instead of one per user.
func (cl *Client) ListUserRoleLinks(ctx context.Context) ([]UserRoleLink, error) {
	return list[UserRoleLink](ctx, cl, "ListUserRoleLinks", cl.query("systemuserrolescollection", "$select", "systemuserid,roleid"))
}

// ListTeams reads every team of the environment (the columns TeamByName reads), paged.
func (cl *Client) ListTeams(ctx context.Context) ([]Team, error) {
	return list[Team](ctx, cl, "ListTeams", cl.query("teams", "$select", teamSelect))
}

// TeamMemberLink is one row of the intersect entity set teammemberships.
type TeamMemberLink struct {
	TeamID string `json:"teamid"`
	UserID string `json:"systemuserid"`
}

// ListTeamMemberLinks reads every team membership of the environment, flat and paged through the
// intersect entity set teammemberships (teamid, systemuserid): one request per 5,000 memberships
// instead of one per team.
func (cl *Client) ListTeamMemberLinks(ctx context.Context) ([]TeamMemberLink, error) {
	return list[TeamMemberLink](ctx, cl, "ListTeamMemberLinks", cl.query("teammemberships", "$select", "teamid,systemuserid"))
}

// TeamRoleLink is one row of the intersect entity set teamrolescollection.
type TeamRoleLink struct {
	TeamID string `json:"teamid"`
	RoleID string `json:"roleid"`
}

// ListTeamRoleLinks reads every team–role association, flat and paged through the intersect
// entity set teamrolescollection (teamid, roleid).
func (cl *Client) ListTeamRoleLinks(ctx context.Context) ([]TeamRoleLink, error) {
	return list[TeamRoleLink](ctx, cl, "ListTeamRoleLinks", cl.query("teamrolescollection", "$select", "teamid,roleid"))
}

// RolePrivilegeLink is one row of the intersect entity set roleprivilegescollection: a role's
// privilege and its depth as a bit mask (1 Basic, 2 Local, 4 Deep, 8 Global: the SDK's
// PrivilegeDepth masks, Microsoft Learn, "PrivilegeDepth Enumeration").
type RolePrivilegeLink struct {
	RoleID      string `json:"roleid"`
	PrivilegeID string `json:"privilegeid"`
	DepthMask   int    `json:"privilegedepthmask"`
}

// Depth is the deepest depth the mask holds; false when it holds none.
func (l RolePrivilegeLink) Depth() (Depth, bool) {
	for d := DepthGlobal; d >= DepthBasic; d-- {
		if l.DepthMask&(1<<d) != 0 {
			return d, true
		}
	}
	return 0, false
}

// ListRolePrivilegeLinks reads every role's privileges, flat and paged through the intersect
// entity set roleprivilegescollection (roleid, privilegeid, privilegedepthmask): one request per
// 5,000 privileges instead of one RetrieveRolePrivilegesRole per role.
func (cl *Client) ListRolePrivilegeLinks(ctx context.Context) ([]RolePrivilegeLink, error) {
	return list[RolePrivilegeLink](ctx, cl, "ListRolePrivilegeLinks", cl.query("roleprivilegescollection", "$select", "roleid,privilegeid,privilegedepthmask"))
}

// ListPrivileges reads the environment's whole privilege catalogue (privileges: id, name, access
// right), paged: manager export turns a role's privilege ids back into tables and names with it.
func (cl *Client) ListPrivileges(ctx context.Context) ([]Privilege, error) {
	return list[Privilege](ctx, cl, "ListPrivileges", cl.query("privileges", "$select", privilegeSelect))
}

// PrivilegeTable is one row of privilegeobjecttypecodes: the table (objecttypecode, its logical
// name) a privilege is on. Named privileges (prvExportToExcel, …) have no row with a table.
type PrivilegeTable struct {
	PrivilegeID string `json:"_privilegeid_value"`
	Table       string `json:"objecttypecode"`
}

// ListPrivilegeTables reads which table every table privilege is on, paged.
func (cl *Client) ListPrivilegeTables(ctx context.Context) ([]PrivilegeTable, error) {
	return list[PrivilegeTable](ctx, cl, "ListPrivilegeTables", cl.query("privilegeobjecttypecodes", "$select", "_privilegeid_value,objecttypecode"))
}
