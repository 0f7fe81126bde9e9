// Package allocation decides who holds the scarce things of an environment — the seven
// non-interactive slots (AM6) and the seats of each license SKU (LI1) — from the previous ledger
// and the current claims. It is the pure half of the single authority of EV1: the Environment's
// reconcile calls it and writes the result to the Environment's status, so a burst of creations
// cannot oversubscribe and a restart, which starts from the same ledger, reshuffles nothing.
package allocation

import (
	"sort"
	"time"
)

// Entry is one principal in a ledger: since when it holds, or since when it waits.
type Entry struct {
	Name  string
	Since time.Time
}

// Ledger is the state of one scarce resource. Holders are in grant order; waiting users are in
// the order they will be granted.
type Ledger struct {
	Holders []Entry
	Waiting []Entry
}

// Claim is a principal that needs the resource now. Since is when it began needing it: its
// creation time, or when its spec changed to need it. It only matters for a new waiter: a principal
// already in the ledger keeps its place.
type Claim struct {
	Name  string
	Since time.Time
}

// SettleWindow is how long a new claim waits before it can be granted. Creation times have a
// resolution of one second and the authority sees creations a moment late, so a burst created
// within one second is only known in full a little after that second ends; granting earlier would
// hand slots to whichever claims arrived first instead of in (creation time, name) order (EV1),
// and grants, once made, are kept.
const SettleWindow = 2 * time.Second

// Allocate returns the next ledger:
//   - a holder keeps its grant while it still claims (EV1: held until deleted or no longer needed),
//     even when capacity shrinks below the holders: seats are never taken back (LI1); nothing new
//     is granted until use falls below capacity (the caller reports the shortfall);
//   - waiting users keep their place; new claimants join in order of Since, name as tie-break;
//   - free capacity goes to the head of the waiting line, granted at now, but only to claims
//     older than SettleWindow: the line stops at the first younger one so order holds.
//
// Allocate is deterministic and idempotent: Allocate of its own result with the same claims
// returns the same ledger.
func Allocate(prev Ledger, claims []Claim, capacity int, now time.Time) Ledger {
	if capacity < 0 {
		capacity = 0
	}
	claimed := make(map[string]Claim, len(claims))
	for _, c := range claims {
		claimed[c.Name] = c
	}
	placed := make(map[string]bool, len(claims))

	var next Ledger
	for _, h := range prev.Holders {
		if _, ok := claimed[h.Name]; ok && !placed[h.Name] {
			next.Holders = append(next.Holders, h)
			placed[h.Name] = true
		}
	}

	waiting := make([]Entry, 0, len(claims))
	for _, w := range prev.Waiting {
		if _, ok := claimed[w.Name]; ok && !placed[w.Name] {
			waiting = append(waiting, w)
			placed[w.Name] = true
		}
	}
	for _, c := range claims {
		if !placed[c.Name] {
			waiting = append(waiting, Entry{Name: c.Name, Since: c.Since})
			placed[c.Name] = true
		}
	}
	sortEntries(waiting)

	settled := now.Add(-SettleWindow)
	for len(next.Holders) < capacity && len(waiting) > 0 && waiting[0].Since.Before(settled) {
		next.Holders = append(next.Holders, Entry{Name: waiting[0].Name, Since: now})
		waiting = waiting[1:]
	}
	if len(waiting) > 0 {
		next.Waiting = waiting
	}
	return next
}

func sortEntries(es []Entry) {
	sort.SliceStable(es, func(i, j int) bool {
		if !es[i].Since.Equal(es[j].Since) {
			return es[i].Since.Before(es[j].Since)
		}
		return es[i].Name < es[j].Name
	})
}

// Place is where a principal stands in a ledger.
type Place struct {
	// Held is true when the principal holds the resource.
	Held bool
	// Position is the 1-based place in the waiting line, 0 when holding or absent.
	Position int
	// Waiting is the length of the waiting line.
	Waiting int
}

// Places is every principal's place in the ledger, by name; a name it does not have is not known
// to the ledger (the authority has not seen its claim yet). One map serves a caller asking for
// many names (an environment counting its users) without searching the ledger once per name.
func (l Ledger) Places() map[string]Place {
	out := make(map[string]Place, len(l.Holders)+len(l.Waiting))
	// A holder's place wins over a waiter's, and the first of two waiters with one name.
	for i := len(l.Waiting) - 1; i >= 0; i-- {
		out[l.Waiting[i].Name] = Place{Position: i + 1, Waiting: len(l.Waiting)}
	}
	for _, h := range l.Holders {
		out[h.Name] = Place{Held: true, Waiting: len(l.Waiting)}
	}
	return out
}

// NextGrant returns when a claim of the ledger that is too young to be granted becomes old enough,
// given free capacity; ok is false when nothing waits on time.
func (l Ledger) NextGrant(capacity int, now time.Time) (at time.Time, ok bool) {
	if len(l.Holders) >= capacity || len(l.Waiting) == 0 {
		return time.Time{}, false
	}
	// After Allocate, free capacity with someone waiting means the head of the line is too young.
	at = l.Waiting[0].Since.Add(SettleWindow)
	if at.Before(now) {
		return time.Time{}, false
	}
	return at.Add(100 * time.Millisecond), true
}
