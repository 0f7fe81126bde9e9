package dataverse

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

// APIPath is the Web API's root under an environment URL.
const APIPath = "/api/data/v9.2/"

// maxBody bounds what the client reads from one answer: 5,000 systemusers records with all their
// fields are about 25 MB.
const maxBody = 64 << 20

// Connector holds what every environment's client shares: options, the HTTP client, metrics and a
// limiter per environment. Make one per manager and ask it for a Client per environment.
type Connector struct {
	opts    Options
	http    *http.Client
	metrics *metrics

	mu       sync.Mutex
	limiters map[string]*limiter
}

// NewConnector validates opts and registers the metrics on reg (nil: not registered). httpClient
// nil means NewHTTPClient(), which honours HTTPS_PROXY/NO_PROXY and SSL_CERT_FILE.
func NewConnector(opts Options, httpClient *http.Client, reg prometheus.Registerer) (*Connector, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if httpClient == nil {
		httpClient = NewHTTPClient()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Connector{opts: opts.withDefaults(), http: httpClient, metrics: m, limiters: map[string]*limiter{}}, nil
}

// Options returns the options in effect.
func (c *Connector) Options() Options { return c.opts }

// limiterFor returns the limiter of one key (an environment's URL, or the admin API's). Clients of
// the same environment share it, so two reconcilers cannot double the rate.
func (c *Connector) limiterFor(key string) *limiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.limiters[key]
	if !ok {
		l = newLimiter(c.opts.Clock, c.opts.RequestsPerMinute, c.opts.Burst, c.opts.MaxConcurrent)
		c.limiters[key] = l
	}
	return l
}

// Forget drops what the connector keeps for an environment no longer synced — its limiter and
// its metric series — so a manager that sees environments come and go does not grow. A client
// still held for it keeps working with the limiter it has.
func (cl *Client) Forget() {
	c := cl.conn
	c.mu.Lock()
	delete(c.limiters, strings.ToLower(cl.base))
	c.mu.Unlock()
	c.metrics.forget(cl.label)
}

// Limiters is how many environments the connector keeps a limiter for.
func (c *Connector) Limiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.limiters)
}

// Client talks to one Dataverse environment with one identity.
type Client struct {
	conn  *Connector
	base  string // environment URL, no trailing slash
	api   string // base + APIPath
	host  string
	scope string
	cred  azcore.TokenCredential
	lim   *limiter
	label string // metrics label
}

// Environment returns a client for the environment at envURL (https://<org>.crm<N>.dynamics.com),
// authenticated by cred for the scope <envURL>/.default.
func (c *Connector) Environment(envURL string, cred azcore.TokenCredential) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(envURL))
	if err != nil {
		return nil, fmt.Errorf("dataverse URL %q: %w", envURL, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("dataverse URL %q: must be an absolute https URL", envURL)
	}
	if cred == nil {
		return nil, errors.New("dataverse: no credential")
	}
	u.RawQuery, u.Fragment = "", ""
	base := strings.TrimRight(u.String(), "/")
	return &Client{
		conn:  c,
		base:  base,
		api:   base + APIPath,
		host:  strings.ToLower(u.Host),
		scope: base + "/.default",
		cred:  cred,
		lim:   c.limiterFor(strings.ToLower(base)),
		label: strings.ToLower(u.Host + strings.TrimRight(u.Path, "/")),
	}, nil
}

// URL is the environment URL the client was made for.
func (cl *Client) URL() string { return cl.base }

// call is one logical request; do may send it several times.
type call struct {
	op         string
	method     string
	url        string // absolute
	body       any    // marshalled to JSON when not nil
	ifMatch    string
	prefer     string
	idempotent bool // safe to resend after an answer was lost
	out        any  // JSON answer decoded into it when not nil
	header     http.Header
}

type transport struct {
	conn  *Connector
	cred  azcore.TokenCredential
	scope string
	lim   *limiter
	label string
	host  string // requests may go only to this host: a nextLink elsewhere would leak the token
}

