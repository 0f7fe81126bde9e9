package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Conformance tests of the Graph side: each is named for the documented fact it checks; graph.go
// cites the Microsoft Graph reference page of each.

const (
	skuSales  = "1e1a282c-9c54-43a2-9310-98ef728faace"
	skuApps   = "b30411f5-fea1-4a59-9ad9-3db7c7ead579"
	adaID     = "a0000000-0000-4000-8000-000000000001"
	graceID   = "a0000000-0000-4000-8000-000000000002"
	linID     = "a0000000-0000-4000-8000-000000000003"
	bobID     = "a0000000-0000-4000-8000-000000000004"
	danID     = "a0000000-0000-4000-8000-000000000005"
	sgID      = "5a000000-0000-4000-8000-000000000001"
	nestedID  = "5a000000-0000-4000-8000-000000000002"
	appsGroup = "5a000000-0000-4000-8000-000000000003"
	otherApp  = "7c000000-0000-4000-8000-000000000001"
)

func ptr[T any](v T) *T { return &v }

// tenant: DYN365_ENTERPRISE_SALES (3 units) held directly by ada and bob; POWERAPPS_PER_USER (1
// unit) assigned by the group "Apps users" to grace (joined first) and dan (in error); sg-sales
// has ada, grace and the group "nested" (lin) as direct members; bob's sign-in is blocked; lin has
// no usage location.
func tenant() DirectorySeed {
	return DirectorySeed{
		SubscribedSkus: []SubscribedSku{
			{SkuID: skuSales, SkuPartNumber: "DYN365_ENTERPRISE_SALES", PrepaidUnits: PrepaidUnits{Enabled: 3}},
			{SkuID: skuApps, SkuPartNumber: "POWERAPPS_PER_USER", PrepaidUnits: PrepaidUnits{Enabled: 1}},
		},
		Users: []DirectoryUser{
			{ID: adaID, UserPrincipalName: "ada@contoso.example", GivenName: "Ada", Surname: "Lovelace", UsageLocation: "GB",
				AssignedLicenses: []AssignedLicense{{SkuPartNumber: "DYN365_ENTERPRISE_SALES"}}},
			{ID: graceID, UserPrincipalName: "grace@contoso.example", GivenName: "Grace", Surname: "Hopper", UsageLocation: "US"},
			{ID: linID, UserPrincipalName: "lin@contoso.example", DisplayName: "Lin"},
			{ID: bobID, UserPrincipalName: "bob@contoso.example", AccountEnabled: ptr(false), UsageLocation: "US",
				AssignedLicenses: []AssignedLicense{{SkuID: skuSales}}},
			{ID: danID, UserPrincipalName: "dan@contoso.example", UsageLocation: "US"},
		},
		Groups: []DirectoryGroup{
			{ID: sgID, DisplayName: "sg-sales", Members: []string{"ada@contoso.example", graceID, "nested"}},
			{ID: nestedID, DisplayName: "nested", Members: []string{linID}},
			{ID: appsGroup, DisplayName: "Apps users", Members: []string{graceID, danID},
				AssignedLicenses: []AssignedLicense{{SkuID: skuApps}}},
		},
	}
}

func newGraphFixture(t *testing.T, tune func(*Config)) *fixture {
	f := newFixture(t, func(c *Config) {
		s := tenant()
		c.Directory = &s
		if tune != nil {
			tune(c)
		}
	})
	return f
}

func (f *fixture) graphURL(p string) string { return f.srv.URL + "/graph/v1.0/" + p }

