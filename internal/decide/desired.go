package decide

import (
	"sort"
	"strings"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
)

// The desired external state: what a target (Dataverse) should hold for an object, decided with
// its status and returned beside it (docs/design.md, "Sync contract"). A target's client
// compares it with what the target holds and writes the difference; it never reads conditions
// or applies a rule, so everything it needs to know is here, in plain values.
//
// Names are display names (a role's roleName, a unit's name): translating them into record ids
// is the target's business. Every slice is sorted, so two decisions of the same state are equal
// and the sync's freshness fingerprint (a hash of the value) is stable.

// DesiredEnvironment is what Dataverse should hold for an Environment.
type DesiredEnvironment struct {
	// BusinessUnits are the declared units, parents before children; the root (Parent "") is the
	// organization's root unit, adopted whatever its name.
	BusinessUnits []DesiredUnit
	// ManagedPeople identify the environment's PlatformUsers (user names and Entra object ids,
	// lower case): the non-interactive people Dataverse holds beyond them take slots first (AM6).
	ManagedPeople []string
}

// DesiredUnit is one business unit.
type DesiredUnit struct {
	Name   string
	Parent string
}

// DesiredUser is what Dataverse should hold for a person (PlatformUser).
type DesiredUser struct {
	UserName      string
	EntraObjectID string
	// Stub users are created by data import, never by the operator (AM8): nothing is written.
	Stub bool
	// AccessMode to write: NonInteractive only while the user holds a slot (AM6), since the
	// service refuses an eighth; a waiting user is written ReadWrite.
	AccessMode   v1alpha1.AccessMode
	BusinessUnit string
	// Roles are the direct roles Dataverse should hold (EN6 applied), by display name.
	Roles []string
	// ServiceRoles are roles the service assigns by itself and the operator leaves alone:
	// System Administrator for a Global or Service administrator (AM9).
	ServiceRoles []string
	// Enabled is whether the person is meant to be enabled (EN1 as decided).
	Enabled bool
	// WaitingFor, when the person is meant to be enabled but is not yet, names what it waits for
	// ("a non-interactive slot", "a license seat") and WaitingReason the condition reason.
	WaitingFor    string
	WaitingReason string
	// SecurityGroup and License are the Entra ID facts behind EN1, to name in messages.
	SecurityGroup string
	License       string
	// EnablementManaged: the operator makes the person's membership of the environment's
	// security group follow Enabled (spec.entra, Manage, SecurityGroupMembership), so Dataverse
	// disagreeing is Dataverse not having followed Entra ID yet, not EnablementDrift.
	EnablementManaged bool
	// Entra is what Entra ID should hold for the person; nil without an Entra target.
	Entra *DesiredEntraPerson
}

// DesiredEntraPerson is what Entra ID should hold for a person (internal/entrasync.Person).
type DesiredEntraPerson struct {
	// InSecurityGroup is the membership of the environment's security group decided: when the
	// operator manages it, whether the person may be enabled (spec.enabled, not a stub, holding
	// its seat (LI1) and, NonInteractive, its slot (AM6)); otherwise what spec.securityGroups
	// declares, compared for EntraDrift.
	InSecurityGroup bool
	// Undecided: the operator manages the membership and the Environment has yet to allocate
	// the person's seat or slot (AwaitingAllocation), so InSecurityGroup is not a decision yet
	// and nothing is written to Entra ID for the person: a member removed now would be added
	// back once the ledger grants, and a person not yet a member added too early.
	Undecided bool
	// SignInBlocked is spec.signInBlocked, compared with Entra ID's accountEnabled (never written).
	SignInBlocked bool
	// License is spec.license; LicenseWaits: its seat is not held yet, so it is not assigned.
	License      string
	LicenseWaits bool
	// Assigned are the licenses the operator assigned before (status.entra.assignedByOperator).
	Assigned []string
	// Groups are spec.securityGroups: the group team groups the person is a direct member of.
	Groups []string
}

