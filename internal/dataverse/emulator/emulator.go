// Package emulator is an in-memory stand-in for the Dataverse Web API, the Power Platform admin
// API's addUser, the Entra ID token endpoint and Microsoft Graph over one emulated Entra ID
// tenant, for tests, the demo and the benchmark. It follows the services' documented behaviour
// (docs/design.md, "Sync target" and "Entra ID target"; the conformance tests cite each fact) and
// can misbehave on purpose: throttling, 5xx, latency, dropped connections (before or after doing
// the request), a 5xx after doing it, edits behind the operator's back.
//
// Environments live under path prefixes: https://<host>/env/<name> is an environment URL, so an
// out-of-process manager needs only that URL. The admin API is at https://<host>/providers/…,
// Graph at https://<host>/graph/v1.0 (a manager's --graph-url), the login host at
// https://<host>/<tenant>/…, and the emulator's own controls at /_emulator/.
//
// The tenant directory (people, groups, subscribed SKUs; directory.go) is shared by every
// environment. Each environment's Dataverse follows it as the service does: a person's isdisabled
// and islicensed come from Entra ID at addUser and at the background sync (entrasync.go).
package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// OperatorApplicationID is the client id the emulator seeds an application user for in every
// environment (with System Administrator), so a manager authenticating with it is let in.
const OperatorApplicationID = "5e1c7a3b-0d2f-4c8e-9a61-2b7d4f0e8c11"

// EnvironmentConfig describes one emulated environment.
type EnvironmentConfig struct {
	Name             string // path segment: /env/<Name>
	EnvironmentID    string // the admin API's environment id (default: derived from Name)
	OrganizationName string // the root business unit's name (default: Name)
	// AllowRoleAssignmentOnDisabledUsers mirrors the environment setting (EN6).
	AllowRoleAssignmentOnDisabledUsers bool
	// EntraSyncDelay, when positive, is this environment's delay between addUser and the user's
	// arrival in systemusers, instead of Config.EntraSyncDelay (tests that wait for one user).
	EntraSyncDelay time.Duration
	// SecurityGroupID is the object id of the environment's security group in the tenant
	// directory: only its direct members are enabled in Dataverse ("": no security group).
	SecurityGroupID string
	// UntrackedTables are the tables (logical names: systemuser, team, role) whose
	// ChangeTrackingEnabled is false: their lists refuse Prefer: odata.track-changes. Every other
	// table the emulator serves has change tracking on.
	UntrackedTables []string
}

// Config configures an Emulator.
type Config struct {
	Environments []EnvironmentConfig
	// StaticTokens are bearer tokens accepted for every API without asking the token endpoint;
	// they act as the operator's application user. Tests use them with a static credential.
	StaticTokens []string
	// ClientSecrets, when not empty, are the only client id/secret pairs the token endpoint
	// accepts; empty accepts any (client assertions are always accepted).
	ClientSecrets map[string]string
	// EntraSyncDelay is how long after addUser the user appears in systemusers.
	EntraSyncDelay time.Duration
	// EntraSyncInterval, when positive, is the period of Dataverse's background sync from Entra
	// ID: every record of a person in the tenant directory gets its isdisabled, islicensed and
	// profile again (0: only at addUser and on an explicit SyncEntra).
	EntraSyncInterval time.Duration
	// Directory seeds the tenant directory (New panics if it is not valid; SeedDirectory returns
	// the error instead).
	Directory *DirectorySeed
	// AppPermissions gives app registrations (client ids; OperatorApplicationID for the static
	// tokens) their Graph application permissions instead of DefaultGraphPermissions.
	AppPermissions map[string][]string
	// GraphLimits switches on Graph's write limit.
	GraphLimits GraphLimits
	// Now is the clock for sync delays and limit windows (nil: time.Now).
	Now func() time.Time
	// Random misbehaviour for demos and the benchmark (0 disables each).
	Latency      time.Duration
	FailRate     float64 // fraction answered 503
	ThrottleRate float64 // fraction answered 429 0x80072322
	DropRate     float64 // fraction whose connection is closed without an answer
	Limits       Limits
	// MaxLog bounds the request log (default 100000).
	MaxLog int
}

