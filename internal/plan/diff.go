package plan

import (
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
	"github.com/accessplane/dataverse-access-operator/internal/checkaccess"
	"github.com/accessplane/dataverse-access-operator/internal/enablement"
)

// Diff is what the change does, compared with the base.
type Diff struct {
	// Access lists every principal whose effective access changes.
	Access []PrincipalChange `json:"access"`
	// Allocation lists every principal that starts or stops holding or waiting for a slot or seat.
	Allocation []AllocationChange `json:"allocation"`
	// Ready lists every object whose Ready verdict changes, including objects added and removed.
	Ready []ReadyChange `json:"ready"`
}

// PrincipalChange is one principal's access before and after.
type PrincipalChange struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	// AccessFrom and AccessTo are status.access (AM4): Full, SettingsOnly, Programmatic, None.
	AccessFrom v1alpha1.Access `json:"accessFrom"`
	AccessTo   v1alpha1.Access `json:"accessTo"`
	Changes    []AccessChange  `json:"changes"`
}

// AccessChange is one privilege that rises or falls.
type AccessChange struct {
	// Table is a table's logical name, "*" for every table (System Administrator), or
	// "(miscellaneous)" / "(privacy)" for named privileges.
	Table     string               `json:"table"`
	Privilege string               `json:"privilege"`
	From      v1alpha1.AccessLevel `json:"from"`
	To        v1alpha1.AccessLevel `json:"to"`
	// Through are the grants that give the higher of the two levels: what the change adds for a
	// rise, what it takes away for a fall. Each is "Role name (source)"; Grants are the same, as
	// check-access reports them, for tools.
	Through []string       `json:"through"`
	Grants  []access.Grant `json:"grants"`
}

// Rises reports whether the level goes up.
func (c AccessChange) Rises() bool { return c.To.Rank() > c.From.Rank() }

// AllocationChange is a principal whose place for a slot or seat changes.
type AllocationChange struct {
	Namespace   string `json:"namespace"`
	Environment string `json:"environment"`
	// Resource is "non-interactive slot" or "seat of <SKU>".
	Resource string `json:"resource"`
	Name     string `json:"name"`
	// From and To are "none", "holds" or "waiting N of M".
	From string `json:"from"`
	To   string `json:"to"`
}

// ReadyChange is an object whose Ready verdict changes.
type ReadyChange struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	// From and To are "absent", "Ready", or the reason with ", Stalled" when Stalled.
	From    string `json:"from"`
	To      string `json:"to"`
	Message string `json:"message,omitempty"`
}

// Named-privilege pseudo tables.
const (
	tableMiscellaneous = "(miscellaneous)"
	tablePrivacy       = "(privacy)"
)

func diff(base, head *state) *Diff {
	return &Diff{Access: accessDiff(base, head), Allocation: allocationDiff(base, head), Ready: readyDiff(base, head)}
}

// principal is one evaluated principal.
type principal struct {
	key    objKey
	access v1alpha1.Access
	result access.Result
}

// principals evaluates every PlatformUser and ApplicationUser of st with internal/access, from
// the effective roles the decisions wrote, as check-access does from a cluster.
func (st *state) principals() map[objKey]principal {
	out := map[objKey]principal{}
	for ns, s := range st.byNS {
		envs := map[string]*v1alpha1.Environment{}
		for i := range s.Environments {
			envs[s.Environments[i].Name] = &s.Environments[i]
		}
		objs := snapshotObjects{roles: map[string]*v1alpha1.SecurityRole{}, teams: map[string]*v1alpha1.Team{}}
		for i := range s.Roles {
			objs.roles[s.Roles[i].Name] = &s.Roles[i]
		}
		for i := range s.Teams {
			objs.teams[s.Teams[i].Name] = &s.Teams[i]
		}
		eval := func(key objKey, sub checkaccess.Subject, acc v1alpha1.Access) {
			p := principal{key: key, access: acc}
			if env := envs[sub.Environment]; env != nil {
				// Every role and team was resolved by the decision that wrote the effective roles;
				// one that is missing only leaves its grants out, as it does in the cluster.
				pr, _ := checkaccess.PrincipalOf(sub, env, ns, objs)
				p.result = access.Evaluate(pr, butree.Tree(env.BusinessUnitParents()), access.Options{})
			}
			out[key] = p
		}
		for i := range s.Users {
			u := &s.Users[i]
			eval(objKey{ns, "PlatformUser", u.Name}, checkaccess.SubjectOfPlatformUser(u), u.Status.Access)
		}
		for i := range s.Apps {
			a := &s.Apps[i]
			eval(objKey{ns, "ApplicationUser", a.Name}, checkaccess.SubjectOfApplicationUser(a), a.Status.Access)
		}
	}
	return out
}

