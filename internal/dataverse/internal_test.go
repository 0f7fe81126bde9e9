package dataverse

import (
	"flag"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/internal/webapi"
)

// TestBindFlags: the flags the manager exposes, and the limits Validate holds them to.
func TestBindFlags(t *testing.T) {
	o := DefaultOptions()
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	o.BindFlags(fs)
	if err := fs.Parse([]string{"--dataverse-requests-per-minute=300", "--dataverse-max-concurrent=8", "--dataverse-timeout=5s",
		"--power-platform-api-url=https://127.0.0.1:8443", "--dataverse-max-retries=2", "--dataverse-page-size=100", "--dataverse-max-wait=2s"}); err != nil {
		t.Fatal(err)
	}
	got := []any{o.RequestsPerMinute, o.MaxConcurrent, o.Timeout, o.PowerPlatformAPIURL, o.MaxRetries, o.PageSize, o.MaxWait}
	if d := cmp.Diff([]any{300, 8, 5 * time.Second, "https://127.0.0.1:8443", 2, 100, 2 * time.Second}, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if d := DefaultOptions(); d.PowerPlatformAPIURL != "https://api.bap.microsoft.com" || d.MaxWait != 5*time.Second {
		t.Fatalf("default admin API URL %q, max wait %s", d.PowerPlatformAPIURL, d.MaxWait)
	}
	// Issue 21: by default 80% of 6,000 requests per 5 minutes, its last tenth for writes.
	if d := DefaultOptions(); !cmp.Equal(d.limits().Budget, webapi.Budget{Requests: 4800, Window: 5 * time.Minute, WriteReserve: 480}) {
		t.Fatalf("default budget %+v", d.limits().Budget)
	}
	if f := fs.Lookup("dataverse-max-wait"); f == nil || !strings.Contains(f.Usage, "0: no bound") {
		t.Fatalf("--dataverse-max-wait is not described: %+v", f)
	}
	zero := DefaultOptions()
	zero.MaxWait = 0
	if err := zero.Validate(); err != nil {
		t.Fatalf("max wait 0 (no bound): %v", err)
	}
	for _, tc := range []struct {
		name  string
		tweak func(*Options)
		want  string
	}{
		{"52 concurrent is the service's refusal", func(o *Options) { o.MaxConcurrent = 52 }, "max concurrent"},
		{"no rate", func(o *Options) { o.RequestsPerMinute = 0 }, "requests per minute"},
		{"page size over 5000", func(o *Options) { o.PageSize = 5001 }, "page size"},
		{"no timeout", func(o *Options) { o.Timeout = 0 }, "timeout"},
		{"negative max wait", func(o *Options) { o.MaxWait = -time.Second }, "max wait"},
		{"no budget share", func(o *Options) { o.BudgetShare = 0 }, "budget share must be above 0 and at most 1"},
		{"a share above the limit", func(o *Options) { o.BudgetShare = 1.5 }, "budget share must be above 0 and at most 1"},
		{"a budget window under a second", func(o *Options) { o.BudgetWindow = time.Millisecond }, "budget window must be at least 1s"},
	} {
		o := DefaultOptions()
		tc.tweak(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestNewHTTPClientProxy: the client takes its proxy from HTTPS_PROXY and NO_PROXY.
func TestNewHTTPClientProxy(t *testing.T) {
	tr := NewHTTPClient().Transport.(*http.Transport)
	if tr.Proxy == nil || tr.TLSClientConfig != nil {
		t.Fatal("proxy from the environment and the system trust store expected")
	}
	if tr.MaxIdleConnsPerHost < 16 {
		t.Fatalf("MaxIdleConnsPerHost %d would reopen TLS connections under concurrency", tr.MaxIdleConnsPerHost)
	}
}

// The service-protection headers (Microsoft Learn, "Service protection API limits"; the Web API
// parallel-operations sample for x-ms-dop-hint) become the transport's signals; the execution
// time nearly spent counts as no requests left; what is absent or unreadable says nothing.
func TestSignalsFromServiceProtectionHeaders(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   webapi.Signals
	}{
		{"none", nil, webapi.Signals{}},
		{"requests and parallelism", map[string]string{"x-ms-ratelimit-burst-remaining-xrm-requests": "5,987", "x-ms-ratelimit-time-remaining-xrm-requests": "1,199.95", "x-ms-dop-hint": "5"},
			webapi.Signals{RequestsLeft: 5987, Known: true, Parallelism: 5}},
		{"execution time nearly spent", map[string]string{"x-ms-ratelimit-burst-remaining-xrm-requests": "4000", "x-ms-ratelimit-time-remaining-xrm-requests": "12.50"},
			webapi.Signals{RequestsLeft: 0, Known: true}},
		{"unreadable", map[string]string{"x-ms-ratelimit-burst-remaining-xrm-requests": "lots", "x-ms-dop-hint": "0"}, webapi.Signals{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			if d := cmp.Diff(tc.want, signals(h)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