// DesiredApplicationUser is what Dataverse should hold for an application user (AM7).
type DesiredApplicationUser struct {
	ApplicationID string
	BusinessUnit  string
	// Disabled is written with a PATCH of isdisabled: application users, unlike people, are
	// enabled and disabled in Dataverse itself.
	Disabled bool
	Roles    []string
}

// DesiredRole is what Dataverse should hold for a security role.
type DesiredRole struct {
	RoleName     string
	BusinessUnit string
	// BuiltIn roles are adopted by name and never modified (SR7 keeps their inheritance the
	// service's).
	BuiltIn     bool
	Inheritance v1alpha1.MemberPrivilegeInheritance
	// Tables are the table privileges after preset expansion (SR4), in canonical levels (SR2).
	Tables []v1alpha1.EffectiveTable
	// Named are miscellaneous and privacy privileges by privilege name (prv<Name>) and level.
	Named []DesiredPrivilege
}

// DesiredPrivilege is one named privilege.
type DesiredPrivilege struct {
	Name  string
	Level v1alpha1.AccessLevel
}

// DesiredTeam is what Dataverse should hold for a team.
type DesiredTeam struct {
	TeamName     string
	Type         v1alpha1.TeamType
	Group        string
	BusinessUnit string
	// Members of an Owner or Access team (a group team's come from Entra ID): nil for a group
	// team, which leaves them alone.
	Members []DesiredMember
	// HoldsRoles is false for an Access team, which holds none (TM4); Roles are then empty.
	HoldsRoles bool
	Roles      []string
}

// DesiredMember is a team member: its PlatformUser and the Dataverse record the user's own sync
// found ("" while it has none yet).
type DesiredMember struct {
	Name     string
	RecordID string
}

// desiredEnvironment is nil while the business-unit tree is invalid (EV2): nothing is synced
// from a tree that cannot be built.
func desiredEnvironment(env *v1alpha1.Environment, users []v1alpha1.PlatformUser) *DesiredEnvironment {
	tree := butree.Tree(env.BusinessUnitParents())
	if tree.Validate() != nil {
		return nil
	}
	d := &DesiredEnvironment{}
	for _, name := range topDown(env) {
		d.BusinessUnits = append(d.BusinessUnits, DesiredUnit{Name: name, Parent: parentOf(env, name)})
	}
	seen := map[string]bool{}
	for i := range users {
		for _, id := range []string{users[i].Spec.UserName, users[i].Spec.EntraObjectID} {
			if id = strings.ToLower(id); id != "" && !seen[id] {
				seen[id] = true
				d.ManagedPeople = append(d.ManagedPeople, id)
			}
		}
	}
	sort.Strings(d.ManagedPeople)
	return d
}

func parentOf(env *v1alpha1.Environment, name string) string {
	for _, b := range env.Spec.BusinessUnits {
		if b.Name == name {
			return b.Parent
		}
	}
	return ""
}

// topDown lists the units of a valid tree so that every parent comes before its children,
// siblings by name.
func topDown(env *v1alpha1.Environment) []string {
	children := map[string][]string{}
	for _, b := range env.Spec.BusinessUnits {
		if b.Parent != "" {
			children[b.Parent] = append(children[b.Parent], b.Name)
		}
	}
	out := []string{env.RootBusinessUnit()}
	for i := 0; i < len(out) && i <= len(env.Spec.BusinessUnits); i++ {
		kids := children[out[i]]
		sort.Strings(kids)
		out = append(out, kids...)
	}
	return out
}

