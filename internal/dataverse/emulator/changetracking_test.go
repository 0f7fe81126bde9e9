package emulator

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// deltaRead follows a change-tracking read to its end: the rows' ids, the deleted ids and the
// deltaLink of the last page.
func (f *fixture) deltaRead(first string, pageSize string) (rows, deleted []string, link string, pages int) {
	f.t.Helper()
	next := first
	for next != "" {
		a := f.do("GET", next, nil, "Prefer", "odata.track-changes,odata.maxpagesize="+pageSize)
		if a.status != 200 {
			f.t.Fatalf("GET %s: %d %s", next, a.status, a.raw)
		}
		pages++
		for _, v := range a.body["value"].([]any) {
			m := v.(map[string]any)
			if ctx, _ := m["@odata.context"].(string); strings.HasSuffix(ctx, "/$deletedEntity") {
				if m["reason"] != "deleted" {
					f.t.Errorf("deleted entry without reason deleted: %v", m)
				}
				deleted = append(deleted, m["id"].(string))
				continue
			}
			rows = append(rows, m["roleid"].(string))
		}
		next, _ = a.body["@odata.nextLink"].(string)
		l, _ := a.body["@odata.deltaLink"].(string)
		if next != "" && l != "" {
			f.t.Fatalf("a deltaLink before the last page: %s", a.raw)
		}
		link = l
	}
	sort.Strings(rows)
	sort.Strings(deleted)
	return rows, deleted, link, pages
}

// Microsoft Learn, "Use change tracking to synchronize data with external systems": the first
// read with Prefer: odata.track-changes returns every row and a deltaLink on its last page; the
// deltaLink returns only the rows created or changed since and the deleted ones as
// $deletedEntity; $filter is refused with it; a table without ChangeTrackingEnabled refuses it; an
// expired token is refused (and read in full again).
func TestChangeTracking(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Environments[0].UntrackedTables = []string{"team"} })
	a, b, c := f.createRole("tracked a"), f.createRole("tracked b"), f.createRole("tracked c")
	before := f.do("GET", "roles?$select=roleid", nil)
	var all []string
	for _, v := range before.body["value"].([]any) {
		all = append(all, v.(map[string]any)["roleid"].(string))
	}
	sort.Strings(all)

	rows, deleted, link, pages := f.deltaRead("roles?$select=name", "2")
	if d := cmp.Diff(all, rows); d != "" || len(deleted) != 0 || pages < 2 || !strings.Contains(link, "$deltatoken=") {
		t.Fatalf("full read: %d pages, %d deleted, link %q, rows (-want +got):\n%s", pages, len(deleted), link, d)
	}
	if none, _, again, _ := f.deltaRead(link, "5000"); len(none) != 0 || again == "" {
		t.Fatalf("nothing changed, yet %v (next link %q)", none, again)
	}

	if p := f.do("PATCH", "roles("+a+")", map[string]any{"description": "changed"}); p.status != 204 {
		t.Fatalf("patch: %d %s", p.status, p.raw)
	}
	if d := f.do("DELETE", "roles("+b+")", nil); d.status != 204 {
		t.Fatalf("delete: %d %s", d.status, d.raw)
	}
	created := f.createRole("tracked d")
	rows, deleted, next, _ := f.deltaRead(link, "5000")
	want := []string{a, created}
	sort.Strings(want)
	if d := cmp.Diff(want, rows); d != "" || !cmp.Equal(deleted, []string{b}) {
		t.Fatalf("delta: deleted %v, rows (-want +got):\n%s", deleted, d)
	}
	if rows, deleted, _, _ := f.deltaRead(next, "5000"); len(rows)+len(deleted) != 0 {
		t.Fatalf("the next deltaLink returns what the last one did: %v %v", rows, deleted)
	}
	_ = c

	if r := f.do("GET", "roles?$filter=name%20eq%20'x'", nil, "Prefer", "odata.track-changes"); r.status != 400 {
		t.Errorf("$filter with track-changes: %d", r.status)
	}
	if r := f.do("GET", "teams", nil, "Prefer", "odata.track-changes"); r.status != 400 {
		t.Errorf("untracked table: %d", r.status)
	}
	for _, tc := range []struct {
		name string
		want bool
	}{{"role", true}, {"systemuser", true}, {"team", false}} {
		d := f.do("GET", "EntityDefinitions(LogicalName='"+tc.name+"')?$select=ChangeTrackingEnabled", nil)
		if d.status != 200 || d.body["ChangeTrackingEnabled"] != tc.want {
			t.Errorf("EntityDefinitions %s: %d %s", tc.name, d.status, d.raw)
		}
	}
	if err := f.emu.ExpireDeltaTokens("contoso"); err != nil {
		t.Fatal(err)
	}
	if r := f.do("GET", next, nil); r.status != 400 {
		t.Errorf("expired token: %d %s", r.status, r.raw)
	}
}