// Limits switches on the service protection limits (per environment and caller).
type Limits struct {
	Enforce           bool `json:"enforce"`
	RequestsPerWindow int  `json:"requestsPerWindow"` // default 6000
	WindowSeconds     int  `json:"windowSeconds"`     // default 300
	MaxConcurrent     int  `json:"maxConcurrent"`     // default 52
	// ExecutionSeconds is the serving time allowed per window (default 1200: 20 minutes).
	ExecutionSeconds float64 `json:"executionSeconds"`
	// DopHint, when above 0, is sent as x-ms-dop-hint (the recommended requests in flight) on
	// every answer.
	DopHint int `json:"dopHint,omitempty"`
}

// Fault is a misbehaviour for the next Count requests that match it. Queue one with AddFault or
// POST /_emulator/faults (the JSON below), e.g. a create that is made and then answered 502, as a
// gateway does when the service committed but answered late (Graph requests match too, each request
// inside a $batch on its own; their Environment is GraphEnvironment, their path the one after
// /graph/v1.0/, and the answer Graph's error shape):
//
//	{"method":"POST","pathContains":"roles","status":502,"after":true}
//
// or made and then left without an answer: {"method":"POST","pathContains":"$ref","dropAfter":true}.
type Fault struct {
	Environment  string `json:"environment,omitempty"`  // empty: any; GraphEnvironment: Graph only
	Method       string `json:"method,omitempty"`       // empty: any
	PathContains string `json:"pathContains,omitempty"` // substring of the path after the API root
	Count        int    `json:"count,omitempty"`        // default 1
	// One of:
	Status     int           `json:"status,omitempty"` // answer this status with Code and Message
	Code       string        `json:"code,omitempty"`
	Message    string        `json:"message,omitempty"`
	RetryAfter int           `json:"retryAfterSeconds,omitempty"`
	Drop       bool          `json:"drop,omitempty"`      // close the connection without an answer
	DropAfter  bool          `json:"dropAfter,omitempty"` // do the request, then close without an answer (Drop with After)
	Latency    time.Duration `json:"latency,omitempty"`   // delay, then serve normally
	// After, with Status or Drop: do the request first (a create is made, an association
	// recorded), then answer Status instead of the request's own answer, or close the connection.
	// Without it, Status and Drop are answered before anything is done. The log's Applied keeps
	// the request's own status. After with Latency alone: do the request, then hold its own
	// answer for Latency (the change is made and visible while the client still waits).
	After bool `json:"after,omitempty"`
}

// applies says whether the fault lets the request be done and replaces its answer.
func (f *Fault) applies() bool { return f.DropAfter || (f.After && (f.Drop || f.Status != 0)) }

// holdsAnswer says whether the fault lets the request be done and delays its own answer.
func (f *Fault) holdsAnswer() bool {
	return f != nil && f.After && f.Latency > 0 && !f.Drop && !f.DropAfter && f.Status == 0
}

// LoggedRequest is one entry of the request log.
type LoggedRequest struct {
	Time        time.Time `json:"time"`
	Environment string    `json:"environment,omitempty"`
	Method      string    `json:"method"`
	Path        string    `json:"path"`
	Status      int       `json:"status"` // 0: not answered yet; negative: dropped (-1 before, -status after doing the request)
	// Applied: for a fault with After (or DropAfter), the status of the request the emulator did
	// before it answered the fault's Status or dropped the connection; 0 otherwise.
	Applied int `json:"applied,omitempty"`
	// BatchID is the id of a request inside a Graph $batch (logged on its own, after the $batch).
	BatchID string `json:"batchId,omitempty"`
}

type token struct {
	scope    string
	clientID string
	expires  time.Time
}

// Emulator is the http.Handler.
type Emulator struct {
	cfg Config

	mu     sync.Mutex
	envs   map[string]*environment // by lower-case name
	byID   map[string]*environment // by environment id
	tokens map[string]token
	faults []*Fault
	log    []*LoggedRequest
	dir    *directory
}

// New builds an emulator; with no environment configured it has one named "contoso".
func New(cfg Config) *Emulator {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxLog <= 0 {
		cfg.MaxLog = 100000
	}
	if len(cfg.Environments) == 0 {
		cfg.Environments = []EnvironmentConfig{{Name: "contoso"}}
	}
	e := &Emulator{cfg: cfg, envs: map[string]*environment{}, byID: map[string]*environment{}, tokens: map[string]token{}, dir: newDirectory()}
	if cfg.Directory != nil {
		if err := e.dir.seed(*cfg.Directory); err != nil {
			panic("emulator: Config.Directory: " + err.Error())
		}
	}
	for c, p := range cfg.AppPermissions {
		e.dir.perms[strings.ToLower(c)] = append([]string{}, p...)
	}
	for _, ec := range cfg.Environments {
		e.AddEnvironment(ec)
	}
	return e
}

