package entrasync

import (
	"fmt"
	"sort"
	"strings"
)

// Fact is one entry of Environment.spec.entra.manage: a fact of Entra ID the operator may write
// under the Manage policy.
type Fact string

const (
	// SecurityGroupMembership: the environment's security group's direct members among managed
	// people are exactly those decided to be enabled.
	SecurityGroupMembership Fact = "SecurityGroupMembership"
	// GroupTeamMembership: each group team's group's direct members among managed people are
	// exactly those listing it (TM1).
	GroupTeamMembership Fact = "GroupTeamMembership"
	// Licenses: the SKU a person is to hold is assigned directly; one the operator assigned and no
	// longer decided is removed.
	Licenses Fact = "Licenses"
	// SignIn is accountEnabled: compared with spec.signInBlocked, never written (not a manage
	// entry).
	SignIn Fact = "SignIn"
)

// Manage says which facts may be written. Its zero value writes nothing; DefaultManage is
// spec.entra.manage's default.
type Manage struct {
	SecurityGroupMembership bool
	GroupTeamMembership     bool
	Licenses                bool
}

// DefaultManage is what spec.entra.manage means when it is absent: [SecurityGroupMembership].
var DefaultManage = Manage{SecurityGroupMembership: true}

// ParseManage reads spec.entra.manage; nil or empty is DefaultManage.
func ParseManage(entries []string) (Manage, error) {
	if len(entries) == 0 {
		return DefaultManage, nil
	}
	var m Manage
	for _, e := range entries {
		switch Fact(e) {
		case SecurityGroupMembership:
			m.SecurityGroupMembership = true
		case GroupTeamMembership:
			m.GroupTeamMembership = true
		case Licenses:
			m.Licenses = true
		default:
			return Manage{}, fmt.Errorf("spec.entra.manage: unknown entry %q (one of %s, %s, %s)", e, SecurityGroupMembership, GroupTeamMembership, Licenses)
		}
	}
	return m, nil
}

// Policy is spec.entra.managementPolicy.
type Policy string

const (
	PolicyObserve Policy = "Observe"
	PolicyManage  Policy = "Manage"
)

// Person is what was decided for one managed person (a PlatformUser): plain values, decided
// elsewhere; this package applies no rule.
type Person struct {
	// UserName is spec.userName, the person's user principal name.
	UserName string
	// ObjectID is spec.entraObjectId; empty: the person is found by UserName. Given, it is the
	// only key: a person of that user name with another object id is not this one.
	ObjectID string
	// InSecurityGroup is the decided membership of the environment's security group: enabled,
	// not a stub, holding its seat (LI1) and, NonInteractive, its slot (AM6). False for a person
	// waiting or disabled (EN4: the license stays).
	InSecurityGroup bool
	// SignInBlocked is spec.signInBlocked: compared with accountEnabled, never written.
	SignInBlocked bool
	// License is the SKU part number spec.license names ("" none).
	License string
	// LicenseWaits: the person does not hold its seat yet (LI1), so License is not assigned; a
	// license it holds is kept.
	LicenseWaits bool
	// Assigned are the SKU part numbers the operator assigned to the person before (from its
	// status): the only licenses it ever removes, and only when License no longer names them.
	Assigned []string
	// Groups are the group team groups (as Environment.GroupTeamGroups names them, or their
	// object ids) the person is to be a direct member of.
	Groups []string
}

// Environment is one environment's Entra ID target: its groups, what may be written and its
// managed people.
type Environment struct {
	// SecurityGroup is spec.securityGroup: an object id or a display name ("" none).
	SecurityGroup string
	// GroupTeamGroups are the Entra groups of the environment's group teams (ids or names).
	GroupTeamGroups []string
	Manage          Manage
	People          []Person
}

// Snapshot is what Entra ID holds for one environment, read in bulk by Observe; Apply keeps it up
// to date with the writes it makes, so a second comparison finds nothing to do.
type Snapshot struct {
	// SecurityGroup is the environment's security group; nil when it names none.
	SecurityGroup *GroupState
	// Groups are the group team groups, in the Environment's order.
	Groups []*GroupState
	// People are the managed people, by PersonKey.
	People map[string]*PersonState
	// Skus are the tenant's subscriptions, by part number.
	Skus []Sku
	// Requests is how many Graph requests the snapshot cost (a $batch counts one; retries of
	// throttled requests not included).
	Requests int
}

