package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Conformance tests: each checks one documented behaviour of the service the client relies on, and
// cites where the fact comes from.

const tok = "conformance-token"

type fixture struct {
	t   *testing.T
	emu *Emulator
	srv *httptest.Server
	api string
	now time.Time
	mu  sync.Mutex
}

func newFixture(t *testing.T, tune func(*Config)) *fixture {
	f := &fixture{t: t, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg := Config{
		Environments:   []EnvironmentConfig{{Name: "contoso", OrganizationName: "Contoso Ltd"}},
		StaticTokens:   []string{tok},
		EntraSyncDelay: time.Minute,
		Now:            f.clock,
	}
	if tune != nil {
		tune(&cfg)
	}
	f.emu = New(cfg)
	f.srv = httptest.NewTLSServer(f.emu)
	t.Cleanup(f.srv.Close)
	f.api = f.srv.URL + "/env/contoso/api/data/v9.2/"
	return f
}

func (f *fixture) clock() time.Time        { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fixture) advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (a answer) code() string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (f *fixture) do(method, u string, body any, hdr ...string) answer {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	if !strings.HasPrefix(u, "https://") {
		u = f.api + u
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		return answer{status: -1}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func (f *fixture) rootBU() string {
	a := f.do("GET", "businessunits?$filter=_parentbusinessunitid_value%20eq%20null&$select=name", nil)
	return a.body["value"].([]any)[0].(map[string]any)["businessunitid"].(string)
}

func (f *fixture) createRole(name string) string {
	f.t.Helper()
	a := f.do("POST", "roles", map[string]any{"name": name, "businessunitid@odata.bind": "/businessunits(" + f.rootBU() + ")"})
	if a.status != 204 {
		f.t.Fatalf("create role: %d %s", a.status, a.raw)
	}
	id := a.header.Get("OData-EntityId")
	return id[strings.LastIndex(id, "(")+1 : len(id)-1]
}

// Microsoft Learn, "Create a table row using the Web API": 204 No Content with the new record's
// URI in OData-EntityId.
func TestCreateAnswers204WithEntityID(t *testing.T) {
	f := newFixture(t, nil)
	a := f.do("POST", "roles", map[string]any{"name": "Auditor", "businessunitid@odata.bind": "/businessunits(" + f.rootBU() + ")"})
	if a.status != http.StatusNoContent || len(a.raw) != 0 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	id := a.header.Get("OData-EntityId")
	if !strings.HasPrefix(id, f.api+"roles(") || !guidRE.MatchString(id[len(f.api)+6:len(id)-1]) {
		t.Fatalf("OData-EntityId %q", id)
	}
	if g := f.do("GET", id, nil); g.status != 200 || g.body["name"] != "Auditor" {
		t.Fatalf("read back: %d %s", g.status, g.raw)
	}
}

// Microsoft Learn, "Perform conditional operations using the Web API": an If-Match that no longer
// matches answers 412 with 0x80060882 (docs/design.md, "Sync target").
func TestStaleIfMatch412(t *testing.T) {
	f := newFixture(t, nil)
	id := f.createRole("Auditor")
	etag := f.do("GET", "roles("+id+")", nil).body["@odata.etag"].(string)
	if a := f.do("PATCH", "roles("+id+")", map[string]any{"isinherited": 0}, "If-Match", etag); a.status != 204 {
		t.Fatalf("fresh If-Match: %d %s", a.status, a.raw)
	}
	a := f.do("PATCH", "roles("+id+")", map[string]any{"isinherited": 1}, "If-Match", etag)
	if a.status != http.StatusPreconditionFailed || a.code() != "0x80060882" {
		t.Fatalf("stale If-Match: %d %s", a.status, a.raw)
	}
}

// docs/design.md, "Sync target": a missing record answers 404 0x80040217; a duplicate 0x80040237.
func TestNotFoundAndDuplicateCodes(t *testing.T) {
	f := newFixture(t, nil)
	f.createRole("Auditor")
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"missing role", "GET", "roles(00000000-1111-4222-8333-444444444444)", nil, 404, "0x80040217"},
		{"missing user by alternate key", "GET", "systemusers(azureactivedirectoryobjectid=00000000-1111-4222-8333-444444444444)", nil, 404, "0x80040217"},
		{"patch of a missing record", "PATCH", "roles(00000000-1111-4222-8333-444444444444)", map[string]any{"isinherited": 0}, 404, "0x80040217"},
		{"duplicate role name in a unit", "POST", "roles", map[string]any{"name": "Auditor", "businessunitid@odata.bind": "/businessunits(" + f.rootBU() + ")"}, 400, "0x80040237"},
	} {
		a := f.do(tc.method, tc.path, tc.body)
		if a.status != tc.status || a.code() != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, a.status, a.raw, tc.status, tc.code)
		}
	}
}

