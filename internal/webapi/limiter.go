package webapi

import (
	"context"
	"sync"
	"time"
)

// limiter keeps one key's traffic (an environment's, a tenant's) under the service's limits: a token
// bucket for the rate and a semaphore for the requests in flight.
type limiter struct {
	clock Clock
	rate  float64 // tokens per second
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time

	slots chan struct{}
}

func newLimiter(clock Clock, perMinute, burst, concurrent int) *limiter {
	return &limiter{
		clock:  clock,
		rate:   float64(perMinute) / 60,
		burst:  float64(burst),
		tokens: float64(burst),
		last:   clock.Now(),
		slots:  make(chan struct{}, concurrent),
	}
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
// token (wait is when one is due) or for a slot (slot true; wait is the bound spent waiting).
type overLimit struct {
	slot bool
	wait time.Duration
}

func (o *overLimit) Error() string {
	if o.slot {
		return "no request slot came free within " + o.wait.String()
	}
	return "the next token is due in " + o.wait.String()
}

// acquire waits for a token and a slot; the returned func frees the slot. bound > 0 limits each of
// the two waits: a token due later than bound is not taken, and a slot not free within bound is
// not waited for further; either answers *overLimit and leaves the bucket as it was. The token
// wait runs on the limiter's clock; the slot wait in real time, since slots come free when
// requests in flight end. ctx ends either wait early, also giving the token back.
func (l *limiter) acquire(ctx context.Context, bound time.Duration) (func(), time.Duration, error) {
	wait, ok := l.reserve(bound)
	if !ok {
		return nil, 0, &overLimit{wait: wait}
	}
	if wait > 0 {
		if err := l.clock.Sleep(ctx, wait); err != nil {
			l.unreserve()
			return nil, wait, err
		}
	}
	release := func() { <-l.slots }
	select {
	case l.slots <- struct{}{}:
		return release, wait, nil
	default:
	}
	var expired <-chan time.Time
	if bound > 0 {
		t := time.NewTimer(bound)
		defer t.Stop()
		expired = t.C
	}
	select {
	case l.slots <- struct{}{}:
		return release, wait, nil
	case <-ctx.Done():
		l.unreserve()
		return nil, wait, ctx.Err()
	case <-expired:
		l.unreserve()
		return nil, wait, &overLimit{slot: true, wait: bound}
	}
}
