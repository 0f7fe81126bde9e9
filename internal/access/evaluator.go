// Package access evaluates what a principal can do in an environment: the product's "Check
// Access". It expands presets (SR4), adds up roles (SR6), follows roles held through teams (TM2,
// TM3) and applies access modes (AM4). It has no client: callers resolve the objects and pass
// them in, so controllers, the check-access command and a future sync target share one answer.
package access

import (
	"fmt"
	"sort"
	"strings"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
)

// Role is a resolved SecurityRole.
type Role struct {
	// Name is the SecurityRole object name.
	Name string
	// RoleName is the name people see; Name when empty.
	RoleName string
	// BusinessUnit the role belongs to; Spec.BusinessUnit, then the tree's root, when empty.
	BusinessUnit string
	Spec         v1alpha1.SecurityRoleSpec
}

// TeamRef is the team a role is held through.
type TeamRef struct {
	// Name is the Team object name, as in the Team/<name> source.
	Name string
	// BusinessUnit of the team; the tree's root when empty.
	BusinessUnit string
}

// Assignment is one role a principal holds and where it comes from.
type Assignment struct {
	Role Role
	// Source is as in EffectiveRole.Source: Direct, Team/<team>, AdministratorRole/<role> or StubDefault.
	Source string
	// Team is set for team-held roles; when nil, a Team/<name> source names a team of the root unit.
	Team *TeamRef
}

// Principal is a PlatformUser or an ApplicationUser with its roles resolved.
type Principal struct {
	Name string
	// BusinessUnit of the principal; the tree's root when empty.
	BusinessUnit string
	// AccessMode of a PlatformUser; empty is ReadWrite (AM1). Ignored for application users.
	AccessMode v1alpha1.AccessMode
	// Application marks an ApplicationUser: non-interactive, programmatic access (AM7).
	Application bool
	// Enabled is whether the principal is in fact enabled (EN1), from status.
	Enabled bool
	Roles   []Assignment
}

// Options narrow an evaluation.
type Options struct {
	// Table, when set, limits the result to that one table (evaluated even if no role lists it,
	// so System Administrator's all-tables grant shows on it) and leaves out named privileges.
	Table string
}

// Via says how a grant reaches the principal.
type Via string

const (
	// ViaUser: the principal holds the privilege itself: User level covers its own records, other
	// levels are measured from its business unit (direct roles, and TM3 roles held through a team).
	ViaUser Via = "User"
	// ViaTeam: the privilege reaches the principal only as a team member: User level covers records
	// the team owns, other levels are measured from the team's business unit (TM2).
	ViaTeam Via = "Team"
)

// Grant is one role giving one privilege at one level.
type Grant struct {
	// Role is the SecurityRole object name; RoleName the name people see.
	Role     string `json:"role"`
	RoleName string `json:"roleName"`
	// Source is where the role comes from, as in EffectiveRole.Source.
	Source string               `json:"source"`
	Level  v1alpha1.AccessLevel `json:"level"`
	// Via says whose records User level covers and whose unit other levels are measured from.
	Via Via `json:"via"`
	// Team is the team object name when the role is held through a team.
	Team string `json:"team,omitempty"`
	// BusinessUnit is the unit the level is measured from: the principal's (ViaUser) or the team's (ViaTeam).
	BusinessUnit string `json:"businessUnit"`
}

// PrivilegeAccess is the outcome for one (table, privilege).
type PrivilegeAccess struct {
	Privilege Privilege `json:"privilege"`
	// Level is what the principal can do: Granted, or None where its access mode reaches no
	// customer data (AM4).
	Level v1alpha1.AccessLevel `json:"level"`
	// Granted is the highest level any grant gives (SR6, SR2).
	Granted v1alpha1.AccessLevel `json:"granted"`
	// Grants are every grant above None, highest first.
	Grants []Grant `json:"grants,omitempty"`
}

// TableAccess is the outcome for one table: its eight privileges in product order.
type TableAccess struct {
	// Table is the logical name, or AllTables for what System Administrator gives every table.
	Table      string            `json:"table"`
	Privileges []PrivilegeAccess `json:"privileges"`
}

// Privilege returns the outcome for one privilege of the table.
func (t TableAccess) Privilege(p Privilege) PrivilegeAccess {
	for _, pa := range t.Privileges {
		if pa.Privilege == p {
			return pa
		}
	}
	return PrivilegeAccess{Privilege: p, Level: v1alpha1.AccessNone, Granted: v1alpha1.AccessNone}
}