func (cl *Client) transport() transport {
	return transport{conn: cl.conn, cred: cl.cred, scope: cl.scope, lim: cl.lim, label: cl.label, host: cl.host}
}

// do sends c with the limiter, a timeout per attempt and retries. What may be retried depends on
// whether the service can have acted on the attempt:
//   - 429: always retried, after Retry-After: the service refused before doing anything
//     (Microsoft Learn, "Dataverse API limits overview": service protection limits "immediately
//     return 429 Too Many Requests when limits are exceeded"; "Service protection API limits":
//     the client waits Retry-After before sending again);
//   - 5xx, a dropped connection, an attempt timeout: the outcome is unknown. A gateway or load
//     balancer in front of the service answers 502/504 when the backend did not answer in time,
//     which may be after it committed, and no Microsoft page promises that an error answer means
//     nothing was done. An idempotent call is retried (after Retry-After if given, else backoff);
//     any other is not, and its error matches ErrAnswerLost (and ErrServer for a 5xx) so the
//     caller looks the record up before trying again;
//   - no request sent at all (no token from the login host, a refused connection): any call is
//     retried.
//
// No wait inside do is longer than Options.MaxWait (or the context's deadline): a retry due later
// returns the last failure with the wait in RetryAfter(err), and a limiter wait that long is
// ErrRateLimited, so a reconciler's worker is never held for a service's minutes-long Retry-After.
//
// Which calls are idempotent (call.idempotent), for the record: GETs; PATCH with If-Match (a
// resend sets the same values; with a record's ETag the resend may answer 412, which the caller's
// re-read resolves); DELETE (a resend answers 404); ReplacePrivilegesRole (replaces the whole set);
// AddMembersTeam and RemoveMembersTeam (membership is a set: adding a member twice or removing an
// absent one changes nothing). Not idempotent: creates (a resend makes a second record, or answers
// a duplicate), $ref associations (a resend answers a duplicate) and the admin API's addUser
// (a resend is harmless in effect, but the operator's contract is to look the user up first).
func (t transport) do(ctx context.Context, c *call) error {
	var payload []byte
	if c.body != nil {
		var err error
		if payload, err = json.Marshal(c.body); err != nil {
			return fmt.Errorf("dataverse %s: encode: %w", c.op, err)
		}
	}
	opts := t.conn.opts
	var last error
	for attempt := 0; ; attempt++ {
		retry, wait, err := t.attempt(ctx, c, payload)
		if err == nil {
			return nil
		}
		last = err
		if !retry || attempt >= opts.MaxRetries || ctx.Err() != nil {
			return last
		}
		if wait <= 0 {
			wait = backoff(opts.BackoffBase, opts.BackoffMax, attempt)
		}
		if b := t.bound(ctx); b > 0 && wait > b {
			return &retryLater{err: last, after: wait, bound: b}
		}
		t.conn.metrics.retries.WithLabelValues(t.label, c.op).Inc()
		if err := opts.Clock.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (gave up waiting to retry: %v)", last, err)
		}
	}
}

