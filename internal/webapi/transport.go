package webapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/prometheus/client_golang/prometheus"
)

// MaxBody bounds what the client reads from one answer: 5,000 Dataverse systemusers records with
// all their fields are about 25 MB.
const MaxBody = 64 << 20

// Service is what a client tells the transport about its service.
type Service struct {
	// Name starts the text of every error ("dataverse", "graph").
	Name string
	// FlagPrefix names the client's flags in the limiter's messages: --<FlagPrefix>-max-wait,
	// --<FlagPrefix>-max-concurrent, --<FlagPrefix>-requests-per-minute.
	FlagPrefix string
	// Header is set on every request, after the transport's own Accept and User-Agent.
	Header http.Header
	// Error turns a Failure into the client's typed error, and names the service's error code for
	// the throttled metric's label.
	Error func(*Failure) (err error, code string)
	// AnswerLost is the client's sentinel for a change whose outcome is unknown: the transport
	// wraps the failure of such a change with it.
	AnswerLost error
	// Metrics name the service's metrics.
	Metrics MetricNames
	// Signals reads what an answer's headers say about the service's limits (nil: nothing).
	Signals func(http.Header) Signals
}

// Engine holds what every client of one service shares in a manager: the service, its limits, the
// HTTP client, the metrics and a limiter per key. Make one per service and manager.
type Engine struct {
	svc     Service
	lim     Limits
	http    *http.Client
	metrics *metrics

	mu       sync.Mutex
	limiters map[string]*limiter
}

// NewEngine registers the service's metrics on reg (nil: not registered). The caller validated
// lim; what may be zero gets its default. httpClient nil means NewHTTPClient().
func NewEngine(svc Service, lim Limits, httpClient *http.Client, reg prometheus.Registerer) (*Engine, error) {
	if svc.Error == nil || svc.AnswerLost == nil || svc.Name == "" {
		return nil, errors.New("webapi: a service needs a name, an error decoder and an ErrAnswerLost")
	}
	if httpClient == nil {
		httpClient = NewHTTPClient()
	}
	e := &Engine{svc: svc, lim: lim.WithDefaults(), http: httpClient, limiters: map[string]*limiter{}}
	m, err := newMetrics(svc.Metrics, reg, e.limiterState)
	if err != nil {
		return nil, err
	}
	e.metrics = m
	return e, nil
}

// limiterState is each key's budget and parallelism now, for the metrics.
func (e *Engine) limiterState() []limiterState {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]limiterState, 0, len(e.limiters))
	now := e.lim.Clock.Now()
	for _, l := range e.limiters {
		st := limiterState{label: l.label, inFlight: l.slots.limit(), budget: l.budget != nil}
		if l.budget != nil {
			st.used, st.left = l.budget.spent(now)
		}
		out = append(out, st)
	}
	return out
}

// Limits returns the limits in effect (defaults filled).
func (e *Engine) Limits() Limits { return e.lim }

// Endpoint says where one client's requests go and as whom.
type Endpoint struct {
	// Key selects the limiter: clients with the same key (one environment, one tenant) share it,
	// so two reconcilers cannot double the rate.
	Key string
	// Label is the value of the metrics' key label.
	Label string
	// Name is what the limiter's messages call the endpoint (a host, "tenant <id>").
	Name string
	// Host is the only host requests may go to (host[:port]): a URL or a nextLink elsewhere is
	// refused, so the token never leaves it.
	Host string
	// Scope is the token's scope; Cred gets it.
	Scope string
	Cred  azcore.TokenCredential
}

// Transport returns the transport of one endpoint.
func (e *Engine) Transport(ep Endpoint) *Transport {
	ep.Host = strings.ToLower(ep.Host)
	e.mu.Lock()
	defer e.mu.Unlock()
	l, ok := e.limiters[ep.Key]
	if !ok {
		l = newLimiter(e.lim.Clock, e.lim.RequestsPerMinute, e.lim.Burst, e.lim.MaxConcurrent, e.lim.Budget)
		l.label = ep.Label
		e.limiters[ep.Key] = l
	}
	return &Transport{e: e, ep: ep, lim: l}
}