// Microsoft Learn, "Page results using OData": Prefer: odata.maxpagesize sets the page size,
// Preference-Applied acknowledges it, @odata.nextLink leads to the next page; $skip is not
// supported.
func TestPaging(t *testing.T) {
	f := newFixture(t, nil)
	var want []string
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		f.createRole("paged " + n)
	}
	all := f.do("GET", "roles?$select=name", nil)
	for _, v := range all.body["value"].([]any) {
		want = append(want, v.(map[string]any)["name"].(string))
	}
	if all.header.Get("Preference-Applied") != "" || all.body["@odata.nextLink"] != nil {
		t.Fatalf("no Prefer, yet %q / nextLink", all.header.Get("Preference-Applied"))
	}
	var got []string
	next, pages := "roles?$select=name", 0
	for next != "" {
		a := f.do("GET", next, nil, "Prefer", "odata.maxpagesize=4")
		if a.header.Get("Preference-Applied") != "odata.maxpagesize=4" {
			t.Fatalf("Preference-Applied %q", a.header.Get("Preference-Applied"))
		}
		vals := a.body["value"].([]any)
		if len(vals) > 4 {
			t.Fatalf("page of %d", len(vals))
		}
		for _, v := range vals {
			got = append(got, v.(map[string]any)["name"].(string))
		}
		next, _ = a.body["@odata.nextLink"].(string)
		pages++
	}
	sort.Strings(want)
	sort.Strings(got)
	if d := cmp.Diff(want, got); d != "" || pages != 3 {
		t.Fatalf("%d pages, (-want +got):\n%s", pages, d)
	}
	if a := f.do("GET", "roles?$skip=4", nil); a.status != 400 {
		t.Fatalf("$skip: %d", a.status)
	}
}

// A request without a bearer token answers 401 with a challenge and no body (Microsoft Learn,
// "Use OAuth authentication with Microsoft Dataverse"); a token for another environment too.
func TestBearerRequired(t *testing.T) {
	f := newFixture(t, nil)
	resp, err := f.srv.Client().Get(f.api + "WhoAmI")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	tokFor := func(scope string) string {
		resp, err := f.srv.Client().PostForm(f.srv.URL+"/tenant/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
			"client_id": {OperatorApplicationID}, "client_secret": {"x"}, "scope": {scope}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&b)
		return b["access_token"].(string)
	}
	for scope, want := range map[string]int{
		f.srv.URL + "/env/contoso/.default":      200,
		f.srv.URL + "/env/fabrikam/.default":     401,
		"https://service.powerapps.com/.default": 401,
	} {
		req, _ := http.NewRequest("GET", f.api+"WhoAmI", nil)
		req.Header.Set("Authorization", "Bearer "+tokFor(scope))
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("token for %s: %d, want %d", scope, resp.StatusCode, want)
		}
	}
}

// docs/design.md, "Sync target": a new role already holds a few default privileges.
func TestNewRoleHoldsDefaultPrivileges(t *testing.T) {
	f := newFixture(t, nil)
	id := f.createRole("Fresh")
	a := f.do("GET", "RetrieveRolePrivilegesRole(RoleId="+id+")", nil)
	var names []string
	for _, p := range a.body["RolePrivileges"].([]any) {
		m := p.(map[string]any)
		names = append(names, m["PrivilegeName"].(string)+"="+m["Depth"].(string))
	}
	want := []string{}
	for _, n := range defaultRolePrivileges {
		want = append(want, n+"=Global")
	}
	sort.Strings(want)
	if d := cmp.Diff(want, names); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}