// bound is the longest the client may wait within one request now: Options.MaxWait, or less when
// the context's deadline is nearer (waiting past it would only end in the context's error). 0: no
// bound.
func (t transport) bound(ctx context.Context) time.Duration {
	b := t.conn.opts.MaxWait
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

// attempt sends once. It says whether a failure may be retried and how long the service asked to
// wait.
func (t transport) attempt(ctx context.Context, c *call, payload []byte) (retry bool, wait time.Duration, err error) {
	u, err := url.Parse(c.url)
	if err != nil {
		return false, 0, fmt.Errorf("dataverse %s: %w", c.op, err)
	}
	if !strings.EqualFold(u.Host, t.host) || u.Scheme != "https" {
		return false, 0, fmt.Errorf("dataverse %s: refusing to send a token to %s://%s (expected https://%s)", c.op, u.Scheme, u.Host, t.host)
	}
	release, waited, err := t.lim.acquire(ctx, t.bound(ctx))
	t.conn.metrics.wait.WithLabelValues(t.label).Observe(waited.Seconds())
	if err != nil {
		var over *overLimit
		if errors.As(err, &over) {
			return false, 0, t.rateLimited(c, over)
		}
		return false, 0, fmt.Errorf("dataverse %s: waiting for the rate limiter: %w", c.op, err)
	}
	defer release()

	actx, cancel := context.WithTimeout(ctx, t.conn.opts.Timeout)
	defer cancel()
	tok, err := t.cred.GetToken(actx, policy.TokenRequestOptions{Scopes: []string{t.scope}})
	if err != nil {
		// The login host refusing the credential is Unauthorized and final: asking again gets the
		// same answer. No answer from it (network, 5xx) may pass, and nothing reached Dataverse
		// yet, so any call may retry.
		var afe *azidentity.AuthenticationFailedError
		if errors.As(err, &afe) && afe.RawResponse != nil && afe.RawResponse.StatusCode < 500 {
			return false, 0, &Error{Operation: c.op, Method: c.method, URL: c.url, StatusCode: afe.RawResponse.StatusCode,
				Message: "the login host refused the credential: " + err.Error(), kind: ErrUnauthorized}
		}
		if ctx.Err() != nil {
			return false, 0, fmt.Errorf("dataverse %s: getting a token: %w", c.op, ctx.Err())
		}
		return true, 0, fmt.Errorf("dataverse %s: getting a token: %w", c.op, err)
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, c.method, c.url, body)
	if err != nil {
		return false, 0, fmt.Errorf("dataverse %s: %w", c.op, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-MaxVersion", "4.0")
	req.Header.Set("OData-Version", "4.0")
	req.Header.Set("User-Agent", "dataverse-access-operator")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if c.ifMatch != "" {
		req.Header.Set("If-Match", c.ifMatch)
	}
	if c.prefer != "" {
		req.Header.Set("Prefer", c.prefer)
	}

	// sent says whether any of the request left the client: before that, nothing can have been
	// done and any call may be retried.
	var sent atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(actx, &httptrace.ClientTrace{WroteHeaders: func() { sent.Store(true) }}))

	start := time.Now()
	resp, err := t.conn.http.Do(req)
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
	}
	t.conn.metrics.latency.WithLabelValues(t.label, c.op).Observe(time.Since(start).Seconds())
	if err != nil {
		t.conn.metrics.requests.WithLabelValues(t.label, c.op, "error").Inc()
		lost := !c.idempotent && sent.Load()
		if ctx.Err() != nil {
			if lost {
				return false, 0, fmt.Errorf("dataverse %s: %s %s: %w (%w)", c.op, c.method, redactURL(req), ctx.Err(), ErrAnswerLost)
			}
			return false, 0, fmt.Errorf("dataverse %s: %s %s: %w", c.op, c.method, redactURL(req), ctx.Err())
		}
		if lost {
			return false, 0, fmt.Errorf("dataverse %s: %s %s: no answer: %w (%w)", c.op, c.method, redactURL(req), err, ErrAnswerLost)
		}
		if !sent.Load() {
			return true, 0, fmt.Errorf("dataverse %s: %s %s: not sent: %w", c.op, c.method, redactURL(req), err)
		}
		return true, 0, fmt.Errorf("dataverse %s: %s %s: no answer: %w", c.op, c.method, redactURL(req), err)
	}
	t.conn.metrics.requests.WithLabelValues(t.label, c.op, strconv.Itoa(resp.StatusCode)).Inc()
	if c.header != nil {
		for k, v := range resp.Header {
			c.header[k] = v
		}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if c.out != nil && len(bytes.TrimSpace(data)) > 0 {
			if err := json.Unmarshal(data, c.out); err != nil {
				return false, 0, fmt.Errorf("dataverse %s: decode answer: %w", c.op, err)
			}
		}
		return false, 0, nil
	}
	e := decodeError(c.op, req, resp, data, t.conn.opts.Clock.Now())
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		t.conn.metrics.throttled.WithLabelValues(t.label, e.Code).Inc()
		t.lim.penalize(e.RetryAfter)
		return true, e.RetryAfter, e
	case resp.StatusCode >= 500:
		if !c.idempotent {
			return false, 0, fmt.Errorf("%w (%w)", e, ErrAnswerLost)
		}
		return true, e.RetryAfter, e
	}
	return false, 0, e
}

