package export

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// builtInSuffix names the object of a built-in role the Environment does not keep itself, in the
// style of those it keeps (<environment>-basic-user).
var builtInSuffix = map[v1alpha1.BuiltInRole]string{
	v1alpha1.BuiltInSystemAdministrator:   v1alpha1.SystemAdministratorRoleSuffix,
	v1alpha1.BuiltInBasicUser:             v1alpha1.BasicUserRoleSuffix,
	v1alpha1.BuiltInSalesperson:           v1alpha1.SalespersonRoleSuffix,
	v1alpha1.BuiltInCommonDataServiceUser: v1alpha1.CommonDataServiceUserRoleSuffix,
	v1alpha1.BuiltInSystemCustomizer:      "-system-customizer",
	v1alpha1.BuiltInEnvironmentMaker:      "-environment-maker",
}

// Note is one thing the export skipped, renamed or cannot express, for the summary and the
// output's comments.
type Note struct {
	Kind, Name, Why string
}

func (n Note) String() string { return n.Kind + " " + n.Name + ": " + n.Why }

// Summary is what the export did: counts per kind and every note.
type Summary struct {
	Environments, SecurityRoles, PlatformUsers, ApplicationUsers, Teams int
	// Skipped are the service's own principals and what holds nothing, never exported.
	Skipped []Note
	// Unexpressed is what the API cannot express: listed, not exported as it is.
	Unexpressed []Note
	// Renamed are objects whose derived name collided with another's.
	Renamed []Note
	// LicensesUnknown counts ReadWrite people Dataverse reports licensed whose SKU is unknown
	// (licenses were not read from Entra ID).
	LicensesUnknown int
}

// Objects is the export before it is rendered: one typed object per kind, sorted by name, with
// the comments each gets.
type Objects struct {
	Environment      v1alpha1.Environment
	SecurityRoles    []v1alpha1.SecurityRole
	PlatformUsers    []v1alpha1.PlatformUser
	ApplicationUsers []v1alpha1.ApplicationUser
	Teams            []v1alpha1.Team
	// Comments are lines written above an object, by kind and name.
	Comments map[string][]string
}

func commentKey(kind, name string) string { return kind + "/" + name }

// privacyPrivileges are the privileges the role editor lists under "Privacy-related privileges"
// (learn.microsoft.com/power-platform/admin/privacy-related-privileges): prvDocumentGeneration,
// prvUseTabletApp, prvExportToExcel, prvGoOffline, prvMailMerge, prvPrint, prvSyncToOutlook,
// prvUseOfficeApps. Every other named privilege is miscellaneous.
var privacyPrivileges = map[string]bool{
	"DocumentGeneration": true, "UseTabletApp": true, "ExportToExcel": true, "GoOffline": true,
	"MailMerge": true, "Print": true, "SyncToOutlook": true, "UseOfficeApps": true,
}

// servicePrincipals are the people Dataverse keeps for itself in every environment.
var servicePrincipals = map[string]bool{"SYSTEM": true, "INTEGRATION": true}

type builder struct {
	src  Source
	opt  Options
	out  Objects
	sum  Summary
	unit map[string]string // unit id → unit name, for units in the tree
	root string            // the root unit's id
	// roleName maps a role id (copies included) to the SecurityRole object a principal names;
	// roleWhy says why a role id has no object.
	roleName map[string]string
	roleWhy  map[string]string
	// builtInUsed are the built-in roles (other than the Environment's own) principals hold.
	builtInUsed map[string]v1alpha1.SecurityRole
	userName    map[string]string // user id → PlatformUser name, for exported users
	roleByID    map[string]*Role  // the source's roles, by id
	userByID    map[string]*User  // the source's people, by id
	// pending are the built-in role objects an export writes once a principal holds them, by
	// role id.
	pending map[string]v1alpha1.SecurityRole
}

