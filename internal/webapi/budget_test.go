package webapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func budgetLimits(requests, reserve int, window time.Duration) Limits {
	l := defaultLimits()
	l.RequestsPerMinute = 1 << 20 // the bucket never holds a request here: the budget does
	l.Burst = 1 << 20
	l.Budget = Budget{Requests: requests, Window: window, WriteReserve: reserve}
	return l
}

func get(r *rig) error {
	return r.t.Do(context.Background(), &Call{Op: "Read", Method: http.MethodGet, URL: r.srv.URL + "/x", Idempotent: true})
}

func patch(r *rig) error {
	return r.t.Do(context.Background(), &Call{Op: "Write", Method: http.MethodPatch, URL: r.srv.URL + "/x"})
}

// The operator's own budget: in any window it sends at most Requests; reads stop WriteReserve
// short of it so writes still go; a request that would wait past MaxWait is RateLimited with the
// time the window frees up, and nothing is sent.
func TestBudgetKeepsOwnRequestsUnderTheShareAndLeavesTheReserveToWrites(t *testing.T) {
	lim := budgetLimits(10, 3, time.Minute)
	lim.MaxWait = 5 * time.Second
	r := newRig(t, lim, status(200, nil, `{}`))
	for i := range 7 {
		if err := get(r); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	err := get(r)
	ra, _ := RetryAfter(err)
	if !errors.Is(err, errRateLimited) || ra != time.Minute || !strings.Contains(err.Error(), "budget") || !strings.Contains(err.Error(), "--test-budget-share") {
		t.Fatalf("the 8th read: %v (retry after %s)", err, ra)
	}
	for i := range 3 {
		if err := patch(r); err != nil {
			t.Fatalf("write %d within the reserve: %v", i, err)
		}
	}
	if err := patch(r); !errors.Is(err, errRateLimited) {
		t.Fatalf("a write beyond the budget: %v", err)
	}
	if n := r.ans.count(); n != 10 {
		t.Fatalf("sent %d requests in the window, want the budget's 10", n)
	}
	if got := gauge(t, r, "test_budget_used_ratio"); got != 1 {
		t.Fatalf("budget used ratio %v", got)
	}
	// The window slides: the requests age out a minute after they were sent.
	r.clock.Advance(time.Minute)
	if err := get(r); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// A spent budget is refused at once, however short the wait: a worker is never held for it.
func TestBudgetNeverHoldsTheCaller(t *testing.T) {
	lim := budgetLimits(2, 0, 4*time.Second)
	r := newRig(t, lim, status(200, nil, `{}`))
	for range 2 {
		if err := get(r); err != nil {
			t.Fatal(err)
		}
	}
	err := get(r)
	if ra, _ := RetryAfter(err); !errors.Is(err, errRateLimited) || ra != 4*time.Second {
		t.Fatalf("a wait of 4s under MaxWait 10s: %v (retry after %s)", err, ra)
	}
	if w := r.clock.Waits(); len(w) != 0 || r.ans.count() != 2 {
		t.Fatalf("slept %v, sent %d", w, r.ans.count())
	}
}

// What the service says is left (another client signing in as the same app registration spent
// it) holds requests although the own budget has room: reads stop at the reserve, writes near 0,
// and while it is spent one request goes per probe period to learn when it frees up.
func TestBudgetFollowsWhatTheServiceSaysIsLeft(t *testing.T) {
	var mu sync.Mutex
	left := 100
	lim := budgetLimits(1000, 50, 5*time.Minute)
	lim.MaxWait = time.Second
	lim.MaxConcurrent = 8
	svc := testService()
	svc.Signals = func(h http.Header) Signals {
		var s Signals
		if v := h.Get("X-Left"); v != "" {
			fmt.Sscan(v, &s.RequestsLeft)
			s.Known = true
		}
		fmt.Sscan(h.Get("X-Dop"), &s.Parallelism)
		return s
	}
	r := newRigService(t, svc, lim, func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		left--
		w.Header().Set("X-Left", fmt.Sprint(left))
		mu.Unlock()
		w.Header().Set("X-Dop", "3")
		w.WriteHeader(200)
		w.Write([]byte(`{}`))
	})
	reads := 0
	for get(r) == nil {
		reads++
	}
	// The first answer says 99 left; reads go while more than the reserve (50) is left.
	if reads != 50 {
		t.Fatalf("%d reads went, want 50 (down to the reserve the service has left)", reads)
	}
	writes := 0
	for patch(r) == nil {
		writes++
	}
	if writes != 40 { // from 50 left down to the write floor: 1% of the budget (10)
		t.Fatalf("%d writes went, want 40", writes)
	}
	err := get(r)
	if ra, _ := RetryAfter(err); !errors.Is(err, errRateLimited) || !strings.Contains(err.Error(), "nearly spent") || ra <= 0 {
		t.Fatalf("with the window spent: %v", err)
	}
	// One probe per period: the service's window freed up, its answer says so, and requests flow.
	sent := r.ans.count()
	r.clock.Advance(15 * time.Second)
	mu.Lock()
	left = 5000
	mu.Unlock()
	if err := get(r); err != nil {
		t.Fatalf("the probe: %v", err)
	}
	if err := get(r); err != nil || r.ans.count() != sent+2 {
		t.Fatalf("after the probe said the window freed up: %v, %d sent", err, r.ans.count()-sent)
	}
	if got := r.t.lim.slots.limit(); got != 3 {
		t.Fatalf("requests in flight capped at %d, want the service's x-ms-dop-hint 3", got)
	}
	if got := gauge(t, r, "test_max_in_flight"); got != 3 {
		t.Fatalf("max in flight metric %v", got)
	}
}

// The slots follow the hint: a narrower hint holds the next request until one ends; a wider one
// never goes beyond MaxConcurrent.
func TestSlotsFollowTheParallelismHint(t *testing.T) {
	s := newSlots(4)
	s.hint(2)
	for range 2 {
		if ok, _ := s.try(); !ok {
			t.Fatal("a slot under the hint")
		}
	}
	ok, changed := s.try()
	if ok {
		t.Fatal("a third slot under a hint of 2")
	}
	s.release()
	select {
	case <-changed:
	default:
		t.Fatal("a release does not wake the waiters")
	}
	s.hint(50)
	if s.limit() != 4 {
		t.Fatalf("hint above max: %d", s.limit())
	}
}

// gauge is the value of the one series of a gauge in the rig's registry.
func gauge(t *testing.T, r *rig, name string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single series of %s", name)
	return 0
}