// snapshotObjects serves check-access's lookups from a decided snapshot.
type snapshotObjects struct {
	roles map[string]*v1alpha1.SecurityRole
	teams map[string]*v1alpha1.Team
}

func (o snapshotObjects) Role(name string) (*v1alpha1.SecurityRole, error) {
	if r := o.roles[name]; r != nil {
		return r, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: "securityroles"}, name)
}

func (o snapshotObjects) Team(name string) (*v1alpha1.Team, error) {
	if t := o.teams[name]; t != nil {
		return t, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: "teams"}, name)
}

func accessDiff(base, head *state) []PrincipalChange {
	before, after := base.principals(), head.principals()
	keys := map[objKey]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	out := []PrincipalChange{}
	for _, k := range sortedKeys(keys) {
		b, a := before[k], after[k]
		pc := PrincipalChange{Namespace: k.Namespace, Kind: k.Kind, Name: k.Name,
			AccessFrom: orNone(b.access), AccessTo: orNone(a.access), Changes: privilegeChanges(b.result, a.result)}
		if len(pc.Changes) > 0 || pc.AccessFrom != pc.AccessTo {
			out = append(out, pc)
		}
	}
	return out
}

func orNone(a v1alpha1.Access) v1alpha1.Access {
	if a == "" {
		return v1alpha1.AccessNoAccess
	}
	return a
}

// privilegeChanges compares every (table, privilege) and named privilege of two results by the
// level the principal can use (after AM4), so a role that a disabled or Administrative user
// holds but cannot use changes nothing here; its Access change says why.
func privilegeChanges(before, after access.Result) []AccessChange {
	var out []AccessChange
	tables := map[string]bool{}
	for _, t := range before.Tables {
		tables[t.Table] = true
	}
	for _, t := range after.Tables {
		tables[t.Table] = true
	}
	names := make([]string, 0, len(tables))
	for t := range tables {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		bt, at := lookup(before, t), lookup(after, t)
		for _, p := range access.Privileges {
			bp, ap := bt.Privilege(p), at.Privilege(p)
			if c, ok := change(t, string(p), bp.Level, ap.Level, bp.Grants, ap.Grants); ok {
				out = append(out, c)
			}
		}
	}
	out = append(out, namedChanges(tableMiscellaneous, before.Miscellaneous, after.Miscellaneous)...)
	return append(out, namedChanges(tablePrivacy, before.Privacy, after.Privacy)...)
}

// lookup is a table's outcome; "*" is compared as itself, not through Lookup's fallback.
func lookup(r access.Result, table string) access.TableAccess {
	if table == access.AllTables {
		for _, t := range r.Tables {
			if t.Table == access.AllTables {
				return t
			}
		}
		return access.TableAccess{Table: table}
	}
	ta, _ := r.Lookup(table)
	return ta
}

func namedChanges(table string, before, after []access.NamedAccess) []AccessChange {
	b, a := map[string]access.NamedAccess{}, map[string]access.NamedAccess{}
	names := map[string]bool{}
	for _, n := range before {
		b[n.Name] = n
		names[n.Name] = true
	}
	for _, n := range after {
		a[n.Name] = n
		names[n.Name] = true
	}
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	var out []AccessChange
	for _, n := range list {
		if c, ok := change(table, n, b[n].Level, a[n].Level, b[n].Grants, a[n].Grants); ok {
			out = append(out, c)
		}
	}
	return out
}

func change(table, privilege string, from, to v1alpha1.AccessLevel, fromGrants, toGrants []access.Grant) (AccessChange, bool) {
	from, to = from.Canonical(), to.Canonical()
	if from == to {
		return AccessChange{}, false
	}
	c := AccessChange{Table: table, Privilege: privilege, From: from, To: to}
	level, grants := to, toGrants
	if from.Rank() > to.Rank() {
		level, grants = from, fromGrants
	}
	for _, g := range grants {
		if g.Level.Canonical() == level {
			c.Grants = append(c.Grants, g)
		}
	}
	// The evaluator lists grants highest first; among equals, a stable order by what is printed.
	sort.SliceStable(c.Grants, func(i, j int) bool { return grantText(c.Grants[i]) < grantText(c.Grants[j]) })
	for _, g := range c.Grants {
		c.Through = append(c.Through, grantText(g))
	}
	return c, true
}