// Build decides the objects of one environment. It fails only on input it cannot start from (no
// root unit, no Environment name); everything else is a note.
func Build(src Source, opt Options) (*Objects, *Summary, error) {
	if opt.Name == "" || !dnsLabel.MatchString(opt.Name) || len(opt.Name) > 40 {
		return nil, nil, fmt.Errorf("--name %q: give the Environment a name of lower-case letters, digits and hyphens, at most 40 characters (its built-in roles add a suffix)", opt.Name)
	}
	if opt.Namespace == "" {
		return nil, nil, fmt.Errorf("--namespace is empty: name the namespace the objects are to live in")
	}
	if opt.CredentialsSecret == "" {
		opt.CredentialsSecret = opt.Name + "-dataverse"
	}
	b := &builder{src: src, opt: opt, unit: map[string]string{}, roleName: map[string]string{}, roleWhy: map[string]string{},
		builtInUsed: map[string]v1alpha1.SecurityRole{}, userName: map[string]string{},
		roleByID: map[string]*Role{}, userByID: map[string]*User{},
		out: Objects{Comments: map[string][]string{}}}
	for i := range src.Roles {
		b.roleByID[src.Roles[i].ID] = &src.Roles[i]
	}
	for i := range src.Users {
		b.userByID[src.Users[i].ID] = &src.Users[i]
	}
	if err := b.environment(); err != nil {
		return nil, nil, err
	}
	b.roles()
	b.users()
	b.applications()
	b.teams()
	for _, r := range b.builtInUsed {
		b.out.SecurityRoles = append(b.out.SecurityRoles, r)
	}
	sort.Slice(b.out.SecurityRoles, func(i, j int) bool { return b.out.SecurityRoles[i].Name < b.out.SecurityRoles[j].Name })
	b.sum.Environments = 1
	b.sum.SecurityRoles, b.sum.PlatformUsers = len(b.out.SecurityRoles), len(b.out.PlatformUsers)
	b.sum.ApplicationUsers, b.sum.Teams = len(b.out.ApplicationUsers), len(b.out.Teams)
	for _, ns := range [][]Note{b.sum.Skipped, b.sum.Unexpressed, b.sum.Renamed} {
		sort.SliceStable(ns, func(i, j int) bool {
			if ns[i].Kind != ns[j].Kind {
				return ns[i].Kind < ns[j].Kind
			}
			return ns[i].Name < ns[j].Name
		})
	}
	return &b.out, &b.sum, nil
}

// typeMeta and objectMeta are what every exported object starts with: its kind in this API
// and its name in the export's namespace.
func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: kind}
}

func (b *builder) objectMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: b.opt.Namespace}
}

func (b *builder) comment(kind, name, line string) {
	k := commentKey(kind, name)
	b.out.Comments[k] = append(b.out.Comments[k], line)
}

func (b *builder) unexpressed(kind, name, why string) {
	b.sum.Unexpressed = append(b.sum.Unexpressed, Note{Kind: kind, Name: name, Why: why})
}

