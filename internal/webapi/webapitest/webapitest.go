// Package webapitest has the fakes tests of the operator's web API clients share: a clock that
// records waits instead of spending them, and a credential that never contacts a login host.
package webapitest

import (
	"context"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Clock is a webapi.Clock whose time moves only by what is slept on it (or Advance). Waits is
// every non-zero wait asked of it, in order.
type Clock struct {
	mu    sync.Mutex
	at    time.Time
	waits []time.Duration
}

// NewClock starts at noon on 1 January 2026.
func NewClock() *Clock { return &Clock{at: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (k *Clock) Now() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.at
}

// Sleep returns at once, having moved the clock by d; only ctx's end fails it.
func (k *Clock) Sleep(ctx context.Context, d time.Duration) error {
	k.mu.Lock()
	if d > 0 {
		k.at = k.at.Add(d)
		k.waits = append(k.waits, d)
	}
	k.mu.Unlock()
	return ctx.Err()
}

// Advance moves the clock without a wait.
func (k *Clock) Advance(d time.Duration) {
	k.mu.Lock()
	k.at = k.at.Add(d)
	k.mu.Unlock()
}

// Waits returns the non-zero waits so far and forgets them.
func (k *Clock) Waits() []time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.waits
	k.waits = nil
	return w
}

// Cred hands out Token for any scope and remembers the scopes asked.
type Cred struct {
	Token string

	mu     sync.Mutex
	scopes []string
}

func (c *Cred) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	c.scopes = append(c.scopes, o.Scopes...)
	c.mu.Unlock()
	return azcore.AccessToken{Token: c.Token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Scopes are the scopes tokens were asked for.
func (c *Cred) Scopes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.scopes...)
}