// docs/design.md, "Sync target": one root business unit, carrying the organization's name (not "root"),
// without parentbusinessunitid.
func TestOneRootBusinessUnit(t *testing.T) {
	f := newFixture(t, nil)
	a := f.do("GET", "businessunits?$filter=_parentbusinessunitid_value%20eq%20null", nil)
	vals := a.body["value"].([]any)
	if len(vals) != 1 || vals[0].(map[string]any)["name"] != "Contoso Ltd" {
		t.Fatalf("roots: %s", a.raw)
	}
}

// docs/design.md, "Sync target": prv<Verb><SchemaName> privileges with their accessright bits (Read 1,
// Write 2, Append 4, AppendTo 16, Create 32, Delete 65536, Share 262144, Assign 524288), found
// through privilegeobjecttypecodes; organization-owned tables have no Assign or Share; named
// miscellaneous privileges exist.
func TestPrivilegeCatalogue(t *testing.T) {
	f := newFixture(t, nil)
	rights := func(table string) map[string]float64 {
		codes := f.do("GET", "privilegeobjecttypecodes?$filter=objecttypecode%20eq%20'"+table+"'", nil)
		out := map[string]float64{}
		for _, c := range codes.body["value"].([]any) {
			pid := c.(map[string]any)["_privilegeid_value"].(string)
			p := f.do("GET", "privileges("+pid+")", nil)
			out[p.body["name"].(string)] = p.body["accessright"].(float64)
		}
		return out
	}
	// Every table the samples and the tests name.
	for _, table := range []string{"account", "contact", "lead", "opportunity", "quote", "incident", "invoice", "campaign", "task", "knowledgearticle"} {
		if n := len(rights(table)); n != 8 {
			t.Errorf("%s: %d privileges, want 8", table, n)
		}
	}
	if d := cmp.Diff(map[string]float64{"prvCreateAccount": 32, "prvReadAccount": 1, "prvWriteAccount": 2, "prvDeleteAccount": 65536,
		"prvAppendAccount": 4, "prvAppendToAccount": 16, "prvAssignAccount": 524288, "prvShareAccount": 262144}, rights("account")); d != "" {
		t.Errorf("account (-want +got):\n%s", d)
	}
	for _, table := range []string{"webresource", "product", "transactioncurrency"} {
		r := rights(table)
		if len(r) != 6 {
			t.Errorf("%s: %v, want six (no Assign, no Share)", table, r)
		}
	}
	if _, ok := rights("webresource")["prvReadWebResource"]; !ok {
		t.Error("prvReadWebResource missing (SR8)")
	}
	a := f.do("GET", "privileges?$filter=name%20eq%20'prvExportToExcel'%20or%20name%20eq%20'prvPrint'%20or%20name%20eq%20'prvGoOffline'%20or%20name%20eq%20'prvSyncToOutlook'", nil)
	if n := len(a.body["value"].([]any)); n != 4 {
		t.Errorf("named privileges: %s", a.raw)
	}
}

// Records come back like a real record: @odata.etag, lookups as _x_value, many null columns
// (Microsoft Learn, "Query data using the Web API").
func TestRecordsCarryExtraFields(t *testing.T) {
	f := newFixture(t, nil)
	a := f.do("GET", "systemusers?$filter=fullname%20eq%20'SYSTEM'", nil)
	u := a.body["value"].([]any)[0].(map[string]any)
	nulls := 0
	for _, v := range u {
		if v == nil {
			nulls++
		}
	}
	if nulls < 40 || u["@odata.etag"] == nil || u["_businessunitid_value"] == nil || u["versionnumber"] == nil {
		t.Fatalf("%d nulls in %v", nulls, u)
	}
	// $select trims to the columns asked, plus the key and the ETag.
	s := f.do("GET", "systemusers?$select=fullname&$filter=fullname%20eq%20'SYSTEM'", nil)
	keys := []string{}
	for k := range s.body["value"].([]any)[0].(map[string]any) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if d := cmp.Diff([]string{"@odata.etag", "fullname", "systemuserid"}, keys); d != "" {
		t.Fatalf("$select (-want +got):\n%s", d)
	}
}