// grantText says which role gives a level and how it reaches the principal (TM2, TM3).
func grantText(g access.Grant) string {
	how := g.Source
	switch {
	case g.Via == access.ViaTeam:
		how = fmt.Sprintf("%s via team, BU %s", g.Source, g.BusinessUnit)
	case g.Team != "":
		how = g.Source + " as member"
	}
	return fmt.Sprintf("%s (%s)", g.RoleName, how)
}

func allocationDiff(base, head *state) []AllocationChange {
	type envKey struct{ ns, env string }
	places := func(st *state) map[envKey]map[string]map[string]string {
		out := map[envKey]map[string]map[string]string{}
		for ns, s := range st.byNS {
			for i := range s.Environments {
				e := &s.Environments[i]
				m := map[string]map[string]string{}
				if l := e.Status.NonInteractive; l != nil {
					m["non-interactive slot"] = ledgerPlaces(l.Holders, l.Waiting)
				}
				for _, seat := range e.Status.Seats {
					m["seat of "+seat.SKU] = ledgerPlaces(seat.Holders, seat.Waiting)
				}
				out[envKey{ns, e.Name}] = m
			}
		}
		return out
	}
	before, after := places(base), places(head)
	var out []AllocationChange
	seen := map[envKey]bool{}
	for k := range before {
		seen[k] = true
	}
	for k := range after {
		seen[k] = true
	}
	for k := range seen {
		resources := map[string]bool{}
		for r := range before[k] {
			resources[r] = true
		}
		for r := range after[k] {
			resources[r] = true
		}
		for r := range resources {
			b, a := before[k][r], after[k][r]
			names := map[string]bool{}
			for n := range b {
				names[n] = true
			}
			for n := range a {
				names[n] = true
			}
			for n := range names {
				from, to := orText(b[n]), orText(a[n])
				if category(from) != category(to) {
					out = append(out, AllocationChange{Namespace: k.ns, Environment: k.env, Resource: r, Name: n, From: from, To: to})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		x, y := out[i], out[j]
		if x.Namespace != y.Namespace {
			return x.Namespace < y.Namespace
		}
		if x.Environment != y.Environment {
			return x.Environment < y.Environment
		}
		if x.Resource != y.Resource {
			return x.Resource < y.Resource
		}
		return x.Name < y.Name
	})
	return out
}

func ledgerPlaces(holders, waiting []v1alpha1.LedgerEntry) map[string]string {
	m := map[string]string{}
	for _, h := range holders {
		m[h.Name] = "holds"
	}
	for i, w := range waiting {
		m[w.Name] = fmt.Sprintf("waiting %s of %d", enablement.Ordinal(i+1), len(waiting))
	}
	return m
}

func orText(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// category is none, holds or waiting: a change of position in the line alone is not reported.
func category(place string) string {
	first, _, _ := strings.Cut(place, " ")
	return first
}

func readyDiff(base, head *state) []ReadyChange {
	type v struct{ text, message string }
	verdicts := func(st *state) map[objKey]v {
		out := map[objKey]v{}
		for _, it := range st.items() {
			ready, reason, message, stalled := verdictOf(it.conds)
			text := reason
			switch {
			case ready == "True":
				text = "Ready"
			case reason == "":
				text = "Unknown"
			}
			if stalled {
				text += ", Stalled"
			}
			out[it.key] = v{text, message}
		}
		return out
	}
	before, after := verdicts(base), verdicts(head)
	keys := map[objKey]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	out := []ReadyChange{}
	for _, k := range sortedKeys(keys) {
		b, bok := before[k]
		a, aok := after[k]
		if !bok {
			b.text = "absent"
		}
		if !aok {
			a.text = "absent"
		}
		if b.text != a.text {
			msg := a.message
			if !aok {
				msg = ""
			}
			out = append(out, ReadyChange{Namespace: k.Namespace, Kind: k.Kind, Name: k.Name, From: b.text, To: a.text, Message: msg})
		}
	}
	return out
}

func sortedKeys(m map[objKey]bool) []objKey {
	out := make([]objKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return lessKey(out[i], out[j]) })
	return out
}