// rateLimited is the error of a request the operator's own limiter held back: nothing was sent.
func (t transport) rateLimited(c *call, over *overLimit) *Error {
	e := &Error{Operation: c.op, Method: c.method, URL: c.url, RetryAfter: over.wait, kind: ErrRateLimited}
	if u, err := url.Parse(c.url); err == nil {
		u.RawQuery = ""
		e.URL = u.String()
	}
	o := t.conn.opts
	if over.slot {
		e.Message = fmt.Sprintf("not sent: the operator's own cap of %d requests in flight to %s was reached for %s (--dataverse-max-concurrent; --dataverse-max-wait); the service did not throttle", o.MaxConcurrent, t.host, over.wait)
	} else {
		e.Message = fmt.Sprintf("not sent: the operator's own rate limit for %s is spent (--dataverse-requests-per-minute %d, or a Retry-After the service sent earlier), and the next token is due later than the client may wait (--dataverse-max-wait); the service did not throttle", t.host, o.RequestsPerMinute)
	}
	return e
}

// page is one answer of a collection query.
type page[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"@odata.nextLink"`
}

// list reads every page of a collection, following @odata.nextLink only (the service does not
// support $skip) with Prefer: odata.maxpagesize on every request.
func list[T any](ctx context.Context, t transport, op, first string, pageSize int) ([]T, error) {
	var all []T
	next := first
	for pages := 0; next != ""; pages++ {
		if pages > 100000 {
			return nil, fmt.Errorf("dataverse %s: more than 100000 pages; the service keeps sending nextLinks", op)
		}
		var p page[T]
		c := &call{op: op, method: http.MethodGet, url: next, idempotent: true, out: &p,
			prefer: "odata.maxpagesize=" + strconv.Itoa(pageSize)}
		if err := t.do(ctx, c); err != nil {
			return nil, err
		}
		all = append(all, p.Value...)
		next = p.NextLink
	}
	return all, nil
}

// entityID reads the id from an OData-EntityId header: <url>/api/data/v9.2/roles(<id>).
func entityID(h http.Header) (string, error) {
	v := h.Get("OData-EntityId")
	i, j := strings.LastIndexByte(v, '('), strings.LastIndexByte(v, ')')
	if i < 0 || j < i {
		return "", fmt.Errorf("no id in OData-EntityId %q", v)
	}
	return v[i+1 : j], nil
}

// create POSTs body to an entity set and returns the new record's id from OData-EntityId. A create
// is not resent after an unknown outcome (ErrAnswerLost): the caller looks the record up by its
// natural key (name and business unit, application id) first.
func (cl *Client) create(ctx context.Context, op, set string, body any) (string, error) {
	h := http.Header{}
	c := &call{op: op, method: http.MethodPost, url: cl.api + set, body: body, header: h}
	if err := cl.transport().do(ctx, c); err != nil {
		return "", err
	}
	id, err := entityID(h)
	if err != nil {
		return "", fmt.Errorf("dataverse %s: %w", op, err)
	}
	return id, nil
}

// query builds <api><path>?<params> with OData's own escaping: spaces as %20, quotes kept.
func (cl *Client) query(path string, params ...string) string {
	if len(params) == 0 {
		return cl.api + path
	}
	var b strings.Builder
	b.WriteString(cl.api)
	b.WriteString(path)
	for i := 0; i+1 < len(params); i += 2 {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(params[i])
		b.WriteByte('=')
		b.WriteString(escapeQuery(params[i+1]))
	}
	return b.String()
}

func escapeQuery(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// QuoteString makes an OData string literal (single quotes doubled), for ListUsers filters built
// from names.
func QuoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func quote(s string) string { return QuoteString(s) }
