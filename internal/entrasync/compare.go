package entrasync

import (
	"fmt"
	"strings"
)

// Op is the kind of one write. There are three, and no other can be expressed: sign-in
// (accountEnabled), profile fields, people and groups themselves are never written.
type Op string

const (
	// OpAddMember: POST /groups/{id}/members/$ref.
	OpAddMember Op = "AddMember"
	// OpRemoveMember: DELETE /groups/{id}/members/{userId}/$ref (the reference only).
	OpRemoveMember Op = "RemoveMember"
	// OpAssignLicense: POST /users/{id}/assignLicense with direct licenses to add and remove.
	OpAssignLicense Op = "AssignLicense"
)

// Change is one write that brings Entra ID to the decided state.
type Change struct {
	Op Op
	// Why says what differs, in words (a Drifted message, a Synced event).
	Why string
	// Group is the group's object id and GroupRef the group as the Environment names it
	// (AddMember, RemoveMember).
	Group    string
	GroupRef string
	// User is the person's object id; UserName its user name as decided.
	User     string
	UserName string
	// Add and Remove are SKU ids (AssignLicense); AddParts and RemoveParts their part numbers.
	Add, AddParts       []string
	Remove, RemoveParts []string
}

// ProblemKind is a typed outcome only a person can fix: no write is decided for it.
type ProblemKind string

const (
	// PersonNotFound: Entra ID has no user with that user name (or object id). Stalled.
	PersonNotFound ProblemKind = "PersonNotFound"
	// GroupNotFound: no group has that object id or display name.
	GroupNotFound ProblemKind = "GroupNotFound"
	// GroupAmbiguous: several groups have that display name (Matches lists their ids).
	GroupAmbiguous ProblemKind = "GroupAmbiguous"
	// GroupNotSecurityEnabled: the group is not a security group.
	GroupNotSecurityEnabled ProblemKind = "GroupNotSecurityEnabled"
	// LicenseNotInTenant: the tenant has no subscription with that SKU part number.
	LicenseNotInTenant ProblemKind = "LicenseNotInTenant"
	// TenantLicensesExhausted: every enabled unit of the SKU is consumed. Stalled.
	TenantLicensesExhausted ProblemKind = "TenantLicensesExhausted"
	// GroupConflict: one group is decided both ways for the person (SyncConflict).
	GroupConflict ProblemKind = "GroupConflict"
	// NoUsageLocation: the person has no usage location, without which Graph refuses a license.
	NoUsageLocation ProblemKind = "NoUsageLocation"
)

// Problem is one problem, naming what to change.
type Problem struct {
	Kind ProblemKind
	// Name is what it is about: a user name, a group as named, a SKU part number.
	Name    string
	Message string
	// Enabled and Consumed are the SKU's units (TenantLicensesExhausted).
	Enabled, Consumed int
	// Matches are the ids of the groups a display name matches (GroupAmbiguous).
	Matches []string
}

// Drift is a fact the operator does not manage where Entra ID differs from the decision: EN1 then
// follows Entra ID, and a declared fact that disagrees is EntraDrift.
type Drift struct {
	Fact Fact
	// Name is the group (as named) or the SKU part number it is about.
	Name    string
	Decided string
	Entra   string
}

// Facts is what a person's comparison found besides the writes.
type Facts struct {
	// Person is what Entra ID holds for the person; nil when not observed.
	Person *PersonState
	// Problems are the typed outcomes that stop a write (or an observation) for the person.
	Problems []Problem
	// Drift lists the differences in facts manage does not list.
	Drift []Drift
}

// ComparePerson compares what was decided for p with what the snapshot holds, and returns the
// writes that make Entra ID hold it — only for the facts manage lists — and the facts found. It
// is pure: it reads the snapshot and writes nothing. The writes are, in order: the security
// group's membership, each group team group's, the person's direct licenses.
func ComparePerson(p Person, s *Snapshot, manage Manage) ([]Change, Facts) {
	var changes []Change
	var f Facts
	ps := s.Person(p)
	f.Person = ps
	if ps == nil || !ps.Found {
		f.Problems = append(f.Problems, personNotFound(p))
		return nil, f
	}
	member := func(g *GroupState, want bool, fact Fact, managed bool, why string) {
		if g == nil {
			return
		}
		if g.Problem != nil {
			f.Problems = append(f.Problems, *g.Problem)
			return
		}
		_, is := g.Members[ps.ObjectID]
		if is == want {
			return
		}
		if !managed {
			f.Drift = append(f.Drift, Drift{Fact: fact, Name: g.Ref, Decided: memberWord(want), Entra: memberWord(is)})
			return
		}
		c := Change{Op: OpAddMember, Group: g.ID, GroupRef: g.Ref, User: ps.ObjectID, UserName: p.UserName,
			Why: fmt.Sprintf("%s is not a direct member of %s %s; %s", p.UserName, kindOf(fact), g.Ref, why)}
		if !want {
			c.Op = OpRemoveMember
			c.Why = fmt.Sprintf("%s is a direct member of %s %s; %s", p.UserName, kindOf(fact), g.Ref, whyOut(fact))
		}
		changes = append(changes, c)
	}
	type decision struct {
		g       *GroupState
		want    bool
		fact    Fact
		managed bool
		why     string
	}
	var ds []decision
	if s.SecurityGroup != nil {
		ds = append(ds, decision{s.SecurityGroup, p.InSecurityGroup, SecurityGroupMembership, manage.SecurityGroupMembership, "decided enabled"})
	}
	for _, g := range s.Groups {
		ds = append(ds, decision{g, listed(p.Groups, g), GroupTeamMembership, manage.GroupTeamMembership, "it lists the group"})
	}
	// One group named twice (the security group is also a group team's group, or two names of
	// one group) is decided once; two different decisions for it are a conflict, and neither is
	// written.
	done := map[string]bool{}
	for i, d := range ds {
		if d.g.Problem == nil && d.g.ID != "" {
			if done[d.g.ID] {
				continue
			}
			done[d.g.ID] = true
			conflict := false
			for _, o := range ds[i+1:] {
				conflict = conflict || (o.g.ID == d.g.ID && o.want != d.want)
			}
			if conflict {
				f.Problems = append(f.Problems, Problem{Kind: GroupConflict, Name: d.g.Ref,
					Message: fmt.Sprintf("group %s (%s) is both the security group and a group team's group, and %s is decided a member of one and not of the other: nothing is written to it; give the group team its own group", d.g.Ref, d.g.ID, p.UserName)})
				continue
			}
		}
		member(d.g, d.want, d.fact, d.managed, d.why)
	}
	if p.SignInBlocked == ps.AccountEnabled {
		f.Drift = append(f.Drift, Drift{Fact: SignIn, Decided: signInWord(!p.SignInBlocked), Entra: signInWord(ps.AccountEnabled)})
	}
	if c, ok := compareLicenses(p, ps, s, manage, &f); ok {
		changes = append(changes, c)
	}
	return changes, f
}