// docs/design.md, "Sync target": interactive users arrive from Entra ID through addUser after a delay;
// their isdisabled is Entra ID's (a PATCH answers 400); application users are created with POST
// systemusers {applicationid} (accessmode 4, enabled) and disabled with a PATCH.
func TestUsersFromEntraAndApplicationUsers(t *testing.T) {
	f := newFixture(t, nil)
	oid := "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
	if err := f.emu.SetEntraUser("contoso", EntraUser{ObjectID: oid, UPN: "ada@contoso.example", FirstName: "Ada", LastName: "Lovelace", Licensed: true}); err != nil {
		t.Fatal(err)
	}
	admin := f.srv.URL + "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/" + f.emu.EnvironmentID("contoso") + "/addUser?api-version=2023-06-01"
	if a := f.do("POST", admin, map[string]any{"objectId": oid}); a.status != 200 {
		t.Fatalf("addUser: %d %s", a.status, a.raw)
	}
	byKey := "systemusers(azureactivedirectoryobjectid=" + oid + ")"
	if a := f.do("GET", byKey, nil); a.status != 404 {
		t.Fatalf("before the delay: %d", a.status)
	}
	f.advance(time.Minute)
	u := f.do("GET", byKey, nil)
	if u.status != 200 || u.body["domainname"] != "ada@contoso.example" || u.body["fullname"] != "Ada Lovelace" || u.body["isdisabled"] != false {
		t.Fatalf("after the delay: %d %s", u.status, u.raw)
	}
	id := u.body["systemuserid"].(string)
	if a := f.do("PATCH", "systemusers("+id+")", map[string]any{"isdisabled": true}); a.status != 400 {
		t.Fatalf("PATCH isdisabled of a person: %d", a.status)
	}
	if a := f.do("PATCH", "systemusers("+id+")", map[string]any{"accessmode": 4}); a.status != 204 {
		t.Fatalf("PATCH accessmode: %d %s", a.status, a.raw)
	}
	// Entra ID blocks sign-in: the next sync disables the user.
	if err := f.emu.SetEntraUser("contoso", EntraUser{ObjectID: oid, UPN: "ada@contoso.example", Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if a := f.do("GET", "systemusers("+id+")", nil); a.body["isdisabled"] != true {
		t.Fatalf("Entra ID's disable not synced: %s", a.raw)
	}

	app := "7b1f3c4e-2a5d-4e6f-8a9b-0c1d2e3f4a5b"
	c := f.do("POST", "systemusers", map[string]any{"applicationid": app, "businessunitid@odata.bind": "/businessunits(" + f.rootBU() + ")"})
	if c.status != 204 {
		t.Fatalf("create application user: %d %s", c.status, c.raw)
	}
	au := f.do("GET", c.header.Get("OData-EntityId"), nil)
	if au.body["accessmode"] != float64(4) || au.body["isdisabled"] != false || au.body["applicationid"] != app {
		t.Fatalf("application user %s", au.raw)
	}
	if a := f.do("PATCH", c.header.Get("OData-EntityId"), map[string]any{"isdisabled": true}); a.status != 204 {
		t.Fatalf("disable application user: %d %s", a.status, a.raw)
	}
	if a := f.do("POST", "systemusers", map[string]any{"domainname": "x@contoso.example", "businessunitid@odata.bind": "/businessunits(" + f.rootBU() + ")"}); a.status != 400 {
		t.Fatalf("a person created by POST: %d", a.status)
	}
}

// Microsoft Learn, "Service protection API limits": over the limit the service answers 429 with
// Retry-After in seconds and 0x80072322 (requests), 0x80072321 (execution time) or 0x80072326
// (concurrent requests).
func TestServiceProtectionLimits(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Limits = Limits{Enforce: true, RequestsPerWindow: 3, WindowSeconds: 300} })
	for i := 0; i < 3; i++ {
		if a := f.do("GET", "WhoAmI", nil); a.status != 200 {
			t.Fatalf("request %d: %d", i, a.status)
		}
	}
	f.advance(100 * time.Second)
	a := f.do("GET", "WhoAmI", nil)
	if a.status != 429 || a.code() != "0x80072322" || a.header.Get("Retry-After") != "200" {
		t.Fatalf("over the limit: %d %q %s", a.status, a.header.Get("Retry-After"), a.raw)
	}
	f.advance(200 * time.Second)
	if a := f.do("GET", "WhoAmI", nil); a.status != 200 {
		t.Fatalf("after Retry-After: %d", a.status)
	}

	// 20 minutes of execution time per window, here 50 ms.
	x := newFixture(t, func(c *Config) { c.Limits = Limits{Enforce: true, ExecutionSeconds: 0.05} })
	x.emu.AddFault(Fault{Latency: 60 * time.Millisecond})
	if a := x.do("GET", "WhoAmI", nil); a.status != 200 {
		t.Fatalf("slow request: %d", a.status)
	}
	x.advance(time.Minute)
	if a := x.do("GET", "WhoAmI", nil); a.status != 429 || a.code() != "0x80072321" || a.header.Get("Retry-After") != "240" {
		t.Fatalf("over the execution time: %d %q %s", a.status, a.header.Get("Retry-After"), a.raw)
	}

	g := newFixture(t, func(c *Config) { c.Limits = Limits{Enforce: true, MaxConcurrent: 1}; c.Latency = 50 * time.Millisecond })
	var wg sync.WaitGroup
	codes := make(chan string, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); codes <- g.do("GET", "WhoAmI", nil).code() }()
	}
	wg.Wait()
	close(codes)
	var got []string
	for c := range codes {
		got = append(got, c)
	}
	sort.Strings(got)
	if d := cmp.Diff([]string{"", "0x80072326"}, got); d != "" {
		t.Fatalf("two at once with a limit of one (-want +got):\n%s", d)
	}
}

