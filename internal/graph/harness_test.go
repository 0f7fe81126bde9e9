package graph_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/accessplane/dataverse-access-operator/internal/graph"
	"github.com/accessplane/dataverse-access-operator/internal/webapi/webapitest"
)

const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

// sent is one request the fake Graph received.
type sent struct {
	Method string
	URI    string // as on the wire: path and query, escaped
	Body   string
}

// fakeGraph is an httptest TLS server under <url>/v1.0 whose answers each test writes (handle),
// logging every request. Nothing contacts Microsoft.
type fakeGraph struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	log    []sent
	handle http.HandlerFunc
}

type rig struct {
	g     *fakeGraph
	clock *webapitest.Clock
	cred  *webapitest.Cred
	reg   *prometheus.Registry
	conn  *graph.Connector
	cl    *graph.Client
}

func newRig(t *testing.T, tune func(*graph.Options), handle http.HandlerFunc) *rig {
	t.Helper()
	g := &fakeGraph{t: t, handle: handle}
	g.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.log = append(g.log, sent{Method: r.Method, URI: r.RequestURI, Body: string(body)})
		h := g.handle
		g.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		h(w, r)
	}))
	t.Cleanup(g.srv.Close)
	r := &rig{g: g, clock: webapitest.NewClock(), cred: &webapitest.Cred{Token: "graph-token"}, reg: prometheus.NewRegistry()}
	opts := graph.DefaultOptions()
	opts.URL = g.srv.URL + "/v1.0"
	opts.Clock = r.clock
	opts.Timeout = 5 * time.Second
	if tune != nil {
		tune(&opts)
	}
	var err error
	if r.conn, err = graph.NewConnector(opts, g.srv.Client(), r.reg); err != nil {
		t.Fatal(err)
	}
	if r.cl, err = r.conn.Tenant(tenant, r.cred); err != nil {
		t.Fatal(err)
	}
	return r
}

// setHandler changes the fake's answers.
func (g *fakeGraph) setHandler(h http.HandlerFunc) { g.mu.Lock(); g.handle = h; g.mu.Unlock() }

// requests returns the log and clears it.
func (g *fakeGraph) requests() []sent {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.log
	g.log = nil
	return l
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// graphError answers Graph's error shape.
func graphError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": message,
		"innerError": map[string]string{"date": "2026-01-01T12:00:00", "request-id": "req-1", "client-request-id": "req-1"}}})
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter) {
	c, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		c.Close()
	}
}

// must is v, or a panic (which fails the test) for err.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// expectMetrics compares the named metrics of the registry with their text exposition.
func (r *rig) expectMetrics(t *testing.T, exposition string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(r.reg, strings.NewReader(exposition), names...); err != nil {
		t.Fatal(err)
	}
}
