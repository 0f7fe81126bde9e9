package export

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	v1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// userNamePattern is spec.userName's (api/v1alpha1/platformuser_types.go).
var userNamePattern = regexp.MustCompile(`^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`)

// users exports the people: skipping the service's own, listing the access modes the API has no
// PlatformUser for and the people in units outside the tree.
func (b *builder) users() {
	var keep []*User
	var cs []candidate
	nonInteractive := 0
	for i := range b.src.Users {
		u := &b.src.Users[i]
		switch {
		case servicePrincipals[u.FullName]:
			b.sum.Skipped = append(b.sum.Skipped, Note{Kind: "PlatformUser", Name: u.FullName, Why: "the service's own principal, present in every environment"})
			continue
		case u.AccessMode == "":
			b.unexpressed("PlatformUser", displayOf(u), fmt.Sprintf("access mode %s has no PlatformUser: not exported (the operator leaves the person alone)", u.AccessModeName))
			continue
		case !userNamePattern.MatchString(u.UserName):
			// spec.userName's own pattern: admission would refuse the object (a guest's
			// #EXT# name, a DOMAIN\user name).
			b.unexpressed("PlatformUser", displayOf(u), fmt.Sprintf("user name %q is not one spec.userName takes (name@domain): not exported", u.UserName))
			continue
		}
		if _, ok := b.unitOf(u.UnitID); !ok {
			b.unexpressed("PlatformUser", displayOf(u), "in a business unit outside the exported tree (listed): not exported")
			continue
		}
		keep = append(keep, u)
		cs = append(cs, candidate{base: kubeName(u.FullName, localPart(u.UserName)), key: strings.ToLower(u.UserName), display: displayOf(u)})
	}
	names, renamed := assignNames("PlatformUser", cs, nil)
	b.sum.Renamed = append(b.sum.Renamed, renamed...)
	for _, u := range keep {
		name := names[strings.ToLower(u.UserName)]
		b.userName[u.ID] = name
		unit, _ := b.unitOf(u.UnitID)
		p := v1alpha1.PlatformUser{TypeMeta: typeMeta("PlatformUser"), ObjectMeta: b.objectMeta(name)}
		p.Spec = v1alpha1.PlatformUserSpec{EnvironmentName: b.opt.Name, UserName: u.UserName, AccessMode: u.AccessMode,
			Enabled: !u.Disabled && !u.Stub, EntraObjectID: strings.ToLower(u.EntraObjectID), Stub: u.Stub, BusinessUnit: unit}
		if !u.Stub {
			// A stub gets its product's default role from the operator (AM8); listing it would
			// be refused as a second source of the same role.
			p.Spec.SecurityRoles = b.roleRefs("PlatformUser", name, u.RoleIDs)
		}
		if u.AccessMode == v1alpha1.AccessModeNonInteractive && !u.Stub {
			nonInteractive++
		}
		b.license(&p, u)
		if b.src.Entra && !u.Stub {
			p.Spec.SecurityGroups = sortedUnique(u.Groups)
			p.Spec.SignInBlocked = u.SignInBlocked
		}
		b.out.PlatformUsers = append(b.out.PlatformUsers, p)
	}
	if nonInteractive > v1alpha1.NonInteractiveSlotLimit {
		b.unexpressed("Environment", b.opt.Name, fmt.Sprintf("%d non-interactive people, more than the %d an environment may have (AM6): all are exported, and those granted no slot wait (NonInteractiveLimitReached); under Manage the operator would disable them", nonInteractive, v1alpha1.NonInteractiveSlotLimit))
	}
	sort.Slice(b.out.PlatformUsers, func(i, j int) bool { return b.out.PlatformUsers[i].Name < b.out.PlatformUsers[j].Name })
}

// license is spec.license: the one SKU Entra ID assigns (the first by part number of several,
// the others named in a comment); unknown without Entra ID, which a comment says.
func (b *builder) license(p *v1alpha1.PlatformUser, u *User) {
	if u.Stub || u.AccessMode != v1alpha1.AccessModeReadWrite {
		return
	}
	if !b.src.Entra {
		if u.Licensed {
			b.sum.LicensesUnknown++
			b.comment("PlatformUser", p.Name, "Dataverse reports a license; its SKU is unknown (exported with --entra=false): set spec.license")
		}
		return
	}
	skus := sortedUnique(u.Licenses)
	if len(skus) == 0 {
		return
	}
	p.Spec.License = skus[0]
	if len(skus) > 1 {
		b.comment("PlatformUser", p.Name, "Entra ID also assigns "+strings.Join(skus[1:], ", ")+"; spec.license names one")
	}
}