// AddEnvironment adds (or resets) an environment.
func (e *Emulator) AddEnvironment(ec EnvironmentConfig) {
	if ec.EnvironmentID == "" {
		ec.EnvironmentID = nameGUID("environment/" + strings.ToLower(ec.Name))
	}
	if ec.OrganizationName == "" {
		ec.OrganizationName = ec.Name
	}
	now := e.cfg.Now()
	env := newEnvironment(ec, now, OperatorApplicationID)
	env.securityGroup = strings.ToLower(ec.SecurityGroupID)
	env.nextEntraSync = now.Add(e.cfg.EntraSyncInterval)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.envs[strings.ToLower(ec.Name)] = env
	e.byID[strings.ToLower(ec.EnvironmentID)] = env
}

// EnvironmentID returns the admin API id of an environment.
func (e *Emulator) EnvironmentID(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if env := e.envs[strings.ToLower(name)]; env != nil {
		return env.envID
	}
	return ""
}

// ServeHTTP routes to the login host, the admin API, Dataverse or the emulator's controls.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/_emulator/"):
		e.serveControl(w, r)
	case strings.HasPrefix(p, "/env/"):
		e.serveAPI(w, r)
	case strings.HasPrefix(p, "/providers/Microsoft.BusinessAppPlatform/"):
		e.serveAPI(w, r)
	case strings.HasPrefix(p, graphPrefix):
		e.serveGraph(w, r)
	case p == "/common/discovery/instance":
		e.serveInstanceDiscovery(w, r)
	case strings.HasSuffix(p, "/v2.0/.well-known/openid-configuration"):
		e.serveOpenIDConfiguration(w, r)
	case strings.HasSuffix(p, "/oauth2/v2.0/token"):
		e.serveToken(w, r)
	default:
		http.NotFound(w, r)
	}
}

// statusRecorder remembers the status for the log and can hold the answer back for DropAfter.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(c int) {
	if s.status == 0 {
		s.status = c
	}
	s.ResponseWriter.WriteHeader(c)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(c int)           { d.status = c }

// held keeps an answer to be sent later (a fault's After with Latency).
type held struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (d *held) Header() http.Header         { return d.h }
func (d *held) Write(b []byte) (int, error) { return d.body.Write(b) }
func (d *held) WriteHeader(c int) {
	if d.status == 0 {
		d.status = c
	}
}

// sendTo writes the kept answer to w.
func (d *held) sendTo(w http.ResponseWriter) {
	maps.Copy(w.Header(), d.h)
	if d.status != 0 {
		w.WriteHeader(d.status)
	}
	w.Write(d.body.Bytes())
}