// environment is the Environment: the unit tree (the root under its real name, then every unit
// the API can match by name, parents first), Observe targets, the security group.
func (b *builder) environment() error {
	children := map[string][]Unit{}
	var root *Unit
	for i := range b.src.Units {
		u := &b.src.Units[i]
		if u.ParentID == "" {
			if root != nil {
				return fmt.Errorf("Dataverse reports two root business units (%s and %s): the environment is not usable as read", root.Name, u.Name)
			}
			root = u
			continue
		}
		children[u.ParentID] = append(children[u.ParentID], *u)
	}
	if root == nil {
		return fmt.Errorf("Dataverse reports no root business unit: the environment is not usable as read")
	}
	b.root = root.ID
	// The sync adopts the root whatever its name; a child unit is matched by name (case-folded)
	// under its parent, so a child's name must be a valid unit name once lower-cased.
	rootName := kubeName(root.Name, "root")
	b.unit[root.ID] = rootName
	units := []v1alpha1.BusinessUnit{{Name: rootName}}
	used := map[string]bool{rootName: true}
	queue := []string{root.ID}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		kids := children[id]
		sort.Slice(kids, func(i, j int) bool {
			return kids[i].Name < kids[j].Name || (kids[i].Name == kids[j].Name && kids[i].ID < kids[j].ID)
		})
		for _, k := range kids {
			name := strings.ToLower(k.Name)
			switch {
			case !dnsLabel.MatchString(name) || len(name) > 100:
				b.unexpressed("BusinessUnit", k.Name, "its name is not a valid unit name (lower-case letters, digits and hyphens) and the operator matches units by name: rename it in Dataverse, or its people, roles and teams (listed) stay unexported")
				continue
			case used[name]:
				b.unexpressed("BusinessUnit", k.Name, "another unit has the same name and unit names must be unique in an environment: rename one in Dataverse")
				continue
			}
			used[name] = true
			b.unit[k.ID] = name
			units = append(units, v1alpha1.BusinessUnit{Name: name, Parent: b.unit[id]})
			queue = append(queue, k.ID)
		}
	}
	env := v1alpha1.Environment{TypeMeta: typeMeta("Environment"), ObjectMeta: b.objectMeta(b.opt.Name)}
	env.Spec = v1alpha1.EnvironmentSpec{
		Product:       b.src.Product,
		SecurityGroup: b.src.SecurityGroup,
		BusinessUnits: units,
		Dataverse: &v1alpha1.DataverseTarget{URL: b.src.URL, EnvironmentID: b.src.EnvironmentID,
			CredentialsSecretRef: v1alpha1.SecretReference{Name: b.opt.CredentialsSecret}, ManagementPolicy: v1alpha1.ManagementObserve},
	}
	if b.src.Entra {
		env.Spec.Entra = &v1alpha1.EntraTarget{ManagementPolicy: v1alpha1.ManagementObserve}
	}
	b.out.Environment = env
	return nil
}

// unitOf is a principal's spec.businessUnit: "" for the root (the default), false when its
// unit is not in the tree.
func (b *builder) unitOf(id string) (string, bool) {
	if id == "" || id == b.root {
		return "", true
	}
	n, ok := b.unit[id]
	return n, ok
}

// keptBuiltIns are the built-in roles the Environment keeps itself, by the object name it gives.
func (b *builder) keptBuiltIns() map[v1alpha1.BuiltInRole]string {
	env := &v1alpha1.Environment{}
	env.Name, env.Spec.Product = b.opt.Name, b.src.Product
	out := map[v1alpha1.BuiltInRole]string{}
	for name, r := range decide.BuiltInRoles(env) {
		out[r] = name
	}
	return out
}

