package webapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/accessplane/dataverse-access-operator/internal/webapi/webapitest"
)

// testError is a client's typed error, as the test service names failures.
type testError struct {
	f    Failure
	code string
	kind error
}

func (e *testError) Error() string {
	return Describe("test", e.f.Operation, e.f.Method, e.f.URL, e.f.StatusCode, e.code, e.f.Message, e.f.RetryAfter)
}
func (e *testError) Is(target error) bool     { return target == e.kind }
func (e *testError) RetryHint() time.Duration { return e.f.RetryAfter }

var (
	errLost        = errors.New("test: lost")
	errRateLimited = errors.New("test: rate limited")
	errLogin       = errors.New("test: login refused")
	testKinds      = Kinds{NotFound: errors.New("not found"), Throttled: errors.New("throttled"), Unauthorized: errors.New("unauthorized"),
		Forbidden: errors.New("forbidden"), BadRequest: errors.New("bad request"), Server: errors.New("server")}
)

func testService() Service {
	return Service{
		Name: "test", FlagPrefix: "test", Header: http.Header{"X-Service": {"yes"}},
		Error: func(f *Failure) (error, string) {
			e := &testError{f: *f}
			switch f.Cause {
			case RateLimited:
				e.kind = errRateLimited
			case LoginRefused:
				e.kind = errLogin
			default:
				e.code, e.f.Message = f.OData()
				e.kind = testKinds.ByStatus(f.StatusCode)
			}
			return e, e.code
		},
		AnswerLost: errLost,
		Metrics:    MetricNames{Prefix: "test", Label: "key", RequestsHelp: "r", LatencyHelp: "l", ThrottledHelp: "t", RetriesHelp: "re", WaitHelp: "w"},
	}
}

// answers is a server that answers each request with the next of its scripted handlers (the
// last one repeats), and counts them.
type answers struct {
	mu    sync.Mutex
	steps []http.HandlerFunc
	reqs  []*http.Request
}

func (a *answers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	i := min(len(a.reqs), len(a.steps)-1)
	a.reqs = append(a.reqs, r)
	a.mu.Unlock()
	a.steps[i](w, r)
}

func (a *answers) count() int { a.mu.Lock(); defer a.mu.Unlock(); return len(a.reqs) }

func status(code int, header map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

// drop closes the connection without an answer, after reading the request.
func drop(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	c, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		c.Close()
	}
}

type rig struct {
	srv   *httptest.Server
	ans   *answers
	clock *webapitest.Clock
	reg   *prometheus.Registry
	e     *Engine
	t     *Transport
}

func newRig(t *testing.T, lim Limits, steps ...http.HandlerFunc) *rig {
	t.Helper()
	return newRigService(t, testService(), lim, steps...)
}

func newRigService(t *testing.T, svc Service, lim Limits, steps ...http.HandlerFunc) *rig {
	t.Helper()
	r := &rig{ans: &answers{steps: steps}, clock: webapitest.NewClock(), reg: prometheus.NewRegistry()}
	r.srv = httptest.NewTLSServer(r.ans)
	t.Cleanup(r.srv.Close)
	lim.Clock = r.clock
	if lim.Timeout == 0 {
		lim.Timeout = 5 * time.Second
	}
	var err error
	if r.e, err = NewEngine(svc, lim, r.srv.Client(), r.reg); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(r.srv.URL, "https://")
	r.t = r.e.Transport(Endpoint{Key: "k", Label: "k", Name: "the test host", Host: host, Scope: "s/.default", Cred: &webapitest.Cred{Token: "tok"}})
	return r
}

func defaultLimits() Limits {
	return Limits{MaxRetries: 3, RequestsPerMinute: 6000, Burst: 100, MaxConcurrent: 4, MaxWait: 10 * time.Second}
}