// serveAPI applies auth, faults, limits and the log around Dataverse and the admin API.
func (e *Emulator) serveAPI(w http.ResponseWriter, r *http.Request) {
	envName, rest, admin := splitAPIPath(r.URL.Path)
	rec := &statusRecorder{ResponseWriter: w}
	// Logged on arrival, in arrival order; the status is filled in when the answer is decided,
	// and before a dropped connection is closed, so a client that saw the failure finds it.
	path := r.URL.Path
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	entry := &LoggedRequest{Time: e.cfg.Now(), Environment: envName, Method: r.Method, Path: path}
	e.mu.Lock()
	if len(e.log) >= e.cfg.MaxLog {
		e.log = e.log[1:]
	}
	e.log = append(e.log, entry)
	e.mu.Unlock()
	logIt := func() {
		e.mu.Lock()
		entry.Status = rec.status
		e.mu.Unlock()
	}
	defer logIt()

	f := e.takeFault(envName, r.Method, rest)
	if f == nil {
		f = e.randomFault()
	}
	if f != nil && !f.applies() {
		switch {
		case f.Drop:
			rec.status = -1
			logIt()
			dropConnection(w)
			return
		case f.Status != 0:
			if f.RetryAfter > 0 {
				w.Header().Set("Retry-After", fmt.Sprint(f.RetryAfter))
			}
			writeError(rec, f.Status, f.Code, f.Message)
			return
		}
	}
	tok, ok := e.authenticate(r)
	if !ok {
		// The service answers 401 with an empty body and a challenge naming the login host.
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri=https://`+r.Host+`/common/oauth2/authorize`)
		rec.WriteHeader(http.StatusUnauthorized)
		return
	}

	var env *environment
	e.mu.Lock()
	if admin {
		env = e.byID[strings.ToLower(envName)]
	} else {
		env = e.envs[strings.ToLower(envName)]
	}
	e.mu.Unlock()
	if env == nil {
		writeError(rec, http.StatusNotFound, "", "no environment "+envName)
		return
	}
	if !admin && !strings.EqualFold(strings.TrimSuffix(tok.scope, "/.default"), "https://"+r.Host+"/env/"+envName) && tok.scope != "*" {
		writeError(rec, http.StatusUnauthorized, "", "token audience "+tok.scope+" is not this environment")
		return
	}
	if admin && tok.scope != "*" && tok.scope != "https://service.powerapps.com/.default" {
		writeError(rec, http.StatusUnauthorized, "", "token audience "+tok.scope+" is not the admin API")
		return
	}
	release, retry, code, ok := e.admit(env)
	e.rateLimitHeaders(w.Header(), env)
	if !ok {
		w.Header().Set("Retry-After", fmt.Sprint(retry))
		writeError(rec, http.StatusTooManyRequests, code, "Number of requests exceeded the limit of the service protection API limits.")
		return
	}
	defer release()
	// Latency is spent holding a concurrency slot, as a slow request does on the service.
	if d := e.cfg.Latency; d > 0 {
		time.Sleep(d)
	}
	if f != nil && f.Latency > 0 && !f.holdsAnswer() {
		time.Sleep(f.Latency)
	}

	var out http.ResponseWriter = rec
	var replaced *discard
	var kept *held
	switch {
	case f != nil && f.applies():
		replaced = &discard{h: http.Header{}}
		out = replaced
	case f.holdsAnswer():
		kept = &held{h: http.Header{}}
		out = kept
	}
	if admin {
		e.serveAdminAPI(out, r, env, rest)
	} else {
		e.serveDataverse(out, r, env, rest, tok)
	}
	if kept != nil {
		time.Sleep(f.Latency)
		kept.sendTo(rec)
		return
	}
	if replaced == nil {
		return
	}
	// The request was done; its answer is replaced.
	applied := replaced.status
	if applied == 0 {
		applied = http.StatusOK
	}
	e.mu.Lock()
	entry.Applied = applied
	e.mu.Unlock()
	if f.Drop || f.DropAfter {
		rec.status = -applied
		logIt()
		dropConnection(w)
		return
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(f.RetryAfter))
	}
	writeError(rec, f.Status, f.Code, f.Message)
}

// splitAPIPath: /env/<name>/api/data/v9.2/<rest> or the admin API's
// /providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/<id>/<rest>.
func splitAPIPath(p string) (env, rest string, admin bool) {
	if s, ok := strings.CutPrefix(p, "/env/"); ok {
		name, tail, _ := strings.Cut(s, "/")
		return name, strings.TrimPrefix(tail, "api/data/v9.2/"), false
	}
	s := strings.TrimPrefix(p, "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/")
	id, tail, _ := strings.Cut(s, "/")
	return id, tail, true
}

func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
			return
		}
	}
	// HTTP/2 cannot hijack: abort the stream instead.
	panic(http.ErrAbortHandler)
}

func (e *Emulator) takeFault(env, method, path string) *Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, f := range e.faults {
		if (f.Environment == "" || strings.EqualFold(f.Environment, env)) &&
			(f.Method == "" || strings.EqualFold(f.Method, method)) &&
			(f.PathContains == "" || strings.Contains(path, f.PathContains)) {
			f.Count--
			if f.Count <= 0 {
				e.faults = append(e.faults[:i:i], e.faults[i+1:]...)
			}
			return f
		}
	}
	return nil
}

func (e *Emulator) randomFault() *Fault {
	c := e.cfg
	switch x := rand.Float64(); {
	case x < c.DropRate:
		return &Fault{Drop: true}
	case x < c.DropRate+c.FailRate:
		return &Fault{Status: http.StatusServiceUnavailable, Code: "0x80040216", Message: "An unexpected error occurred."}
	case x < c.DropRate+c.FailRate+c.ThrottleRate:
		return &Fault{Status: http.StatusTooManyRequests, Code: "0x80072322", RetryAfter: 1,
			Message: "Number of requests exceeded the limit of 6000 over time window of 300 seconds."}
	}
	return nil
}

