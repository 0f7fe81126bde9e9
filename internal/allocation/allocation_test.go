package allocation

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	t0  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now = t0.Add(time.Hour)
)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func names(es []Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

func claims(ns ...string) []Claim {
	var cs []Claim
	for i, n := range ns {
		cs = append(cs, Claim{Name: n, Since: at(i)})
	}
	return cs
}

func TestAllocate(t *testing.T) {
	cases := []struct {
		name        string
		prev        Ledger
		claims      []Claim
		capacity    int
		wantHolders []string
		wantWaiting []string
	}{
		{
			name:        "AM6 at most seven holders, the rest wait in claim order",
			claims:      claims("u00", "u01", "u02", "u03", "u04", "u05", "u06", "u07", "u08", "u09"),
			capacity:    7,
			wantHolders: []string{"u00", "u01", "u02", "u03", "u04", "u05", "u06"},
			wantWaiting: []string{"u07", "u08", "u09"},
		},
		{
			name:        "EV1 same Since: name breaks the tie",
			claims:      []Claim{{"b", at(0)}, {"c", at(0)}, {"a", at(0)}},
			capacity:    1,
			wantHolders: []string{"a"},
			wantWaiting: []string{"b", "c"},
		},
		{
			name:        "EV1 a holder keeps its grant even when an earlier claimant waits",
			prev:        Ledger{Holders: []Entry{{"late", at(9)}}, Waiting: []Entry{{"early", at(1)}}},
			claims:      []Claim{{"early", at(1)}, {"late", at(9)}},
			capacity:    1,
			wantHolders: []string{"late"},
			wantWaiting: []string{"early"},
		},
		{
			name:        "EV1 deleting a holder promotes the first waiter",
			prev:        Ledger{Holders: []Entry{{"a", at(0)}, {"b", at(1)}}, Waiting: []Entry{{"c", at(2)}, {"d", at(3)}}},
			claims:      []Claim{{"b", at(1)}, {"c", at(2)}, {"d", at(3)}},
			capacity:    2,
			wantHolders: []string{"b", "c"},
			wantWaiting: []string{"d"},
		},
		{
			name:        "EV1 a new claimant queues behind earlier waiters",
			prev:        Ledger{Holders: []Entry{{"a", at(0)}}, Waiting: []Entry{{"b", at(5)}}},
			claims:      []Claim{{"a", at(0)}, {"b", at(5)}, {"new", at(9)}},
			capacity:    1,
			wantHolders: []string{"a"},
			wantWaiting: []string{"b", "new"},
		},
		{
			name:        "EV1 a waiter that stops claiming leaves the line",
			prev:        Ledger{Holders: []Entry{{"a", at(0)}}, Waiting: []Entry{{"b", at(1)}, {"c", at(2)}}},
			claims:      []Claim{{"a", at(0)}, {"c", at(2)}},
			capacity:    1,
			wantHolders: []string{"a"},
			wantWaiting: []string{"c"},
		},
		{
			name:        "LI1 seats are never taken back: capacity shrinks below the holders, every holder keeps its seat and nothing new is granted",
			prev:        Ledger{Holders: []Entry{{"a", at(0)}, {"b", at(1)}, {"c", at(2)}}, Waiting: []Entry{{"d", at(3)}}},
			claims:      []Claim{{"a", at(0)}, {"b", at(1)}, {"c", at(2)}, {"d", at(3)}},
			capacity:    1,
			wantHolders: []string{"a", "b", "c"},
			wantWaiting: []string{"d"},
		},
		{
			name:        "LI1 after a shrink, a seat given up is not re-granted until use falls below the offer",
			prev:        Ledger{Holders: []Entry{{"a", at(0)}, {"b", at(1)}, {"c", at(2)}}, Waiting: []Entry{{"d", at(3)}}},
			claims:      []Claim{{"a", at(0)}, {"c", at(2)}, {"d", at(3)}},
			capacity:    2,
			wantHolders: []string{"a", "c"},
			wantWaiting: []string{"d"},
		},
		{
			name:        "LI1 zero seats: everyone waits",
			claims:      claims("a", "b"),
			capacity:    0,
			wantHolders: []string{},
			wantWaiting: []string{"a", "b"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Allocate(c.prev, c.claims, c.capacity, now)
			if diff := cmp.Diff(c.wantHolders, names(got.Holders)); diff != "" {
				t.Errorf("holders (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.wantWaiting, names(got.Waiting)); diff != "" {
				t.Errorf("waiting (-want +got):\n%s", diff)
			}
			if len(got.Holders) > max(c.capacity, len(c.prev.Holders)) {
				t.Errorf("EV1 oversubscribed: %d holders for %d (held before: %d)", len(got.Holders), c.capacity, len(c.prev.Holders))
			}
			// EV1: restarting starts from the written ledger; it must reshuffle nothing.
			again := Allocate(got, c.claims, c.capacity, now.Add(time.Hour))
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("EV1 a second allocation from the same ledger changed it (-first +second):\n%s", diff)
			}
		})
	}
}

func TestAllocateKeepsGrantTime(t *testing.T) {
	prev := Ledger{Holders: []Entry{{"a", at(3)}}}
	got := Allocate(prev, []Claim{{"a", at(0)}, {"b", at(1)}}, 2, now)
	want := Ledger{Holders: []Entry{{"a", at(3)}, {"b", now}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EV1 (-want +got):\n%s", diff)
	}
}

// TestAllocateNeverOversubscribes drives many random-looking sequences of claims through the
// ledger and checks the EV1 invariant after every step.
func TestAllocateNeverOversubscribes(t *testing.T) {
	var l Ledger
	for step := 0; step < 500; step++ {
		var cs []Claim
		for i := 0; i < 20; i++ {
			if (step*7+i*13)%5 != 0 {
				cs = append(cs, Claim{Name: fmt.Sprintf("u%02d", i), Since: at(i)})
			}
		}
		capacity := 7 - step%3
		held := map[string]bool{}
		for _, h := range l.Holders {
			held[h.Name] = true
		}
		prevHolders := len(l.Holders)
		l = Allocate(l, cs, capacity, at(100+step))
		granted := 0
		for _, h := range l.Holders {
			if !held[h.Name] {
				granted++
			}
		}
		// EV1 and LI1: a grant is made only into free capacity; holders beyond a shrunk capacity
		// keep theirs.
		if granted > 0 && len(l.Holders) > capacity {
			t.Fatalf("step %d: EV1 granted %d with %d holders for capacity %d", step, granted, len(l.Holders), capacity)
		}
		if len(l.Holders) > max(capacity, prevHolders) {
			t.Fatalf("step %d: EV1 %d holders for capacity %d", step, len(l.Holders), capacity)
		}
		seen := map[string]bool{}
		for _, e := range append(append([]Entry{}, l.Holders...), l.Waiting...) {
			if seen[e.Name] {
				t.Fatalf("step %d: %s appears twice", step, e.Name)
			}
			seen[e.Name] = true
		}
		if len(seen) != len(cs) {
			t.Fatalf("step %d: ledger has %d principals, %d claim", step, len(seen), len(cs))
		}
	}
}

func TestPlaces(t *testing.T) {
	l := Ledger{Holders: []Entry{{"a", at(0)}}, Waiting: []Entry{{"b", at(1)}, {"c", at(2)}}}
	places := l.Places()
	cases := []struct {
		name   string
		want   Place
		wantOK bool
	}{
		{"a", Place{Held: true, Waiting: 2}, true},
		{"c", Place{Position: 2, Waiting: 2}, true},
		{"zz", Place{}, false},
	}
	for _, c := range cases {
		got, ok := places[c.name]
		if diff := cmp.Diff(c.want, got); diff != "" || ok != c.wantOK {
			t.Errorf("Places()[%q] ok=%v (-want +got):\n%s", c.name, ok, diff)
		}
	}
	// A name twice: a holder's place wins, and the first of two waiters'.
	twice := Ledger{Holders: []Entry{{"a", at(0)}}, Waiting: []Entry{{"a", at(1)}, {"b", at(2)}, {"b", at(3)}}}.Places()
	if got := twice["a"]; !got.Held {
		t.Errorf("a holds and waits: place %+v, want held", got)
	}
	if got := twice["b"]; got.Position != 2 {
		t.Errorf("b waits twice: position %d, want its first, 2", got.Position)
	}
}

func TestAllocateWaitsForTheBurstToSettle(t *testing.T) {
	burst := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	// The authority has seen only part of a burst created within one second.
	seen := []Claim{{"u09", burst}, {"u10", burst}}
	got := Allocate(Ledger{}, seen, 7, burst.Add(500*time.Millisecond))
	if len(got.Holders) != 0 {
		t.Fatalf("EV1 granted %v before the burst's second settled", names(got.Holders))
	}
	at, ok := got.NextGrant(7, burst.Add(500*time.Millisecond))
	if !ok || !at.After(burst.Add(SettleWindow)) {
		t.Fatalf("NextGrant = %v, %v; want a time after the settle window", at, ok)
	}
	// Later the whole burst is known: the grant follows (creation time, name), not arrival.
	all := append(seen, Claim{"u05", burst}, Claim{"u01", burst})
	got = Allocate(got, all, 2, burst.Add(SettleWindow+time.Second))
	if diff := cmp.Diff([]string{"u01", "u05"}, names(got.Holders)); diff != "" {
		t.Errorf("EV1 holders (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"u09", "u10"}, names(got.Waiting)); diff != "" {
		t.Errorf("EV1 waiting (-want +got):\n%s", diff)
	}
	if _, ok := got.NextGrant(2, burst.Add(SettleWindow+time.Second)); ok {
		t.Error("NextGrant with no free capacity must say nothing waits on time")
	}
}