// NamedAccess is the outcome for one miscellaneous or privacy privilege.
type NamedAccess struct {
	// Name of the privilege, or AllTables ("*") for every privilege System Administrator holds.
	Name    string               `json:"name"`
	Level   v1alpha1.AccessLevel `json:"level"`
	Granted v1alpha1.AccessLevel `json:"granted"`
	Grants  []Grant              `json:"grants,omitempty"`
}

// Result is what a principal can reach. Every list is sorted, so equal inputs give equal output.
type Result struct {
	Principal    string `json:"principal"`
	BusinessUnit string `json:"businessUnit"`
	// AccessMode as evaluated: ReadWrite when unset, NonInteractive for application users.
	AccessMode  v1alpha1.AccessMode `json:"accessMode"`
	Application bool                `json:"application,omitempty"`
	Enabled     bool                `json:"enabled"`
	// Access is what the principal reaches (AM4): None while disabled.
	Access v1alpha1.Access `json:"access"`
	// Notes explain the result: access mode limits, unusable forms (SR8), roles out of reach (SR5).
	Notes         []string      `json:"notes,omitempty"`
	Tables        []TableAccess `json:"tables"`
	Miscellaneous []NamedAccess `json:"miscellaneous,omitempty"`
	Privacy       []NamedAccess `json:"privacy,omitempty"`
}

// Lookup returns the outcome for a table: its own entry, else System Administrator's all-tables
// entry, else None everywhere. found is false only in the last case.
func (r Result) Lookup(table string) (ta TableAccess, found bool) {
	var all *TableAccess
	for i := range r.Tables {
		switch r.Tables[i].Table {
		case table:
			return r.Tables[i], true
		case AllTables:
			all = &r.Tables[i]
		}
	}
	if all != nil {
		ta = TableAccess{Table: table, Privileges: append([]PrivilegeAccess(nil), all.Privileges...)}
		return ta, true
	}
	return noneTable(table), false
}

func noneTable(table string) TableAccess {
	ta := TableAccess{Table: table}
	for _, p := range Privileges {
		ta.Privileges = append(ta.Privileges, PrivilegeAccess{Privilege: p, Level: v1alpha1.AccessNone, Granted: v1alpha1.AccessNone})
	}
	return ta
}

// Note texts, exported so callers and tests can recognise them.
const (
	NoteDisabled       = "the principal is disabled (EN1): it reaches nothing until enabled; levels show what its roles would give"
	NoteAdministrative = "Administrative access mode reaches settings and administration, never customer data (AM4): table and privacy privileges are None; grants show what the roles would give"
	NoteProgrammatic   = "non-interactive: reached only programmatically through the API, not through the apps (AM4, AM7)"
	NoteNoRoles        = "no security role: the principal cannot get in (EN5)"
	NoteNoWebResource  = "no role gives Read on webresource: forms that use web resources fail with \"Missing prvReadWebResource privilege\" (SR8)"
	NoteAllTables      = "System Administrator gives Organization on every table, shown as table \"*\" (SR7)"
)

// channel is one way a role's privileges reach the principal.
type channel struct {
	via  Via
	team string
	unit string
	// cap is the highest level this channel passes; "" passes every level.
	cap v1alpha1.AccessLevel
}

// pass returns the level the channel gives for a role's level.
func (c channel) pass(l v1alpha1.AccessLevel) v1alpha1.AccessLevel {
	if c.cap != "" && l.Rank() > c.cap.Rank() {
		return c.cap
	}
	return l
}

// AccessOf is what a principal reaches (AM4): nothing unless enabled and holding a role (EN5);
// settings only for Administrative users, programmatic only for NonInteractive ones. It is the
// one answer both status.access and check-access give.
func AccessOf(mode v1alpha1.AccessMode, enabled, hasRole bool) v1alpha1.Access {
	switch {
	case !enabled || !hasRole:
		return v1alpha1.AccessNoAccess
	case mode == v1alpha1.AccessModeAdministrative:
		return v1alpha1.AccessSettingsOnly
	case mode == v1alpha1.AccessModeNonInteractive:
		return v1alpha1.AccessProgrammatic
	}
	return v1alpha1.AccessFull
}

type grantSet map[Privilege][]Grant

