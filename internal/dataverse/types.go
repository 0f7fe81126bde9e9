package dataverse

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// AccessMode is systemuser.accessmode.
type AccessMode int

const (
	AccessModeReadWrite      AccessMode = 0
	AccessModeAdministrative AccessMode = 1
	AccessModeRead           AccessMode = 2
	AccessModeSupportUser    AccessMode = 3
	AccessModeNonInteractive AccessMode = 4
	AccessModeDelegatedAdmin AccessMode = 5
)

// SystemUser is the part of a systemusers record the operator reads. A real record has more than
// a hundred more fields; encoding/json skips them.
type SystemUser struct {
	ID                           string     `json:"systemuserid"`
	ETag                         string     `json:"@odata.etag,omitempty"`
	DomainName                   string     `json:"domainname"`
	FullName                     string     `json:"fullname"`
	AzureActiveDirectoryObjectID string     `json:"azureactivedirectoryobjectid"`
	ApplicationID                string     `json:"applicationid"`
	AccessMode                   AccessMode `json:"accessmode"`
	IsDisabled                   bool       `json:"isdisabled"`
	IsLicensed                   bool       `json:"islicensed"`
	DeletedState                 int        `json:"deletedstate"`
	BusinessUnitID               string     `json:"_businessunitid_value"`
}

// IsApplicationUser tells an app registration's user from a person: application users never count
// toward the seven non-interactive users (AM7).
func (u SystemUser) IsApplicationUser() bool {
	return u.ApplicationID != "" && u.ApplicationID != "00000000-0000-0000-0000-000000000000"
}

const systemUserSelect = "systemuserid,domainname,fullname,azureactivedirectoryobjectid,applicationid,accessmode,isdisabled,islicensed,deletedstate,_businessunitid_value"

// UserPatch is a PATCH of a systemusers record; nil fields are left alone.
type UserPatch struct {
	AccessMode     *AccessMode
	IsDisabled     *bool // application users only: Entra ID decides it for people (400 otherwise)
	BusinessUnitID string
}

func (p UserPatch) body() map[string]any {
	m := map[string]any{}
	if p.AccessMode != nil {
		m["accessmode"] = int(*p.AccessMode)
	}
	if p.IsDisabled != nil {
		m["isdisabled"] = *p.IsDisabled
	}
	if p.BusinessUnitID != "" {
		m["businessunitid@odata.bind"] = "/businessunits(" + p.BusinessUnitID + ")"
	}
	return m
}

// Inheritance is role.isinherited (member's privilege inheritance).
type Inheritance int

const (
	InheritanceTeamPrivilegesOnly     Inheritance = 0
	InheritanceDirectUserBasicAndTeam Inheritance = 1
)

// Role is a roles record.
type Role struct {
	ID               string      `json:"roleid"`
	ETag             string      `json:"@odata.etag,omitempty"`
	Name             string      `json:"name"`
	BusinessUnitID   string      `json:"_businessunitid_value"`
	IsInherited      Inheritance `json:"isinherited"`
	ParentRootRoleID string      `json:"_parentrootroleid_value"`
	IsManaged        bool        `json:"ismanaged"`
}

const roleSelect = "roleid,name,_businessunitid_value,isinherited,_parentrootroleid_value,ismanaged"

// Depth is a privilege's depth in a role (the Web API's PrivilegeDepth enum).
type Depth int

const (
	DepthBasic  Depth = 0 // User
	DepthLocal  Depth = 1 // Business unit
	DepthDeep   Depth = 2 // Parent: child business units
	DepthGlobal Depth = 3 // Organization
)

var depthNames = []string{"Basic", "Local", "Deep", "Global"}

func (d Depth) String() string {
	if d >= 0 && int(d) < len(depthNames) {
		return depthNames[d]
	}
	return strconv.Itoa(int(d))
}

