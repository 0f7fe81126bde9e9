// Package export turns what a live environment holds — Dataverse's business units, roles, people,
// application users and teams, and Entra ID's licenses and security group — into the objects
// that, applied with every target in Observe, change nothing (docs/design.md, "Export"). It is
// pure: reading the services is the caller's; Build takes what was read and returns the files,
// what it skipped and why, and what the API cannot express, so nothing is dropped silently.
package export

import (
	"time"

	v1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// Source is one environment as read, in the services' terms (ids, display names).
type Source struct {
	// URL and EnvironmentID name the environment (spec.dataverse).
	URL           string
	EnvironmentID string
	// ReadAt is when it was read; the files' headers say so.
	ReadAt time.Time
	// SignedInAs is the application (client) id the export signed in as: its application user
	// is the export's own and is skipped.
	SignedInAs string
	// Product decides which built-in role is the stub users' default (AM8); "" is Dynamics365.
	Product v1alpha1.Product
	// SecurityGroup is the environment's Entra group (object id), "" when the admin API reports
	// none.
	SecurityGroup string
	// Entra is true when licenses and group memberships were read from Entra ID; false
	// (--entra=false) leaves licenses unknown.
	Entra bool

	Units        []Unit
	Roles        []Role
	Users        []User
	Applications []ApplicationUser
	Teams        []Team
}

// Unit is a business unit (businessunits). The root has no ParentID.
type Unit struct {
	ID, Name, ParentID string
}

// Role is a security role (roles) with its privileges already named by table: the caller maps
// each privilege id through the environment's privilege catalogue.
type Role struct {
	ID, Name, UnitID string
	// ParentRootRoleID is the role a copy in a child unit was made from (parentrootroleid);
	// "" or ID for a role of its own. Dataverse copies every role into each unit below its own,
	// so a copy is the same role and is not exported.
	ParentRootRoleID string
	// BuiltIn is the product role it is ("" for a custom role).
	BuiltIn v1alpha1.BuiltInRole
	// Managed marks a role a solution ships (ismanaged) that is not one of the built-ins: it is
	// exported only when someone holds it.
	Managed bool
	// Inherited is isinherited: true is DirectUserBasicAndTeam, false TeamPrivilegesOnly.
	Inherited bool
	// Tables are the record-level privileges per table logical name.
	Tables []TablePrivileges
	// Named are the miscellaneous and privacy privileges it holds, without the prv prefix
	// (they take only Organization).
	Named []string
	// Unknown are the privileges the catalogue could not place (a table it does not know):
	// listed, never exported.
	Unknown []string
}

// TablePrivileges is what a role holds on one table; absent privileges are None.
type TablePrivileges struct {
	Table      string
	Ownership  v1alpha1.TableOwnership
	Privileges v1alpha1.TablePrivileges
}

// User is a person (systemusers).
type User struct {
	ID, UserName, FullName string
	EntraObjectID          string
	// AccessMode is "" for a mode the API has no PlatformUser for (Read, Support user,
	// Delegated admin): such a person is listed, not exported; AccessModeName says which.
	AccessMode     v1alpha1.AccessMode
	AccessModeName string
	Disabled       bool
	Stub           bool
	UnitID         string
	RoleIDs        []string
	// Licensed is Dataverse's islicensed, for the summary when licenses are unknown.
	Licensed bool
	// Licenses are the SKU part numbers Entra ID assigns the person (Source.Entra).
	Licenses []string
	// Groups are the groups, among the environment's security group and its group teams'
	// groups, of which the person is a direct member (Source.Entra).
	Groups []string
	// SignInBlocked is Entra ID's accountEnabled false (Source.Entra).
	SignInBlocked bool
}

// ApplicationUser is an application user (systemusers with an applicationid).
type ApplicationUser struct {
	ID, ApplicationID, Name string
	Disabled                bool
	UnitID                  string
	RoleIDs                 []string
}

// Team is a team (teams).
type Team struct {
	ID, Name string
	Type     v1alpha1.TeamType
	// IsDefault marks a business unit's default team, which Dataverse keeps itself.
	IsDefault bool
	UnitID    string
	// Group is the Entra group of a group team (azureactivedirectoryobjectid).
	Group     string
	MemberIDs []string
	RoleIDs   []string
}

// Options are what the export writes that Dataverse does not hold.
type Options struct {
	Namespace string
	// Name is the Environment's object name.
	Name string
	// CredentialsSecret is the Secret spec.dataverse names; default <Name>-dataverse.
	CredentialsSecret string
}