// TestDoRetryPolicy: what is resent depends on whether the service can have acted: a 429 always
// (after its Retry-After), a 5xx or a dropped answer only for an idempotent call; a change that is
// not answers the client's AnswerLost after one request.
func TestDoRetryPolicy(t *testing.T) {
	ok := status(200, nil, `{"v":1}`)
	for _, tc := range []struct {
		name       string
		idempotent bool
		steps      []http.HandlerFunc
		sent       int
		waits      []time.Duration
		want       []error // nil: success
	}{
		{"429 then success, after Retry-After", false, []http.HandlerFunc{status(429, map[string]string{"Retry-After": "3"}, `{"error":{"code":"TooMany"}}`), ok}, 2, []time.Duration{3 * time.Second}, nil},
		{"503 on a read is retried with backoff", true, []http.HandlerFunc{status(503, nil, ""), ok}, 2, nil, nil},
		{"503 on a change is lost", false, []http.HandlerFunc{status(503, nil, ""), ok}, 1, nil, []error{errLost, testKinds.Server}},
		{"dropped read is resent", true, []http.HandlerFunc{drop, ok}, 2, nil, nil},
		{"dropped change is lost", false, []http.HandlerFunc{drop, ok}, 1, nil, []error{errLost}},
		{"400 is final", true, []http.HandlerFunc{status(400, nil, `{"error":{"code":"Bad","message":"no"}}`), ok}, 1, nil, []error{testKinds.BadRequest}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, defaultLimits(), tc.steps...)
			var out struct{ V int }
			err := r.t.Do(context.Background(), &Call{Op: "Op", Method: http.MethodPost, URL: r.srv.URL + "/x", Body: map[string]int{"a": 1}, Idempotent: tc.idempotent, Out: &out})
			if tc.want == nil {
				if err != nil || out.V != 1 {
					t.Fatalf("got %v, %+v", err, out)
				}
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("got %v, want %v", err, w)
				}
			}
			if n := r.ans.count(); n != tc.sent {
				t.Errorf("sent %d, want %d", n, tc.sent)
			}
			if tc.waits != nil {
				// The limiter's own token wait after a 429 (it owes the service the Retry-After,
				// then one token) is under a second.
				var waits []time.Duration
				for _, w := range r.clock.Waits() {
					if w >= time.Second {
						waits = append(waits, w)
					}
				}
				if d := cmp.Diff(tc.waits, waits); d != "" {
					t.Errorf("waits (-want +got):\n%s", d)
				}
			}
		})
	}
}

// TestHeaders: the service's headers, the call's, the token, and the answer's headers handed back.
func TestHeaders(t *testing.T) {
	var got http.Header
	r := newRig(t, defaultLimits(), func(w http.ResponseWriter, req *http.Request) {
		got = req.Header.Clone()
		w.Header().Set("OData-EntityId", "x(1)")
		w.WriteHeader(204)
	})
	answer := http.Header{}
	if err := r.t.Do(context.Background(), &Call{Op: "Op", Method: http.MethodPatch, URL: r.srv.URL + "/x", Body: 1,
		Header: http.Header{"if-match": {"*"}}, Answer: answer}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Authorization": "Bearer tok", "X-Service": "yes", "If-Match": "*", "Accept": "application/json", "Content-Type": "application/json; charset=utf-8"}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s: %q, want %q", k, got.Get(k), v)
		}
	}
	if answer.Get("OData-EntityId") != "x(1)" {
		t.Errorf("answer headers %v", answer)
	}
}

// TestHostPinned: a URL on another host, or not https, is refused before a token is asked for.
func TestHostPinned(t *testing.T) {
	r := newRig(t, defaultLimits(), status(200, nil, "{}"))
	for _, u := range []string{"https://elsewhere.example/x", strings.Replace(r.srv.URL, "https", "http", 1) + "/x"} {
		err := r.t.Do(context.Background(), &Call{Op: "Op", Method: http.MethodGet, URL: u, Idempotent: true})
		if err == nil || !strings.Contains(err.Error(), "refusing to send a token") {
			t.Errorf("%s: %v", u, err)
		}
	}
	if r.ans.count() != 0 {
		t.Fatal("sent")
	}
}

// TestMaxWaitAndRateLimited: a Retry-After over MaxWait is returned with the wait, not slept; the
// limiter then owes the service that wait, and refuses the next request as the operator's own
// limit, naming the client's flags.
func TestMaxWaitAndRateLimited(t *testing.T) {
	lim := defaultLimits()
	lim.MaxWait = 5 * time.Second
	r := newRig(t, lim, status(429, map[string]string{"Retry-After": "30"}, `{"error":{"code":"TooMany","message":"slow down"}}`))
	ctx := context.Background()
	err := r.t.Do(ctx, &Call{Op: "Op", Method: http.MethodGet, URL: r.srv.URL + "/x", Idempotent: true})
	if ra, _ := RetryAfter(err); !errors.Is(err, testKinds.Throttled) || ra != 30*time.Second {
		t.Fatalf("got %v (retry after %s)", err, ra)
	}
	err = r.t.Do(ctx, &Call{Op: "Op", Method: http.MethodGet, URL: r.srv.URL + "/x?secret=1", Idempotent: true})
	ra, _ := RetryAfter(err)
	if !errors.Is(err, errRateLimited) || ra < 29*time.Second || !strings.Contains(err.Error(), "--test-requests-per-minute") ||
		!strings.Contains(err.Error(), "the test host") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("got %v (retry after %s)", err, ra)
	}
	if r.ans.count() != 1 || len(r.clock.Waits()) != 0 {
		t.Fatal("sent or slept")
	}
	if n := count(t, r.reg, "test_throttled_total"); n != 1 {
		t.Fatalf("throttled metric %v", n)
	}
}

