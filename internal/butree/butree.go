// Package butree answers questions about an environment's business-unit tree: is it valid (EV2),
// and is one unit at or below another (SR5, TM2). It has no client and no Kubernetes types.
package butree

import (
	"fmt"
	"sort"
	"strings"
)

// Tree maps every unit to its parent; the root's parent is "".
type Tree map[string]string

// Validate reports the first problem of the tree (EV2): no root or several roots, an unknown
// parent, or a cycle. CEL refuses most of these at admission; cycles only show here.
func (t Tree) Validate() error {
	var roots []string
	for name, parent := range t {
		switch {
		case parent == "":
			roots = append(roots, name)
		case !t.Has(parent):
			return fmt.Errorf("business unit %q names parent %q, which is not listed", name, parent)
		}
	}
	sort.Strings(roots)
	if len(roots) != 1 {
		return fmt.Errorf("the business-unit tree needs exactly one root, found %d (%s)", len(roots), strings.Join(roots, ", "))
	}
	names := make([]string, 0, len(t))
	for name := range t {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if cycle := t.cycleFrom(name); cycle != nil {
			return fmt.Errorf("business units form a cycle: %s", strings.Join(cycle, " -> "))
		}
	}
	return nil
}

func (t Tree) cycleFrom(start string) []string {
	seen := map[string]int{}
	var path []string
	for u := start; u != ""; u = t[u] {
		if i, ok := seen[u]; ok {
			return append(path[i:], u)
		}
		seen[u] = len(path)
		path = append(path, u)
	}
	return nil
}

// Has reports whether the unit is in the tree.
func (t Tree) Has(unit string) bool {
	_, ok := t[unit]
	return ok
}

// IsAtOrBelow reports whether unit is ancestor itself or one of its descendants. A role of
// ancestor is available to principals of unit (SR5). Safe on trees with cycles.
func (t Tree) IsAtOrBelow(unit, ancestor string) bool {
	for steps, u := 0, unit; u != "" && steps <= len(t); steps, u = steps+1, t[u] {
		if u == ancestor {
			return true
		}
	}
	return false
}

// Root is the tree's root: the unit with no parent; with several (an invalid tree, EV2), the
// first by name, so every caller gives the same answer; "" for an empty tree.
func (t Tree) Root() string {
	var roots []string
	for u, parent := range t {
		if parent == "" {
			roots = append(roots, u)
		}
	}
	if len(roots) == 0 {
		return ""
	}
	sort.Strings(roots)
	return roots[0]
}
