package graph

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/accessplane/dataverse-access-operator/internal/webapi"
)

// service is what the shared transport (internal/webapi) needs to know of Graph.
var service = webapi.Service{
	Name:       "graph",
	FlagPrefix: "graph",
	Error:      decodeError,
	AnswerLost: ErrAnswerLost,
	Metrics: webapi.MetricNames{
		Prefix:        "graph",
		Label:         "tenant",
		RequestsHelp:  "Microsoft Graph requests by tenant, operation and HTTP status code (\"error\" when no answer came); a $batch is one request.",
		LatencyHelp:   "Latency of one attempt of a Microsoft Graph request, by tenant and operation.",
		ThrottledHelp: "Answers 429 from Microsoft Graph, a $batch's sub-requests included, by tenant and Graph error code.",
		RetriesHelp:   "Microsoft Graph requests (or a $batch's throttled sub-requests) retried, by tenant and operation.",
		WaitHelp:      "Time a Graph request waited in the client-side rate limiter, by tenant.",
	},
}

// Connector holds what every tenant's client shares: options, the HTTP client, metrics and a
// limiter per tenant. Make one per manager and ask it for a Client per tenant.
type Connector struct {
	opts   Options
	base   *url.URL
	engine *webapi.Engine
}

// NewConnector validates opts and registers the metrics on reg (nil: not registered). httpClient
// nil means webapi.NewHTTPClient(), which honours HTTPS_PROXY/NO_PROXY and SSL_CERT_FILE.
func NewConnector(opts Options, httpClient *http.Client, reg prometheus.Registerer) (*Connector, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	base, err := parseBase(opts.URL)
	if err != nil {
		return nil, err
	}
	opts.Limits = opts.Limits.WithDefaults()
	e, err := webapi.NewEngine(service, opts.Limits, httpClient, reg)
	if err != nil {
		return nil, err
	}
	return &Connector{opts: opts, base: base, engine: e}, nil
}

// Options returns the options in effect.
func (c *Connector) Options() Options { return c.opts }

// Limiters is how many tenants the connector keeps a limiter for.
func (c *Connector) Limiters() int { return c.engine.Limiters() }

// Client talks to Graph for one tenant with one identity (an app registration's application
// permissions).
type Client struct {
	conn   *Connector
	base   string // Graph's base URL, no trailing slash
	tenant string // lowercase
	t      *webapi.Transport
}

// Tenant returns a client for the tenant (its id or a verified domain, as the credential's), with
// tokens from cred for Scope. Clients of one tenant share its limiter.
func (c *Connector) Tenant(tenantID string, cred azcore.TokenCredential) (*Client, error) {
	tenant := strings.ToLower(strings.TrimSpace(tenantID))
	if tenant == "" || strings.ContainsAny(tenant, "/?# ") {
		return nil, fmt.Errorf("graph: bad tenant %q", tenantID)
	}
	if cred == nil {
		return nil, errors.New("graph: no credential")
	}
	host := strings.ToLower(c.base.Host)
	return &Client{
		conn:   c,
		base:   c.base.String(),
		tenant: tenant,
		t: c.engine.Transport(webapi.Endpoint{Key: tenant, Label: tenant, Name: "tenant " + tenant, Host: host,
			Scope: Scope, Cred: cred}),
	}, nil
}

// Tenant is the tenant the client was made for (lowercase).
func (cl *Client) Tenant() string { return cl.tenant }

// Forget drops what the connector keeps for a tenant no longer synced — its limiter and its
// metric series. A client still held for it keeps working with the limiter it has.
func (cl *Client) Forget() { cl.conn.engine.Forget(cl.tenant, cl.tenant) }

// checkIDs refuses anything but GUIDs where an object id goes into a URL or a body.
func checkIDs(op string, ids ...string) error { return webapi.CheckGUIDs("graph", op, ids...) }

// userPath is the path of one user by object id or user principal name ("Get a user"):
//   - /users/{id} for an object id;
//   - /users/{upn}, path-escaped: '#' (in a B2B guest's UPN, adele_adatum.com#EXT#@contoso.com)
//     must be %23 ("To query a B2B user using the userPrincipalName, encode the hash (#)
//     character"), '/' %2F, '%' %25, so the UPN stays one path segment;
//   - /users('{upn}') for a UPN starting with '$': "/users/$x@y.com fails with a 400 Bad Request
//     … because this request URL violates the OData URL convention, which expects only system
//     query options to be prefixed with a $ character. Remove the slash (/) after /users and
//     enclose the userPrincipalName in parentheses and single quotes" (quotes in it doubled, as
//     in any OData string literal).
//
// (Microsoft Graph v1.0 reference, "Get a user", HTTP request's tips.)
func userPath(op, idOrUPN string) (string, error) {
	s := strings.TrimSpace(idOrUPN)
	switch {
	case s == "":
		return "", fmt.Errorf("graph %s: no user id or user principal name", op)
	case webapi.IsGUID(s):
		return "/users/" + s, nil
	case strings.HasPrefix(s, "$"):
		return "/users('" + url.PathEscape(strings.ReplaceAll(s, "'", "''")) + "')", nil
	}
	return "/users/" + url.PathEscape(s), nil
}

// memberRef is the URL of the reference that makes userID a member of groupID:
// /groups/{id}/members/{userId}/$ref. It is the only URL the client builds below a group's
// members for one member: without /$ref, DELETE on it deletes the user itself when the caller
// holds User.ReadWrite.All ("Remove member": "If /$ref is not appended to the request and the
// calling app has permissions to manage the member object type, the member object will also be
// deleted").
func (cl *Client) memberRef(groupID, userID string) string {
	return cl.base + "/groups/" + groupID + "/members/" + userID + "/$ref"
}

// membersRef is the URL a member is added at: POST /groups/{id}/members/$ref ("Add members").
func (cl *Client) membersRef(groupID string) string {
	return cl.base + "/groups/" + groupID + "/members/$ref"
}

// directoryObject is the @odata.id of a member to add: <base>/directoryObjects/{id} ("Add members").
func (cl *Client) directoryObject(id string) string { return cl.base + "/directoryObjects/" + id }