// TestRetry: the policy Do uses, for callers that retry part of an answer (a $batch's throttled
// sub-requests): retries counted against MaxRetries, waits bounded by MaxWait.
func TestRetry(t *testing.T) {
	lim := defaultLimits()
	lim.MaxRetries, lim.MaxWait = 2, 5*time.Second
	r := newRig(t, lim, status(200, nil, "{}"))
	ctx := context.Background()
	last := errors.New("last")
	if err := r.t.Retry(ctx, "Op", 0, 2*time.Second, last); err != nil {
		t.Fatal(err)
	}
	if err := r.t.Retry(ctx, "Op", 1, 0, last); err != nil {
		t.Fatal(err)
	}
	if w := r.clock.Waits(); len(w) != 2 || w[0] != 2*time.Second || w[1] < 500*time.Millisecond || w[1] > time.Second {
		t.Fatalf("waits %v: want the 2s asked, then a backoff of 0.5-1s", w)
	}
	if err := r.t.Retry(ctx, "Op", 2, time.Second, last); err != last {
		t.Fatalf("retries spent: %v", err)
	}
	err := r.t.Retry(ctx, "Op", 0, time.Minute, last)
	if ra, _ := RetryAfter(err); !errors.Is(err, last) || ra != time.Minute {
		t.Fatalf("over MaxWait: %v (%s)", err, ra)
	}
	if err := testutil.GatherAndCompare(r.reg, strings.NewReader(`# HELP test_retries_total re
# TYPE test_retries_total counter
test_retries_total{key="k",operation="Op"} 2
`), "test_retries_total"); err != nil {
		t.Fatal(err)
	}
}

// TestForget: an engine forgets a key's limiter and series.
func TestForget(t *testing.T) {
	r := newRig(t, defaultLimits(), status(200, nil, "{}"))
	if err := r.t.Do(context.Background(), &Call{Op: "Op", Method: http.MethodGet, URL: r.srv.URL + "/x", Idempotent: true}); err != nil {
		t.Fatal(err)
	}
	if r.e.Limiters() != 1 || count(t, r.reg, "test_requests_total") != 1 {
		t.Fatal("no limiter or series")
	}
	r.e.Forget("k", "k")
	if r.e.Limiters() != 0 || count(t, r.reg, "test_requests_total") != 0 {
		t.Fatal("kept")
	}
}

// TestODataError: the OData error shape, and a 401's WWW-Authenticate when it has no body.
func TestODataError(t *testing.T) {
	f := &Failure{StatusCode: 404, Body: []byte(`{"error":{"code":"Request_ResourceNotFound","message":"gone","innerError":{"request-id":"r"}}}`)}
	if c, m := f.OData(); c != "Request_ResourceNotFound" || m != "gone" {
		t.Fatalf("%q %q", c, m)
	}
	f = &Failure{StatusCode: 401, Header: http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}}}
	if _, m := f.OData(); m != `Bearer error="invalid_token"` {
		t.Fatalf("%q", m)
	}
	for status, want := range map[int]error{404: testKinds.NotFound, 429: testKinds.Throttled, 401: testKinds.Unauthorized, 403: testKinds.Forbidden,
		400: testKinds.BadRequest, 409: testKinds.BadRequest, 502: testKinds.Server, 204: nil} {
		if got := testKinds.ByStatus(status); got != want {
			t.Errorf("%d: %v, want %v", status, got, want)
		}
	}
}

// count is the number of samples of a metric (counters' series and histograms' observations
// summed).
func count(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	n, err := testutil.GatherAndCount(reg, name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAuthorityHost: instance discovery is off exactly for login hosts that are not a public or
// national cloud's, so MSAL never asks login.microsoftonline.com about the emulator.
func TestAuthorityHost(t *testing.T) {
	for _, tc := range []struct {
		env, option     string
		wantHost        string
		wantNoDiscovery bool
	}{
		{"", "", "https://login.microsoftonline.com/", false},
		{"https://login.microsoftonline.us/", "", "https://login.microsoftonline.us/", false},
		{"https://127.0.0.1:8443", "", "https://127.0.0.1:8443/", true},
		{"https://login.microsoftonline.com", "https://emulator.local:9443/", "https://emulator.local:9443/", true},
		{"", "https://LOGIN.chinacloudapi.cn/", "https://LOGIN.chinacloudapi.cn/", false},
	} {
		t.Setenv("AZURE_AUTHORITY_HOST", tc.env)
		host, off, err := CredentialOptions{AuthorityHost: tc.option}.authorityHost()
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]any{tc.wantHost, tc.wantNoDiscovery}, []any{host, off}); d != "" {
			t.Errorf("env %q option %q (-want +got):\n%s", tc.env, tc.option, d)
		}
	}
}

// TestMetricsRegisterTwice: a second engine on the same registry reuses the collectors.
func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewEngine(testService(), defaultLimits(), http.DefaultClient, reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewEngine(testService(), defaultLimits(), http.DefaultClient, reg)
	if err != nil {
		t.Fatal(err)
	}
	if a.metrics.requests != b.metrics.requests {
		t.Fatal("second engine did not reuse the registered counter")
	}
}

// TestParseRetryAfter: seconds (what Dataverse and Graph send) and an HTTP date.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "7": 7 * time.Second, "0.5": 500 * time.Millisecond, "junk": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
	} {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}
