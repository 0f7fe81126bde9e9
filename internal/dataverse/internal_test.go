package dataverse

import (
	"flag"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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