// GroupState is one group as observed.
type GroupState struct {
	// Ref is the group as the Environment names it (id or display name).
	Ref         string
	ID          string
	DisplayName string
	// Problem is why the group cannot be used (no group, several, not security-enabled); nil
	// when resolved. A group with a problem has no members read and gets no write.
	Problem *Problem
	// Members are its direct members that are users: object id (lower case) to user principal
	// name.
	Members map[string]string
	// Unmanaged are the members no Person names.
	Unmanaged Unmanaged
}

// Unmanaged counts the members of a group no managed person is, and names the first few.
type Unmanaged struct {
	Count int
	// First are up to MaxUnmanagedListed user principal names, sorted.
	First []string
}

// MaxUnmanagedListed is how many unmanaged members a group's status names.
const MaxUnmanagedListed = 5

// PersonState is one managed person as observed.
type PersonState struct {
	// Found is false when Entra ID has no such person (PersonNotFound); nothing else is set.
	Found             bool
	ObjectID          string // lower case
	UserPrincipalName string
	AccountEnabled    bool
	UsageLocation     string
	// Licenses are the licenses the person holds, by part number, each direct or by group(s).
	Licenses []License
	// InSecurityGroup: a direct member of the environment's security group.
	InSecurityGroup bool
	// Groups are the group team groups (their Ref) the person is a direct member of, in the
	// Environment's order.
	Groups []string
}

// License is a license a person holds.
type License struct {
	SkuPartNumber string
	SkuID         string
	// Direct: assigned to the person itself (the only assignment AssignLicense can remove).
	Direct bool
	// ByGroups are the ids of the groups it is inherited from.
	ByGroups []string
}

// Sku is a tenant subscription's units.
type Sku struct {
	SkuID         string
	SkuPartNumber string
	Enabled       int
	Consumed      int
}

// Available is how many more people the SKU can be assigned to.
func (s Sku) Available() int { return max(s.Enabled-s.Consumed, 0) }

// PersonKey is how a person is found: its object id when given, else its user name (lower case).
func PersonKey(p Person) string {
	if id := strings.TrimSpace(p.ObjectID); id != "" {
		return strings.ToLower(id)
	}
	return strings.ToLower(strings.TrimSpace(p.UserName))
}

// Person is the observed state of a managed person; nil when it was not observed.
func (s *Snapshot) Person(p Person) *PersonState { return s.People[PersonKey(p)] }

// Sku finds a SKU by part number (without case).
func (s *Snapshot) Sku(part string) (Sku, bool) {
	for _, k := range s.Skus {
		if strings.EqualFold(k.SkuPartNumber, part) {
			return k, true
		}
	}
	return Sku{}, false
}

func (s *Snapshot) skuPart(id string) string {
	for _, k := range s.Skus {
		if strings.EqualFold(k.SkuID, id) {
			return k.SkuPartNumber
		}
	}
	return strings.ToLower(id)
}

// License finds a license the person holds by part number.
func (p *PersonState) License(part string) (License, bool) {
	for _, l := range p.Licenses {
		if strings.EqualFold(l.SkuPartNumber, part) {
			return l, true
		}
	}
	return License{}, false
}

// groups are every group the snapshot knows, the security group first.
func (s *Snapshot) groups() []*GroupState {
	var out []*GroupState
	if s.SecurityGroup != nil {
		out = append(out, s.SecurityGroup)
	}
	return append(out, s.Groups...)
}

// refresh recomputes every person's memberships from the groups' members.
func (s *Snapshot) refresh(ps *PersonState) {
	if ps == nil || !ps.Found {
		return
	}
	ps.InSecurityGroup = false
	ps.Groups = nil
	if g := s.SecurityGroup; g != nil && g.Problem == nil {
		_, ps.InSecurityGroup = g.Members[ps.ObjectID]
	}
	for _, g := range s.Groups {
		if g.Problem != nil {
			continue
		}
		if _, ok := g.Members[ps.ObjectID]; ok {
			ps.Groups = append(ps.Groups, g.Ref)
		}
	}
}

func sortLicenses(l []License) {
	sort.Slice(l, func(i, j int) bool { return l[i].SkuPartNumber < l[j].SkuPartNumber })
}