// applications exports the application users that hold a role, skipping the export's own.
func (b *builder) applications() {
	var keep []*ApplicationUser
	var cs []candidate
	for i := range b.src.Applications {
		a := &b.src.Applications[i]
		switch {
		case b.src.SignedInAs != "" && strings.EqualFold(a.ApplicationID, b.src.SignedInAs):
			b.sum.Skipped = append(b.sum.Skipped, Note{Kind: "ApplicationUser", Name: a.Name, Why: "the application user this export signs in as"})
			continue
		case len(a.RoleIDs) == 0:
			b.sum.Skipped = append(b.sum.Skipped, Note{Kind: "ApplicationUser", Name: a.Name, Why: "holds no security role, so it can do nothing (most such are the service's own)"})
			continue
		}
		if _, ok := b.unitOf(a.UnitID); !ok {
			b.unexpressed("ApplicationUser", a.Name, "in a business unit outside the exported tree (listed): not exported")
			continue
		}
		keep = append(keep, a)
		cs = append(cs, candidate{base: kubeName(a.Name, "app-"+a.ApplicationID), key: strings.ToLower(a.ApplicationID), display: a.Name})
	}
	names, renamed := assignNames("ApplicationUser", cs, nil)
	b.sum.Renamed = append(b.sum.Renamed, renamed...)
	for _, a := range keep {
		name := names[strings.ToLower(a.ApplicationID)]
		unit, _ := b.unitOf(a.UnitID)
		o := v1alpha1.ApplicationUser{TypeMeta: typeMeta("ApplicationUser"), ObjectMeta: b.objectMeta(name)}
		o.Spec = v1alpha1.ApplicationUserSpec{EnvironmentName: b.opt.Name, ApplicationID: strings.ToLower(a.ApplicationID),
			Enabled: !a.Disabled, BusinessUnit: unit}
		o.Spec.SecurityRoles = b.roleRefs("ApplicationUser", name, a.RoleIDs)
		b.out.ApplicationUsers = append(b.out.ApplicationUsers, o)
	}
	sort.Slice(b.out.ApplicationUsers, func(i, j int) bool { return b.out.ApplicationUsers[i].Name < b.out.ApplicationUsers[j].Name })
}

// teams exports owner, access and group teams, skipping each unit's default team.
func (b *builder) teams() {
	var keep []*Team
	var cs []candidate
	for i := range b.src.Teams {
		t := &b.src.Teams[i]
		if t.IsDefault {
			b.sum.Skipped = append(b.sum.Skipped, Note{Kind: "Team", Name: t.Name, Why: "a business unit's default team, which Dataverse keeps itself"})
			continue
		}
		if _, ok := b.unitOf(t.UnitID); !ok {
			b.unexpressed("Team", t.Name, "in a business unit outside the exported tree (listed): not exported")
			continue
		}
		keep = append(keep, t)
		cs = append(cs, candidate{base: kubeName(t.Name, "team"), key: t.ID, display: t.Name})
	}
	names, renamed := assignNames("Team", cs, nil)
	b.sum.Renamed = append(b.sum.Renamed, renamed...)
	for _, t := range keep {
		name := names[t.ID]
		unit, _ := b.unitOf(t.UnitID)
		o := v1alpha1.Team{TypeMeta: typeMeta("Team"), ObjectMeta: b.objectMeta(name)}
		o.Spec = v1alpha1.TeamSpec{EnvironmentName: b.opt.Name, TeamName: t.Name, Type: t.Type, BusinessUnit: unit}
		switch t.Type {
		case v1alpha1.TeamAADSecurityGroup, v1alpha1.TeamAADOfficeGroup:
			// Members come from the group: people list it in spec.securityGroups (TM1).
			o.Spec.Group = strings.ToLower(t.Group)
		default:
			for _, id := range t.MemberIDs {
				if n, ok := b.userName[id]; ok {
					o.Spec.Members = append(o.Spec.Members, n)
				} else if !b.skippedUser(id) {
					b.unexpressed("Team", name, "a member ("+b.userDisplay(id)+") is not exported (listed): under Manage the operator would remove it from the team")
				}
			}
			o.Spec.Members = sortedUnique(o.Spec.Members)
		}
		if t.Type == v1alpha1.TeamAccess {
			if len(t.RoleIDs) > 0 {
				b.unexpressed("Team", name, "an access team holds security roles in Dataverse, which the API refuses (TM4): exported without them; use an owner team for roles")
			}
		} else {
			o.Spec.SecurityRoles = b.roleRefs("Team", name, t.RoleIDs)
		}
		b.out.Teams = append(b.out.Teams, o)
	}
	sort.Slice(b.out.Teams, func(i, j int) bool { return b.out.Teams[i].Name < b.out.Teams[j].Name })
}

// skippedUser: the service's own principals are members of teams without being worth a note.
func (b *builder) skippedUser(id string) bool {
	u := b.userByID[id]
	return u != nil && servicePrincipals[u.FullName]
}

func (b *builder) userDisplay(id string) string {
	if u := b.userByID[id]; u != nil {
		return displayOf(u)
	}
	return id
}

func displayOf(u *User) string {
	if u.UserName != "" {
		return u.UserName
	}
	return u.FullName
}

func localPart(upn string) string {
	local, _, _ := strings.Cut(upn, "@")
	return local
}
