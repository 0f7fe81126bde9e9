package dataverse

import (
	"context"
	"sync"
	"time"
)

// limiter keeps one environment's traffic under the service protection limits: a token bucket for
// the rate and a semaphore for the requests in flight.
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

// reserve takes a token now and says how long the caller must wait before using it. Reserving
// ahead (tokens may go negative) keeps waiters in order without a queue.
func (l *limiter) reserve() time.Duration {
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
	l.tokens--
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(-l.tokens / l.rate * float64(time.Second))
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

// acquire waits for a token and a slot; the returned func frees the slot.
func (l *limiter) acquire(ctx context.Context) (func(), time.Duration, error) {
	wait := l.reserve()
	if wait > 0 {
		if err := l.clock.Sleep(ctx, wait); err != nil {
			return nil, wait, err
		}
	}
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, wait, nil
	case <-ctx.Done():
		return nil, wait, ctx.Err()
	}
}
