package export

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// maxName leaves room for a collision suffix within a DNS label (63), which every kind's name
// and every reference field accepts.
const maxName = 58

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// kubeName is a valid object name made from a display name: lower case, every run of other
// characters one hyphen, trimmed; fallback when nothing is left (a name in another script).
func kubeName(display, fallback string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(display) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			hyphen = false
		} else if !hyphen && b.Len() > 0 {
			b.WriteByte('-')
			hyphen = true
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if len(s) > maxName {
		s = strings.TrimRight(s[:maxName], "-")
	}
	if s == "" && fallback != "" && fallback != display {
		return kubeName(fallback, "")
	}
	if s == "" {
		return "unnamed"
	}
	return s
}

// candidate is one object to name: its base name and a key that orders objects with the same
// base (an id or user name), so the same input always gives the same names.
type candidate struct {
	base, key, display string
}

// assignNames gives every candidate a unique name, in a stable order: candidates sorted by base
// then key, the first keeping its base, the next ones base-2, base-3, … (skipping names taken).
// It returns the names by key and a note for each renamed object.
func assignNames(kind string, cs []candidate, reserved map[string]bool) (map[string]string, []Note) {
	sorted := append([]candidate(nil), cs...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].base != sorted[j].base {
			return sorted[i].base < sorted[j].base
		}
		return sorted[i].key < sorted[j].key
	})
	taken := map[string]bool{}
	for n := range reserved {
		taken[n] = true
	}
	// Every base that some candidate has is kept for the first of them, so a suffixed name
	// never takes another object's natural name.
	firstOf := map[string]string{}
	for _, c := range sorted {
		if _, ok := firstOf[c.base]; !ok && !taken[c.base] {
			firstOf[c.base] = c.key
		}
	}
	out := make(map[string]string, len(sorted))
	var notes []Note
	for _, c := range sorted {
		if firstOf[c.base] == c.key {
			out[c.key] = c.base
			taken[c.base] = true
			continue
		}
		var name string
		for i := 2; ; i++ {
			name = fmt.Sprintf("%s-%d", c.base, i)
			if _, natural := firstOf[name]; !taken[name] && !natural {
				break
			}
		}
		taken[name] = true
		out[c.key] = name
		notes = append(notes, Note{Kind: kind, Name: name,
			Why: fmt.Sprintf("%q is named %s: %s is taken by another object with the same name", c.display, name, c.base)})
	}
	return out, notes
}