// Evaluate computes what p can reach in an environment with business-unit tree t (SR2, SR4, SR5,
// SR6, SR8, TM2, TM3, AM4, AM9).
func Evaluate(p Principal, t butree.Tree, opts Options) Result {
	root := rootOf(t)
	unit := orDefault(p.BusinessUnit, root)
	mode := p.AccessMode
	switch {
	case p.Application:
		mode = v1alpha1.AccessModeNonInteractive
	case mode == "":
		mode = v1alpha1.AccessModeReadWrite
	}
	res := Result{Principal: p.Name, BusinessUnit: unit, AccessMode: mode, Application: p.Application, Enabled: p.Enabled}

	tables := map[string]grantSet{}
	misc := map[string][]Grant{}
	privacy := map[string][]Grant{}
	var roleNotes []string
	admin := false

	for _, a := range p.Roles {
		spec := a.Role.Spec
		roleName := orDefault(a.Role.RoleName, a.Role.Name)
		roleUnit := orDefault(a.Role.BusinessUnit, orDefault(spec.BusinessUnit, root))
		isAdmin := IsSystemAdministrator(&spec)
		admin = admin || isAdmin

		var chans []channel
		holderUnit := unit
		if team := teamOf(a); team != nil {
			teamUnit := orDefault(team.BusinessUnit, root)
			holderUnit = teamUnit
			chans = append(chans, channel{via: ViaTeam, team: team.Name, unit: teamUnit})
			// System Administrator's inheritance is fixed (SR7), whatever its spec says.
			// TM3: the member gets each privilege directly at Basic (User) level at most, so it
			// reaches its own records; deeper levels reach it only through the team (TM2).
			if isAdmin || spec.MemberPrivilegeInheritance != v1alpha1.InheritTeamPrivilegesOnly {
				chans = append(chans, channel{via: ViaUser, team: team.Name, unit: unit, cap: v1alpha1.AccessUser})
			}
		} else {
			chans = append(chans, channel{via: ViaUser, unit: unit})
		}
		if len(t) > 0 && !t.IsAtOrBelow(holderUnit, roleUnit) {
			roleNotes = append(roleNotes, fmt.Sprintf("role %q (%s) belongs to business unit %q, which is neither %q nor above it: the product refuses this assignment (SR5)", roleName, a.Source, roleUnit, holderUnit))
		}

		grant := func(level v1alpha1.AccessLevel, c channel) Grant {
			return Grant{Role: a.Role.Name, RoleName: roleName, Source: a.Source, Level: c.pass(level.Canonical()), Via: c.via, Team: c.team, BusinessUnit: c.unit}
		}
		for _, et := range ExpandRole(&spec) {
			gs := tables[et.Table]
			if gs == nil {
				gs = grantSet{}
				tables[et.Table] = gs // listed tables show even when they grant nothing
			}
			for _, priv := range Privileges {
				if l := LevelOf(et.Privileges, priv); l.Rank() > 0 {
					for _, c := range chans {
						gs[priv] = append(gs[priv], grant(l, c))
					}
				}
			}
		}
		addNamed := func(dst map[string][]Grant, list []v1alpha1.NamedPrivilege) {
			levels := expandNamed(list)
			if isAdmin {
				for n := range levels {
					levels[n] = v1alpha1.AccessOrganization
				}
				levels[AllTables] = v1alpha1.AccessOrganization
			}
			for n, l := range levels {
				if _, ok := dst[n]; !ok {
					dst[n] = nil
				}
				if l.Rank() > 0 {
					for _, c := range chans {
						dst[n] = append(dst[n], grant(l, c))
					}
				}
			}
		}
		addNamed(misc, spec.MiscellaneousPrivileges)
		addNamed(privacy, spec.PrivacyPrivileges)
	}

	if opts.Table != "" {
		if _, ok := tables[opts.Table]; !ok {
			tables[opts.Table] = grantSet{}
		}
	}
	// System Administrator's all-tables grants hold on every table any role lists or the caller asks for.
	if all, ok := tables[AllTables]; ok {
		for name, gs := range tables {
			if name == AllTables {
				continue
			}
			for priv, g := range all {
				gs[priv] = append(gs[priv], g...)
			}
		}
	}
	spreadAll(misc)
	spreadAll(privacy)

	noData := mode == v1alpha1.AccessModeAdministrative
	res.Access = AccessOf(mode, p.Enabled, len(p.Roles) > 0)

	res.Tables = make([]TableAccess, 0, len(tables))
	for _, name := range sortedKeys(tables) {
		ta := TableAccess{Table: name}
		for _, priv := range Privileges {
			grants, granted := settle(tables[name][priv])
			level := granted
			if noData {
				level = v1alpha1.AccessNone
			}
			ta.Privileges = append(ta.Privileges, PrivilegeAccess{Privilege: priv, Level: level, Granted: granted, Grants: grants})
		}
		res.Tables = append(res.Tables, ta)
	}
	// Miscellaneous privileges are tasks, not data, so Administrative keeps them; privacy
	// privileges move customer data out (export, print), so it does not.
	res.Miscellaneous = namedAccess(misc, false)
	res.Privacy = namedAccess(privacy, noData)

	if !p.Enabled {
		res.Notes = append(res.Notes, NoteDisabled)
	}
	switch {
	case noData:
		res.Notes = append(res.Notes, NoteAdministrative)
	case mode == v1alpha1.AccessModeNonInteractive:
		res.Notes = append(res.Notes, NoteProgrammatic)
	}
	if len(p.Roles) == 0 {
		res.Notes = append(res.Notes, NoteNoRoles)
	} else if wr, _ := res.Lookup(WebResourceTable); wr.Privilege(Read).Granted.Rank() == 0 {
		res.Notes = append(res.Notes, NoteNoWebResource)
	}
	if admin {
		res.Notes = append(res.Notes, NoteAllTables)
	}
	sort.Strings(roleNotes)
	res.Notes = append(res.Notes, dedupe(roleNotes)...)

	if opts.Table != "" {
		ta, _ := res.Lookup(opts.Table)
		res.Tables = []TableAccess{ta}
		res.Miscellaneous, res.Privacy = nil, nil
	}
	return res
}

