package webapi

import (
	"context"
	"fmt"
	"time"
)

// Default backoff bounds between retries when the service gave no Retry-After.
const (
	DefaultBackoffBase = 500 * time.Millisecond
	DefaultBackoffMax  = 30 * time.Second
)

// Limits tune one service's transport: the client-side rate limit and cap per key, the retries and
// the waits. Each client keeps its own options (with its own flags) and converts them.
type Limits struct {
	// Timeout bounds one attempt of one request (connect, send, wait, read the body).
	Timeout time.Duration
	// MaxRetries is how many times a retryable failure is retried (0: never).
	MaxRetries int
	// BackoffBase and BackoffMax bound the exponential backoff between retries when the service
	// gave no Retry-After (0: the defaults).
	BackoffBase, BackoffMax time.Duration
	// RequestsPerMinute is the token bucket's rate per key; Burst its size (below 1: 1).
	RequestsPerMinute int
	Burst             int
	// MaxConcurrent caps requests in flight per key.
	MaxConcurrent int
	// MaxWait bounds every wait of one request inside the client (a limiter token, a slot under
	// MaxConcurrent, a Retry-After or a backoff before a retry). 0: no bound; negative is invalid.
	MaxWait time.Duration
	// Budget, when its Requests > 0, keeps each key's requests in any window under a share of
	// the service's limit (see Budget).
	Budget Budget
	// Clock is the time source of the limiter and the backoff; nil means real time.
	Clock Clock
}

// Validate reports limits the transport cannot work with. name prefixes the messages (the
// service, as in "dataverse timeout must be positive"); MaxConcurrent must be 1 to maxConcurrent.
func (l Limits) Validate(name string, maxConcurrent int) error {
	switch {
	case l.Timeout <= 0:
		return fmt.Errorf("%s timeout must be positive, got %s", name, l.Timeout)
	case l.MaxWait < 0:
		return fmt.Errorf("%s max wait must not be negative (0: no bound), got %s", name, l.MaxWait)
	case l.MaxRetries < 0:
		return fmt.Errorf("%s max retries must not be negative, got %d", name, l.MaxRetries)
	case l.RequestsPerMinute <= 0:
		return fmt.Errorf("%s requests per minute must be positive, got %d", name, l.RequestsPerMinute)
	case l.MaxConcurrent <= 0 || l.MaxConcurrent > maxConcurrent:
		return fmt.Errorf("%s max concurrent must be between 1 and %d, got %d", name, maxConcurrent, l.MaxConcurrent)
	case l.Budget.Requests < 0:
		return fmt.Errorf("%s budget must not be negative (0: none), got %d requests", name, l.Budget.Requests)
	case l.Budget.Requests > 0 && l.Budget.Window < time.Second:
		return fmt.Errorf("%s budget window must be at least 1s, got %s", name, l.Budget.Window)
	case l.Budget.Requests > 0 && (l.Budget.WriteReserve < 0 || l.Budget.WriteReserve >= l.Budget.Requests):
		return fmt.Errorf("%s budget's write reserve must be between 0 and %d (the budget), got %d", name, l.Budget.Requests-1, l.Budget.WriteReserve)
	}
	return nil
}

// WithDefaults fills what may be left zero: Burst, the backoff bounds and the clock.
func (l Limits) WithDefaults() Limits {
	if l.Burst <= 0 {
		l.Burst = 1
	}
	if l.BackoffBase <= 0 {
		l.BackoffBase = DefaultBackoffBase
	}
	if l.BackoffMax <= 0 {
		l.BackoffMax = DefaultBackoffMax
	}
	if l.Clock == nil {
		l.Clock = RealClock{}
	}
	return l
}

// Clock is the client's time source: the limiter and the retry backoff wait through Sleep.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done, whichever is first.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is wall-clock time.
type RealClock struct{}

func (RealClock) Now() time.Time { return time.Now() }

func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
