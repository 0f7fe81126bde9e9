package emulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Microsoft Graph v1.0 over the tenant directory, at https://<host>/graph/v1.0/ (a manager's
// --graph-url). Each behaviour cites the Microsoft Graph reference page it follows
// (learn.microsoft.com/graph/api/…, sources in github.com/microsoftgraph/microsoft-graph-docs-contrib);
// where the documentation is silent on an answer's code or message the comment says so and the
// emulator answers what the service is commonly observed to answer.

const (
	graphPrefix = "/graph/v1.0/"
	// GraphScope is the token scope Graph accepts (docs/design.md, "Entra ID target").
	GraphScope = "https://graph.microsoft.com/.default"
	// GraphEnvironment is the Environment of Graph requests in the request log, and what a Fault's
	// Environment names to match Graph requests only.
	GraphEnvironment = "graph"
	// graphBatchLimit: "JSON batch requests are currently limited to 20 individual requests"
	// (Microsoft Graph, "Combine multiple HTTP requests using JSON batching").
	graphBatchLimit = 20
	// graphMaxPage: "The default and maximum page sizes are 100 and 999 user objects respectively"
	// (Microsoft Graph, "List users"); group members page the same way.
	graphMaxPage, graphDefaultPage = 999, 100
	msgAlreadyMember               = "One or more added object references already exist for the following modified properties: 'members'."
	msgNotMember                   = "One or more removed object references do not exist for the following modified properties: 'members'."
	msgInsufficientPrivileges      = "Insufficient privileges to complete the operation."
)

// Application permissions that allow each call (Microsoft Graph reference, each page's
// "Permissions" table, least privileged first; a ReadWrite permission includes its Read one).
var (
	// Get user, List users: User.Read.All; higher User.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All.
	permReadUsers = []string{"User.Read.All", "Directory.Read.All"}
	// List groups, Get group, List members: GroupMember.Read.All; higher Group.Read.All,
	// Group.ReadWrite.All, GroupMember.ReadWrite.All, Directory.Read.All.
	permReadGroups = []string{"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"}
	// Add members, Remove member: GroupMember.ReadWrite.All; higher Group.ReadWrite.All, Directory.ReadWrite.All.
	permWriteMembers = []string{"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
	// List subscribedSkus: Organization.Read.All; higher Directory.Read.All, Organization.ReadWrite.All.
	permReadSkus = []string{"Organization.Read.All", "Directory.Read.All"}
	// user: assignLicense: LicenseAssignment.ReadWrite.All; higher Directory.ReadWrite.All, User.ReadWrite.All.
	permAssignLicense = []string{"LicenseAssignment.ReadWrite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}
	// Remove member without /$ref deletes the member "if the calling app has permissions to
	// manage the member object type … For example, an app with both GroupMember.ReadWrite.All and
	// User.ReadWrite.All permissions will delete a user" (Microsoft Graph, "Remove member").
	permDeleteUser  = []string{"User.ReadWrite.All", "Directory.ReadWrite.All"}
	permDeleteGroup = []string{"Group.ReadWrite.All", "Directory.ReadWrite.All"}
)

// GraphLimits switches on a write limit per app registration (docs/design.md, "Entra ID target":
// writes about 3,000 per 2.5 minutes per app and tenant): writes beyond it answer 429 with
// Retry-After, in a $batch each on its own.
type GraphLimits struct {
	Enforce         bool `json:"enforce"`
	WritesPerWindow int  `json:"writesPerWindow"` // default 3000
	WindowSeconds   int  `json:"windowSeconds"`   // default 150
}

// SetGraphLimits switches the Graph write limit on or off.
func (e *Emulator) SetGraphLimits(l GraphLimits) { e.mu.Lock(); e.cfg.GraphLimits = l; e.mu.Unlock() }

// GraphRequests keeps the Graph entries of a request log (Environment GraphEnvironment), those
// inside a $batch included (BatchID set).
func GraphRequests(log []LoggedRequest) []LoggedRequest {
	var out []LoggedRequest
	for _, l := range log {
		if l.Environment == GraphEnvironment {
			out = append(out, l)
		}
	}
	return out
}

// graphAnswer is one Graph answer, written to the wire or into a $batch response.
type graphAnswer struct {
	status int
	header http.Header
	body   any // nil: no body
}

func (e *Emulator) graphError(status int, code, msg string) graphAnswer {
	// The error shape: {"error":{"code","message","innerError":{…}}} (Microsoft Graph, "Microsoft
	// Graph error responses and resource types").
	return graphAnswer{status: status, header: http.Header{}, body: map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]any{"date": e.cfg.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": newGUID(), "client-request-id": newGUID()},
	}}}
}

func graphOK(status int, body any) graphAnswer {
	return graphAnswer{status: status, header: http.Header{}, body: body}
}