// compareLicenses decides the one AssignLicense a person may need: the SKU License names when it
// is held by no assignment and the person holds its seat; removal only of a direct license the
// operator assigned (Assigned) that License no longer names. A license from a group is never
// removed, and the security group's membership plays no part (EN4: disabling keeps the license).
func compareLicenses(p Person, ps *PersonState, s *Snapshot, manage Manage, f *Facts) (Change, bool) {
	c := Change{Op: OpAssignLicense, User: ps.ObjectID, UserName: p.UserName}
	var whys []string
	if want := strings.TrimSpace(p.License); want != "" && !p.LicenseWaits {
		sku, inTenant := s.Sku(want)
		_, held := ps.License(want)
		switch {
		case !inTenant:
			f.Problems = append(f.Problems, Problem{Kind: LicenseNotInTenant, Name: want,
				Message: fmt.Sprintf("the tenant has no subscription with SKU part number %s (spec.license of %s): name one of %s", want, p.UserName, partNumbers(s))})
		case held:
		case !manage.Licenses:
			f.Drift = append(f.Drift, Drift{Fact: Licenses, Name: want, Decided: "assigned", Entra: "not assigned"})
		case sku.Available() == 0:
			f.Problems = append(f.Problems, Problem{Kind: TenantLicensesExhausted, Name: sku.SkuPartNumber, Enabled: sku.Enabled, Consumed: sku.Consumed,
				Message: fmt.Sprintf("the tenant has no %s license left for %s: %d enabled, %d consumed; buy units or free one", sku.SkuPartNumber, p.UserName, sku.Enabled, sku.Consumed)})
		case strings.TrimSpace(ps.UsageLocation) == "":
			f.Problems = append(f.Problems, Problem{Kind: NoUsageLocation, Name: p.UserName,
				Message: fmt.Sprintf("%s has no usage location in Entra ID, which a license needs: set its usageLocation (the operator never writes profile fields)", p.UserName)})
		default:
			c.Add, c.AddParts = append(c.Add, sku.SkuID), append(c.AddParts, sku.SkuPartNumber)
			whys = append(whys, fmt.Sprintf("%s does not hold license %s", p.UserName, sku.SkuPartNumber))
		}
	}
	if manage.Licenses {
		for _, part := range p.Assigned {
			if strings.EqualFold(part, strings.TrimSpace(p.License)) {
				continue
			}
			if l, ok := ps.License(part); ok && l.Direct {
				c.Remove, c.RemoveParts = append(c.Remove, l.SkuID), append(c.RemoveParts, l.SkuPartNumber)
				whys = append(whys, fmt.Sprintf("license %s, assigned by the operator, is no longer named by spec.license", l.SkuPartNumber))
			}
		}
	}
	if len(c.Add) == 0 && len(c.Remove) == 0 {
		return Change{}, false
	}
	c.Why = strings.Join(whys, "; ")
	return c, true
}

func personNotFound(p Person) Problem {
	by := "user name " + p.UserName
	if strings.TrimSpace(p.ObjectID) != "" {
		by = "object id " + p.ObjectID
	}
	return Problem{Kind: PersonNotFound, Name: p.UserName,
		Message: fmt.Sprintf("Entra ID has no user with %s: correct spec.userName (or spec.entraObjectId), or create the person in Entra ID (the operator never creates people)", by)}
}

// listed: the person lists the group, by the Environment's name for it or by its object id.
func listed(groups []string, g *GroupState) bool {
	for _, x := range groups {
		x = strings.TrimSpace(x)
		if strings.EqualFold(x, g.Ref) || (g.ID != "" && strings.EqualFold(x, g.ID)) {
			return true
		}
	}
	return false
}

func signInWord(allowed bool) string {
	if allowed {
		return "allowed"
	}
	return "blocked (accountEnabled false)"
}

func memberWord(b bool) string {
	if b {
		return "member"
	}
	return "not a member"
}

func kindOf(f Fact) string {
	if f == SecurityGroupMembership {
		return "the security group"
	}
	return "group team group"
}

func whyOut(f Fact) string {
	if f == SecurityGroupMembership {
		return "not decided enabled (the license is kept)"
	}
	return "it does not list the group"
}

func partNumbers(s *Snapshot) string {
	if len(s.Skus) == 0 {
		return "(the tenant has none)"
	}
	out := make([]string, len(s.Skus))
	for i, k := range s.Skus {
		out[i] = k.SkuPartNumber
	}
	return strings.Join(out, ", ")
}