// admit applies the service protection limits when switched on: requests in the window, time
// spent serving in the window, then requests in flight (Microsoft Learn, "Service protection API
// limits").
func (e *Emulator) admit(env *environment) (release func(), retryAfter int, code string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.cfg.Limits
	if !l.Enforce {
		return func() {}, 0, "", true
	}
	per, window, conc := l.RequestsPerWindow, time.Duration(l.WindowSeconds)*time.Second, l.MaxConcurrent
	if per <= 0 {
		per = 6000
	}
	if window <= 0 {
		window = 5 * time.Minute
	}
	if conc <= 0 {
		conc = 52
	}
	now := e.cfg.Now()
	cut := 0
	for cut < len(env.recent) && now.Sub(env.recent[cut]) >= window {
		cut++
	}
	env.recent = env.recent[cut:]
	if len(env.recent) >= per {
		wait := window - now.Sub(env.recent[0])
		return nil, int(math.Ceil(wait.Seconds())), "0x80072322", false
	}
	exec := l.ExecutionSeconds
	if exec <= 0 {
		exec = 1200
	}
	cut = 0
	for cut < len(env.busy) && now.Sub(env.busy[cut].at) >= window {
		cut++
	}
	env.busy = env.busy[cut:]
	var spent time.Duration
	for _, b := range env.busy {
		spent += b.d
	}
	if spent.Seconds() >= exec {
		wait := window - now.Sub(env.busy[0].at)
		return nil, int(math.Ceil(wait.Seconds())), "0x80072321", false
	}
	if env.inFlight >= conc {
		return nil, 1, "0x80072326", false
	}
	env.recent = append(env.recent, now)
	env.inFlight++
	started := time.Now()
	return func() {
		e.mu.Lock()
		env.inFlight--
		env.busy = append(env.busy, execution{at: now, d: time.Since(started)})
		e.mu.Unlock()
	}, 0, "", true
}

// rateLimitHeaders tells the client what is left of the environment's window, as the service does
// on its answers with limits on (Microsoft Learn, "Service protection API limits"):
// x-ms-ratelimit-burst-remaining-xrm-requests (requests), x-ms-ratelimit-time-remaining-xrm-requests
// (execution seconds) and, when configured, x-ms-dop-hint.
func (e *Emulator) rateLimitHeaders(h http.Header, env *environment) {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.cfg.Limits
	if !l.Enforce {
		return
	}
	per, exec := l.RequestsPerWindow, l.ExecutionSeconds
	if per <= 0 {
		per = 6000
	}
	if exec <= 0 {
		exec = 1200
	}
	var spent time.Duration
	for _, b := range env.busy {
		spent += b.d
	}
	h.Set("x-ms-ratelimit-burst-remaining-xrm-requests", fmt.Sprint(max(per-len(env.recent), 0)))
	h.Set("x-ms-ratelimit-time-remaining-xrm-requests", fmt.Sprintf("%.2f", max(exec-spent.Seconds(), 0)))
	if l.DopHint > 0 {
		h.Set("x-ms-dop-hint", fmt.Sprint(l.DopHint))
	}
}

// Spend counts n requests of another client signing in as the same app registration against the
// environment's window now (a flood the operator shares the limit with).
func (e *Emulator) Spend(envName string, n int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	env := e.envs[strings.ToLower(envName)]
	if env == nil {
		return fmt.Errorf("no environment %s", envName)
	}
	now := e.cfg.Now()
	for range n {
		env.recent = append(env.recent, now)
	}
	return nil
}

func (e *Emulator) authenticate(r *http.Request) (token, bool) {
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || raw == "" {
		return token{}, false
	}
	for _, s := range e.cfg.StaticTokens {
		if s == raw {
			return token{scope: "*", clientID: OperatorApplicationID}, true
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.tokens[raw]
	if !ok || e.cfg.Now().After(t.expires) {
		return token{}, false
	}
	return t, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // nextLinks keep a literal &, as the service writes them
	_ = enc.Encode(v)
}

// writeError writes the OData error shape {"error":{"code","message"}}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// DumpStrings reads a list of strings from a record of a Dump (JSON: []any, or nil), sorted.
func DumpStrings(v any) []string {
	out := []string{}
	list, _ := v.([]any)
	for _, s := range list {
		out = append(out, fmt.Sprint(s))
	}
	sort.Strings(out)
	return out
}