func writeGraph(w http.ResponseWriter, a graphAnswer) {
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.Header().Set("request-id", newGUID())
	if a.body == nil {
		w.WriteHeader(a.status)
		return
	}
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(a.status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(a.body)
}

// faultAnswer is a fault's answer in Graph's shape. A 429 always carries Retry-After (Microsoft
// Graph, "Microsoft Graph throttling guidance": "The failed response includes the Retry-After
// field in the response header"), 1 second unless the fault says otherwise.
func (e *Emulator) faultAnswer(f *Fault) graphAnswer {
	code, msg := f.Code, f.Message
	if code == "" {
		code = map[int]string{429: "TooManyRequests", 500: "generalException", 502: "BadGateway", 503: "serviceNotAvailable", 504: "GatewayTimeout"}[f.Status]
	}
	if msg == "" {
		msg = http.StatusText(f.Status)
	}
	a := e.graphError(f.Status, code, msg)
	if f.RetryAfter > 0 {
		a.header.Set("Retry-After", fmt.Sprint(f.RetryAfter))
	} else if f.Status == http.StatusTooManyRequests {
		a.header.Set("Retry-After", "1")
	}
	return a
}

func (e *Emulator) randomGraphFault() *Fault {
	c := e.cfg
	switch x := rand.Float64(); {
	case x < c.DropRate:
		return &Fault{Drop: true}
	case x < c.DropRate+c.FailRate:
		return &Fault{Status: http.StatusServiceUnavailable, Code: "serviceNotAvailable", Message: "The service is temporarily unavailable."}
	case x < c.DropRate+c.FailRate+c.ThrottleRate:
		return &Fault{Status: http.StatusTooManyRequests, Code: "TooManyRequests", RetryAfter: 1, Message: "Too many requests."}
	}
	return nil
}

func (e *Emulator) logEntry(env, method, path, batchID string) *LoggedRequest {
	entry := &LoggedRequest{Time: e.cfg.Now(), Environment: env, Method: method, Path: path, BatchID: batchID}
	e.mu.Lock()
	if len(e.log) >= e.cfg.MaxLog {
		e.log = e.log[1:]
	}
	e.log = append(e.log, entry)
	e.mu.Unlock()
	return entry
}

func (e *Emulator) setLogged(entry *LoggedRequest, status, applied int) {
	e.mu.Lock()
	entry.Status = status
	if applied != 0 {
		entry.Applied = applied
	}
	e.mu.Unlock()
}

// serveGraph applies faults, authentication, latency and the log around a Graph request, as
// serveAPI does around Dataverse.
func (e *Emulator) serveGraph(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, graphPrefix), "/")
	path := r.URL.Path
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	entry := e.logEntry(GraphEnvironment, r.Method, path, "")
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		e.mu.Lock()
		if entry.Status == 0 {
			entry.Status = rec.status
		}
		e.mu.Unlock()
	}()

	f := e.takeFault(GraphEnvironment, r.Method, rest)
	if f == nil {
		f = e.randomGraphFault()
	}
	if f != nil && !f.applies() {
		switch {
		case f.Drop:
			e.setLogged(entry, -1, 0)
			dropConnection(w)
			return
		case f.Status != 0:
			writeGraph(rec, e.faultAnswer(f))
			return
		}
	}
	tok, ok := e.authenticate(r)
	if !ok {
		// An absent or unknown token answers 401 InvalidAuthenticationToken.
		writeGraph(rec, e.graphError(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure."))
		return
	}
	if tok.scope != "*" && !strings.EqualFold(tok.scope, GraphScope) {
		// docs/design.md, "Entra ID target": tokens for scope https://graph.microsoft.com/.default.
		writeGraph(rec, e.graphError(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		writeGraph(rec, e.graphError(http.StatusBadRequest, "BadRequest", err.Error()))
		return
	}
	if d := e.cfg.Latency; d > 0 {
		time.Sleep(d)
	}
	if f != nil && f.Latency > 0 && !f.holdsAnswer() {
		time.Sleep(f.Latency)
	}
	base := "https://" + r.Host + graphPrefix
	var a graphAnswer
	drop := false
	if rest == "$batch" {
		if r.Method != http.MethodPost {
			a = e.graphError(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
		} else {
			a, drop = e.graphBatch(tok, body, base)
		}
	} else {
		a = e.graphDo(tok, r.Method, rest, r.URL.Query(), body, base)
	}
	if drop {
		// A request inside the batch was dropped: the batch's connection goes with it.
		e.setLogged(entry, -http.StatusOK, 0)
		dropConnection(w)
		return
	}
	if f != nil && f.applies() {
		// The request was done; its answer is replaced.
		if f.Drop || f.DropAfter {
			e.setLogged(entry, -a.status, a.status)
			dropConnection(w)
			return
		}
		e.setLogged(entry, 0, a.status)
		a = e.faultAnswer(f)
	}
	if f.holdsAnswer() {
		time.Sleep(f.Latency)
	}
	writeGraph(rec, a)
}

// graphBatch answers POST /$batch: at most 20 requests, each answered on its own (status,
// headers, body) inside a 200, each met by faults and limits on its own; a malformed batch is a
// 400 (Microsoft Graph, "Combine multiple HTTP requests using JSON batching": "If the batch
// request itself is malformed, the status code is 400. If the batch request is parseable, the
// status code is 200"; "Requests in a batch are evaluated individually against the applicable
// throttling limits and if any request exceeds the limits, it fails with a status of 429").
// Responses come in reverse order: "Individual responses might appear in a different order than
// the requests. The id property can be used to correlate". dependsOn orders nothing (requests run
// in the order given); a request depending on a failed one answers 424 (same page).
func (e *Emulator) graphBatch(tok token, body []byte, base string) (graphAnswer, bool) {
	type inner struct {
		ID        string            `json:"id"`
		Method    string            `json:"method"`
		URL       string            `json:"url"`
		Headers   map[string]string `json:"headers"`
		Body      json.RawMessage   `json:"body"`
		DependsOn []string          `json:"dependsOn"`
	}
	var req struct {
		Requests []inner `json:"requests"`
	}
	bad := func(msg string) (graphAnswer, bool) {
		// The documentation gives the 400, not its code or message.
		return e.graphError(http.StatusBadRequest, "BadRequest", msg), false
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return bad("Invalid batch payload format.")
	}
	if len(req.Requests) == 0 {
		return bad("The batch request must contain at least one request.")
	}
	if len(req.Requests) > graphBatchLimit {
		return bad(fmt.Sprintf("The number of requests in the batch (%d) exceeds the limit of %d.", len(req.Requests), graphBatchLimit))
	}
	seen := map[string]bool{}
	for _, in := range req.Requests {
		if in.ID == "" || in.Method == "" || in.URL == "" {
			return bad("Each request of a batch requires id, method and url.")
		}
		// "id … Must be unique in the batch, otherwise, the batch request fails with a 400".
		if seen[strings.ToLower(in.ID)] {
			return bad("Request id " + in.ID + " appears more than once in the batch.")
		}
		seen[strings.ToLower(in.ID)] = true
		// "When a body is included with the request, the headers object must contain a value for Content-Type".
		if len(in.Body) > 0 && string(in.Body) != "null" && headerValue(in.Headers, "Content-Type") == "" {
			return bad("Request " + in.ID + " has a body but no Content-Type header.")
		}
	}
	status := map[string]int{}
	var responses []map[string]any
	for _, in := range req.Requests {
		method := strings.ToUpper(in.Method)
		rest, query, perr := batchURL(in.URL)
		path := graphPrefix + strings.TrimPrefix(in.URL, "/")
		entry := e.logEntry(GraphEnvironment, method, path, in.ID)
		var a graphAnswer
		failedDep := false
		for _, dep := range in.DependsOn {
			if s, ok := status[strings.ToLower(dep)]; !ok || s >= 400 {
				failedDep = true
			}
		}
		var f *Fault
		switch {
		case perr != nil:
			a = e.graphError(http.StatusBadRequest, "BadRequest", perr.Error())
		case failedDep:
			a = e.graphError(http.StatusFailedDependency, "FailedDependency", "The request depends on a request of the batch that failed.")
		default:
			if f = e.takeFault(GraphEnvironment, method, rest); f == nil {
				f = e.randomGraphFault()
			}
			if f != nil && !f.applies() && f.Drop {
				e.setLogged(entry, -1, 0)
				return graphAnswer{}, true
			}
			if f != nil && !f.applies() && f.Status != 0 {
				a = e.faultAnswer(f)
				break
			}
			if f != nil && f.Latency > 0 {
				time.Sleep(f.Latency)
			}
			var b []byte
			if len(in.Body) > 0 && string(in.Body) != "null" {
				b = in.Body
			}
			a = e.graphDo(tok, method, rest, query, b, base)
			if f != nil && f.applies() {
				if f.Drop || f.DropAfter {
					e.setLogged(entry, -a.status, a.status)
					return graphAnswer{}, true
				}
				e.setLogged(entry, 0, a.status)
				a = e.faultAnswer(f)
			}
		}
		e.setLogged(entry, a.status, 0)
		status[strings.ToLower(in.ID)] = a.status
		resp := map[string]any{"id": in.ID, "status": a.status}
		h := map[string]string{}
		for k := range a.header {
			h[k] = a.header.Get(k)
		}
		if a.body != nil {
			h["Content-Type"] = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
			resp["body"] = a.body
		}
		resp["headers"] = h
		responses = append(responses, resp)
	}
	for i, j := 0, len(responses)-1; i < j; i, j = i+1, j-1 {
		responses[i], responses[j] = responses[j], responses[i]
	}
	return graphOK(http.StatusOK, map[string]any{"responses": responses}), false
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// batchURL reads a request's url inside a batch: relative to the version root ("/users" or
// "users?$select=…"; "url … The relative resource URL for the individual request").
func batchURL(raw string) (string, url.Values, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, fmt.Errorf("invalid request URL %q", raw)
	}
	if u.IsAbs() || u.Host != "" {
		return "", nil, fmt.Errorf("the url of a request in a batch is relative to the version root, not %q", raw)
	}
	rest := strings.TrimSuffix(strings.TrimPrefix(u.Path, "/"), "/")
	if rest == "$batch" {
		return "", nil, fmt.Errorf("a batch cannot contain a batch")
	}
	return rest, u.Query(), nil
}

// graphDo applies the write limit, then answers one request (outside or inside a batch).
func (e *Emulator) graphDo(tok token, method, rest string, q url.Values, body []byte, base string) graphAnswer {
	e.mu.Lock()
	defer e.mu.Unlock()
	if method != http.MethodGet {
		if retry, ok := e.admitGraphWrite(tok.clientID); !ok {
			// The documentation gives 429 and Retry-After, not the code or message.
			a := e.graphError(http.StatusTooManyRequests, "TooManyRequests", fmt.Sprintf("Too many requests: retry after %d seconds.", retry))
			a.header.Set("Retry-After", fmt.Sprint(retry))
			return a
		}
	}
	return e.graphRoute(tok, method, rest, q, body, base)
}

func (e *Emulator) admitGraphWrite(client string) (int, bool) {
	l := e.cfg.GraphLimits
	if !l.Enforce {
		return 0, true
	}
	per, window := l.WritesPerWindow, time.Duration(l.WindowSeconds)*time.Second
	if per <= 0 {
		per = 3000
	}
	if window <= 0 {
		window = 150 * time.Second
	}
	now := e.cfg.Now()
	recent := e.dir.writes[client]
	cut := 0
	for cut < len(recent) && now.Sub(recent[cut]) >= window {
		cut++
	}
	recent = recent[cut:]
	if len(recent) >= per {
		e.dir.writes[client] = recent
		return int(math.Max(1, math.Ceil((window - now.Sub(recent[0])).Seconds()))), false
	}
	e.dir.writes[client] = append(recent, now)
	return 0, true
}

// graphRoute answers one request under e.mu.
func (e *Emulator) graphRoute(tok token, method, rest string, q url.Values, body []byte, base string) graphAnswer {
	seg := strings.Split(rest, "/")
	granted := e.dir.permissions(tok.clientID)
	// A call lacking its permission answers 403 Authorization_RequestDenied "Insufficient
	// privileges to complete the operation." (Microsoft Graph, "Combine multiple HTTP requests
	// using JSON batching", the example's request 3), before anything is looked up.
	denied := func(anyOf ...string) bool { return !holds(granted, anyOf...) }
	forbidden := e.graphError(http.StatusForbidden, "Authorization_RequestDenied", msgInsufficientPrivileges)
	notAllowed := e.graphError(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
	want := func(m string) bool { return method == m }
	switch {
	case len(seg) == 1 && seg[0] == "users":
		if !want(http.MethodGet) {
			return notAllowed
		}
		if denied(permReadUsers...) {
			return forbidden
		}
		return e.graphListUsers(q, base)
	case len(seg) == 2 && seg[0] == "users":
		if !want(http.MethodGet) {
			return notAllowed
		}
		if denied(permReadUsers...) {
			return forbidden
		}
		return e.graphGetUser(seg[1], q, base)
	case len(seg) == 3 && seg[0] == "users" && seg[2] == "assignLicense":
		if !want(http.MethodPost) {
			return notAllowed
		}
		if denied(permAssignLicense...) {
			return forbidden
		}
		return e.graphAssignLicense(seg[1], body, base)
	case len(seg) == 1 && seg[0] == "groups":
		if !want(http.MethodGet) {
			return notAllowed
		}
		if denied(permReadGroups...) {
			return forbidden
		}
		return e.graphListGroups(q, base)
	case len(seg) == 2 && seg[0] == "groups":
		if !want(http.MethodGet) {
			return notAllowed
		}
		if denied(permReadGroups...) {
			return forbidden
		}
		g := e.dir.groups[strings.ToLower(seg[1])]
		if g == nil {
			return e.notFound(seg[1])
		}
		props, err := e.selectProps(e.groupProps(g), q.Get("$select"), defaultGroupProps, "microsoft.graph.group")
		if err != nil {
			return *err
		}
		props["@odata.context"] = base + "$metadata#groups" + selectSuffix(q.Get("$select")) + "/$entity"
		return graphOK(http.StatusOK, props)
	case len(seg) >= 3 && seg[0] == "groups" && seg[2] == "members":
		return e.graphMembers(tok, method, seg, q, body, base, granted)
	case len(seg) == 1 && seg[0] == "subscribedSkus":
		if !want(http.MethodGet) {
			return notAllowed
		}
		if denied(permReadSkus...) {
			return forbidden
		}
		return e.graphSkus(q, base)
	}
	// An unknown path segment (the OData layer's answer; not on a reference page).
	return e.graphError(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+seg[len(seg)-1]+"'.")
}

// notFound: a missing object answers 404 Request_ResourceNotFound (docs/design.md, "Entra ID
// target"; the message as the service words it).
func (e *Emulator) notFound(id string) graphAnswer {
	return e.graphError(http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
}

func (e *Emulator) graphMembers(tok token, method string, seg []string, q url.Values, body []byte, base string, granted []string) graphAnswer {
	forbidden := e.graphError(http.StatusForbidden, "Authorization_RequestDenied", msgInsufficientPrivileges)
	notAllowed := e.graphError(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
	gid := strings.ToLower(seg[1])
	switch {
	case method == http.MethodGet && (len(seg) == 3 || (len(seg) == 4 && (seg[3] == "microsoft.graph.user" || seg[3] == "microsoft.graph.group"))):
		if !holds(granted, permReadGroups...) {
			return forbidden
		}
		g := e.dir.groups[gid]
		if g == nil {
			return e.notFound(seg[1])
		}
		cast := ""
		if len(seg) == 4 {
			cast = seg[3]
		}
		return e.graphListMembers(g, cast, q, base)
	case len(seg) == 4 && seg[3] == "$ref":
		if method != http.MethodPost {
			return notAllowed
		}
		if !holds(granted, permWriteMembers...) {
			return forbidden
		}
		return e.graphAddMember(gid, body)
	case len(seg) == 5 && seg[4] == "$ref":
		if method != http.MethodDelete {
			return notAllowed
		}
		if !holds(granted, permWriteMembers...) {
			return forbidden
		}
		g := e.dir.groups[gid]
		if g == nil {
			return e.notFound(seg[1])
		}
		mid := strings.ToLower(seg[3])
		if _, ok := g.members[mid]; !ok {
			// "Remove member" gives only the success answer; a reference that is not there answers
			// 404 (docs/design.md, "Entra ID target") with this message on the service.
			return e.graphError(http.StatusNotFound, "Request_ResourceNotFound", msgNotMember)
		}
		delete(g.members, mid)
		e.dir.changed()
		return graphOK(http.StatusNoContent, nil)
	case len(seg) == 4:
		// DELETE /groups/{id}/members/{id} without /$ref: "the member object will also be deleted
		// from Azure Active Directory (Azure AD); otherwise, a 403 Forbidden error is returned"
		// (Microsoft Graph, "Remove member", Caution). Tests prove the operator never sends it.
		if method != http.MethodDelete {
			return notAllowed
		}
		if !holds(granted, permWriteMembers...) {
			return forbidden
		}
		g := e.dir.groups[gid]
		if g == nil {
			return e.notFound(seg[1])
		}
		mid := strings.ToLower(seg[3])
		if _, ok := g.members[mid]; !ok {
			return e.graphError(http.StatusNotFound, "Request_ResourceNotFound", msgNotMember)
		}
		if e.dir.users[mid] != nil {
			if !holds(granted, permDeleteUser...) {
				return forbidden
			}
			_ = e.dir.deleteUser(mid)
		} else {
			if !holds(granted, permDeleteGroup...) {
				return forbidden
			}
			e.dir.deleteGroup(mid)
		}
		return graphOK(http.StatusNoContent, nil)
	}
	return e.graphError(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+seg[len(seg)-1]+"'.")
}

// graphAddMember: POST /groups/{id}/members/$ref {"@odata.id":".../directoryObjects/{id}"}: "If
// successful, this method returns a 204 No Content response code … returns a 400 Bad Request
// response code when the object is already a member of the group … returns a 404 Not Found
// response code when the object being added doesn't exist" (Microsoft Graph, "Add members"); the
// 400 is Request_BadRequest "One or more added object references already exist for the following
// modified properties: 'members'." (docs/design.md, "Entra ID target").
func (e *Emulator) graphAddMember(gid string, body []byte) graphAnswer {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return e.graphError(http.StatusBadRequest, "BadRequest", "Invalid JSON in the request body.")
	}
	ref, _ := m["@odata.id"].(string)
	id := ""
	for _, set := range []string{"/directoryObjects/", "/users/", "/groups/"} {
		if i := strings.LastIndex(ref, set); i >= 0 {
			id = strings.ToLower(strings.TrimSuffix(ref[i+len(set):], "/"))
		}
	}
	if !guidRE.MatchString(id) {
		return e.graphError(http.StatusBadRequest, "Request_BadRequest", "Invalid object identifier '"+ref+"'.")
	}
	g := e.dir.groups[gid]
	if g == nil {
		return e.notFound(gid)
	}
	if e.dir.users[id] == nil && e.dir.groups[id] == nil {
		return e.notFound(id)
	}
	if id == gid {
		return e.graphError(http.StatusBadRequest, "Request_BadRequest", "A group cannot be a member of itself.")
	}
	if _, ok := g.members[id]; ok {
		return e.graphError(http.StatusBadRequest, "Request_BadRequest", msgAlreadyMember)
	}
	e.dir.seq++
	g.members[id] = e.dir.seq
	e.dir.changed()
	return graphOK(http.StatusNoContent, nil)
}

// graphAssignLicense: POST /users/{id | userPrincipalName}/assignLicense {"addLicenses":[{skuId,
// disabledPlans}],"removeLicenses":[skuId]} "returns 200 OK response code and user object in the
// response body" (Microsoft Graph, "user: assignLicense"). The refusals are 400s (docs/design.md,
// "Entra ID target": no usage location, no unit left, a license inherited from a group); the
// reference page gives none of their codes or messages: the emulator answers Request_BadRequest
// with the messages the service is seen to give. All or nothing: a refused call changes nothing.
func (e *Emulator) graphAssignLicense(key string, body []byte, base string) graphAnswer {
	bad := func(msg string) graphAnswer { return e.graphError(http.StatusBadRequest, "Request_BadRequest", msg) }
	u := e.dir.user(key)
	if u == nil {
		return e.notFound(key)
	}
	var req struct {
		AddLicenses    []AssignedLicense `json:"addLicenses"`
		RemoveLicenses []string          `json:"removeLicenses"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return bad("Invalid JSON in the request body: " + err.Error())
	}
	d := e.dir
	for _, l := range req.AddLicenses {
		if !guidRE.MatchString(l.SkuID) {
			return bad("Invalid value specified for property 'skuId' of resource 'AssignedLicense'.")
		}
		if d.skus[strings.ToLower(l.SkuID)] == nil {
			return bad("License " + l.SkuID + " does not correspond to a valid company License.")
		}
	}
	if len(req.AddLicenses) > 0 && u.usageLocation == "" {
		// Licenses need a usage location ("Usage location required": the service checks the
		// availability of services in the person's country); the message as the service gives it.
		return bad("License assignment cannot be done for user with invalid usage location.")
	}
	v := d.licenses()
	remove := map[string]bool{}
	for _, s := range req.RemoveLicenses {
		s = strings.ToLower(s)
		if !guidRE.MatchString(s) || d.skus[s] == nil {
			return bad("License " + s + " does not correspond to a valid company License.")
		}
		if !hasSku(u.direct, s) {
			for _, st := range v.states[u.id] {
				if st.sku == s && st.byGroup != "" {
					// docs/design.md, "Entra ID target": "a license inherited from a group cannot be
					// removed this way".
					return bad("User license is inherited from a group membership and it cannot be removed directly from the user.")
				}
			}
			return bad("User does not have a corresponding license.")
		}
		remove[s] = true
	}
	for _, l := range req.AddLicenses {
		s := strings.ToLower(l.SkuID)
		if v.active[u.id][s] || remove[s] {
			continue // already holds a unit of it
		}
		if sku := d.skus[s]; v.consumed[s] >= sku.units.Enabled {
			// docs/design.md, "Entra ID target": 400 when the tenant has no unit left.
			return bad(fmt.Sprintf("Subscription with SKU %s does not have any available licenses.", s))
		}
	}
	var next []AssignedLicense
	for _, l := range u.direct {
		if !remove[l.SkuID] {
			next = append(next, l)
		}
	}
	add, _ := d.normLicenses(req.AddLicenses)
	for _, l := range add {
		replaced := false
		for i := range next {
			if next[i].SkuID == l.SkuID {
				next[i], replaced = l, true
			}
		}
		if !replaced {
			next = append(next, l)
		}
	}
	u.direct = next
	d.changed()
	props := e.userProps(u)
	props["@odata.context"] = base + "$metadata#users/$entity"
	return graphOK(http.StatusOK, props)
}

// --- reading: users, groups, members, SKUs ---

// Get user: "By default, only a limited set of properties are returned (businessPhones,
// displayName, givenName, id, jobTitle, mail, mobilePhone, officeLocation, preferredLanguage,
// surname, userPrincipalName)"; others with $select (Microsoft Graph, "Get user").
var defaultUserProps = []string{"businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName"}

var defaultGroupProps = []string{"id", "createdDateTime", "description", "displayName", "groupTypes", "mail", "mailEnabled", "mailNickname", "securityEnabled", "visibility"}

func (e *Emulator) userProps(u *dirUser) map[string]any {
	var loc any
	if u.usageLocation != "" {
		loc = u.usageLocation
	}
	return map[string]any{
		"id": u.id, "userPrincipalName": u.upn, "displayName": u.displayName, "givenName": nullable(u.givenName),
		"surname": nullable(u.surname), "mail": u.upn, "businessPhones": []string{}, "jobTitle": nil, "mobilePhone": nil,
		"officeLocation": nil, "preferredLanguage": nil, "accountEnabled": u.enabled, "usageLocation": loc,
		"assignedLicenses": e.dir.assigned(u), "licenseAssignmentStates": e.dir.states(u),
	}
}

func (e *Emulator) groupProps(g *dirGroup) map[string]any {
	nick := strings.Map(func(r rune) rune {
		if r == ' ' {
			return -1
		}
		return r
	}, g.displayName)
	return map[string]any{
		"id": g.id, "displayName": g.displayName, "description": nullable(g.description), "securityEnabled": g.security,
		"mailEnabled": g.mail, "groupTypes": []string{}, "mail": nil, "mailNickname": nick, "createdDateTime": nil,
		"visibility": nil, "assignedLicenses": append([]AssignedLicense{}, g.licenses...),
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// selectProps keeps the $select properties (or the default set); an unknown one is a 400.
func (e *Emulator) selectProps(all map[string]any, sel string, defaults []string, typ string) (map[string]any, *graphAnswer) {
	names := defaults
	if strings.TrimSpace(sel) != "" {
		names = nil
		for _, n := range strings.Split(sel, ",") {
			n = strings.TrimSpace(n)
			canon := ""
			for k := range all {
				if strings.EqualFold(k, n) {
					canon = k
				}
			}
			if canon == "" {
				a := e.graphError(http.StatusBadRequest, "Request_BadRequest", "Could not find a property named '"+n+"' on type '"+typ+"'.")
				return nil, &a
			}
			names = append(names, canon)
		}
	}
	out := map[string]any{}
	for _, n := range names {
		out[n] = all[n]
	}
	return out, nil
}

func selectSuffix(sel string) string {
	if strings.TrimSpace(sel) == "" {
		return ""
	}
	return "(" + strings.ReplaceAll(sel, " ", "") + ")"
}

// graphGetUser: GET /users/{id | userPrincipalName} (Microsoft Graph, "Get user"); absent: 404
// Request_ResourceNotFound.
func (e *Emulator) graphGetUser(key string, q url.Values, base string) graphAnswer {
	u := e.dir.user(key)
	if u == nil {
		return e.notFound(key)
	}
	props, err := e.selectProps(e.userProps(u), q.Get("$select"), defaultUserProps, "microsoft.graph.user")
	if err != nil {
		return *err
	}
	props["@odata.context"] = base + "$metadata#users" + selectSuffix(q.Get("$select")) + "/$entity"
	return graphOK(http.StatusOK, props)
}

// filterRecord is an object as parseFilter reads it: lower-case property names.
func filterRecord(props map[string]any) record {
	r := record{}
	for k, v := range props {
		r[strings.ToLower(k)] = v
	}
	return r
}

// graphFilter applies $filter (eq and ne of a property with a literal, and, or; string literals
// with doubled single quotes, as OData writes a quote inside one).
func (e *Emulator) graphFilter(q url.Values, items []map[string]any) ([]map[string]any, *graphAnswer) {
	f := q.Get("$filter")
	if f == "" {
		return items, nil
	}
	ex, err := parseFilter(f)
	if err != nil {
		a := e.graphError(http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified: "+err.Error())
		return nil, &a
	}
	var out []map[string]any
	for _, it := range items {
		if ex.eval(filterRecord(it)) {
			out = append(out, it)
		}
	}
	return out, nil
}

func (e *Emulator) graphListUsers(q url.Values, base string) graphAnswer {
	var items []map[string]any
	for _, u := range e.dir.users {
		items = append(items, e.userProps(u))
	}
	items, errA := e.graphFilter(q, items)
	if errA != nil {
		return *errA
	}
	return e.graphPage(items, q, defaultUserProps, "microsoft.graph.user", false, base, "users", base+"$metadata#users"+selectSuffix(q.Get("$select")))
}

// graphListGroups: GET /groups?$filter=displayName eq '<name>'&$select=id,displayName,securityEnabled
// (Microsoft Graph, "List groups"; docs/design.md, "Entra ID target").
func (e *Emulator) graphListGroups(q url.Values, base string) graphAnswer {
	var items []map[string]any
	for _, g := range e.dir.groups {
		items = append(items, e.groupProps(g))
	}
	items, errA := e.graphFilter(q, items)
	if errA != nil {
		return *errA
	}
	return e.graphPage(items, q, defaultGroupProps, "microsoft.graph.group", false, base, "groups", base+"$metadata#groups"+selectSuffix(q.Get("$select")))
}

// graphListMembers: GET /groups/{id}/members[/microsoft.graph.user]: "Get a list of the group's
// direct members … This operation is not transitive" (Microsoft Graph, "List members"); the cast
// keeps the users only (OData cast, same page), paged by @odata.nextLink.
func (e *Emulator) graphListMembers(g *dirGroup, cast string, q url.Values, base string) graphAnswer {
	var items []map[string]any
	for _, id := range g.memberIDs() {
		switch {
		case e.dir.users[id] != nil && cast != "microsoft.graph.group":
			p := e.userProps(e.dir.users[id])
			p["@odata.type"] = "#microsoft.graph.user"
			items = append(items, p)
		case e.dir.groups[id] != nil && cast != "microsoft.graph.user":
			p := e.groupProps(e.dir.groups[id])
			p["@odata.type"] = "#microsoft.graph.group"
			items = append(items, p)
		}
	}
	defaults, typ := defaultUserProps, "microsoft.graph.user"
	if cast == "microsoft.graph.group" {
		defaults, typ = defaultGroupProps, "microsoft.graph.group"
	}
	items, errA := e.graphFilter(q, items)
	if errA != nil {
		return *errA
	}
	path := "groups/" + g.id + "/members"
	ctx := base + "$metadata#directoryObjects"
	if cast != "" {
		path += "/" + cast
		ctx = base + "$metadata#" + map[string]string{"microsoft.graph.user": "users", "microsoft.graph.group": "groups"}[cast]
	}
	return e.graphPage(items, q, defaults, typ, cast == "", base, path, ctx+selectSuffix(q.Get("$select")))
}

// graphPage orders by object id, applies $select and pages: $top from 1 to 999 (default 100);
// "When more than one query request is required to retrieve all the results, Microsoft Graph
// returns an @odata.nextLink property in the response that contains a URL to the next page … the
// @odata.nextLink URL value will contain either a $skiptoken or a $skip query parameter. The URL
// also contains all the other query parameters present in the original request" (Microsoft Graph,
// "Paging Microsoft Graph data in your app"). The $skiptoken is opaque.
func (e *Emulator) graphPage(items []map[string]any, q url.Values, defaults []string, typ string, keepType bool, base, path, context string) graphAnswer {
	sort.Slice(items, func(i, j int) bool { return items[i]["id"].(string) < items[j]["id"].(string) })
	size := graphDefaultPage
	if t := q.Get("$top"); t != "" {
		n := 0
		if _, err := fmt.Sscanf(t, "%d", &n); err != nil || fmt.Sprint(n) != t || n < 1 || n > graphMaxPage {
			// The reference pages give the maximum, not the answer beyond it; the service's.
			return e.graphError(http.StatusBadRequest, "Request_UnsupportedQuery", "Invalid page size specified: '"+t+"'. Must be between 1 and 999 inclusive.")
		}
		size = n
	}
	if tok := q.Get("$skiptoken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		after, ok := strings.CutPrefix(string(raw), "emulator:")
		if err != nil || !ok {
			return e.graphError(http.StatusBadRequest, "Request_BadRequest", "Invalid $skiptoken.")
		}
		i := sort.Search(len(items), func(i int) bool { return items[i]["id"].(string) > after })
		items = items[i:]
	}
	page := items[:min(size, len(items))]
	vals := make([]map[string]any, 0, len(page))
	for _, it := range page {
		t := typ
		if keepType {
			t = strings.TrimPrefix(it["@odata.type"].(string), "#")
			defaults = defaultUserProps
			if t == "microsoft.graph.group" {
				defaults = defaultGroupProps
			}
		}
		var p map[string]any
		if keepType {
			// Directory objects of several types: each keeps the $select properties its type has.
			p = map[string]any{"@odata.type": it["@odata.type"]}
			names := defaults
			if s := strings.TrimSpace(q.Get("$select")); s != "" {
				names = strings.Split(s, ",")
			}
			for _, n := range names {
				for k, v := range it {
					if strings.EqualFold(k, strings.TrimSpace(n)) && k != "@odata.type" {
						p[k] = v
					}
				}
			}
		} else {
			var errA *graphAnswer
			if p, errA = e.selectProps(it, q.Get("$select"), defaults, t); errA != nil {
				return *errA
			}
		}
		vals = append(vals, p)
	}
	out := map[string]any{"@odata.context": context, "value": vals}
	if len(items) > size {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte("emulator:"+page[len(page)-1]["id"].(string))))
		out["@odata.nextLink"] = base + path + "?" + graphQuery(nq)
	}
	return graphOK(http.StatusOK, out)
}

// graphQuery encodes a query as the service writes its nextLinks: $ names unescaped.
func graphQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range q[k] {
			parts = append(parts, k+"="+strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
		}
	}
	return strings.Join(parts, "&")
}

// graphSkus: GET /subscribedSkus, every SKU with its prepaid and consumed units (Microsoft Graph,
// "List subscribedSkus"; "This method supports only the $select OData query parameter").
func (e *Emulator) graphSkus(q url.Values, base string) graphAnswer {
	v := e.dir.licenses()
	tenant := nameGUID("tenant")
	var skus []*dirSku
	for _, s := range e.dir.skus {
		skus = append(skus, s)
	}
	sort.Slice(skus, func(i, j int) bool { return skus[i].part < skus[j].part })
	vals := []map[string]any{}
	for _, s := range skus {
		status := "Enabled"
		if s.units.Enabled == 0 && s.units.Suspended > 0 {
			status = "Suspended"
		} else if s.units.Enabled == 0 && s.units.Warning > 0 {
			status = "Warning"
		}
		all := map[string]any{
			"accountId": tenant, "accountName": "Emulated tenant", "appliesTo": "User", "capabilityStatus": status,
			"consumedUnits": v.consumed[s.id], "id": tenant + "_" + s.id, "prepaidUnits": s.units,
			"servicePlans": []any{}, "skuId": s.id, "skuPartNumber": s.part, "subscriptionIds": []string{nameGUID("subscription/" + s.id)},
		}
		names := make([]string, 0, len(all))
		for k := range all {
			names = append(names, k)
		}
		p, errA := e.selectProps(all, q.Get("$select"), names, "microsoft.graph.subscribedSku")
		if errA != nil {
			return *errA
		}
		vals = append(vals, p)
	}
	return graphOK(http.StatusOK, map[string]any{"@odata.context": base + "$metadata#subscribedSkus" + selectSuffix(q.Get("$select")), "value": vals})
}