// MarshalJSON writes the enum member's name, as the Web API writes enums.
func (d Depth) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a member name ("Global") or a number (3).
func (d *Depth) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		for i, n := range depthNames {
			if strings.EqualFold(s, n) {
				*d = Depth(i)
				return nil
			}
		}
		if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < len(depthNames) {
			*d = Depth(n)
			return nil
		}
		return fmt.Errorf("unknown privilege depth %q", s)
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil || n < 0 || n >= len(depthNames) {
		return fmt.Errorf("unknown privilege depth %s", b)
	}
	*d = Depth(n)
	return nil
}

// RolePrivilege is one privilege held by a role, as ReplacePrivilegesRole takes it and
// RetrieveRolePrivilegesRole returns it.
type RolePrivilege struct {
	PrivilegeID    string `json:"PrivilegeId"`
	Depth          Depth  `json:"Depth"`
	BusinessUnitID string `json:"BusinessUnitId,omitempty"`
	PrivilegeName  string `json:"PrivilegeName,omitempty"`
}

// Access rights of a table privilege (privilege.accessright).
type AccessRight int

const (
	RightRead     AccessRight = 1
	RightWrite    AccessRight = 2
	RightAppend   AccessRight = 4
	RightAppendTo AccessRight = 16
	RightCreate   AccessRight = 32
	RightDelete   AccessRight = 65536
	RightShare    AccessRight = 262144
	RightAssign   AccessRight = 524288
)

// TableRights are the eight rights of a table, in the order the operator's API lists them.
var TableRights = []AccessRight{RightCreate, RightRead, RightWrite, RightDelete, RightAppend, RightAppendTo, RightAssign, RightShare}

// Privilege is a privileges record.
type Privilege struct {
	ID             string      `json:"privilegeid"`
	Name           string      `json:"name"`
	AccessRight    AccessRight `json:"accessright"`
	CanBeBasic     bool        `json:"canbebasic"`
	CanBeLocal     bool        `json:"canbelocal"`
	CanBeDeep      bool        `json:"canbedeep"`
	CanBeGlobal    bool        `json:"canbeglobal"`
	CanBeEntityRef bool        `json:"canbeentityreference"`
}

const privilegeSelect = "privilegeid,name,accessright,canbebasic,canbelocal,canbedeep,canbeglobal,canbeentityreference"

// TeamType is team.teamtype.
type TeamType int

const (
	TeamTypeOwner         TeamType = 0
	TeamTypeAccess        TeamType = 1
	TeamTypeSecurityGroup TeamType = 2 // Microsoft Entra security group
	TeamTypeOfficeGroup   TeamType = 3 // Microsoft Entra Office group
)

// MembershipType is team.membershiptype for group teams.
type MembershipType int

const (
	MembershipMembersAndGuests MembershipType = 0
	MembershipMembers          MembershipType = 1
	MembershipOwners           MembershipType = 2
	MembershipGuests           MembershipType = 3
)

// Team is a teams record.
type Team struct {
	ID                           string         `json:"teamid"`
	ETag                         string         `json:"@odata.etag,omitempty"`
	Name                         string         `json:"name"`
	TeamType                     TeamType       `json:"teamtype"`
	BusinessUnitID               string         `json:"_businessunitid_value"`
	AzureActiveDirectoryObjectID string         `json:"azureactivedirectoryobjectid"`
	MembershipType               MembershipType `json:"membershiptype"`
	IsDefault                    bool           `json:"isdefault"`
}

const teamSelect = "teamid,name,teamtype,_businessunitid_value,azureactivedirectoryobjectid,membershiptype,isdefault"

// BusinessUnit is a businessunits record; the root has no parent.
type BusinessUnit struct {
	ID       string `json:"businessunitid"`
	ETag     string `json:"@odata.etag,omitempty"`
	Name     string `json:"name"`
	ParentID string `json:"_parentbusinessunitid_value"`
	Disabled bool   `json:"isdisabled"`
}

const businessUnitSelect = "businessunitid,name,_parentbusinessunitid_value,isdisabled"

// WhoAmIResult is the WhoAmI function's answer.
type WhoAmIResult struct {
	BusinessUnitID string `json:"BusinessUnitId"`
	UserID         string `json:"UserId"`
	OrganizationID string `json:"OrganizationId"`
}