// Issue 21: with limits on, every answer says what is left of the window (x-ms-ratelimit-burst-
// remaining-xrm-requests, x-ms-ratelimit-time-remaining-xrm-requests) and, when configured, the
// recommended parallelism (x-ms-dop-hint); another client's requests (Spend) count against the
// same window, so the operator's next request may be the one refused.
func TestRateLimitHeadersAndAnotherClientsRequests(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Limits = Limits{Enforce: true, RequestsPerWindow: 10, WindowSeconds: 60, ExecutionSeconds: 100, DopHint: 3}
	})
	a := f.do("GET", "WhoAmI", nil)
	if got := []string{a.header.Get("x-ms-ratelimit-burst-remaining-xrm-requests"), a.header.Get("x-ms-dop-hint")}; !cmp.Equal(got, []string{"9", "3"}) {
		t.Fatalf("headers after one request: %v", got)
	}
	if tr := a.header.Get("x-ms-ratelimit-time-remaining-xrm-requests"); !strings.HasPrefix(tr, "99.") && tr != "100.00" {
		t.Fatalf("execution time left: %q", tr)
	}
	if err := f.emu.Spend("contoso", 8); err != nil {
		t.Fatal(err)
	}
	if a := f.do("GET", "WhoAmI", nil); a.status != 200 || a.header.Get("x-ms-ratelimit-burst-remaining-xrm-requests") != "0" {
		t.Fatalf("the last request of the window: %d %v", a.status, a.header)
	}
	if a := f.do("GET", "WhoAmI", nil); a.status != 429 || a.header.Get("Retry-After") != "60" {
		t.Fatalf("over the window another client spent: %d %v", a.status, a.header)
	}
	if err := f.emu.Spend("nowhere", 1); err == nil {
		t.Fatal("spending in an unknown environment")
	}
}

