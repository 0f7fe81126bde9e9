package dataverse

import (
	"flag"
	"fmt"
	"time"

	"github.com/accessplane/dataverse-access-operator/internal/webapi"
)

// DefaultPowerPlatformAPIURL is the admin API's public base URL.
const DefaultPowerPlatformAPIURL = "https://api.bap.microsoft.com"

// PowerPlatformAPIScope is the token scope of the admin API.
const PowerPlatformAPIScope = "https://service.powerapps.com/.default"

// Service protection limits per user and web server (Microsoft Learn, "Service protection API
// limits"): 6,000 requests in a 5-minute sliding window and 52 concurrent requests.
const (
	ServiceRequestsPer5Min = 6000
	ServiceMaxConcurrent   = 52
)

// Options tune the client. The zero value is not useful: start from DefaultOptions.
type Options struct {
	// Timeout bounds one attempt of one request (connect, send, wait, read the body).
	Timeout time.Duration
	// MaxRetries is how many times a retryable failure is retried (0: never). Which failures are
	// retryable: see webapi.Transport.Do.
	MaxRetries int
	// BackoffBase and BackoffMax bound the exponential backoff between retries when the service
	// gave no Retry-After.
	BackoffBase, BackoffMax time.Duration
	// RequestsPerMinute is the client-side token bucket's rate per environment; Burst its size.
	RequestsPerMinute int
	Burst             int
	// MaxConcurrent caps requests in flight per environment; the service refuses the 53rd.
	MaxConcurrent int
	// PageSize is sent as Prefer: odata.maxpagesize (at most 5000).
	PageSize int
	// MaxWait bounds every wait of one request inside the client: for a token of the rate limiter,
	// for a slot under MaxConcurrent, and before a retry (a Retry-After or a backoff). A request
	// that would wait longer is not held in the caller's goroutine (a reconciler's worker): it
	// returns at once with the wait in RetryAfter(err), so the caller can requeue for that long.
	// The limiter's own refusal is ErrRateLimited (nothing was sent); a retry not waited for
	// returns the last failure (ErrThrottled for a 429). A context deadline nearer than MaxWait
	// bounds the waits as well. 0 means no bound (the client waits as long as it is told, up to
	// the context); negative is invalid.
	MaxWait time.Duration
	// BudgetShare is the share of the service's limit (ServiceLimit requests per BudgetWindow per
	// environment and app registration) the operator keeps its own requests under; the rest is
	// left to the other tools signing in as the same app registration. Reads stop at 90% of it,
	// leaving the last tenth to writes.
	BudgetShare float64
	// ServiceLimit and BudgetWindow are the service's limit and sliding window (6,000 per 5
	// minutes); an emulator with other limits is the only reason to change them.
	ServiceLimit int
	BudgetWindow time.Duration
	// PowerPlatformAPIURL is the admin API's base URL (the emulator's in tests and demos).
	PowerPlatformAPIURL string
	// Clock is the time source for the limiter and the backoff; nil means real time. Tests inject
	// a fake so waits are measured, not slept.
	Clock Clock
}

// DefaultOptions keep well under the service limits: 1,000 requests a minute is 5,000 per five
// minutes against the 6,000 allowed, which leaves room for the same app user elsewhere.
func DefaultOptions() Options {
	return Options{
		Timeout:           30 * time.Second,
		MaxRetries:        5,
		BackoffBase:       webapi.DefaultBackoffBase,
		BackoffMax:        webapi.DefaultBackoffMax,
		RequestsPerMinute: 1000,
		Burst:             50,
		MaxConcurrent:     16,
		// The service's most for top-level reads (Learn, "Page results using OData"): a bulk
		// snapshot of 5,000 people is then one page per table, not ten.
		PageSize:            5000,
		MaxWait:             5 * time.Second,
		BudgetShare:         0.8,
		ServiceLimit:        ServiceRequestsPer5Min,
		BudgetWindow:        5 * time.Minute,
		PowerPlatformAPIURL: DefaultPowerPlatformAPIURL,
	}
}