// roles exports every custom role of its own (copies fold into it), maps the built-in roles to
// the Environment's and lists what cannot be expressed.
func (b *builder) roles() {
	kept := b.keptBuiltIns()
	reserved := map[string]bool{}
	for _, n := range kept {
		reserved[n] = true
	}
	var own []*Role
	var cs []candidate
	for i := range b.src.Roles {
		r := &b.src.Roles[i]
		if r.ParentRootRoleID != "" && r.ParentRootRoleID != r.ID {
			continue
		}
		if r.BuiltIn != "" {
			if name, ok := kept[r.BuiltIn]; ok {
				b.roleName[r.ID] = name
				def := access.BuiltInRoleSpec(b.opt.Name, r.BuiltIn).MemberPrivilegeInheritance
				if inh := inheritanceOf(r); r.BuiltIn != v1alpha1.BuiltInSystemAdministrator && def != "" && inh != def {
					b.unexpressed("SecurityRole", r.Name, fmt.Sprintf("its member's privilege inheritance is %s; the Environment keeps this role as %s: after applying, set spec.memberPrivilegeInheritance: %s there (SR7 keeps a person's choice)", inh, name, inh))
				}
				continue
			}
			name := b.opt.Name + builtInSuffix[r.BuiltIn]
			b.roleName[r.ID] = name
			reserved[name] = true
			role := v1alpha1.SecurityRole{TypeMeta: typeMeta("SecurityRole"), ObjectMeta: b.objectMeta(name),
				Spec: v1alpha1.SecurityRoleSpec{EnvironmentName: b.opt.Name, RoleName: access.BuiltInDisplayName(r.BuiltIn), BuiltIn: r.BuiltIn,
					MemberPrivilegeInheritance: inheritanceOf(r)}}
			b.pendingBuiltIn(r.ID, role)
			continue
		}
		if _, ok := b.unitOf(r.UnitID); !ok {
			b.roleWhy[r.ID] = "its business unit is not exported"
			b.unexpressed("SecurityRole", r.Name, "its business unit is not in the exported tree (listed): the role is not exported, and its holders keep it only in Dataverse")
			continue
		}
		if n := strings.TrimSpace(r.Name); n != r.Name || len(n) == 0 || len(n) > 100 {
			b.roleWhy[r.ID] = "its name is not one spec.roleName takes"
			b.unexpressed("SecurityRole", r.Name, "its name has leading or trailing spaces or is longer than 100 characters, which spec.roleName refuses and the operator matches roles by name: rename it in Dataverse")
			continue
		}
		own = append(own, r)
		cs = append(cs, candidate{base: kubeName(r.Name, "role"), key: r.ID, display: r.Name})
	}
	names, renamed := assignNames("SecurityRole", cs, reserved)
	b.sum.Renamed = append(b.sum.Renamed, renamed...)
	for _, r := range own {
		name := names[r.ID]
		b.roleName[r.ID] = name
		unit, _ := b.unitOf(r.UnitID)
		role := v1alpha1.SecurityRole{TypeMeta: typeMeta("SecurityRole"), ObjectMeta: b.objectMeta(name),
			Spec: v1alpha1.SecurityRoleSpec{EnvironmentName: b.opt.Name, RoleName: r.Name, BusinessUnit: unit,
				MemberPrivilegeInheritance: inheritanceOf(r), Tables: tablesOf(r.Tables)}}
		for _, n := range sortedUnique(r.Named) {
			p := v1alpha1.NamedPrivilege{Name: n, Level: v1alpha1.AccessOrganization}
			if privacyPrivileges[n] {
				role.Spec.PrivacyPrivileges = append(role.Spec.PrivacyPrivileges, p)
			} else {
				role.Spec.MiscellaneousPrivileges = append(role.Spec.MiscellaneousPrivileges, p)
			}
		}
		for _, u := range sortedUnique(r.Unknown) {
			b.unexpressed("SecurityRole", name, fmt.Sprintf("privilege %s is on a table the privilege catalogue does not know: not exported, so under Manage the operator would remove it from the role", u))
			b.comment("SecurityRole", name, "not exported: "+u+" (a table the catalogue does not know)")
		}
		if r.Managed {
			b.comment("SecurityRole", name, "a role a solution ships (ismanaged), exported because someone holds it")
			b.pendingBuiltIn(r.ID, role)
			continue
		}
		b.out.SecurityRoles = append(b.out.SecurityRoles, role)
	}
	// A copy in a child unit is its root role to a holder (the sync finds it by name there).
	for i := range b.src.Roles {
		r := &b.src.Roles[i]
		if r.ParentRootRoleID == "" || r.ParentRootRoleID == r.ID {
			continue
		}
		if n, ok := b.roleName[r.ParentRootRoleID]; ok {
			b.roleName[r.ID] = n
		} else if why, ok := b.roleWhy[r.ParentRootRoleID]; ok {
			b.roleWhy[r.ID] = why
		} else if b.roleByID[r.ParentRootRoleID] == nil {
			b.roleWhy[r.ID] = "the role it was copied from was not read"
		}
	}
}

// pendingBuiltIn keeps a role object (a built-in or a solution's role) to export once a
// principal holds it.
func (b *builder) pendingBuiltIn(id string, role v1alpha1.SecurityRole) {
	if b.pending == nil {
		b.pending = map[string]v1alpha1.SecurityRole{}
	}
	b.pending[id] = role
}