// Issue 11: injected faults for the operator's resilience: a 5xx (before or after the write), a
// dropped connection (before or after the write), latency; the request log records each, and
// what the emulator did behind a replaced answer.
func TestFaultInjection(t *testing.T) {
	f := newFixture(t, nil)
	post := func(path string, body any) int {
		req, _ := http.NewRequest("POST", f.srv.URL+path, bytes.NewReader(func() []byte { b, _ := json.Marshal(body); return b }()))
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post("/_emulator/faults", Fault{Method: "GET", PathContains: "WhoAmI", Status: 503, Count: 2}); s != 204 {
		t.Fatalf("add fault: %d", s)
	}
	for i, want := range []int{503, 503, 200} {
		if a := f.do("GET", "WhoAmI", nil); a.status != want {
			t.Fatalf("request %d: %d, want %d", i, a.status, want)
		}
	}
	f.emu.AddFault(Fault{Method: "POST", PathContains: "roles", DropAfter: true})
	if a := f.do("POST", "roles", map[string]any{"name": "Lost answer", "businessunitid@odata.bind": "/businessunits(" + f.rootBU() + ")"}); a.status != -1 {
		t.Fatalf("dropped after: got an answer %d", a.status)
	}
	if a := f.do("GET", "roles?$filter=name%20eq%20'Lost%20answer'", nil); len(a.body["value"].([]any)) != 1 {
		t.Fatalf("the write behind a dropped answer was not done: %s", a.raw)
	}
	// A gateway's 502 after the service made the record (configured through the control
	// endpoint, as a demo or an out-of-process test would).
	if s := post("/_emulator/faults", map[string]any{"method": "POST", "pathContains": "roles", "status": 502, "message": "Bad Gateway", "after": true}); s != 204 {
		t.Fatalf("add fault: %d", s)
	}
	if a := f.do("POST", "roles", map[string]any{"name": "Made then 502", "businessunitid@odata.bind": "/businessunits(" + f.rootBU() + ")"}); a.status != 502 || a.header.Get("OData-EntityId") != "" {
		t.Fatalf("502 after: got %d %v", a.status, a.header)
	}
	if a := f.do("GET", "roles?$filter=name%20eq%20'Made%20then%20502'", nil); len(a.body["value"].([]any)) != 1 {
		t.Fatalf("the write behind a 502 was not done: %s", a.raw)
	}
	f.emu.AddFault(Fault{Method: "POST", PathContains: "roles", Drop: true})
	if a := f.do("POST", "roles", map[string]any{"name": "Never", "businessunitid@odata.bind": "/businessunits(" + f.rootBU() + ")"}); a.status != -1 {
		t.Fatalf("dropped before: got an answer %d", a.status)
	}
	if a := f.do("GET", "roles?$filter=name%20eq%20'Never'", nil); len(a.body["value"].([]any)) != 0 {
		t.Fatalf("a request dropped before was done: %s", a.raw)
	}
	f.emu.AddFault(Fault{Latency: 30 * time.Millisecond})
	start := time.Now()
	f.do("GET", "WhoAmI", nil)
	if time.Since(start) < 30*time.Millisecond {
		t.Fatal("latency not injected")
	}
	var statuses, applied []int
	for _, r := range f.emu.Requests() {
		if strings.Contains(r.Path, "WhoAmI") || r.Method == "POST" {
			statuses = append(statuses, r.Status)
			applied = append(applied, r.Applied)
		}
	}
	if d := cmp.Diff([]int{503, 503, 200, -204, 502, -1, 200}, statuses); d != "" {
		t.Fatalf("log statuses (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int{0, 0, 0, 204, 204, 0, 0}, applied); d != "" {
		t.Fatalf("log applied (-want +got):\n%s", d)
	}
}

// A fault with After and Latency alone makes the change at once and holds its own answer: the
// reliability tests kill the manager while a create is made and its answer not yet read.
func TestFaultHoldsTheAnswerOfADoneRequest(t *testing.T) {
	f := newFixture(t, nil)
	f.emu.AddFault(Fault{Method: "POST", PathContains: "roles", After: true, Latency: 400 * time.Millisecond})
	answered := make(chan answer, 1)
	start := time.Now()
	go func() {
		answered <- f.do("POST", "roles", map[string]any{"name": "Held", "businessunitid@odata.bind": "/businessunits(" + f.rootBU() + ")"})
	}()
	seen := false
	for time.Since(start) < 300*time.Millisecond && !seen {
		a := f.do("GET", "roles?$filter=name%20eq%20'Held'", nil)
		seen = len(a.body["value"].([]any)) == 1
	}
	if !seen {
		t.Fatal("the record is not made while its answer is held")
	}
	a := <-answered
	if time.Since(start) < 400*time.Millisecond {
		t.Fatalf("the answer came after %s, before the fault's latency", time.Since(start))
	}
	if a.status != 204 || !strings.Contains(a.header.Get("OData-EntityId"), "roles(") {
		t.Fatalf("held answer: %d %v", a.status, a.header)
	}
}

// Issue 11: edits behind the operator's back through the control endpoint, a dump of the state, and the
// request log that "no writes" assertions read.
func TestControlEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	id := f.createRole("Drifting")
	etag := f.do("GET", "roles("+id+")", nil).body["@odata.etag"]
	ctl := func(method, path string, body any) (int, []byte) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, f.srv.URL+"/_emulator/"+path, bytes.NewReader(b))
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, raw
	}
	if s, raw := ctl("PUT", "environments/contoso/roles/"+id+"/privileges", map[string]string{"prvReadAccount": "Deep"}); s != 204 {
		t.Fatalf("set privileges: %d %s", s, raw)
	}
	if s, raw := ctl("PATCH", "environments/contoso/roles/"+id, map[string]any{"isinherited": 0}); s != 204 {
		t.Fatalf("patch: %d %s", s, raw)
	}
	r := f.do("GET", "roles("+id+")", nil)
	if r.body["@odata.etag"] == etag || r.body["isinherited"] != float64(0) {
		t.Fatalf("behind-the-back edit not visible: %s", r.raw)
	}
	p := f.do("GET", "RetrieveRolePrivilegesRole(RoleId="+id+")", nil)
	if rp := p.body["RolePrivileges"].([]any); len(rp) != 1 || rp[0].(map[string]any)["Depth"] != "Deep" {
		t.Fatalf("privileges: %s", p.raw)
	}
	s, raw := ctl("POST", "environments/contoso/users", map[string]any{"domainname": "bot@contoso.example", "accessmode": 4})
	if s != 200 {
		t.Fatalf("unmanaged user: %d %s", s, raw)
	}
	if a := f.do("GET", "systemusers?$filter=accessmode%20eq%204%20and%20applicationid%20eq%20null", nil); len(a.body["value"].([]any)) != 1 {
		t.Fatalf("unmanaged non-interactive user: %s", a.raw)
	}
	s, raw = ctl("GET", "state", nil)
	var d Dump
	if err := json.Unmarshal(raw, &d); err != nil || s != 200 || len(d.Environments) != 1 {
		t.Fatalf("state: %d %v", s, err)
	}
	found := false
	for _, r := range d.Environments[0].Roles {
		if r["name"] == "Drifting" {
			found = cmp.Equal(r["privileges"], map[string]any{"prvReadAccount": "Deep"})
		}
	}
	if !found {
		t.Fatalf("dump lacks the role's privileges: %s", raw)
	}
	ctl("DELETE", "requests", nil)
	f.do("GET", "WhoAmI", nil)
	s, raw = ctl("GET", "requests", nil)
	var log []LoggedRequest
	_ = json.Unmarshal(raw, &log)
	if len(log) != 1 || log[0].Method != "GET" || len(Writes(log)) != 0 {
		t.Fatalf("request log %s", raw)
	}
}

