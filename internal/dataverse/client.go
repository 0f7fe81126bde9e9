package dataverse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/accessplane/dataverse-access-operator/internal/webapi"
)

// APIPath is the Web API's root under an environment URL.
const APIPath = "/api/data/v9.2/"

// service is what the shared transport (internal/webapi) needs to know of Dataverse: its errors,
// its OData headers and its metric names.
var service = webapi.Service{
	Name:       "dataverse",
	FlagPrefix: "dataverse",
	Header: http.Header{
		http.CanonicalHeaderKey("OData-MaxVersion"): {"4.0"},
		http.CanonicalHeaderKey("OData-Version"):    {"4.0"},
	},
	Error:      decodeError,
	AnswerLost: ErrAnswerLost,
	Metrics: webapi.MetricNames{
		Prefix:        "dataverse",
		Label:         "environment",
		RequestsHelp:  "Dataverse Web API and admin API requests by environment, operation and HTTP status code (\"error\" when no answer came).",
		LatencyHelp:   "Latency of one attempt of a Dataverse request, by environment and operation.",
		ThrottledHelp: "Answers 429 (service protection limits) by environment and service error code.",
		RetriesHelp:   "Dataverse requests retried, by environment and operation.",
		WaitHelp:      "Time a request waited in the client-side rate limiter (budget, rate, slots), by environment.",
	},
	Signals: signals,
}

// signals reads the service-protection headers of an answer (Microsoft Learn, "Service protection
// API limits" and the Web API parallel-operations sample): x-ms-ratelimit-burst-remaining-xrm-
// requests, the requests the app registration may still send in the window on that web server;
// x-ms-ratelimit-time-remaining-xrm-requests, the execution time left (seconds, written like
// "1,199.95"); x-ms-dop-hint, the recommended number of requests in flight. With under a minute of
// execution time left (of 20), the window counts as spent whatever requests remain.
func signals(h http.Header) webapi.Signals {
	num := func(k string) (float64, bool) {
		v := strings.ReplaceAll(strings.TrimSpace(h.Get(k)), ",", "")
		if v == "" {
			return 0, false
		}
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil && f >= 0
	}
	var s webapi.Signals
	if n, ok := num("x-ms-ratelimit-burst-remaining-xrm-requests"); ok {
		s.RequestsLeft, s.Known = int(n), true
	}
	if secs, ok := num("x-ms-ratelimit-time-remaining-xrm-requests"); ok && secs < 60 {
		s.RequestsLeft, s.Known = 0, true
	}
	if n, ok := num("x-ms-dop-hint"); ok && n >= 1 {
		s.Parallelism = int(n)
	}
	return s
}

// Connector holds what every environment's client shares: options, the HTTP client, metrics and a
// limiter per environment. Make one per manager and ask it for a Client per environment.
type Connector struct {
	opts   Options
	engine *webapi.Engine
}

// NewConnector validates opts and registers the metrics on reg (nil: not registered). httpClient
// nil means NewHTTPClient(), which honours HTTPS_PROXY/NO_PROXY and SSL_CERT_FILE.
func NewConnector(opts Options, httpClient *http.Client, reg prometheus.Registerer) (*Connector, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	e, err := webapi.NewEngine(service, opts.limits(), httpClient, reg)
	if err != nil {
		return nil, err
	}
	return &Connector{opts: opts, engine: e}, nil
}

// Options returns the options in effect.
func (c *Connector) Options() Options { return c.opts }

// Forget drops what the connector keeps for an environment no longer synced — its limiter and
// its metric series — so a manager that sees environments come and go does not grow. A client
// still held for it keeps working with the limiter it has.
func (cl *Client) Forget() { cl.conn.engine.Forget(strings.ToLower(cl.base), cl.label) }

// Limiters is how many environments the connector keeps a limiter for.
func (c *Connector) Limiters() int { return c.engine.Limiters() }

// Client talks to one Dataverse environment with one identity.
type Client struct {
	conn  *Connector
	base  string // environment URL, no trailing slash
	api   string // base + APIPath
	t     *webapi.Transport
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
	host := strings.ToLower(u.Host)
	label := strings.ToLower(u.Host + strings.TrimRight(u.Path, "/"))
	return &Client{
		conn:  c,
		base:  base,
		api:   base + APIPath,
		label: label,
		t: c.engine.Transport(webapi.Endpoint{Key: strings.ToLower(base), Label: label, Name: host, Host: host,
			Scope: base + "/.default", Cred: cred}),
	}, nil
}

// URL is the environment URL the client was made for.
func (cl *Client) URL() string { return cl.base }

// Which calls are idempotent (webapi.Call.Idempotent), for the record: GETs; PATCH with If-Match
// (a resend sets the same values; with a record's ETag the resend may answer 412, which the
// caller's re-read resolves); DELETE (a resend answers 404); ReplacePrivilegesRole (replaces the
// whole set); AddMembersTeam and RemoveMembersTeam (membership is a set: adding a member twice or
// removing an absent one changes nothing). Not idempotent: creates (a resend makes a second
// record, or answers a duplicate), $ref associations (a resend answers a duplicate) and the admin
// API's addUser (a resend is harmless in effect, but the operator's contract is to look the user
// up first).

// list reads every page of a collection, following @odata.nextLink only (the service does not
// support $skip) with Prefer: odata.maxpagesize on every request.
func list[T any](ctx context.Context, cl *Client, op, first string) ([]T, error) {
	return webapi.List[T](ctx, cl.t, op, first, http.Header{"Prefer": {"odata.maxpagesize=" + strconv.Itoa(cl.conn.opts.PageSize)}})
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
	c := &webapi.Call{Op: op, Method: http.MethodPost, URL: cl.api + set, Body: body, Answer: h}
	if err := cl.t.Do(ctx, c); err != nil {
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
	return webapi.Query(cl.api, path, params...)
}

// QuoteString makes an OData string literal (single quotes doubled), for ListUsers filters built
// from names.
func QuoteString(s string) string { return webapi.QuoteString(s) }

func quote(s string) string { return QuoteString(s) }