// roleRefs are a principal's spec.securityRoles: every role it holds as an object name, sorted;
// a role without one is noted on the principal.
func (b *builder) roleRefs(kind, name string, ids []string) []string {
	var out []string
	for _, id := range ids {
		n, ok := b.roleName[id]
		if !ok {
			why := b.roleWhy[id]
			if why == "" {
				why = "it is not a role the export read"
			}
			b.unexpressed(kind, name, fmt.Sprintf("holds a role (%s) the export cannot name: %s; under Manage the operator would remove it", b.roleDisplay(id), why))
			continue
		}
		if r, ok := b.pending[b.rootOf(id)]; ok {
			b.builtInUsed[r.Name] = r
		}
		out = append(out, n)
	}
	return sortedUnique(out)
}

// rootOf is the role a copy in a child unit was made from, or id itself.
func (b *builder) rootOf(id string) string {
	if r := b.roleByID[id]; r != nil && r.ParentRootRoleID != "" {
		return r.ParentRootRoleID
	}
	return id
}

func (b *builder) roleDisplay(id string) string {
	if r := b.roleByID[id]; r != nil {
		return r.Name
	}
	return id
}

func inheritanceOf(r *Role) v1alpha1.MemberPrivilegeInheritance {
	if r.Inherited {
		return v1alpha1.InheritDirectUserBasicAndTeam
	}
	return v1alpha1.InheritTeamPrivilegesOnly
}

// presets are tried in this order; a table's privileges become the first that expands to exactly
// them (SR4), else Custom with the levels held.
var presets = []v1alpha1.PermissionSetting{v1alpha1.PermissionFullAccess, v1alpha1.PermissionCollaborate,
	v1alpha1.PermissionPrivate, v1alpha1.PermissionReference}

// tablesOf turns a role's table privileges back into spec.tables, sorted by table.
func tablesOf(ts []TablePrivileges) []v1alpha1.TablePermission {
	var out []v1alpha1.TablePermission
	for _, t := range ts {
		held := access.ExpandTable(v1alpha1.TablePermission{Privileges: &t.Privileges})
		if held == access.ExpandTable(v1alpha1.TablePermission{PermissionSetting: v1alpha1.PermissionNoAccess}) {
			continue // holds nothing on it: the same as not listing it
		}
		tp := v1alpha1.TablePermission{Table: t.Table, Ownership: t.Ownership}
		if tp.Ownership == "" {
			tp.Ownership = v1alpha1.OwnershipUserOrTeam
		}
		tp.PermissionSetting = v1alpha1.PermissionCustom
		for _, p := range presets {
			if access.ExpandTable(v1alpha1.TablePermission{PermissionSetting: p}) == held {
				tp.PermissionSetting = p
				break
			}
		}
		if tp.PermissionSetting == v1alpha1.PermissionCustom {
			levels := onlyHeld(held)
			tp.Privileges = &levels
		}
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Table < out[j].Table })
	return out
}

// onlyHeld drops the None levels, which the API takes as absent.
func onlyHeld(tp v1alpha1.TablePrivileges) v1alpha1.TablePrivileges {
	for _, p := range access.Privileges {
		if access.LevelOf(tp, p) == v1alpha1.AccessNone {
			access.SetLevel(&tp, p, "")
		}
	}
	return tp
}

func sortedUnique(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// Text is the summary as printed on stderr (or stdout with --dry-run): counts, then every note.
func (s *Summary) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "export: %d Environment, %d SecurityRoles, %d PlatformUsers, %d ApplicationUsers, %d Teams\n",
		s.Environments, s.SecurityRoles, s.PlatformUsers, s.ApplicationUsers, s.Teams)
	for _, g := range []struct {
		title string
		notes []Note
	}{{"skipped", s.Skipped}, {"not expressible as it is", s.Unexpressed}, {"renamed", s.Renamed}} {
		if len(g.notes) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s (%d):\n", g.title, len(g.notes))
		for _, n := range g.notes {
			b.WriteString("  - " + n.String() + "\n")
		}
	}
	if s.LicensesUnknown > 0 {
		fmt.Fprintf(&b, "%d licensed people have no spec.license: their SKU is unknown without Entra ID (--entra=false)\n", s.LicensesUnknown)
	}
	return b.String()
}