// The platform keeps an inherited copy of each role in every business unit below its own
// (Microsoft Learn, "Security Role (Role) table/entity reference": parentrootroleid names the root
// role of a copy; "BusinessUnit table": security roles are associated with a business unit); a
// principal is assigned the copy of its own unit, and a role from another unit is refused. Moving
// a user to another unit removes its roles (Power Platform admin guide, "Change the business unit
// for a user").
func TestRolesFollowBusinessUnits(t *testing.T) {
	f := newFixture(t, nil)
	root := f.rootBU()
	id := f.createRole("Everywhere")
	c := f.do("POST", "businessunits", map[string]any{"name": "sales", "parentbusinessunitid@odata.bind": "/businessunits(" + root + ")"})
	sales := c.header.Get("OData-EntityId")
	sales = sales[strings.LastIndex(sales, "(")+1 : len(sales)-1]
	copies := f.do("GET", "roles?$filter=name%20eq%20'Everywhere'%20and%20_businessunitid_value%20eq%20"+sales, nil).body["value"].([]any)
	if len(copies) != 1 || copies[0].(map[string]any)["_parentrootroleid_value"] != id {
		t.Fatalf("copy in sales: %v", copies)
	}
	copyID := copies[0].(map[string]any)["roleid"].(string)
	u := f.do("POST", "systemusers", map[string]any{"applicationid": "7b1f3c4e-2a5d-4e6f-8a9b-0c1d2e3f4a5b", "businessunitid@odata.bind": "/businessunits(" + sales + ")"})
	user := u.header.Get("OData-EntityId")
	ref := func(role string) map[string]any { return map[string]any{"@odata.id": f.api + "roles(" + role + ")"} }
	if a := f.do("POST", user+"/systemuserroles_association/$ref", ref(id)); a.status != 400 {
		t.Fatalf("root unit's role on a sales user: %d", a.status)
	}
	if a := f.do("POST", user+"/systemuserroles_association/$ref", ref(copyID)); a.status != 204 {
		t.Fatalf("sales copy: %d %s", a.status, a.raw)
	}
	if a := f.do("POST", user+"/systemuserroles_association/$ref", ref(copyID)); a.code() != "0x80040237" {
		t.Fatalf("second association: %s", a.raw)
	}
	if a := f.do("PATCH", user, map[string]any{"businessunitid@odata.bind": "/businessunits(" + root + ")"}); a.status != 204 {
		t.Fatalf("move: %d %s", a.status, a.raw)
	}
	if a := f.do("GET", user+"/systemuserroles_association", nil); len(a.body["value"].([]any)) != 0 {
		t.Fatalf("roles kept across a move: %s", a.raw)
	}
}