// Forget drops what the engine keeps for a key no longer used — its limiter — and the metric
// series of a label, so a manager that sees environments or tenants come and go does not grow. A
// transport still held for it keeps working with the limiter it has.
func (e *Engine) Forget(key, label string) {
	e.mu.Lock()
	delete(e.limiters, key)
	e.mu.Unlock()
	e.metrics.forget(label)
}

// Limiters is how many keys the engine keeps a limiter for.
func (e *Engine) Limiters() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.limiters)
}

// Call is one logical request; Do may send it several times.
type Call struct {
	Op     string // the client's operation, in errors and metrics
	Method string
	URL    string // absolute
	Body   any    // marshalled to JSON when not nil
	// Header holds request headers of this call (If-Match, Prefer, ConsistencyLevel).
	Header http.Header
	// Idempotent: safe to resend after an answer was lost (see Transport.Do).
	Idempotent bool
	// Out receives the JSON answer of a success when not nil.
	Out any
	// Answer receives the answer's headers when not nil.
	Answer http.Header
}

// Transport sends the calls of one endpoint.
type Transport struct {
	e   *Engine
	ep  Endpoint
	lim *limiter
}

// Endpoint is what the transport was made for.
func (t *Transport) Endpoint() Endpoint { return t.ep }

// Do sends c with the limiter, a timeout per attempt and retries. What may be retried depends on
// whether the service can have acted on the attempt:
//   - 429: always retried, after Retry-After: the service refused before doing anything
//     (Microsoft Learn, "Dataverse API limits overview": service protection limits "immediately
//     return 429 Too Many Requests when limits are exceeded"; "Service protection API limits"
//     and "Microsoft Graph throttling guidance": the client waits Retry-After before sending
//     again);
//   - 5xx, a dropped connection, an attempt timeout: the outcome is unknown. A gateway or load
//     balancer in front of the service answers 502/504 when the backend did not answer in time,
//     which may be after it committed, and no Microsoft page promises that an error answer means
//     nothing was done. An idempotent call is retried (after Retry-After if given, else backoff);
//     any other is not, and its error matches the client's ErrAnswerLost (and for a 5xx its
//     server error) so the caller looks the record up before trying again;
//   - no request sent at all (no token from the login host, a refused connection): any call is
//     retried.
//
// No wait inside Do is longer than Limits.MaxWait (or the context's deadline): a retry due later
// returns the last failure with the wait in RetryAfter(err), and a limiter wait that long is the
// client's RateLimited error, so a reconciler's worker is never held for a service's minutes-long
// Retry-After.
func (t *Transport) Do(ctx context.Context, c *Call) error {
	var payload []byte
	if c.Body != nil {
		var err error
		if payload, err = json.Marshal(c.Body); err != nil {
			return t.errorf(c.Op, "encode: %w", err)
		}
	}
	for attempt := 0; ; attempt++ {
		retry, wait, err := t.attempt(ctx, c, payload)
		if err == nil || !retry {
			return err
		}
		if err := t.Retry(ctx, c.Op, attempt, wait, err); err != nil {
			return err
		}
	}
}

// Retry waits before trying again after the attempt'th failure (from 0) of op, last. It is Do's
// own policy, for callers that retry part of an answer themselves (the throttled requests of a
// $batch): the wait is the service's Retry-After, or exponential backoff when wait is 0. It
// answers nil when the caller may try again; last when the retries are spent (Limits.MaxRetries)
// or ctx is done; and last with the wait in RetryAfter(err) when the wait is longer than
// Limits.MaxWait or the context's deadline, so the caller's worker is not held.
func (t *Transport) Retry(ctx context.Context, op string, attempt int, wait time.Duration, last error) error {
	o := t.e.lim
	if attempt >= o.MaxRetries || ctx.Err() != nil {
		return last
	}
	if wait <= 0 {
		wait = backoff(o.BackoffBase, o.BackoffMax, attempt)
	}
	if b := t.bound(ctx); b > 0 && wait > b {
		return &retryLater{err: last, after: wait, bound: b}
	}
	t.e.metrics.retries.WithLabelValues(t.ep.Label, op).Inc()
	if err := o.Clock.Sleep(ctx, wait); err != nil {
		return fmt.Errorf("%w (gave up waiting to retry: %v)", last, err)
	}
	return nil
}

