package webapi

import (
	"sync"
	"time"
)

// Budget keeps one key's own requests (an environment's) in any Window under Requests — the
// operator's share of the service's limit, the rest left to the other tools that sign in as the
// same app registration — and follows what the service says is left (Service.Signals). Zero
// Requests: no budget.
type Budget struct {
	// Requests the operator may send per key in any Window (its share of the service's limit).
	Requests int
	// Window is the service's sliding window (Dataverse: 5 minutes).
	Window time.Duration
	// WriteReserve is the part of Requests only writes may spend: with the budget nearly used,
	// reads (re-reads of what is already known) wait and writes go first.
	WriteReserve int
}

// Signals is what an answer's headers say about the service's own limits on its web server.
// Zero fields: not said.
type Signals struct {
	// RequestsLeft is what the service still admits in its window for this app registration;
	// Known says the answer carried it.
	RequestsLeft int
	Known        bool
	// Parallelism is the service's recommended number of requests in flight.
	Parallelism int
}

// budget is one key's Budget in use: own requests counted per second over the window, and the
// last count the service gave.
type budget struct {
	cfg     Budget
	mu      sync.Mutex
	buckets []int // requests sent per second; buckets[sec % len] holds second sec
	newest  int64 // the unix second of the newest bucket
	used    int   // sum of buckets

	left    int       // what the service said is left, less what was sent since
	leftAt  time.Time // when it said so; zero: never, or longer ago than the window
	probeAt time.Time // with left spent: when the next request may go to learn more
}

// probeEvery is how often one request may go while the service says its window is spent: its
// answer (or a 429's Retry-After) says when the window frees up.
func (b *budget) probeEvery() time.Duration { return max(b.cfg.Window/20, time.Second) }

// serverFloor is what a request leaves of the service's window at least: reads leave the write
// reserve (in proportion to the share), writes a little for the requests in flight.
func (b *budget) serverFloor(write bool) int {
	if write {
		return max(b.cfg.Requests/100, 1)
	}
	return max(b.cfg.WriteReserve, 1)
}

func newBudget(cfg Budget, now time.Time) *budget {
	secs := int(max(cfg.Window/time.Second, 1))
	return &budget{cfg: cfg, buckets: make([]int, secs), newest: now.Unix()}
}

// advance drops the seconds that left the window.
func (b *budget) advance(now time.Time) {
	sec := now.Unix()
	n := int64(len(b.buckets))
	if sec <= b.newest {
		return
	}
	if sec-b.newest >= n {
		clear(b.buckets)
		b.used = 0
	} else {
		for s := b.newest + 1; s <= sec; s++ {
			i := s % n
			b.used -= b.buckets[i]
			b.buckets[i] = 0
		}
	}
	b.newest = sec
	if !b.leftAt.IsZero() && now.Sub(b.leftAt) >= b.cfg.Window {
		b.leftAt = time.Time{}
	}
}

// take counts one request to be sent now, or says how long it must wait first. why names the
// limit that holds it ("own" or "service").
func (b *budget) take(now time.Time, write bool) (wait time.Duration, why string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	limit := b.cfg.Requests
	if !write {
		limit -= b.cfg.WriteReserve
	}
	if b.used >= limit {
		// The earliest second after which fewer than limit remain in the window.
		n := int64(len(b.buckets))
		drop := b.used - limit + 1
		for s := b.newest - n + 1; s <= b.newest; s++ {
			drop -= b.buckets[s%n]
			if drop <= 0 {
				return time.Unix(s, 0).Add(b.cfg.Window).Sub(now), "own"
			}
		}
		return time.Second, "own"
	}
	if !b.leftAt.IsZero() && b.left <= b.serverFloor(write) {
		if now.Before(b.probeAt) {
			return b.probeAt.Sub(now), "service"
		}
		b.probeAt = now.Add(b.probeEvery())
	}
	b.buckets[b.newest%int64(len(b.buckets))]++
	b.used++
	if !b.leftAt.IsZero() {
		b.left--
	}
	return 0, ""
}

// untake gives back a request counted but not sent.
func (b *budget) untake(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	if i := b.newest % int64(len(b.buckets)); b.buckets[i] > 0 {
		b.buckets[i]--
		b.used--
	}
	if !b.leftAt.IsZero() {
		b.left++
	}
}

// observe takes what an answer said is left.
func (b *budget) observe(now time.Time, left int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.left, b.leftAt = left, now
	switch {
	case left > b.serverFloor(false):
		b.probeAt = time.Time{}
	case b.probeAt.IsZero():
		b.probeAt = now.Add(b.probeEvery()) // just spent: the next probe after a period
	}
}

// spent is the share of the own budget used in the window now, and what the service last said is
// left (-1: not said within the window).
func (b *budget) spent(now time.Time) (ratio float64, left int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	left = -1
	if !b.leftAt.IsZero() {
		left = b.left
	}
	return float64(b.used) / float64(b.cfg.Requests), left
}