// BindFlags registers the options as flags, with the receiver's values as defaults.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.DurationVar(&o.Timeout, "dataverse-timeout", o.Timeout, "Timeout of one attempt of one Dataverse Web API request.")
	fs.IntVar(&o.MaxRetries, "dataverse-max-retries", o.MaxRetries, "Retries of a Dataverse request after a 429, or (idempotent calls only) a 5xx, a timeout or a dropped connection.")
	fs.IntVar(&o.RequestsPerMinute, "dataverse-requests-per-minute", o.RequestsPerMinute, fmt.Sprintf("Client-side rate limit per Dataverse environment (the service allows %d per 5 minutes per user).", ServiceRequestsPer5Min))
	fs.IntVar(&o.Burst, "dataverse-burst", o.Burst, "Requests a Dataverse environment's rate limiter lets through at once after being idle.")
	fs.IntVar(&o.MaxConcurrent, "dataverse-max-concurrent", o.MaxConcurrent, fmt.Sprintf("Concurrent requests per Dataverse environment (must be below the service's %d).", ServiceMaxConcurrent))
	fs.DurationVar(&o.MaxWait, "dataverse-max-wait", o.MaxWait, "Longest a Dataverse request waits inside the client (rate limiter, concurrency cap, Retry-After, retry backoff) before it gives up and the reconcile is requeued for the wait instead; 0: no bound.")
	fs.IntVar(&o.PageSize, "dataverse-page-size", o.PageSize, "Records per page asked with Prefer: odata.maxpagesize (1-5000).")
	fs.Float64Var(&o.BudgetShare, "dataverse-budget-share", o.BudgetShare, "Share (0-1] of the service-protection limit (6,000 requests per 5 minutes per environment and app registration) the operator keeps its own requests under; the rest is left to other tools using the same app registration. Reads stop at 90% of the share, leaving the rest to writes.")
	fs.IntVar(&o.ServiceLimit, "dataverse-service-limit", o.ServiceLimit, "The service-protection limit's requests per window; change only for an emulator with other limits.")
	fs.DurationVar(&o.BudgetWindow, "dataverse-budget-window", o.BudgetWindow, "The service-protection limit's sliding window; change only for an emulator with other limits.")
	fs.StringVar(&o.PowerPlatformAPIURL, "power-platform-api-url", o.PowerPlatformAPIURL, "Base URL of the Power Platform admin API (addUser).")
}

// Validate reports options the service or the client cannot work with. A rate above the service's
// 6,000 requests per 5 minutes is allowed (the emulator and the benchmark have no such limit); the
// real service then answers 429 and the client waits as told.
func (o *Options) Validate() error {
	if err := o.limits().Validate("dataverse", ServiceMaxConcurrent-1); err != nil {
		return err
	}
	switch {
	case o.BudgetShare <= 0 || o.BudgetShare > 1:
		return fmt.Errorf("dataverse budget share must be above 0 and at most 1 (a share of the service's limit), got %g", o.BudgetShare)
	case o.ServiceLimit <= 0:
		return fmt.Errorf("dataverse service limit must be positive, got %d", o.ServiceLimit)
	case o.PageSize <= 0 || o.PageSize > 5000:
		return fmt.Errorf("dataverse page size must be 1-5000, got %d", o.PageSize)
	case o.PowerPlatformAPIURL == "":
		return fmt.Errorf("power platform API URL is empty")
	}
	return nil
}

// limits are the options the shared transport (internal/webapi) works with.
func (o *Options) limits() webapi.Limits {
	return webapi.Limits{Timeout: o.Timeout, MaxRetries: o.MaxRetries, BackoffBase: o.BackoffBase, BackoffMax: o.BackoffMax,
		RequestsPerMinute: o.RequestsPerMinute, Burst: o.Burst, MaxConcurrent: o.MaxConcurrent, MaxWait: o.MaxWait, Clock: o.Clock,
		Budget: o.budget()}
}

// budget is the share of the service's limit the operator keeps to, a tenth of it for writes only.
// Options without a share (a zero value) keep no budget.
func (o *Options) budget() webapi.Budget {
	n := int(o.BudgetShare * float64(o.ServiceLimit))
	if n <= 0 {
		return webapi.Budget{}
	}
	return webapi.Budget{Requests: n, Window: o.BudgetWindow, WriteReserve: n / 10}
}

// withDefaults fills what may be left zero (Burst, the backoff bounds, the clock).
func (o *Options) withDefaults() Options {
	c := *o
	l := o.limits().WithDefaults()
	c.Burst, c.BackoffBase, c.BackoffMax, c.Clock = l.Burst, l.BackoffBase, l.BackoffMax, l.Clock
	return c
}

// Clock is the client's time source: the limiter and the retry backoff wait through Sleep.
type Clock = webapi.Clock

// RealClock is wall-clock time.
type RealClock = webapi.RealClock