// Throttled records a 429 the service answered inside a $batch (whose own answer was a 200): the
// throttled metric, and the limiter owes the service the Retry-After as after an answer's 429.
func (t *Transport) Throttled(code string, retryAfter time.Duration) {
	t.e.metrics.throttled.WithLabelValues(t.ep.Label, code).Inc()
	t.lim.penalize(retryAfter)
}

// Now is the engine's clock's time.
func (t *Transport) Now() time.Time { return t.e.lim.Clock.Now() }

// bound is the longest the client may wait within one request now: Limits.MaxWait, or less when
// the context's deadline is nearer (waiting past it would only end in the context's error). 0: no
// bound.
func (t *Transport) bound(ctx context.Context) time.Duration {
	b := t.e.lim.MaxWait
	if dl, ok := ctx.Deadline(); ok {
		left := max(time.Until(dl), time.Nanosecond)
		if b <= 0 || left < b {
			b = left
		}
	}
	return b
}

// backoff is exponential with jitter in [d/2, d], so clients that failed together do not retry
// together.
func backoff(base, max time.Duration, attempt int) time.Duration {
	d := base << min(attempt, 20)
	if d > max || d <= 0 {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}

func (t *Transport) errorf(op, format string, args ...any) error {
	return fmt.Errorf("%s %s: "+format, append([]any{t.e.svc.Name, op}, args...)...)
}

// attempt sends once. It says whether a failure may be retried and how long the service asked to
// wait.
func (t *Transport) attempt(ctx context.Context, c *Call, payload []byte) (retry bool, wait time.Duration, err error) {
	svc := t.e.svc
	u, err := url.Parse(c.URL)
	if err != nil {
		return false, 0, t.errorf(c.Op, "%w", err)
	}
	if !strings.EqualFold(u.Host, t.ep.Host) || u.Scheme != "https" {
		return false, 0, t.errorf(c.Op, "refusing to send a token to %s://%s (expected https://%s)", u.Scheme, u.Host, t.ep.Host)
	}
	shown := Redact(u)
	release, waited, err := t.lim.acquire(ctx, t.bound(ctx), c.Method != http.MethodGet)
	t.e.metrics.wait.WithLabelValues(t.ep.Label).Observe(waited.Seconds())
	if err != nil {
		var over *overLimit
		if errors.As(err, &over) {
			e, _ := svc.Error(&Failure{Cause: RateLimited, Operation: c.Op, Method: c.Method, URL: shown, RetryAfter: over.wait, Message: t.overLimitMessage(over)})
			return false, 0, e
		}
		return false, 0, t.errorf(c.Op, "waiting for the rate limiter: %w", err)
	}
	defer release()

	actx, cancel := context.WithTimeout(ctx, t.e.lim.Timeout)
	defer cancel()
	tok, err := t.ep.Cred.GetToken(actx, policy.TokenRequestOptions{Scopes: []string{t.ep.Scope}})
	if err != nil {
		// The login host refusing the credential is final: asking again gets the same answer. No
		// answer from it (network, 5xx) may pass, and nothing reached the service yet, so any call
		// may retry.
		var afe *azidentity.AuthenticationFailedError
		if errors.As(err, &afe) && afe.RawResponse != nil && afe.RawResponse.StatusCode < 500 {
			e, _ := svc.Error(&Failure{Cause: LoginRefused, Operation: c.Op, Method: c.Method, URL: shown, StatusCode: afe.RawResponse.StatusCode,
				Message: "the login host refused the credential: " + err.Error()})
			return false, 0, e
		}
		if ctx.Err() != nil {
			return false, 0, t.errorf(c.Op, "getting a token: %w", ctx.Err())
		}
		return true, 0, t.errorf(c.Op, "getting a token: %w", err)
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, c.Method, c.URL, body)
	if err != nil {
		return false, 0, t.errorf(c.Op, "%w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "dataverse-access-operator")
	setHeader(req.Header, svc.Header)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	setHeader(req.Header, c.Header)

	// sent says whether any of the request left the client: before that, nothing can have been
	// done and any call may be retried.
	var sent atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(actx, &httptrace.ClientTrace{WroteHeaders: func() { sent.Store(true) }}))

	start := time.Now()
	resp, err := t.e.http.Do(req)
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(resp.Body, MaxBody))
		resp.Body.Close()
	}
	t.e.metrics.latency.WithLabelValues(t.ep.Label, c.Op).Observe(time.Since(start).Seconds())
	if err != nil {
		t.e.metrics.requests.WithLabelValues(t.ep.Label, c.Op, "error").Inc()
		lost := !c.Idempotent && sent.Load()
		if ctx.Err() != nil {
			if lost {
				return false, 0, t.errorf(c.Op, "%s %s: %w (%w)", c.Method, shown, ctx.Err(), svc.AnswerLost)
			}
			return false, 0, t.errorf(c.Op, "%s %s: %w", c.Method, shown, ctx.Err())
		}
		if lost {
			return false, 0, t.errorf(c.Op, "%s %s: no answer: %w (%w)", c.Method, shown, err, svc.AnswerLost)
		}
		if !sent.Load() {
			return true, 0, t.errorf(c.Op, "%s %s: not sent: %w", c.Method, shown, err)
		}
		return true, 0, t.errorf(c.Op, "%s %s: no answer: %w", c.Method, shown, err)
	}
	t.e.metrics.requests.WithLabelValues(t.ep.Label, c.Op, strconv.Itoa(resp.StatusCode)).Inc()
	if svc.Signals != nil {
		t.lim.signal(svc.Signals(resp.Header))
	}
	if c.Answer != nil {
		for k, v := range resp.Header {
			c.Answer[k] = v
		}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if c.Out != nil && len(bytes.TrimSpace(data)) > 0 {
			if err := json.Unmarshal(data, c.Out); err != nil {
				return false, 0, t.errorf(c.Op, "decode answer: %w", err)
			}
		}
		return false, 0, nil
	}
	f := &Failure{Cause: Answered, Operation: c.Op, Method: c.Method, URL: shown, StatusCode: resp.StatusCode, Header: resp.Header, Body: data,
		RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), t.e.lim.Clock.Now())}
	e, code := svc.Error(f)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		t.Throttled(code, f.RetryAfter)
		return true, f.RetryAfter, e
	case resp.StatusCode >= 500:
		if !c.Idempotent {
			return false, 0, fmt.Errorf("%w (%w)", e, svc.AnswerLost)
		}
		return true, f.RetryAfter, e
	}
	return false, 0, e
}