// as calls with a given bearer token ("" for none).
func (f *fixture) as(bearer, method, u string, body any, hdr ...string) answer {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	if !strings.HasPrefix(u, "https://") {
		u = f.graphURL(u)
	}
	req, _ := http.NewRequest(method, u, rd)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
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

// graph calls Graph with the static token (the operator's app registration).
func (f *fixture) graph(method, p string, body any) answer {
	f.t.Helper()
	return f.as(tok, method, p, body)
}

func (f *fixture) tokenFor(client, scope string) string {
	f.t.Helper()
	resp, err := f.srv.Client().PostForm(f.srv.URL+"/tenant/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {client}, "client_secret": {"x"}, "scope": {scope}})
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&b)
	return b["access_token"].(string)
}

func (f *fixture) control(method, p string, body any) (int, []byte) {
	f.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, f.srv.URL+"/_emulator/"+p, bytes.NewReader(b))
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func (a answer) message() string {
	e, _ := a.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func values(a answer) []map[string]any {
	var out []map[string]any
	list, _ := a.body["value"].([]any)
	for _, v := range list {
		out = append(out, v.(map[string]any))
	}
	return out
}

func ids(list []map[string]any) []string {
	out := []string{}
	for _, v := range list {
		out = append(out, v["id"].(string))
	}
	sort.Strings(out)
	return out
}

func memberIDs(f *fixture, group string) []string {
	f.t.Helper()
	a := f.graph("GET", "groups/"+group+"/members/microsoft.graph.user?$select=id,userPrincipalName&$top=999", nil)
	if a.status != 200 {
		f.t.Fatalf("members of %s: %d %s", group, a.status, a.raw)
	}
	return ids(values(a))
}

// Microsoft Graph, "Get user": GET /users/{id | userPrincipalName}; "By default, only a limited set
// of properties are returned (businessPhones, displayName, givenName, id, jobTitle, mail,
// mobilePhone, officeLocation, preferredLanguage, surname, userPrincipalName)"; $select returns
// the properties asked (docs/design.md: id, userPrincipalName, accountEnabled, assignedLicenses,
// licenseAssignmentStates, usageLocation).
func TestGraphGetUserByIDOrUserPrincipalNameReturnsTheDefaultPropertiesOrThoseSelected(t *testing.T) {
	f := newGraphFixture(t, nil)
	def := f.graph("GET", "users/"+adaID, nil)
	if def.status != 200 {
		t.Fatalf("%d %s", def.status, def.raw)
	}
	want := append([]string{"@odata.context"}, defaultUserProps...)
	sort.Strings(want)
	if d := cmp.Diff(want, keysOf(def.body)); d != "" {
		t.Errorf("default properties (-want +got):\n%s", d)
	}
	sel := "id,userPrincipalName,accountEnabled,assignedLicenses,licenseAssignmentStates,usageLocation"
	for _, key := range []string{adaID, "ada@contoso.example", "ADA@Contoso.Example"} {
		a := f.graph("GET", "users/"+key+"?$select="+sel, nil)
		if a.status != 200 || a.body["id"] != adaID || a.body["accountEnabled"] != true || a.body["usageLocation"] != "GB" {
			t.Fatalf("by %s: %d %s", key, a.status, a.raw)
		}
		if d := cmp.Diff([]string{"@odata.context", "accountEnabled", "assignedLicenses", "id", "licenseAssignmentStates", "usageLocation", "userPrincipalName"}, keysOf(a.body)); d != "" {
			t.Errorf("$select (-want +got):\n%s", d)
		}
	}
	if a := f.graph("GET", "users/"+adaID+"?$select=id,shoeSize", nil); a.status != 400 {
		t.Errorf("unknown property in $select: %d %s", a.status, a.raw)
	}
	if a := f.graph("GET", "users/"+linID+"?$select=usageLocation", nil); a.body["usageLocation"] != nil {
		t.Errorf("no usage location is null: %s", a.raw)
	}
}

// Microsoft Graph, "List users": GET /users with $filter and $select, "The default and maximum
// page sizes are 100 and 999 user objects respectively", paged by @odata.nextLink.
func TestGraphListUsersFiltersAndPagesBy100Then999(t *testing.T) {
	f := newGraphFixture(t, nil)
	q := url.Values{"$filter": {"userPrincipalName eq 'Grace@contoso.example'"}, "$select": {"id,accountEnabled"}}
	a := f.graph("GET", "users?"+q.Encode(), nil)
	if v := values(a); a.status != 200 || len(v) != 1 || v[0]["id"] != graceID || len(v[0]) != 2 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	for i := 0; i < 100; i++ {
		if _, err := f.emu.AddEntraUser(DirectoryUser{UserPrincipalName: fmt.Sprintf("many%03d@contoso.example", i)}); err != nil {
			t.Fatal(err)
		}
	}
	a = f.graph("GET", "users?$select=id", nil)
	if len(values(a)) != 100 || a.body["@odata.nextLink"] == nil {
		t.Errorf("default page: %d, nextLink %v", len(values(a)), a.body["@odata.nextLink"])
	}
	if a := f.graph("GET", a.body["@odata.nextLink"].(string), nil); len(values(a)) != 5 || a.body["@odata.nextLink"] != nil {
		t.Errorf("second page: %d", len(values(a)))
	}
	if a := f.graph("GET", "users?$select=id&$top=999", nil); len(values(a)) != 105 {
		t.Errorf("$top=999: %d", len(values(a)))
	}
}

// docs/design.md, "Entra ID target": a person who is absent answers 404 Request_ResourceNotFound.
func TestGraphGetAbsentUserAnswers404RequestResourceNotFound(t *testing.T) {
	f := newGraphFixture(t, nil)
	for _, key := range []string{"00000000-1111-4222-8333-444444444444", "nobody@contoso.example"} {
		a := f.graph("GET", "users/"+key+"?$select=id", nil)
		if a.status != 404 || a.code() != "Request_ResourceNotFound" {
			t.Errorf("%s: %d %s", key, a.status, a.raw)
		}
	}
}

// docs/design.md, "Entra ID target": "assignedLicenses ([{skuId, disabledPlans}]) includes licenses
// inherited from groups; licenseAssignmentStates[].assignedByGroup tells them apart (null:
// direct)" (Microsoft Graph, "licenseAssignmentState resource type": "If directly assigned, this
// field is null; if inherited through a group membership, this field contains the ID of the
// group"). Group-based licensing reaches a group's direct user members only (Microsoft Entra ID,
// "What is group-based licensing": nested groups are not supported); group licenses beyond the
// units are in state Error with error CountViolation (same resource type).
func TestGraphAssignedLicensesIncludeGroupLicensesAndAssignedByGroupTellsThemApart(t *testing.T) {
	f := newGraphFixture(t, nil)
	// ada: direct; also give sg-sales the SKU: still one unit, two states.
	if err := f.emu.SetGroupLicenses(sgID, []AssignedLicense{{SkuID: skuSales, DisabledPlans: []string{}}}); err != nil {
		t.Fatal(err)
	}
	type st struct{ Sku, By, State string }
	states := func(id string) ([]string, []st) {
		a := f.graph("GET", "users/"+id+"?$select=assignedLicenses,licenseAssignmentStates", nil)
		var skus []string
		for _, l := range a.body["assignedLicenses"].([]any) {
			skus = append(skus, l.(map[string]any)["skuId"].(string))
		}
		var out []st
		for _, s := range a.body["licenseAssignmentStates"].([]any) {
			m := s.(map[string]any)
			by, _ := m["assignedByGroup"].(string)
			if _, present := m["assignedByGroup"]; !present {
				t.Fatalf("assignedByGroup absent: %s", a.raw)
			}
			out = append(out, st{m["skuId"].(string), by, m["state"].(string)})
		}
		return skus, out
	}
	skus, s := states(adaID)
	if d := cmp.Diff([]string{skuSales}, skus); d != "" {
		t.Errorf("ada's assignedLicenses (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]st{{skuSales, "", "Active"}, {skuSales, sgID, "Active"}}, s); d != "" {
		t.Errorf("ada's states (-want +got):\n%s", d)
	}
	skus, s = states(graceID)
	if d := cmp.Diff([]string{skuSales, skuApps}, skus, cmp.Transformer("sort", func(in []string) []string { out := append([]string{}, in...); sort.Strings(out); return out })); d != "" {
		t.Errorf("grace inherits both (-want +got):\n%s", d)
	}
	if len(s) != 2 || s[0].By == "" || s[1].By == "" {
		t.Errorf("grace's states: %v", s)
	}
	// lin is in sg-sales only through "nested": no license.
	if skus, s = states(linID); len(skus) != 0 || len(s) != 0 {
		t.Errorf("a nested group's member inherits nothing: %v %v", skus, s)
	}
	// POWERAPPS_PER_USER has one unit: grace (joined first) holds it, dan is in error.
	skus, s = states(danID)
	if len(skus) != 0 || len(s) != 1 || s[0] != (st{skuApps, appsGroup, "Error"}) {
		t.Errorf("dan beyond the units: %v %v", skus, s)
	}
	a := f.graph("GET", "users/"+danID+"?$select=licenseAssignmentStates", nil)
	if e := a.body["licenseAssignmentStates"].([]any)[0].(map[string]any)["error"]; e != "CountViolation" {
		t.Errorf("error %v", e)
	}
}

// Microsoft Graph, "List groups": GET /groups?$filter=displayName eq '<name>'&$select=id,displayName,securityEnabled
// (docs/design.md, "Entra ID target"); a quote inside an OData string literal is written twice.
func TestGraphListGroupsByDisplayNameFilterWithQuotesDoubled(t *testing.T) {
	f := newGraphFixture(t, nil)
	oBrien, err := f.emu.AddGroup(DirectoryGroup{DisplayName: "O'Brien's team", SecurityEnabled: ptr(false)})
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"$filter": {"displayName eq 'O''Brien''s team'"}, "$select": {"id,displayName,securityEnabled"}}
	a := f.graph("GET", "groups?"+q.Encode(), nil)
	v := values(a)
	if a.status != 200 || len(v) != 1 || v[0]["id"] != oBrien || v[0]["securityEnabled"] != false || v[0]["displayName"] != "O'Brien's team" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if d := cmp.Diff([]string{"displayName", "id", "securityEnabled"}, keysOf(v[0])); d != "" {
		t.Errorf("$select (-want +got):\n%s", d)
	}
	if a := f.graph("GET", "groups?$filter="+url.QueryEscape("displayName eq 'sg-sales'"), nil); ids(values(a))[0] != sgID {
		t.Errorf("sg-sales: %s", a.raw)
	}
	if a := f.graph("GET", "groups?$filter="+url.QueryEscape("displayName eq 'none such'"), nil); a.status != 200 || len(values(a)) != 0 {
		t.Errorf("no match is an empty list: %d %s", a.status, a.raw)
	}
	if a := f.graph("GET", "groups?$filter="+url.QueryEscape("displayName eq 'unterminated"), nil); a.status != 400 {
		t.Errorf("a bad filter: %d", a.status)
	}
}

// Microsoft Graph, "Get group": GET /groups/{id}; absent: 404 Request_ResourceNotFound.
func TestGraphGetGroupByIDAndAbsentGroup404(t *testing.T) {
	f := newGraphFixture(t, nil)
	a := f.graph("GET", "groups/"+sgID+"?$select=id,displayName,securityEnabled", nil)
	if a.status != 200 || a.body["displayName"] != "sg-sales" || a.body["securityEnabled"] != true {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if a := f.graph("GET", "groups/00000000-1111-4222-8333-444444444444", nil); a.status != 404 || a.code() != "Request_ResourceNotFound" {
		t.Errorf("absent: %d %s", a.status, a.raw)
	}
}

// Microsoft Graph, "List members": "Get a list of the group's direct members … This operation is
// not transitive"; the OData cast /microsoft.graph.user keeps the users.
func TestGraphListMembersIsDirectNotTransitiveAndTheUserCastKeepsUsers(t *testing.T) {
	f := newGraphFixture(t, nil)
	all := values(f.graph("GET", "groups/"+sgID+"/members?$select=id", nil))
	types := map[string]string{}
	for _, m := range all {
		types[m["id"].(string)] = m["@odata.type"].(string)
	}
	if d := cmp.Diff(map[string]string{adaID: "#microsoft.graph.user", graceID: "#microsoft.graph.user", nestedID: "#microsoft.graph.group"}, types); d != "" {
		t.Errorf("direct members (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{adaID, graceID}, memberIDs(f, sgID)); d != "" {
		t.Errorf("users among them, lin (nested) not (-want +got):\n%s", d)
	}
	a := f.graph("GET", "groups/"+sgID+"/members/microsoft.graph.user?$select=id,userPrincipalName", nil)
	if v := values(a); len(v) != 2 || v[0]["userPrincipalName"] == nil || len(v[0]) != 2 {
		t.Errorf("$select id,userPrincipalName: %s", a.raw)
	}
}

// Microsoft Graph, "Paging Microsoft Graph data in your app": the next page is reached through
// @odata.nextLink, which carries a $skiptoken and "all the other query parameters present in the
// original request"; $top is at most 999 ("List users": default and maximum page sizes 100 and 999).
func TestGraphMembersArePagedByNextLinkWithASkiptokenAndTopIsAtMost999(t *testing.T) {
	f := newGraphFixture(t, nil)
	var want []string
	for i := 0; i < 5; i++ {
		id, err := f.emu.AddEntraUser(DirectoryUser{UserPrincipalName: fmt.Sprintf("paged%d@contoso.example", i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.emu.AddGroupMember(nestedID, id); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	want = append(want, linID)
	sort.Strings(want)
	var got []string
	next, pages := f.graphURL("groups/"+nestedID+"/members/microsoft.graph.user?$select=id,userPrincipalName&$top=2"), 0
	for next != "" {
		a := f.graph("GET", next, nil)
		if a.status != 200 {
			t.Fatalf("page %d: %d %s", pages, a.status, a.raw)
		}
		v := values(a)
		if len(v) > 2 {
			t.Fatalf("page of %d", len(v))
		}
		for _, m := range v {
			got = append(got, m["id"].(string))
			if len(m) != 2 {
				t.Fatalf("$select lost on a later page: %v", m)
			}
		}
		next, _ = a.body["@odata.nextLink"].(string)
		if next != "" && (!strings.Contains(next, "$skiptoken=") || !strings.Contains(next, "$top=2") || !strings.Contains(next, "$select=")) {
			t.Fatalf("nextLink %s", next)
		}
		pages++
	}
	sort.Strings(got)
	if d := cmp.Diff(want, got); d != "" || pages != 3 {
		t.Fatalf("%d pages (-want +got):\n%s", pages, d)
	}
	if a := f.graph("GET", "groups/"+nestedID+"/members/microsoft.graph.user?$top=999", nil); a.status != 200 || a.body["@odata.nextLink"] != nil {
		t.Errorf("$top=999: %d %s", a.status, a.raw)
	}
	if a := f.graph("GET", "groups/"+nestedID+"/members/microsoft.graph.user?$top=1000", nil); a.status != 400 {
		t.Errorf("$top=1000: %d %s", a.status, a.raw)
	}
}

// Microsoft Graph, "Add members": POST /groups/{id}/members/$ref {"@odata.id":
// "https://graph.microsoft.com/v1.0/directoryObjects/{id}"} "returns a 204 No Content … returns a
// 400 Bad Request response code when the object is already a member of the group … a 404 Not Found
// response code when the object being added doesn't exist"; the 400 is Request_BadRequest "One or
// more added object references already exist for the following modified properties: 'members'."
// (docs/design.md, "Entra ID target").
func TestGraphAddMemberAnswers204AlreadyAMember400RequestBadRequestAndMissingObject404(t *testing.T) {
	f := newGraphFixture(t, nil)
	ref := func(id string) map[string]any {
		return map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + id}
	}
	a := f.graph("POST", "groups/"+sgID+"/members/$ref", ref(danID))
	if a.status != 204 || len(a.raw) != 0 {
		t.Fatalf("add: %d %s", a.status, a.raw)
	}
	if d := cmp.Diff([]string{adaID, graceID, danID}, memberIDs(f, sgID), cmp.Transformer("sort", func(in []string) []string { out := append([]string{}, in...); sort.Strings(out); return out })); d != "" {
		t.Errorf("members (-want +got):\n%s", d)
	}
	a = f.graph("POST", "groups/"+sgID+"/members/$ref", ref(danID))
	if a.status != 400 || a.code() != "Request_BadRequest" || a.message() != "One or more added object references already exist for the following modified properties: 'members'." {
		t.Fatalf("again: %d %s", a.status, a.raw)
	}
	if a := f.graph("POST", "groups/"+sgID+"/members/$ref", ref("00000000-1111-4222-8333-444444444444")); a.status != 404 {
		t.Errorf("missing object: %d %s", a.status, a.raw)
	}
	if a := f.graph("POST", "groups/00000000-1111-4222-8333-444444444444/members/$ref", ref(danID)); a.status != 404 {
		t.Errorf("missing group: %d %s", a.status, a.raw)
	}
}

// Microsoft Graph, "Remove member": DELETE /groups/{id}/members/{id}/$ref "returns 204 No
// Content"; a member that is not there answers 404 (docs/design.md, "Entra ID target").
func TestGraphRemoveMemberRefAnswers204AndNotAMember404(t *testing.T) {
	f := newGraphFixture(t, nil)
	if a := f.graph("DELETE", "groups/"+sgID+"/members/"+graceID+"/$ref", nil); a.status != 204 {
		t.Fatalf("remove: %d %s", a.status, a.raw)
	}
	if d := cmp.Diff([]string{adaID}, memberIDs(f, sgID)); d != "" {
		t.Errorf("members (-want +got):\n%s", d)
	}
	if a := f.graph("DELETE", "groups/"+sgID+"/members/"+graceID+"/$ref", nil); a.status != 404 {
		t.Errorf("not a member: %d %s", a.status, a.raw)
	}
	if a := f.graph("GET", "users/"+graceID, nil); a.status != 200 {
		t.Errorf("the user is still there: %d", a.status)
	}
}

// Microsoft Graph, "Remove member", Caution: "If /$ref is not appended to the request and the
// calling app has permissions to manage the member object type, the member object will also be
// deleted …; otherwise, a 403 Forbidden error is returned. For example, an app with both
// GroupMember.ReadWrite.All and User.ReadWrite.All permissions will delete a user."
func TestGraphRemoveMemberWithoutRefDeletesTheUserForAnAppThatManagesUsers(t *testing.T) {
	f := newGraphFixture(t, nil)
	a := f.graph("DELETE", "groups/"+sgID+"/members/"+graceID, nil)
	if a.status != 403 || a.code() != "Authorization_RequestDenied" {
		t.Fatalf("with the default permissions: %d %s", a.status, a.raw)
	}
	if a := f.graph("GET", "users/"+graceID, nil); a.status != 200 {
		t.Fatalf("deleted anyway: %d", a.status)
	}
	f.emu.SetAppPermissions(OperatorApplicationID, append([]string{"User.ReadWrite.All"}, DefaultGraphPermissions...))
	if a := f.graph("DELETE", "groups/"+sgID+"/members/"+graceID, nil); a.status != 204 {
		t.Fatalf("with User.ReadWrite.All: %d %s", a.status, a.raw)
	}
	if a := f.graph("GET", "users/"+graceID, nil); a.status != 404 {
		t.Errorf("the user is deleted: %d", a.status)
	}
	if d := cmp.Diff([]string{danID}, memberIDs(f, appsGroup)); d != "" {
		t.Errorf("and gone from its other groups (-want +got):\n%s", d)
	}
	var deletes []string
	for _, r := range Writes(GraphRequests(f.emu.Requests())) {
		if r.Method == "DELETE" && !strings.HasSuffix(r.Path, "/$ref") {
			deletes = append(deletes, r.Path)
		}
	}
	if len(deletes) != 2 {
		t.Errorf("the log shows the calls without /$ref: %v", deletes)
	}
}

// Microsoft Graph, "List subscribedSkus": each SKU with skuId, skuPartNumber, prepaidUnits
// {enabled, suspended, warning, lockedOut} and consumedUnits.
func TestGraphSubscribedSkusGiveUnitsAndCountConsumedUnits(t *testing.T) {
	f := newGraphFixture(t, nil)
	a := f.graph("GET", "subscribedSkus", nil)
	got := map[string][2]float64{}
	for _, s := range values(a) {
		u := s["prepaidUnits"].(map[string]any)
		got[s["skuPartNumber"].(string)] = [2]float64{u["enabled"].(float64), s["consumedUnits"].(float64)}
		if s["skuId"] == nil || u["suspended"] == nil || u["warning"] == nil {
			t.Errorf("%v", s)
		}
	}
	// Sales: ada and bob (sign-in blocked still consumes); Apps: grace only (dan is in error).
	if d := cmp.Diff(map[string][2]float64{"DYN365_ENTERPRISE_SALES": {3, 2}, "POWERAPPS_PER_USER": {1, 1}}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	s := f.graph("GET", "subscribedSkus?$select=skuId,skuPartNumber,prepaidUnits,consumedUnits", nil)
	if d := cmp.Diff([]string{"consumedUnits", "prepaidUnits", "skuId", "skuPartNumber"}, keysOf(values(s)[0])); d != "" {
		t.Errorf("$select (-want +got):\n%s", d)
	}
}

// Microsoft Graph, "user: assignLicense": POST /users/{id | userPrincipalName}/assignLicense
// {"addLicenses":[{"skuId","disabledPlans"}],"removeLicenses":[skuId]} "returns 200 OK response
// code and user object in the response body".
func TestGraphAssignLicenseAnswers200WithTheUser(t *testing.T) {
	f := newGraphFixture(t, nil)
	a := f.graph("POST", "users/grace@contoso.example/assignLicense", map[string]any{
		"addLicenses": []map[string]any{{"skuId": skuSales, "disabledPlans": []string{}}}, "removeLicenses": []string{}})
	if a.status != 200 || a.body["id"] != graceID || a.body["userPrincipalName"] != "grace@contoso.example" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	u := f.graph("GET", "users/"+graceID+"?$select=licenseAssignmentStates", nil)
	direct := 0
	for _, s := range u.body["licenseAssignmentStates"].([]any) {
		if m := s.(map[string]any); m["skuId"] == skuSales && m["assignedByGroup"] == nil {
			direct++
		}
	}
	if direct != 1 {
		t.Errorf("direct assignment: %s", u.raw)
	}
	if a := f.graph("POST", "users/"+adaID+"/assignLicense", map[string]any{"addLicenses": []any{}, "removeLicenses": []string{skuSales}}); a.status != 200 {
		t.Fatalf("remove: %d %s", a.status, a.raw)
	}
	if a := f.graph("GET", "users/"+adaID+"?$select=assignedLicenses", nil); len(a.body["assignedLicenses"].([]any)) != 0 {
		t.Errorf("removed: %s", a.raw)
	}
}

// docs/design.md, "Entra ID target": assignLicense answers 400 "when the person has no usage
// location or the tenant has no unit left; a license inherited from a group cannot be removed this
// way" (the reference page gives no codes: Request_BadRequest, the service's messages). A refused
// call changes nothing.
func TestGraphAssignLicenseAnswers400WithoutUsageLocationWithoutUnitsAndForAGroupLicense(t *testing.T) {
	f := newGraphFixture(t, nil)
	add := func(sku string) map[string]any {
		return map[string]any{"addLicenses": []map[string]any{{"skuId": sku, "disabledPlans": []string{}}}, "removeLicenses": []string{}}
	}
	for _, tc := range []struct {
		name, user string
		body       map[string]any
		message    string
	}{
		{"no usage location", linID, add(skuSales), "License assignment cannot be done for user with invalid usage location."},
		{"no unit left", danID, add(skuApps), "Subscription with SKU " + skuApps + " does not have any available licenses."},
		{"a license assigned by a group", graceID, map[string]any{"addLicenses": []any{}, "removeLicenses": []string{skuApps}},
			"User license is inherited from a group membership and it cannot be removed directly from the user."},
		{"a SKU the tenant does not have", graceID, add("00000000-1111-4222-8333-444444444444"),
			"License 00000000-1111-4222-8333-444444444444 does not correspond to a valid company License."},
	} {
		before := f.emu.Directory()
		a := f.graph("POST", "users/"+tc.user+"/assignLicense", tc.body)
		if a.status != 400 || a.code() != "Request_BadRequest" || a.message() != tc.message {
			t.Errorf("%s: %d %s", tc.name, a.status, a.raw)
		}
		if d := cmp.Diff(before, f.emu.Directory()); d != "" {
			t.Errorf("%s changed the directory:\n%s", tc.name, d)
		}
	}
	// The third unit of Sales is free: dan takes it; then none is left for grace.
	if a := f.graph("POST", "users/"+danID+"/assignLicense", add(skuSales)); a.status != 200 {
		t.Fatalf("last unit: %d %s", a.status, a.raw)
	}
	if a := f.graph("POST", "users/"+graceID+"/assignLicense", add(skuSales)); a.status != 400 {
		t.Errorf("beyond the units: %d %s", a.status, a.raw)
	}
}

// Microsoft Graph, "Combine multiple HTTP requests using JSON batching": POST /$batch with up to 20
// requests; "If the batch request is parseable, the status code is 200" and each response has its
// own status, headers and body; "Requests in a batch are evaluated individually against the
// applicable throttling limits and if any request exceeds the limits, it fails with a status of
// 429"; "Individual responses might appear in a different order than the requests. The id
// property can be used to correlate".
func TestGraphBatchAnswersEachRequestOnItsOwnInsideA200(t *testing.T) {
	f := newGraphFixture(t, nil)
	f.emu.AddFault(Fault{Method: "GET", PathContains: "users/" + danID, Status: 429, RetryAfter: 7})
	reqs := []map[string]any{
		{"id": "1", "method": "GET", "url": "/users/" + adaID + "?$select=id,accountEnabled"},
		{"id": "2", "method": "GET", "url": "users/nobody@contoso.example"},
		{"id": "3", "method": "POST", "url": "/groups/" + sgID + "/members/$ref", "headers": map[string]string{"Content-Type": "application/json"},
			"body": map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + danID}},
		{"id": "4", "method": "GET", "url": "/users/" + danID},
		{"id": "5", "method": "DELETE", "url": "/groups/" + sgID + "/members/" + adaID + "/$ref"},
	}
	a := f.graph("POST", "$batch", map[string]any{"requests": reqs})
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	type resp struct {
		Status     int
		RetryAfter string
		HasBody    bool
	}
	got := map[string]resp{}
	var order []string
	for _, r := range a.body["responses"].([]any) {
		m := r.(map[string]any)
		h, _ := m["headers"].(map[string]any)
		ra, _ := h["Retry-After"].(string)
		_, hasBody := m["body"]
		got[m["id"].(string)] = resp{int(m["status"].(float64)), ra, hasBody}
		order = append(order, m["id"].(string))
	}
	if d := cmp.Diff(map[string]resp{"1": {200, "", true}, "2": {404, "", true}, "3": {204, "", false}, "4": {429, "7", true}, "5": {204, "", false}}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	t.Logf("answered in the order %v", order)
	if d := cmp.Diff([]string{graceID, danID}, memberIDs(f, sgID), cmp.Transformer("sort", func(in []string) []string { out := append([]string{}, in...); sort.Strings(out); return out })); d != "" {
		t.Errorf("the writes inside were done (-want +got):\n%s", d)
	}
	// The log has the batch and each request inside it; the writes are the two inside.
	var inside []string
	for _, r := range GraphRequests(f.emu.Requests()) {
		if r.BatchID != "" {
			inside = append(inside, fmt.Sprintf("%s %s %d", r.BatchID, r.Method, r.Status))
		}
	}
	if d := cmp.Diff([]string{"1 GET 200", "2 GET 404", "3 POST 204", "4 GET 429", "5 DELETE 204"}, inside); d != "" {
		t.Errorf("log (-want +got):\n%s", d)
	}
	if w := Writes(f.emu.Requests()); len(w) != 2 {
		t.Errorf("writes %v", w)
	}
}

// Same page: "JSON batch requests are currently limited to 20 individual requests"; an id "Must be
// unique in the batch, otherwise, the batch request fails with a 400 error code"; "If the batch
// request itself is malformed, the status code is 400".
func TestGraphBatchOfMoreThan20RequestsOrWithADuplicateIDIs400(t *testing.T) {
	f := newGraphFixture(t, nil)
	var reqs []map[string]any
	for i := 0; i < 21; i++ {
		reqs = append(reqs, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/users/" + adaID})
	}
	if a := f.graph("POST", "$batch", map[string]any{"requests": reqs[:20]}); a.status != 200 || len(a.body["responses"].([]any)) != 20 {
		t.Errorf("20: %d", a.status)
	}
	if a := f.graph("POST", "$batch", map[string]any{"requests": reqs}); a.status != 400 {
		t.Errorf("21: %d %s", a.status, a.raw)
	}
	dup := []map[string]any{reqs[0], reqs[0]}
	if a := f.graph("POST", "$batch", map[string]any{"requests": dup}); a.status != 400 {
		t.Errorf("duplicate id: %d %s", a.status, a.raw)
	}
	if a := f.graph("POST", "$batch", "not a batch"); a.status != 400 {
		t.Errorf("malformed: %d %s", a.status, a.raw)
	}
	noType := []map[string]any{{"id": "1", "method": "POST", "url": "/groups/" + sgID + "/members/$ref", "body": map[string]any{"@odata.id": danID}}}
	if a := f.graph("POST", "$batch", map[string]any{"requests": noType}); a.status != 400 {
		t.Errorf("a body without Content-Type: %d %s", a.status, a.raw)
	}
}

// A call lacking its application permission answers 403 Authorization_RequestDenied
// "Insufficient privileges to complete the operation." (Microsoft Graph, "Combine multiple HTTP
// requests using JSON batching", the example's response 3); each call's permissions are those of
// its reference page (graph.go), set per app registration.
func TestGraphCallWithoutItsPermissionAnswers403AuthorizationRequestDenied(t *testing.T) {
	f := newGraphFixture(t, func(c *Config) {
		c.AppPermissions = map[string][]string{otherApp: {"User.Read.All"}}
	})
	bearer := f.tokenFor(otherApp, GraphScope)
	ref := map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + danID}
	lic := map[string]any{"addLicenses": []map[string]any{{"skuId": skuSales, "disabledPlans": []string{}}}, "removeLicenses": []string{}}
	calls := []struct {
		method, path string
		body         any
		needs        string
	}{
		{"GET", "users/" + adaID, nil, "User.Read.All"},
		{"GET", "groups?$filter=displayName%20eq%20'sg-sales'", nil, "GroupMember.Read.All"},
		{"GET", "groups/" + sgID, nil, "GroupMember.Read.All"},
		{"GET", "groups/" + sgID + "/members/microsoft.graph.user", nil, "GroupMember.Read.All"},
		{"POST", "groups/" + sgID + "/members/$ref", ref, "GroupMember.ReadWrite.All"},
		{"DELETE", "groups/" + sgID + "/members/" + adaID + "/$ref", nil, "GroupMember.ReadWrite.All"},
		{"GET", "subscribedSkus", nil, "Organization.Read.All"},
		{"POST", "users/" + danID + "/assignLicense", lic, "LicenseAssignment.ReadWrite.All"},
	}
	for _, c := range calls {
		f.emu.SetAppPermissions(otherApp, []string{})
		a := f.as(bearer, c.method, c.path, c.body)
		if a.status != 403 || a.code() != "Authorization_RequestDenied" || a.message() != "Insufficient privileges to complete the operation." {
			t.Errorf("%s %s without permissions: %d %s", c.method, c.path, a.status, a.raw)
		}
		// Through the control endpoint, as an out-of-process test would.
		if s, raw := f.control("PUT", "graph/permissions/"+otherApp, []string{c.needs}); s != 204 {
			t.Fatalf("set permissions: %d %s", s, raw)
		}
		if a := f.as(bearer, c.method, c.path, c.body); a.status == 403 {
			t.Errorf("%s %s with %s: %d %s", c.method, c.path, c.needs, a.status, a.raw)
		}
	}
	// Directory.ReadWrite.All covers everything; the ReadWrite permission covers its Read one.
	f.emu.SetAppPermissions(otherApp, []string{"GroupMember.ReadWrite.All"})
	if a := f.as(bearer, "GET", "groups/"+sgID, nil); a.status != 200 {
		t.Errorf("GroupMember.ReadWrite.All reads groups: %d", a.status)
	}
	if s, _ := f.control("DELETE", "graph/permissions/"+otherApp, nil); s != 204 {
		t.Fatal(s)
	}
	if d := cmp.Diff(DefaultGraphPermissions, f.emu.AppPermissions(otherApp)); d != "" {
		t.Errorf("back to the default (-want +got):\n%s", d)
	}
}

// docs/design.md, "Entra ID target": Graph takes tokens for scope https://graph.microsoft.com/.default
// from the same authority; without one, or with one for another resource, it answers 401.
func TestGraphTakesTokensForTheGraphScopeOnly(t *testing.T) {
	f := newGraphFixture(t, nil)
	for name, c := range map[string]struct {
		bearer string
		want   int
	}{
		"static token":        {tok, 200},
		"graph token":         {f.tokenFor(OperatorApplicationID, GraphScope), 200},
		"no token":            {"", 401},
		"unknown token":       {"forged", 401},
		"token for Dataverse": {f.tokenFor(OperatorApplicationID, f.srv.URL+"/env/contoso/.default"), 401},
		"token for admin API": {f.tokenFor(OperatorApplicationID, "https://service.powerapps.com/.default"), 401},
	} {
		a := f.as(c.bearer, "GET", "users/"+adaID, nil)
		if a.status != c.want || (c.want == 401 && a.code() != "InvalidAuthenticationToken") {
			t.Errorf("%s: %d %s", name, a.status, a.raw)
		}
	}
	// A Graph token is no Dataverse token either.
	if a := f.as(f.tokenFor(OperatorApplicationID, GraphScope), "GET", f.api+"WhoAmI", nil); a.status != 401 {
		t.Errorf("graph token on Dataverse: %d", a.status)
	}
}

// Issue 20: faults, latency and the request log work for Graph as for Dataverse; a Graph 429
// carries Retry-After (Microsoft Graph, "Microsoft Graph throttling guidance": "The failed
// response includes the Retry-After field in the response header").
func TestGraphFaultsLatencyAndTheRequestLog(t *testing.T) {
	f := newGraphFixture(t, nil)
	ref := map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + danID}
	// Matched by method and path on the path after /graph/v1.0/.
	f.emu.AddFault(Fault{Method: "POST", PathContains: "members/$ref", Status: 429, RetryAfter: 3})
	if a := f.graph("POST", "groups/"+sgID+"/members/$ref", ref); a.status != 429 || a.header.Get("Retry-After") != "3" || a.body["error"] == nil {
		t.Fatalf("429: %d %v %s", a.status, a.header, a.raw)
	}
	f.emu.AddFault(Fault{Environment: GraphEnvironment, Status: 429})
	if a := f.do("GET", "WhoAmI", nil); a.status != 200 {
		t.Fatalf("a Graph fault met Dataverse: %d", a.status)
	}
	if a := f.graph("GET", "users/"+adaID, nil); a.status != 429 || a.header.Get("Retry-After") != "1" {
		t.Fatalf("a Graph 429 without a delay still carries Retry-After: %d %v", a.status, a.header)
	}
	// Made, then the answer lost.
	f.emu.AddFault(Fault{Method: "POST", PathContains: "$ref", DropAfter: true})
	if a := f.graph("POST", "groups/"+sgID+"/members/$ref", ref); a.status != -1 {
		t.Fatalf("dropped after: %d", a.status)
	}
	if d := cmp.Diff([]string{adaID, graceID, danID}, memberIDs(f, sgID)); d != "" {
		t.Fatalf("the add behind the lost answer was done (-want +got):\n%s", d)
	}
	// Made, then 502.
	f.emu.AddFault(Fault{Method: "DELETE", PathContains: "$ref", Status: 502, After: true})
	if a := f.graph("DELETE", "groups/"+sgID+"/members/"+danID+"/$ref", nil); a.status != 502 {
		t.Fatalf("502 after: %d", a.status)
	}
	f.emu.AddFault(Fault{Method: "DELETE", Drop: true})
	if a := f.graph("DELETE", "groups/"+sgID+"/members/"+adaID+"/$ref", nil); a.status != -1 {
		t.Fatalf("dropped before: %d", a.status)
	}
	if d := cmp.Diff([]string{adaID, graceID}, memberIDs(f, sgID)); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	f.emu.AddFault(Fault{Latency: 30 * time.Millisecond})
	start := time.Now()
	f.graph("GET", "subscribedSkus", nil)
	if time.Since(start) < 30*time.Millisecond {
		t.Error("latency not injected")
	}
	// Made at once, its answer held: the member is there while the client still waits.
	f.emu.AddFault(Fault{Method: "DELETE", PathContains: "$ref", After: true, Latency: 300 * time.Millisecond})
	start = time.Now()
	done := make(chan int, 1)
	go func() { done <- f.graph("DELETE", "groups/"+sgID+"/members/"+graceID+"/$ref", nil).status }()
	for time.Since(start) < 250*time.Millisecond && slices.Contains(memberIDs(f, sgID), graceID) {
	}
	if slices.Contains(memberIDs(f, sgID), graceID) {
		t.Error("the removal is not made while its answer is held")
	}
	if s := <-done; s != 204 || time.Since(start) < 300*time.Millisecond {
		t.Errorf("held answer: %d after %s", s, time.Since(start))
	}
	var got []string
	for _, r := range Writes(f.emu.Requests()) {
		if r.Environment != GraphEnvironment || !strings.HasPrefix(r.Path, "/graph/v1.0/groups/") {
			t.Errorf("log entry %+v", r)
		}
		got = append(got, fmt.Sprintf("%s %d %d", r.Method, r.Status, r.Applied))
	}
	if d := cmp.Diff([]string{"POST 429 0", "POST -204 204", "DELETE 502 204", "DELETE -1 0", "DELETE 204 0"}, got); d != "" {
		t.Errorf("Graph writes in the log (-want +got):\n%s", d)
	}
}

// docs/design.md, "Entra ID target": "writes about 3,000 per 2.5 minutes per app and tenant"; over
// the limit, 429 with Retry-After, and in a $batch each request on its own.
func TestGraphWriteLimitAnswers429WithRetryAfterPerApp(t *testing.T) {
	f := newGraphFixture(t, func(c *Config) { c.GraphLimits = GraphLimits{Enforce: true, WritesPerWindow: 2, WindowSeconds: 60} })
	ref := func(id string) map[string]any {
		return map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + id}
	}
	f.graph("POST", "groups/"+nestedID+"/members/$ref", ref(adaID))
	f.advance(20 * time.Second)
	f.graph("POST", "groups/"+nestedID+"/members/$ref", ref(graceID))
	a := f.graph("POST", "groups/"+nestedID+"/members/$ref", ref(danID))
	if a.status != 429 || a.header.Get("Retry-After") != "40" {
		t.Fatalf("third write: %d %q %s", a.status, a.header.Get("Retry-After"), a.raw)
	}
	if a := f.graph("GET", "groups/"+nestedID, nil); a.status != 200 {
		t.Errorf("reads are not limited: %d", a.status)
	}
	b := f.graph("POST", "$batch", map[string]any{"requests": []map[string]any{
		{"id": "r", "method": "GET", "url": "/groups/" + nestedID},
		{"id": "w", "method": "DELETE", "url": "/groups/" + nestedID + "/members/" + adaID + "/$ref"},
	}})
	st := map[string]float64{}
	for _, r := range b.body["responses"].([]any) {
		st[r.(map[string]any)["id"].(string)] = r.(map[string]any)["status"].(float64)
	}
	if b.status != 200 || st["r"] != 200 || st["w"] != 429 {
		t.Errorf("batch: %d %v", b.status, st)
	}
	f.advance(41 * time.Second)
	if a := f.graph("POST", "groups/"+nestedID+"/members/$ref", ref(danID)); a.status != 204 {
		t.Errorf("after Retry-After: %d %s", a.status, a.raw)
	}
}

// --- Dataverse follows Entra ID ---

func (f *fixture) addUser(env, oid string) {
	f.t.Helper()
	admin := f.srv.URL + "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/" + f.emu.EnvironmentID(env) + "/addUser?api-version=2023-06-01"
	if a := f.do("POST", admin, map[string]any{"objectId": oid}); a.status != 200 {
		f.t.Fatalf("addUser %s: %d %s", oid, a.status, a.raw)
	}
}

func (f *fixture) person(oid string) map[string]any {
	f.t.Helper()
	a := f.do("GET", "systemusers(azureactivedirectoryobjectid="+oid+")?$select=isdisabled,islicensed,domainname,accessmode,fullname", nil)
	if a.status != 200 {
		f.t.Fatalf("systemuser %s: %d %s", oid, a.status, a.raw)
	}
	return a.body
}

func (f *fixture) facts(oids ...string) map[string]string {
	out := map[string]string{}
	for _, oid := range oids {
		p := f.person(oid)
		out[p["domainname"].(string)] = fmt.Sprintf("disabled=%v licensed=%v", p["isdisabled"], p["islicensed"])
	}
	return out
}

// docs/design.md, "Entra ID target": "A person is enabled in Dataverse when sign-in is allowed, it
// is licensed (Administrative and NonInteractive users need none after setup) and it is a direct
// member of the environment's security group"; addUser brings the person after the sync delay.
func TestDataverseDerivesIsDisabledFromEntraIDAtAddUser(t *testing.T) {
	f := newGraphFixture(t, func(c *Config) { c.Environments[0].SecurityGroupID = sgID })
	all := []string{adaID, graceID, linID, bobID, danID}
	for _, oid := range all {
		f.addUser("contoso", oid)
	}
	if a := f.do("GET", "systemusers(azureactivedirectoryobjectid="+adaID+")", nil); a.status != 404 {
		t.Fatalf("before the sync delay: %d", a.status)
	}
	f.advance(time.Minute)
	want := map[string]string{
		"ada@contoso.example":   "disabled=false licensed=true", // enabled, licensed, direct member
		"grace@contoso.example": "disabled=false licensed=true", // licensed through "Apps users"
		"lin@contoso.example":   "disabled=true licensed=false", // member only through "nested", no license
		"bob@contoso.example":   "disabled=true licensed=true",  // sign-in blocked
		"dan@contoso.example":   "disabled=true licensed=false", // not a member; its group license is in error
	}
	if d := cmp.Diff(want, f.facts(all...)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if p := f.person(adaID); p["fullname"] != "Ada Lovelace" {
		t.Errorf("profile from Entra ID: %v", p)
	}
	// A Non-interactive person needs no license: lin, made a direct member and Non-interactive.
	if err := f.emu.AddGroupMember(sgID, linID); err != nil {
		t.Fatal(err)
	}
	id := f.do("GET", "systemusers(azureactivedirectoryobjectid="+linID+")", nil).body["systemuserid"].(string)
	if a := f.do("PATCH", "systemusers("+id+")", map[string]any{"accessmode": 4}); a.status != 204 {
		t.Fatalf("accessmode: %d %s", a.status, a.raw)
	}
	if f.person(linID)["isdisabled"] != true {
		t.Fatal("Dataverse followed Entra ID before a sync or addUser")
	}
	f.addUser("contoso", linID)
	f.advance(time.Minute)
	if p := f.person(linID); p["isdisabled"] != false || p["islicensed"] != false {
		t.Errorf("Non-interactive without a license, after addUser: %v", p)
	}
}

// docs/design.md, "Entra ID target": "a background sync (about every 30 minutes) updates each
// person's record … leaving the group disables it and keeps its license"; between syncs Dataverse
// keeps what it had.
func TestDataverseFollowsEntraIDAtItsBackgroundSyncAndLeavingTheGroupKeepsTheLicense(t *testing.T) {
	f := newGraphFixture(t, func(c *Config) {
		c.Environments[0].SecurityGroupID = sgID
		c.EntraSyncInterval = 30 * time.Minute
	})
	f.addUser("contoso", adaID)
	f.advance(time.Minute)
	if p := f.person(adaID); p["isdisabled"] != false {
		t.Fatalf("arrived: %v", p)
	}
	etag := f.do("GET", "systemusers(azureactivedirectoryobjectid="+adaID+")", nil).body["@odata.etag"]
	f.advance(30 * time.Minute)
	if a := f.do("GET", "systemusers(azureactivedirectoryobjectid="+adaID+")", nil); a.body["@odata.etag"] != etag {
		t.Errorf("a sync with nothing to change wrote the record: %v -> %v", etag, a.body["@odata.etag"])
	}
	if a := f.graph("DELETE", "groups/"+sgID+"/members/"+adaID+"/$ref", nil); a.status != 204 {
		t.Fatal(a.status)
	}
	f.advance(20 * time.Minute)
	if p := f.person(adaID); p["isdisabled"] != false {
		t.Fatalf("before the next sync: %v", p)
	}
	f.advance(10 * time.Minute)
	if p := f.person(adaID); p["isdisabled"] != true || p["islicensed"] != true {
		t.Errorf("after the sync: disabled, license kept: %v", p)
	}
	if a := f.graph("GET", "users/"+adaID+"?$select=assignedLicenses", nil); len(a.body["assignedLicenses"].([]any)) != 1 {
		t.Errorf("Entra ID kept the license: %s", a.raw)
	}
	// Sign-in blocked and the person deleted from the directory: disabled too.
	f.emu.SetAccountEnabled(adaID, true)
	f.emu.AddGroupMember(sgID, adaID)
	f.advance(30 * time.Minute)
	if p := f.person(adaID); p["isdisabled"] != false {
		t.Fatalf("back in the group: %v", p)
	}
	if err := f.emu.DeleteEntraUser(adaID); err != nil {
		t.Fatal(err)
	}
	f.advance(30 * time.Minute)
	if p := f.person(adaID); p["isdisabled"] != true || p["islicensed"] != false {
		t.Errorf("deleted from Entra ID: %v", p)
	}
}

// The explicit sync (SyncEntra, POST /_emulator/entra-sync and
// /_emulator/environments/<env>/entra-sync) applies the directory at once, for tests; the
// security group is set per environment (EnvironmentConfig.SecurityGroupID, PUT
// /_emulator/environments/<env>/security-group).
func TestExplicitEntraSyncAppliesTheDirectoryAtOnce(t *testing.T) {
	f := newGraphFixture(t, nil)
	f.addUser("contoso", danID)
	f.advance(time.Minute)
	if p := f.person(danID); p["isdisabled"] != true {
		t.Fatalf("dan holds no license: %v", p)
	}
	if err := f.emu.SetDirectLicenses(danID, []AssignedLicense{{SkuPartNumber: "DYN365_ENTERPRISE_SALES"}}); err != nil {
		t.Fatal(err)
	}
	if s, raw := f.control("POST", "environments/contoso/entra-sync", nil); s != 204 {
		t.Fatalf("%d %s", s, raw)
	}
	if p := f.person(danID); p["isdisabled"] != false || p["islicensed"] != true {
		t.Errorf("licensed: %v", p)
	}
	if s, raw := f.control("PUT", "environments/contoso/security-group", map[string]string{"securityGroupId": sgID}); s != 204 {
		t.Fatalf("%d %s", s, raw)
	}
	if s, _ := f.control("POST", "entra-sync", nil); s != 204 {
		t.Fatal(s)
	}
	if p := f.person(danID); p["isdisabled"] != true {
		t.Errorf("not in the security group: %v", p)
	}
	if d := f.emu.Dump(); d.Environments[0].SecurityGroupID != sgID {
		t.Errorf("dump: %+v", d.Environments[0])
	}
}

// docs/design.md, "Sync target": application users are created and disabled through the Web API;
// Entra ID's rules never touch them, even one whose object id a person of the directory has.
func TestApplicationUsersNeverFollowEntraID(t *testing.T) {
	f := newGraphFixture(t, func(c *Config) { c.Environments[0].SecurityGroupID = sgID })
	id, err := f.emu.AddUnmanagedUser("contoso", map[string]any{"applicationid": "7b1f3c4e-2a5d-4e6f-8a9b-0c1d2e3f4a5b",
		"azureactivedirectoryobjectid": danID, "accessmode": 4, "isdisabled": false})
	if err != nil {
		t.Fatal(err)
	}
	before := f.do("GET", "systemusers("+id+")", nil).body
	if err := f.emu.SyncEntra(""); err != nil {
		t.Fatal(err)
	}
	f.addUser("contoso", danID)
	f.advance(time.Minute)
	after := f.do("GET", "systemusers("+id+")", nil).body
	if after["isdisabled"] != false || after["@odata.etag"] != before["@odata.etag"] {
		t.Errorf("application user changed: %v -> %v", before["@odata.etag"], after)
	}
}

// Back-compat: a person given as an outcome (SetEntraUser) or unknown to the directory keeps
// today's behaviour; an object id of the directory cannot be given as an outcome.
func TestPeopleOutsideTheDirectoryKeepTheirOutcome(t *testing.T) {
	f := newGraphFixture(t, func(c *Config) { c.Environments[0].SecurityGroupID = sgID })
	legacy := "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
	if err := f.emu.SetEntraUser("contoso", EntraUser{ObjectID: legacy, UPN: "old@contoso.example", Licensed: true}); err != nil {
		t.Fatal(err)
	}
	unknown := "1f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
	f.addUser("contoso", legacy)
	f.addUser("contoso", unknown)
	f.advance(time.Minute)
	f.emu.SyncEntra("")
	if p := f.person(legacy); p["isdisabled"] != false || p["islicensed"] != true {
		t.Errorf("outcome kept despite the security group: %v", p)
	}
	if p := f.person(unknown); p["isdisabled"] != false || !strings.HasPrefix(p["domainname"].(string), "user-1f8e7d6c@") {
		t.Errorf("made up: %v", p)
	}
	if err := f.emu.SetEntraUser("contoso", EntraUser{ObjectID: adaID, UPN: "ada@contoso.example"}); err == nil {
		t.Error("SetEntraUser of a directory person accepted")
	}
	if a := f.graph("GET", "users/old@contoso.example", nil); a.status != 404 {
		t.Errorf("Graph knows an outcome-only person: %d", a.status)
	}
}

// The directory's control endpoints (seed, people, groups, members, licenses, SKUs) and the dump.
func TestDirectoryControlEndpointsAndDump(t *testing.T) {
	f := newFixture(t, nil)
	seed := `{"subscribedSkus":[{"skuPartNumber":"DYN365_ENTERPRISE_SALES","prepaidUnits":{"enabled":2}}],
	  "users":[{"userPrincipalName":"ada@contoso.example","usageLocation":"GB","assignedLicenses":[{"skuPartNumber":"DYN365_ENTERPRISE_SALES"}]}],
	  "groups":[{"displayName":"sg-sales","members":["ada@contoso.example","inner"]},{"displayName":"inner"}],
	  "appPermissions":{"` + otherApp + `":["User.Read.All"]}}`
	req, _ := http.NewRequest("POST", f.srv.URL+"/_emulator/directory", strings.NewReader(seed))
	resp, err := f.srv.Client().Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("seed: %v %v", err, resp)
	}
	resp.Body.Close()
	s, raw := f.control("POST", "directory/users", DirectoryUser{UserPrincipalName: "grace@contoso.example", UsageLocation: "US"})
	var created map[string]string
	_ = json.Unmarshal(raw, &created)
	grace := created["id"]
	if s != 200 || !guidRE.MatchString(grace) {
		t.Fatalf("add user: %d %s", s, raw)
	}
	d := f.emu.Directory()
	sg := d.Groups[1]
	if sg.DisplayName != "sg-sales" || len(sg.Members) != 2 {
		t.Fatalf("groups %+v", d.Groups)
	}
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "directory/groups/" + sg.ID + "/members", map[string]string{"id": "grace@contoso.example"}},
		{"DELETE", "directory/groups/" + sg.ID + "/members/" + d.Groups[0].ID, nil},
		{"PUT", "directory/groups/" + sg.ID + "/licenses", []AssignedLicense{{SkuPartNumber: "DYN365_ENTERPRISE_SALES"}}},
		{"PATCH", "directory/users/" + grace, map[string]any{"accountEnabled": false, "usageLocation": "DE"}},
		{"PATCH", "directory/skus/DYN365_ENTERPRISE_SALES", map[string]any{"prepaidUnits": map[string]int{"enabled": 5}}},
		{"POST", "directory/skus", SubscribedSku{SkuPartNumber: "POWERAPPS_PER_USER", PrepaidUnits: PrepaidUnits{Enabled: 1}}},
		{"POST", "directory/groups", DirectoryGroup{DisplayName: "later"}},
	} {
		if s, raw := f.control(c.method, c.path, c.body); s != 204 && s != 200 {
			t.Errorf("%s %s: %d %s", c.method, c.path, s, raw)
		}
	}
	s, raw = f.control("GET", "state", nil)
	var dump Dump
	if err := json.Unmarshal(raw, &dump); err != nil || s != 200 || dump.Directory == nil {
		t.Fatalf("state: %d %v", s, err)
	}
	var g DirectoryUserDump
	for _, u := range dump.Directory.Users {
		if u.ID == grace {
			g = u
		}
	}
	if g.AccountEnabled || g.UsageLocation != "DE" || len(g.AssignedLicenses) != 1 || g.LicenseAssignmentStates[0].AssignedByGroup == nil || len(g.MemberOf) != 1 {
		t.Errorf("grace in the dump: %+v", g)
	}
	if k := dump.Directory.SubscribedSkus[0]; k.SkuPartNumber != "DYN365_ENTERPRISE_SALES" || k.ConsumedUnits != 2 || k.PrepaidUnits.Enabled != 5 {
		t.Errorf("SKU in the dump: %+v", k)
	}
	if len(dump.Directory.SubscribedSkus) != 2 || len(dump.Directory.Groups) != 3 {
		t.Errorf("dump %+v", dump.Directory)
	}
	if p := dump.Directory.AppPermissions[otherApp]; len(p) != 1 {
		t.Errorf("permissions %v", dump.Directory.AppPermissions)
	}
	if s, raw := f.control("DELETE", "directory/users/"+grace, nil); s != 204 {
		t.Errorf("delete: %d %s", s, raw)
	}
	if s, _ := f.control("DELETE", "directory", nil); s != 204 || len(f.emu.Directory().Users) != 0 {
		t.Errorf("reset: %d", s)
	}
	if s, _ := f.control("POST", "directory/users", DirectoryUser{UserPrincipalName: "no-at-sign"}); s != 400 {
		t.Errorf("a bad user: %d", s)
	}
}