// desiredRole is what Dataverse should hold for a role whose decision is st.
func desiredRole(role *v1alpha1.SecurityRole, st *v1alpha1.SecurityRoleStatus) *DesiredRole {
	d := &DesiredRole{
		RoleName: st.RoleName, BusinessUnit: st.BusinessUnit, BuiltIn: role.Spec.BuiltIn != "",
		Inheritance: v1alpha1.InheritDirectUserBasicAndTeam, Tables: st.Tables,
	}
	if role.Spec.MemberPrivilegeInheritance == v1alpha1.InheritTeamPrivilegesOnly {
		d.Inheritance = v1alpha1.InheritTeamPrivilegesOnly
	}
	named := map[string]v1alpha1.AccessLevel{}
	for _, list := range [][]v1alpha1.NamedPrivilege{role.Spec.MiscellaneousPrivileges, role.Spec.PrivacyPrivileges} {
		for _, n := range list {
			named["prv"+n.Name] = n.Level.Canonical()
		}
	}
	for name, level := range named {
		d.Named = append(d.Named, DesiredPrivilege{Name: name, Level: level})
	}
	sort.Slice(d.Named, func(i, j int) bool { return d.Named[i].Name < d.Named[j].Name })
	return d
}

// desiredTeam is what Dataverse should hold for a team whose decision is st.
func desiredTeam(in TeamInput, st *v1alpha1.TeamStatus) *DesiredTeam {
	team := in.Team
	d := &DesiredTeam{TeamName: team.DisplayTeamName(), Type: team.Spec.Type, Group: team.Spec.Group, BusinessUnit: st.BusinessUnit,
		HoldsRoles: team.Spec.Type != v1alpha1.TeamAccess} // TM4
	if !team.Spec.Type.IsGroupTeam() {
		d.Members = []DesiredMember{}
		ids := map[string]string{}
		for i := range in.Users {
			if rec := in.Users[i].Status.Dataverse; rec != nil && TeamIncludes(team, &in.Users[i]) {
				ids[in.Users[i].Name] = rec.ID
			}
		}
		seen := map[string]bool{}
		for _, name := range team.Spec.Members {
			if !seen[name] {
				seen[name] = true
				d.Members = append(d.Members, DesiredMember{Name: name, RecordID: ids[name]})
			}
		}
		sort.Slice(d.Members, func(i, j int) bool { return d.Members[i].Name < d.Members[j].Name })
	}
	if d.HoldsRoles {
		d.Roles = []string{}
		for _, name := range team.Spec.SecurityRoles {
			if role := in.Roles[name]; role != nil {
				d.Roles = append(d.Roles, role.DisplayRoleName())
			}
		}
		sort.Strings(d.Roles)
	}
	return d
}

// accessModeToWrite is the access mode Dataverse should hold: NonInteractive only with a granted
// slot (AM6), Administrative as declared, ReadWrite otherwise.
func accessModeToWrite(u *v1alpha1.PlatformUser, slotGranted bool) v1alpha1.AccessMode {
	switch {
	case u.Spec.AccessMode == v1alpha1.AccessModeAdministrative:
		return v1alpha1.AccessModeAdministrative
	case u.Spec.AccessMode == v1alpha1.AccessModeNonInteractive && slotGranted:
		return v1alpha1.AccessModeNonInteractive
	}
	return v1alpha1.AccessModeReadWrite
}

// waitingFor names what a person meant to be enabled waits for, from its Enabled reason.
func waitingFor(u *v1alpha1.PlatformUser, reason string) string {
	switch reason {
	case v1alpha1.ReasonNonInteractiveLimitReached, v1alpha1.ReasonSeatsExhausted, v1alpha1.ReasonAwaitingAllocation:
		if u.Spec.AccessMode == v1alpha1.AccessModeNonInteractive {
			return "a non-interactive slot"
		}
		return "a license seat"
	}
	return ""
}

// serviceRoles are the display names of the roles the service itself assigns (AM9).
func serviceRoles(roles []v1alpha1.EffectiveRole) []string {
	out := []string{}
	for _, r := range roles {
		if strings.HasPrefix(r.Source, v1alpha1.RoleSourceAdministratorRolePrefix) {
			out = append(out, r.RoleName)
		}
	}
	sort.Strings(out)
	return out
}