// setHeader sets every header of from on to, replacing what to had.
func setHeader(to, from http.Header) {
	for k, vs := range from {
		to.Del(k)
		for _, v := range vs {
			to.Add(k, v)
		}
	}
}

// overLimitMessage says why the operator's own limiter held a request back.
func (t *Transport) overLimitMessage(over *overLimit) string {
	o, p := t.e.lim, t.e.svc.FlagPrefix
	switch {
	case over.slot:
		return fmt.Sprintf("not sent: the operator's own cap of %d requests in flight to %s was reached for %s (--%s-max-concurrent, narrowed to the service's x-ms-dop-hint; --%s-max-wait); the service did not throttle", t.lim.slots.limit(), t.ep.Name, over.wait, p, p)
	case over.budget == "own":
		return fmt.Sprintf("not sent: the operator's budget for %s is spent (%d requests per %s, --%s-budget-share of the service's limit; reads leave the last %d to writes) and frees up in %s; the service did not throttle", t.ep.Name, o.Budget.Requests, o.Budget.Window, p, o.Budget.WriteReserve, over.wait.Round(time.Second))
	case over.budget != "":
		return fmt.Sprintf("not sent: %s says its window for this app registration is nearly spent (other clients signing in as it share it); one request goes every %s to learn when it frees up", t.ep.Name, t.lim.budget.probeEvery())
	}
	return fmt.Sprintf("not sent: the operator's own rate limit for %s is spent (--%s-requests-per-minute %d, or a Retry-After the service sent earlier), and the next token is due later than the client may wait (--%s-max-wait); the service did not throttle", t.ep.Name, p, o.RequestsPerMinute, p)
}
