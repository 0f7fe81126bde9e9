package graph

import (
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/accessplane/dataverse-access-operator/internal/webapi"
)

// DefaultURL is Microsoft Graph v1.0's public base URL.
const DefaultURL = "https://graph.microsoft.com/v1.0"

// Scope is the token scope of Microsoft Graph: the application permissions granted to the app
// registration (with admin consent), not a delegated user's.
const Scope = "https://graph.microsoft.com/.default"

// Service limits the defaults keep well under (Microsoft Learn, "Microsoft Graph service-specific
// throttling limits", identity and access service limits, per application and tenant: writes
// 3,000 per 2 minutes 30 seconds; reads 3,500, 5,000 or 8,000 resource units per 10 seconds by the
// tenant's size, most requests costing one or a few; and 18,000 writes per 5 minutes per tenant
// for all applications).
const (
	ServiceWritesPer150s = 3000
	// maxConcurrent is the highest --graph-max-concurrent accepted: Graph publishes no cap on
	// directory requests in flight, and more than this would only meet its throttling sooner.
	maxConcurrent = 32
)

// Options tune the client. The zero value is not useful: start from DefaultOptions.
//
// The transport's limits are per tenant: RequestsPerMinute and Burst (a $batch counts one),
// MaxConcurrent (1-32: Graph publishes no cap on directory requests in flight), Timeout per
// attempt, MaxRetries (a 429 after its Retry-After; a 5xx, a timeout or a dropped connection only
// for reads and member removals), MaxWait (a longer wait returns at once with it in
// RetryAfter(err), ErrRateLimited for the operator's own limiter; 0: no bound) and Clock.
type Options struct {
	// URL is Graph's base URL (the emulator's, under <emulator>/graph/v1.0, in tests and demos).
	URL string
	webapi.Limits
}

// DefaultOptions keep well under Graph's limits: 600 requests a minute per tenant is 1,500 per
// 2 minutes 30 seconds, half the 3,000 writes allowed there, and reads are batched by 20.
func DefaultOptions() Options {
	return Options{
		URL: DefaultURL,
		Limits: webapi.Limits{
			Timeout:           30 * time.Second,
			MaxRetries:        5,
			BackoffBase:       webapi.DefaultBackoffBase,
			BackoffMax:        webapi.DefaultBackoffMax,
			RequestsPerMinute: 600,
			Burst:             40,
			MaxConcurrent:     8,
			MaxWait:           5 * time.Second,
		},
	}
}

// BindFlags registers the options as flags, with the receiver's values as defaults.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.URL, "graph-url", o.URL, "Base URL of Microsoft Graph v1.0 (an emulator's, for demos and tests).")
	fs.DurationVar(&o.Timeout, "graph-timeout", o.Timeout, "Timeout of one attempt of one Microsoft Graph request.")
	fs.IntVar(&o.MaxRetries, "graph-max-retries", o.MaxRetries, "Retries of a Graph request after a 429, or (reads and member removals only) a 5xx, a timeout or a dropped connection.")
	fs.IntVar(&o.RequestsPerMinute, "graph-requests-per-minute", o.RequestsPerMinute, fmt.Sprintf("Client-side rate limit of Graph requests per tenant, a $batch of up to 20 reads counting one (Graph allows %d writes per 2.5 minutes per app and tenant).", ServiceWritesPer150s))
	fs.IntVar(&o.Burst, "graph-burst", o.Burst, "Graph requests a tenant's rate limiter lets through at once after being idle.")
	fs.IntVar(&o.MaxConcurrent, "graph-max-concurrent", o.MaxConcurrent, fmt.Sprintf("Concurrent Graph requests per tenant (1-%d).", maxConcurrent))
	fs.DurationVar(&o.MaxWait, "graph-max-wait", o.MaxWait, "Longest a Graph request waits inside the client (rate limiter, concurrency cap, Retry-After, retry backoff) before it gives up and the reconcile is requeued for the wait instead; 0: no bound.")
}

// Validate reports options the client cannot work with.
func (o *Options) Validate() error {
	if err := o.Limits.Validate("graph", maxConcurrent); err != nil {
		return err
	}
	if _, err := parseBase(o.URL); err != nil {
		return err
	}
	return nil
}

// parseBase checks Graph's base URL: absolute https, no query; it returns it without a trailing
// slash.
func parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("graph URL %q: must be an absolute https URL without a query", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}
