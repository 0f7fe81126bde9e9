package access

import (
	"sort"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// AllTables is the table name that stands for every table: System Administrator holds every
// privilege at Organization on tables no role lists, too (SR7).
const AllTables = "*"

// WebResourceTable is the table whose Read privilege forms need (SR8).
const WebResourceTable = "webresource"

// Privilege names one of the eight table privileges, spelled as the API's JSON field.
type Privilege string

const (
	Create   Privilege = "create"
	Read     Privilege = "read"
	Write    Privilege = "write"
	Delete   Privilege = "delete"
	Append   Privilege = "append"
	AppendTo Privilege = "appendTo"
	Assign   Privilege = "assign"
	Share    Privilege = "share"
)

// Privileges are the eight table privileges in the product's order, the order of every output.
var Privileges = []Privilege{Create, Read, Write, Delete, Append, AppendTo, Assign, Share}

// LevelOf returns the level tp gives privilege p, canonical; an absent privilege is None.
func LevelOf(tp v1alpha1.TablePrivileges, p Privilege) v1alpha1.AccessLevel {
	return field(&tp, p).Canonical()
}

// SetLevel sets the level tp gives privilege p (manager export builds privileges back from
// Dataverse's).
func SetLevel(tp *v1alpha1.TablePrivileges, p Privilege, l v1alpha1.AccessLevel) { *field(tp, p) = l }

func field(tp *v1alpha1.TablePrivileges, p Privilege) *v1alpha1.AccessLevel {
	switch p {
	case Create:
		return &tp.Create
	case Read:
		return &tp.Read
	case Write:
		return &tp.Write
	case Delete:
		return &tp.Delete
	case Append:
		return &tp.Append
	case AppendTo:
		return &tp.AppendTo
	case Assign:
		return &tp.Assign
	case Share:
		return &tp.Share
	}
	panic("access: unknown privilege " + string(p))
}

func uniform(l v1alpha1.AccessLevel) v1alpha1.TablePrivileges {
	var tp v1alpha1.TablePrivileges
	for _, p := range Privileges {
		*field(&tp, p) = l
	}
	return tp
}

// ExpandTable returns the eight privileges a table permission grants, every one set and in
// canonical level names (SR2, SR4). A preset wins over explicit privileges, which admission
// refuses next to a preset anyway; Custom, empty or unknown settings take the privileges given.
func ExpandTable(tp v1alpha1.TablePermission) v1alpha1.TablePrivileges {
	switch tp.PermissionSetting {
	case v1alpha1.PermissionNoAccess:
		return uniform(v1alpha1.AccessNone)
	case v1alpha1.PermissionFullAccess:
		return uniform(v1alpha1.AccessOrganization)
	case v1alpha1.PermissionCollaborate:
		out := uniform(v1alpha1.AccessUser)
		out.Read, out.Append, out.AppendTo = v1alpha1.AccessOrganization, v1alpha1.AccessOrganization, v1alpha1.AccessOrganization
		return out
	case v1alpha1.PermissionPrivate:
		return uniform(v1alpha1.AccessUser)
	case v1alpha1.PermissionReference:
		out := uniform(v1alpha1.AccessNone)
		out.Read = v1alpha1.AccessOrganization
		return out
	}
	out := uniform(v1alpha1.AccessNone)
	if tp.Privileges != nil {
		for _, p := range Privileges {
			*field(&out, p) = LevelOf(*tp.Privileges, p)
		}
	}
	return out
}

func maxPrivileges(a, b v1alpha1.TablePrivileges) v1alpha1.TablePrivileges {
	var out v1alpha1.TablePrivileges
	for _, p := range Privileges {
		*field(&out, p) = LevelOf(a, p).Max(LevelOf(b, p))
	}
	return out
}

// IsSystemAdministrator reports whether the role is the built-in System Administrator, which holds
// every privilege at Organization whatever its table list says (SR7).
func IsSystemAdministrator(spec *v1alpha1.SecurityRoleSpec) bool {
	return spec != nil && spec.BuiltIn == v1alpha1.BuiltInSystemAdministrator
}

// ExpandRole returns every table the role lists, expanded (SR4), sorted by table name. System
// Administrator gets Organization on every listed table and an AllTables entry for the rest.
// Duplicate entries, which the list-map schema refuses, add up (SR6) rather than hide each other.
func ExpandRole(spec *v1alpha1.SecurityRoleSpec) []v1alpha1.EffectiveTable {
	if spec == nil {
		return nil
	}
	byTable := make(map[string]v1alpha1.TablePrivileges, len(spec.Tables)+1)
	for _, tp := range spec.Tables {
		e := ExpandTable(tp)
		if prev, ok := byTable[tp.Table]; ok {
			e = maxPrivileges(prev, e)
		}
		byTable[tp.Table] = e
	}
	if IsSystemAdministrator(spec) {
		for t := range byTable {
			byTable[t] = uniform(v1alpha1.AccessOrganization)
		}
		byTable[AllTables] = uniform(v1alpha1.AccessOrganization)
	}
	if len(byTable) == 0 {
		return nil
	}
	names := make([]string, 0, len(byTable))
	for t := range byTable {
		names = append(names, t)
	}
	sort.Strings(names)
	out := make([]v1alpha1.EffectiveTable, 0, len(names))
	for _, t := range names {
		out = append(out, v1alpha1.EffectiveTable{Table: t, Privileges: byTable[t]})
	}
	return out
}

// HasWebResourceRead reports whether the role lets forms load web resources (SR8): Read above None
// on the webresource table, or System Administrator, which has it without listing it.
func HasWebResourceRead(spec *v1alpha1.SecurityRoleSpec) bool {
	if IsSystemAdministrator(spec) {
		return true
	}
	for _, et := range ExpandRole(spec) {
		if et.Table == WebResourceTable && et.Privileges.Read.Rank() > 0 {
			return true
		}
	}
	return false
}

// expandNamed returns the canonical level of every named (miscellaneous or privacy) privilege;
// duplicates add up (SR6).
func expandNamed(list []v1alpha1.NamedPrivilege) map[string]v1alpha1.AccessLevel {
	out := make(map[string]v1alpha1.AccessLevel, len(list))
	for _, np := range list {
		l := np.Level
		if l == "" {
			l = v1alpha1.AccessOrganization // the schema's default
		}
		out[np.Name] = out[np.Name].Max(l)
	}
	return out
}