// The login host: the OpenID configuration's issuer is on the authority's host (MSAL checks it)
// and the token endpoint issues client-credentials tokens.
func TestLoginHost(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ClientSecrets = map[string]string{"app": "right"} })
	resp, err := f.srv.Client().Get(f.srv.URL + "/tenant1/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var oc map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&oc)
	resp.Body.Close()
	if oc["issuer"] != f.srv.URL+"/tenant1/v2.0" || oc["token_endpoint"] != f.srv.URL+"/tenant1/oauth2/v2.0/token" {
		t.Fatalf("openid configuration %v", oc)
	}
	for secret, want := range map[string]int{"right": 200, "wrong": 401} {
		resp, err := f.srv.Client().PostForm(f.srv.URL+"/tenant1/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
			"client_id": {"app"}, "client_secret": {secret}, "scope": {f.srv.URL + "/env/contoso/.default"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("secret %s: %d, want %d", secret, resp.StatusCode, want)
		}
	}
}

// An environment's own Entra sync delay replaces the emulator's, and asking addUser again while
// the sync is under way does not restart it (tests wait for one user without waiting for all).
func TestEnvironmentEntraSyncDelay(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Environments = append(c.Environments, EnvironmentConfig{Name: "quick", EntraSyncDelay: 10 * time.Second})
	})
	oid := "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	for _, env := range []string{"contoso", "quick"} {
		if err := f.emu.SetEntraUser(env, EntraUser{ObjectID: oid, UPN: "grace@contoso.example", Licensed: true}); err != nil {
			t.Fatal(err)
		}
		admin := f.srv.URL + "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/" + f.emu.EnvironmentID(env) + "/addUser?api-version=2023-06-01"
		if a := f.do("POST", admin, map[string]any{"objectId": oid}); a.status != 200 {
			t.Fatalf("addUser in %s: %d %s", env, a.status, a.raw)
		}
	}
	get := func(env string) int {
		return f.do("GET", f.srv.URL+"/env/"+env+"/api/data/v9.2/systemusers(azureactivedirectoryobjectid="+oid+")", nil).status
	}
	f.advance(6 * time.Second)
	admin := f.srv.URL + "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/" + f.emu.EnvironmentID("quick") + "/addUser?api-version=2023-06-01"
	if a := f.do("POST", admin, map[string]any{"objectId": oid}); a.status != 200 {
		t.Fatalf("addUser again: %d %s", a.status, a.raw)
	}
	if s := get("quick"); s != 404 {
		t.Fatalf("quick before its delay: %d", s)
	}
	f.advance(5 * time.Second)
	if s := get("quick"); s != 200 {
		t.Fatalf("quick after its delay (a second addUser must not restart the sync): %d", s)
	}
	if s := get("contoso"); s != 404 {
		t.Fatalf("contoso keeps the emulator's delay of a minute: %d", s)
	}
	f.advance(time.Minute)
	if s := get("contoso"); s != 200 {
		t.Fatalf("contoso after a minute: %d", s)
	}
}