func teamOf(a Assignment) *TeamRef {
	if a.Team != nil {
		return a.Team
	}
	if name, ok := strings.CutPrefix(a.Source, v1alpha1.RoleSourceTeamPrefix); ok {
		return &TeamRef{Name: name}
	}
	return nil
}

// spreadAll adds the all-privileges grants to every named privilege that some role lists.
func spreadAll(m map[string][]Grant) {
	all, ok := m[AllTables]
	if !ok {
		return
	}
	for n := range m {
		if n != AllTables {
			m[n] = append(m[n], all...)
		}
	}
}

func namedAccess(m map[string][]Grant, noData bool) []NamedAccess {
	if len(m) == 0 {
		return nil
	}
	out := make([]NamedAccess, 0, len(m))
	for _, n := range sortedKeys(m) {
		grants, granted := settle(m[n])
		level := granted
		if noData {
			level = v1alpha1.AccessNone
		}
		out = append(out, NamedAccess{Name: n, Level: level, Granted: granted, Grants: grants})
	}
	return out
}

// settle sorts and de-duplicates grants, highest level first, and returns the highest level (SR6).
func settle(grants []Grant) ([]Grant, v1alpha1.AccessLevel) {
	granted := v1alpha1.AccessNone
	if len(grants) == 0 {
		return nil, granted
	}
	out := append([]Grant(nil), grants...)
	sort.Slice(out, func(i, j int) bool { return grantLess(out[i], out[j]) })
	uniq := out[:1]
	for _, g := range out[1:] {
		if g != uniq[len(uniq)-1] {
			uniq = append(uniq, g)
		}
	}
	for _, g := range uniq {
		granted = granted.Max(g.Level)
	}
	return uniq, granted
}

func grantLess(a, b Grant) bool {
	if ra, rb := a.Level.Rank(), b.Level.Rank(); ra != rb {
		return ra > rb
	}
	if a.Via != b.Via {
		return a.Via == ViaUser // the principal's own privileges first
	}
	for _, f := range [][2]string{{a.RoleName, b.RoleName}, {a.Role, b.Role}, {a.Source, b.Source}, {a.Team, b.Team}, {a.BusinessUnit, b.BusinessUnit}} {
		if f[0] != f[1] {
			return f[0] < f[1]
		}
	}
	return false
}

func rootOf(t butree.Tree) string {
	if root := t.Root(); root != "" {
		return root
	}
	return v1alpha1.DefaultRootBusinessUnit
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func dedupe(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
