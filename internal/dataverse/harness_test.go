package dataverse_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
)

const testToken = "test-token"

// staticCred is the only credential unit tests use: nothing contacts a login host.
type staticCred string

func (s staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// fakeClock advances only when slept on, and records every wait: retry and limiter tests measure
// waits without spending them.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	c.slept = append(c.slept, d)
	return ctx.Err()
}

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

func (c *fakeClock) Reset() { c.mu.Lock(); c.slept = nil; c.mu.Unlock() }

type harness struct {
	emu   *emulator.Emulator
	srv   *httptest.Server
	clock *fakeClock
	reg   *prometheus.Registry
	conn  *dataverse.Connector
	cl    *dataverse.Client
	admin *dataverse.AdminClient
}

const org = "Contoso Ltd"

// newHarness runs the emulator behind a TLS httptest server and a client against it, sharing one
// fake clock.
func newHarness(t *testing.T, tune func(*dataverse.Options), cfg func(*emulator.Config)) *harness {
	t.Helper()
	h := &harness{clock: newFakeClock(), reg: prometheus.NewRegistry()}
	ec := emulator.Config{
		Environments:   []emulator.EnvironmentConfig{{Name: "contoso", OrganizationName: org}, {Name: "fabrikam"}},
		StaticTokens:   []string{testToken},
		EntraSyncDelay: 2 * time.Minute,
		Now:            h.clock.Now,
	}
	if cfg != nil {
		cfg(&ec)
	}
	h.emu = emulator.New(ec)
	h.srv = httptest.NewTLSServer(h.emu)
	t.Cleanup(h.srv.Close)
	opts := dataverse.DefaultOptions()
	opts.Clock = h.clock
	opts.Timeout = 10 * time.Second
	opts.PowerPlatformAPIURL = h.srv.URL
	if tune != nil {
		tune(&opts)
	}
	var err error
	h.conn, err = dataverse.NewConnector(opts, h.srv.Client(), h.reg)
	if err != nil {
		t.Fatal(err)
	}
	h.cl = h.client(t, "contoso", testToken)
	h.admin, err = h.conn.Admin(staticCred(testToken))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) client(t *testing.T, env, token string) *dataverse.Client {
	t.Helper()
	cl, err := h.conn.Environment(h.srv.URL+"/env/"+env, staticCred(token))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// requests counts logged requests by method and a path fragment.
func (h *harness) requests(method, contains string) int {
	n := 0
	for _, r := range h.emu.Requests() {
		if r.Method == method && (contains == "" || strings.Contains(r.Path, contains)) {
			n++
		}
	}
	return n
}

var _ http.Handler = (*emulator.Emulator)(nil)

// metricSum adds up every series of a counter (or the sample counts of a histogram) whose labels
// include match.
func (h *harness) metricSum(name string, match map[string]string) float64 {
	mfs, err := h.reg.Gather()
	if err != nil {
		panic(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range match {
				if labels[k] != v {
					continue series
				}
			}
			if m.Counter != nil {
				sum += m.GetCounter().GetValue()
			}
			if m.Histogram != nil {
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}
