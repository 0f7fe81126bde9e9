package webapi

import (
	"context"
	"sync"
	"time"
)

// limiter keeps one key's traffic (an environment's, a tenant's) under the service's limits: a
// budget over the service's window (when the service has one), a token bucket for the rate and a
// semaphore for the requests in flight, which the service's recommended parallelism may narrow.
type limiter struct {
	clock Clock
	rate  float64 // tokens per second
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time

	slots  *slots
	budget *budget // nil: none
	label  string  // the metrics' key label value
}

func newLimiter(clock Clock, perMinute, burst, concurrent int, b Budget) *limiter {
	l := &limiter{
		clock:  clock,
		rate:   float64(perMinute) / 60,
		burst:  float64(burst),
		tokens: float64(burst),
		last:   clock.Now(),
		slots:  newSlots(concurrent),
	}
	if b.Requests > 0 {
		l.budget = newBudget(b, clock.Now())
	}
	return l
}

// slots is a semaphore whose size may change: at most max, narrowed to the service's hint.
type slots struct {
	mu      sync.Mutex
	used    int
	size    int
	max     int
	changed chan struct{} // closed and replaced when a slot frees or the size changes
}

func newSlots(n int) *slots { return &slots{size: n, max: n, changed: make(chan struct{})} }

// try takes a slot if one is free, else answers the channel to wait on.
func (s *slots) try() (bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used < s.size {
		s.used++
		return true, nil
	}
	return false, s.changed
}

func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used--
	close(s.changed)
	s.changed = make(chan struct{})
}

// hint narrows the size to the service's recommended parallelism (never above max, at least 1).
func (s *slots) hint(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n = min(max(n, 1), s.max)
	if n == s.size {
		return
	}
	s.size = n
	close(s.changed)
	s.changed = make(chan struct{})
}

// limit is the size in effect.
func (s *slots) limit() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// reserve takes a token and says how long the caller must wait before using it. Reserving ahead
// (tokens may go negative) keeps waiters in order without a queue. A wait longer than bound
// (bound > 0) takes nothing and answers ok false: the caller does not send, so it owes nothing.
func (l *limiter) reserve(bound time.Duration) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if el := now.Sub(l.last); el > 0 {
		l.tokens += el.Seconds() * l.rate
		if l.tokens > l.burst {
			l.tokens = l.burst
		}
		l.last = now
	}
	left := l.tokens - 1
	if left >= 0 {
		l.tokens = left
		return 0, true
	}
	wait = time.Duration(-left / l.rate * float64(time.Second))
	if bound > 0 && wait > bound {
		return wait, false
	}
	l.tokens = left
	return wait, true
}

// unreserve gives back a token reserved for a request that was not sent after all.
func (l *limiter) unreserve() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens++
	if l.tokens > l.burst {
		l.tokens = l.burst
	}
}

// penalize empties the bucket after the service throttled us: the service's window is shared with
// every other client of the same user, so our own count was too optimistic.
func (l *limiter) penalize(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	owed := -d.Seconds() * l.rate
	if l.tokens > owed {
		l.tokens = owed
	}
}

// overLimit is the limiter's refusal to hold a request longer than the bound it was given: for a
// token (wait is when one is due), for a slot (slot true; wait is the bound spent waiting) or for
// the budget (budget names the limit: "own" or "service"; wait is when the request may go).
type overLimit struct {
	slot   bool
	budget string
	wait   time.Duration
}

func (o *overLimit) Error() string {
	switch {
	case o.slot:
		return "no request slot came free within " + o.wait.String()
	case o.budget != "":
		return "the " + o.budget + " budget frees up in " + o.wait.String()
	}
	return "the next token is due in " + o.wait.String()
}

// acquire takes the budget, then waits for a token and a slot; the returned func frees the slot.
// A budget that is spent is refused at once (*overLimit with the time it frees up), never waited
// for: its waits are on the scale of the service's window, and a worker held for one environment
// would slow every other environment whose objects queue behind it. bound > 0 limits the other
// waits: a token due later than bound is not taken, and a slot not free within bound is not
// waited for further; either answers *overLimit and leaves the limiter as it was. The token wait
// runs on the limiter's clock; the slot wait in real time, since slots come free when requests in
// flight end. ctx ends either wait early, giving back what was taken. write says the request
// changes something: writes may spend the budget's reserve.
func (l *limiter) acquire(ctx context.Context, bound time.Duration, write bool) (func(), time.Duration, error) {
	var waited time.Duration
	if l.budget != nil {
		if wait, why := l.budget.take(l.clock.Now(), write); wait > 0 {
			return nil, 0, &overLimit{budget: why, wait: wait}
		}
	}
	giveBack := func() {
		if l.budget != nil {
			l.budget.untake(l.clock.Now())
		}
	}
	wait, ok := l.reserve(bound)
	if !ok {
		giveBack()
		return nil, waited, &overLimit{wait: wait}
	}
	if wait > 0 {
		if err := l.clock.Sleep(ctx, wait); err != nil {
			l.unreserve()
			giveBack()
			return nil, waited + wait, err
		}
		waited += wait
	}
	var expired <-chan time.Time
	for {
		ok, changed := l.slots.try()
		if ok {
			return l.slots.release, waited, nil
		}
		if bound > 0 && expired == nil {
			t := time.NewTimer(bound)
			defer t.Stop()
			expired = t.C
		}
		select {
		case <-changed:
		case <-ctx.Done():
			l.unreserve()
			giveBack()
			return nil, waited, ctx.Err()
		case <-expired:
			l.unreserve()
			giveBack()
			return nil, waited, &overLimit{slot: true, wait: bound}
		}
	}
}

// signal takes what an answer said about the service's limits.
func (l *limiter) signal(s Signals) {
	if s.Parallelism > 0 {
		l.slots.hint(s.Parallelism)
	}
	if s.Known && l.budget != nil {
		l.budget.observe(l.clock.Now(), s.RequestsLeft)
	}
}
