package graph_test

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/internal/graph"
)

const (
	groupID = "0e226165-c685-41ce-8bfc-df8360ab325d"
	userID  = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
	skuE3   = "6fd2c87f-b296-42f0-b197-1e91e994b900"
	skuP1   = "078d2b04-f1bd-4111-bbd4-b4b1b354cef4"
)

var userJSON = map[string]any{
	"id": userID, "userPrincipalName": "adele@contoso.com", "accountEnabled": true, "usageLocation": "US",
	"assignedLicenses": []map[string]any{{"skuId": skuE3, "disabledPlans": []string{}}, {"skuId": skuP1, "disabledPlans": []string{}}},
	"licenseAssignmentStates": []map[string]any{
		{"skuId": skuE3, "assignedByGroup": nil, "state": "Active", "error": "None", "disabledPlans": []string{}},
		{"skuId": skuP1, "assignedByGroup": groupID, "state": "Active", "error": "None", "disabledPlans": []string{}},
	},
}

const userQuery = "?$select=id%2CuserPrincipalName%2CaccountEnabled%2CassignedLicenses%2ClicenseAssignmentStates%2CusageLocation"

// TestOperations: each operation sends exactly the method, path, query and body of its Graph
// v1.0 reference page, and reads the answer.
func TestOperations(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		call   func(cl *graph.Client) (any, error)
		answer func(w http.ResponseWriter, r *http.Request)
		want   sent
		result any
	}{
		{"User by id",
			func(cl *graph.Client) (any, error) { return cl.User(ctx, userID) },
			func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, userJSON) },
			sent{"GET", "/v1.0/users/" + userID + userQuery, ""},
			&graph.User{ID: userID, UserPrincipalName: "adele@contoso.com", AccountEnabled: true, UsageLocation: "US",
				AssignedLicenses: []graph.AssignedLicense{{SkuID: skuE3, DisabledPlans: []string{}}, {SkuID: skuP1, DisabledPlans: []string{}}},
				LicenseAssignmentStates: []graph.LicenseAssignmentState{
					{SkuID: skuE3, State: "Active", Error: "None", DisabledPlans: []string{}},
					{SkuID: skuP1, AssignedByGroup: groupID, State: "Active", Error: "None", DisabledPlans: []string{}},
				}}},
		{"User by UPN",
			func(cl *graph.Client) (any, error) { u, err := cl.User(ctx, "adele@contoso.com"); return u != nil, err },
			func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, userJSON) },
			sent{"GET", "/v1.0/users/adele@contoso.com" + userQuery, ""}, true},
		{"User by a B2B guest's UPN: # is %23",
			func(cl *graph.Client) (any, error) {
				u, err := cl.User(ctx, "adele_adatum.com#EXT#@contoso.com")
				return u != nil, err
			},
			func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, userJSON) },
			sent{"GET", "/v1.0/users/adele_adatum.com%23EXT%23@contoso.com" + userQuery, ""}, true},
		{"User by a UPN with / and an apostrophe: one path segment",
			func(cl *graph.Client) (any, error) {
				u, err := cl.User(ctx, "o'neil/ops@contoso.com")
				return u != nil, err
			},
			func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, userJSON) },
			sent{"GET", "/v1.0/users/o%27neil%2Fops@contoso.com" + userQuery, ""}, true},
		{"User by a UPN starting with $: /users('…')",
			func(cl *graph.Client) (any, error) {
				u, err := cl.User(ctx, "$adele'x@contoso.com")
				return u != nil, err
			},
			func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, userJSON) },
			sent{"GET", "/v1.0/users('$adele%27%27x@contoso.com')" + userQuery, ""}, true},
		{"GroupsByName doubles quotes",
			func(cl *graph.Client) (any, error) { return cl.GroupsByName(ctx, "O'Brien & Co #1") },
			func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, map[string]any{"value": []map[string]any{{"id": groupID, "displayName": "O'Brien & Co #1", "securityEnabled": true}}})
			},
			sent{"GET", "/v1.0/groups?$filter=displayName%20eq%20%27O%27%27Brien%20%26%20Co%20%231%27&$select=id%2CdisplayName%2CsecurityEnabled", ""},
			[]graph.Group{{ID: groupID, DisplayName: "O'Brien & Co #1", SecurityEnabled: true}}},
		{"Group",
			func(cl *graph.Client) (any, error) { return cl.Group(ctx, groupID) },
			func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, map[string]any{"id": groupID, "displayName": "Sales", "securityEnabled": true})
			},
			sent{"GET", "/v1.0/groups/" + groupID + "?$select=id%2CdisplayName%2CsecurityEnabled", ""},
			&graph.Group{ID: groupID, DisplayName: "Sales", SecurityEnabled: true}},
		{"SubscribedSkus",
			func(cl *graph.Client) (any, error) { return cl.SubscribedSkus(ctx) },
			func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, map[string]any{"value": []map[string]any{{"skuId": skuE3, "skuPartNumber": "ENTERPRISEPACK", "capabilityStatus": "Enabled",
					"consumedUnits": 42, "prepaidUnits": map[string]int{"enabled": 50, "suspended": 1, "warning": 2}}}})
			},
			sent{"GET", "/v1.0/subscribedSkus", ""},
			[]graph.SubscribedSku{{SkuID: skuE3, SkuPartNumber: "ENTERPRISEPACK", ConsumedUnits: 42, PrepaidUnits: graph.Units{Enabled: 50, Suspended: 1, Warning: 2}}}},
		{"AddMember",
			func(cl *graph.Client) (any, error) { return nil, cl.AddMember(ctx, groupID, userID) },
			func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
			sent{"POST", "/v1.0/groups/" + groupID + "/members/$ref", `{"@odata.id":"BASE/directoryObjects/` + userID + `"}`}, nil},
		{"AddMember: already a member is done",
			func(cl *graph.Client) (any, error) { return nil, cl.AddMember(ctx, groupID, userID) },
			func(w http.ResponseWriter, r *http.Request) {
				graphError(w, 400, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.")
			},
			sent{"POST", "/v1.0/groups/" + groupID + "/members/$ref", `{"@odata.id":"BASE/directoryObjects/` + userID + `"}`}, nil},
		{"RemoveMember deletes the reference only",
			func(cl *graph.Client) (any, error) { return nil, cl.RemoveMember(ctx, groupID, userID) },
			func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
			sent{"DELETE", "/v1.0/groups/" + groupID + "/members/" + userID + "/$ref", ""}, nil},
		{"RemoveMember: not a member is done",
			func(cl *graph.Client) (any, error) { return nil, cl.RemoveMember(ctx, groupID, userID) },
			func(w http.ResponseWriter, r *http.Request) {
				graphError(w, 404, "Request_ResourceNotFound", "Resource '"+userID+"' does not exist or one of its queried reference-property objects are not present.")
			},
			sent{"DELETE", "/v1.0/groups/" + groupID + "/members/" + userID + "/$ref", ""}, nil},
		{"AssignLicense",
			func(cl *graph.Client) (any, error) {
				return nil, cl.AssignLicense(ctx, userID, []string{skuE3}, []string{skuP1})
			},
			func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, userJSON) },
			sent{"POST", "/v1.0/users/" + userID + "/assignLicense", `{"addLicenses":[{"skuId":"` + skuE3 + `","disabledPlans":[]}],"removeLicenses":["` + skuP1 + `"]}`}, nil},
		{"AssignLicense: remove only sends an empty addLicenses",
			func(cl *graph.Client) (any, error) { return nil, cl.AssignLicense(ctx, userID, nil, []string{skuP1}) },
			func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, userJSON) },
			sent{"POST", "/v1.0/users/" + userID + "/assignLicense", `{"addLicenses":[],"removeLicenses":["` + skuP1 + `"]}`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil, tc.answer)
			got, err := tc.call(r.cl)
			ok(t, err)
			if tc.result != nil {
				if d := cmp.Diff(tc.result, got); d != "" {
					t.Errorf("result (-want +got):\n%s", d)
				}
			}
			want := tc.want
			want.Body = strings.ReplaceAll(want.Body, "BASE", r.g.srv.URL+"/v1.0")
			if d := cmp.Diff([]sent{want}, r.g.requests()); d != "" {
				t.Errorf("requests (-want +got):\n%s", d)
			}
			if d := cmp.Diff([]string{graph.Scope}, r.cred.Scopes()); d != "" {
				t.Errorf("token scopes (-want +got):\n%s", d)
			}
		})
	}
}

// TestUserLicenses: direct and group-inherited licenses are told apart.
func TestUserLicenses(t *testing.T) {
	r := newRig(t, nil, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, userJSON) })
	u := must(r.cl.User(context.Background(), userID))
	got := []any{u.HasLicense(strings.ToUpper(skuE3)), u.DirectLicense(skuE3), u.DirectLicense(skuP1), u.LicenseGroups(skuP1), u.HasLicense("00000000-0000-0000-0000-000000000000")}
	if d := cmp.Diff([]any{true, true, false, []string{groupID}, false}, got); d != "" {
		t.Fatal(d)
	}
	if a := (graph.SubscribedSku{PrepaidUnits: graph.Units{Enabled: 5}, ConsumedUnits: 7}).Available(); a != 0 {
		t.Fatalf("available %d", a)
	}
}

// TestGroupMembersPaging: direct members that are users, every page through @odata.nextLink.
func TestGroupMembersPaging(t *testing.T) {
	var base string
	r := newRig(t, nil, func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Query().Get("$skiptoken") == "" {
			writeJSON(w, 200, map[string]any{"value": []map[string]string{{"id": userID, "userPrincipalName": "adele@contoso.com"}},
				"@odata.nextLink": base + "/groups/" + groupID + "/members/microsoft.graph.user?$select=id,userPrincipalName&$top=999&$skiptoken=X'4453707402'"})
			return
		}
		writeJSON(w, 200, map[string]any{"value": []map[string]string{{"id": "11111111-2222-4333-8444-555555555555", "userPrincipalName": "ben@contoso.com"}}})
	})
	base = r.g.srv.URL + "/v1.0"
	members := must(r.cl.GroupMembers(context.Background(), groupID))
	if d := cmp.Diff([]graph.Member{{ID: userID, UserPrincipalName: "adele@contoso.com"}, {ID: "11111111-2222-4333-8444-555555555555", UserPrincipalName: "ben@contoso.com"}}, members); d != "" {
		t.Fatal(d)
	}
	reqs := r.g.requests()
	if len(reqs) != 2 || reqs[0].URI != "/v1.0/groups/"+groupID+"/members/microsoft.graph.user?$select=id%2CuserPrincipalName&$top=999" ||
		!strings.Contains(reqs[1].URI, "$skiptoken=") {
		t.Fatalf("requests %+v", reqs)
	}
}

// TestNextLinkStaysOnHost: a nextLink to another host is not followed, so the token never leaves
// Graph's host.
func TestNextLinkStaysOnHost(t *testing.T) {
	r := newRig(t, nil, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]any{"value": []any{}, "@odata.nextLink": "https://elsewhere.example/v1.0/groups?$skiptoken=x"})
	})
	if _, err := r.cl.GroupMembers(context.Background(), groupID); err == nil || !strings.Contains(err.Error(), "refusing to send a token to https://elsewhere.example") {
		t.Fatalf("nextLink elsewhere: %v", err)
	}
}

// TestResolveGroup: by id or by a unique display name, security-enabled.
func TestResolveGroup(t *testing.T) {
	ctx := context.Background()
	groups := map[string][]map[string]any{
		"Sales":    {{"id": groupID, "displayName": "Sales", "securityEnabled": true}},
		"Twice":    {{"id": groupID, "displayName": "Twice", "securityEnabled": true}, {"id": userID, "displayName": "Twice", "securityEnabled": true}},
		"Unified":  {{"id": groupID, "displayName": "Unified", "securityEnabled": false}},
		"Nobody's": {},
	}
	r := newRig(t, nil, func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/groups/"+groupID) {
			writeJSON(w, 200, groups["Sales"][0])
			return
		}
		name := strings.TrimSuffix(strings.TrimPrefix(req.URL.Query().Get("$filter"), "displayName eq '"), "'")
		writeJSON(w, 200, map[string]any{"value": groups[strings.ReplaceAll(name, "''", "'")]})
	})
	if g := must(r.cl.ResolveGroup(ctx, "Sales")); g.ID != groupID {
		t.Fatalf("%+v", g)
	}
	if g := must(r.cl.ResolveGroup(ctx, groupID)); g.DisplayName != "Sales" {
		t.Fatalf("%+v", g)
	}
	for name, want := range map[string]error{"Twice": graph.ErrAmbiguous, "Unified": graph.ErrNotSecurityGroup, "Nobody's": graph.ErrNotFound} {
		if _, err := r.cl.ResolveGroup(ctx, name); !errors.Is(err, want) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
}

// TestErrors: each failure is an *Error matching its sentinel, keeping Graph's code, message
// and request id; a 403 names the permission the operation needs.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		status     int
		code, msg  string
		call       func(cl *graph.Client) error
		kinds      []error
		permission string
	}{
		{"user not found", 404, "Request_ResourceNotFound", "Resource 'ghost@contoso.com' does not exist or one of its queried reference-property objects are not present.",
			func(cl *graph.Client) error { _, err := cl.User(ctx, "ghost@contoso.com"); return err }, []error{graph.ErrNotFound}, ""},
		{"users: no User.Read.All", 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.",
			func(cl *graph.Client) error { _, err := cl.User(ctx, userID); return err }, []error{graph.ErrForbidden}, "User.Read.All"},
		{"members: no GroupMember.Read.All", 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.",
			func(cl *graph.Client) error { _, err := cl.GroupMembers(ctx, groupID); return err }, []error{graph.ErrForbidden}, "GroupMember.Read.All"},
		{"add: no GroupMember.ReadWrite.All", 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.",
			func(cl *graph.Client) error { return cl.AddMember(ctx, groupID, userID) }, []error{graph.ErrForbidden}, "GroupMember.ReadWrite.All"},
		{"remove: no GroupMember.ReadWrite.All", 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.",
			func(cl *graph.Client) error { return cl.RemoveMember(ctx, groupID, userID) }, []error{graph.ErrForbidden}, "GroupMember.ReadWrite.All"},
		{"skus: no Organization.Read.All", 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.",
			func(cl *graph.Client) error { _, err := cl.SubscribedSkus(ctx); return err }, []error{graph.ErrForbidden}, "Organization.Read.All"},
		{"licenses: no LicenseAssignment.ReadWrite.All", 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.",
			func(cl *graph.Client) error { return cl.AssignLicense(ctx, userID, []string{skuE3}, nil) }, []error{graph.ErrForbidden}, "LicenseAssignment.ReadWrite.All"},
		{"license: no usage location", 400, "Request_BadRequest", "License assignment cannot be done for user with invalid usage location.",
			func(cl *graph.Client) error { return cl.AssignLicense(ctx, userID, []string{skuE3}, nil) }, []error{graph.ErrBadRequest, graph.ErrNoUsageLocation}, ""},
		{"license: no unit left", 400, "Request_BadRequest", "Subscription with SKU " + skuE3 + " does not have any available licenses.",
			func(cl *graph.Client) error { return cl.AssignLicense(ctx, userID, []string{skuE3}, nil) }, []error{graph.ErrBadRequest, graph.ErrNoLicensesLeft}, ""},
		{"license: inherited from a group", 400, "Request_BadRequest", "User license is inherited from a group membership and it cannot be removed directly from the user.",
			func(cl *graph.Client) error { return cl.AssignLicense(ctx, userID, nil, []string{skuP1}) }, []error{graph.ErrBadRequest, graph.ErrLicenseByGroup}, ""},
		{"add: no such user", 404, "Request_ResourceNotFound", "Resource '" + userID + "' does not exist or one of its queried reference-property objects are not present.",
			func(cl *graph.Client) error { return cl.AddMember(ctx, groupID, userID) }, []error{graph.ErrNotFound}, ""},
		{"unauthorized", 401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.",
			func(cl *graph.Client) error { _, err := cl.Group(ctx, groupID); return err }, []error{graph.ErrUnauthorized}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, func(o *graph.Options) { o.MaxRetries = 0 }, func(w http.ResponseWriter, _ *http.Request) { graphError(w, tc.status, tc.code, tc.msg) })
			err := tc.call(r.cl)
			for _, k := range tc.kinds {
				if !errors.Is(err, k) {
					t.Errorf("got %v, want %v", err, k)
				}
			}
			for _, other := range []error{graph.ErrNotFound, graph.ErrForbidden, graph.ErrThrottled, graph.ErrUnauthorized, graph.ErrBadRequest, graph.ErrServer,
				graph.ErrAnswerLost, graph.ErrRateLimited, graph.ErrNoUsageLocation, graph.ErrNoLicensesLeft, graph.ErrLicenseByGroup} {
				if errors.Is(err, other) && !contains(tc.kinds, other) {
					t.Errorf("%v also matches %v", err, other)
				}
			}
			var e *graph.Error
			if !errors.As(err, &e) {
				t.Fatalf("%v is not a *graph.Error", err)
			}
			got := []any{e.StatusCode, e.Code, e.Message, e.RequestID, e.Permission}
			if d := cmp.Diff([]any{tc.status, tc.code, tc.msg, "req-1", tc.permission}, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			if tc.permission != "" && !strings.Contains(err.Error(), "needs the Microsoft Graph application permission "+tc.permission) {
				t.Errorf("message %q does not name %s", err, tc.permission)
			}
		})
	}
}

func contains(errs []error, e error) bool {
	for _, x := range errs {
		if x == e {
			return true
		}
	}
	return false
}

// TestThrottled: a 429 is retried after its Retry-After; one longer than MaxWait is returned with
// the wait; the limiter then refuses the tenant's next request as the operator's own limit.
func TestThrottled(t *testing.T) {
	ctx := context.Background()
	calls := 0
	r := newRig(t, nil, func(w http.ResponseWriter, _ *http.Request) {
		calls++
		if calls == 1 {
			w.Header().Set("Retry-After", "2")
			graphError(w, 429, "TooManyRequests", "Too many requests.")
			return
		}
		writeJSON(w, 200, userJSON)
	})
	must(r.cl.User(ctx, userID))
	if w := r.clock.Waits(); len(w) == 0 || w[0] != 2*time.Second {
		t.Fatalf("waits %v, want the 2s asked first", w)
	}

	r.g.setHandler(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "120")
		graphError(w, 429, "TooManyRequests", "Too many requests.")
	})
	_, err := r.cl.User(ctx, userID)
	if ra, _ := graph.RetryAfter(err); !errors.Is(err, graph.ErrThrottled) || ra != 2*time.Minute {
		t.Fatalf("got %v (retry after %s), want ErrThrottled after 2m", err, ra)
	}
	r.g.requests()
	_, err = r.cl.User(ctx, userID)
	if ra, _ := graph.RetryAfter(err); !errors.Is(err, graph.ErrRateLimited) || ra < time.Minute || !strings.Contains(err.Error(), "--graph-requests-per-minute") ||
		!strings.Contains(err.Error(), "tenant "+tenant) {
		t.Fatalf("got %v (retry after %s), want ErrRateLimited naming the flag and the tenant", err, ra)
	}
	if n := len(r.g.requests()); n != 0 {
		t.Fatalf("sent %d, want none", n)
	}
	r.expectMetrics(t, `# HELP graph_throttled_total Answers 429 from Microsoft Graph, a $batch's sub-requests included, by tenant and Graph error code.
# TYPE graph_throttled_total counter
graph_throttled_total{code="TooManyRequests",tenant="`+tenant+`"} 2
`, "graph_throttled_total")
}

// TestLostAnswers: AddMember and AssignLicense are sent once when their outcome is unknown (a
// 5xx, a dropped connection) and answer ErrAnswerLost; RemoveMember and reads are sent again.
func TestLostAnswers(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		fault  func(w http.ResponseWriter)
		call   func(cl *graph.Client) error
		lost   bool
		server bool
		sent   int
	}{
		{"add, 502", func(w http.ResponseWriter) { graphError(w, 502, "UnknownError", "Bad Gateway") },
			func(cl *graph.Client) error { return cl.AddMember(ctx, groupID, userID) }, true, true, 1},
		{"add, dropped", drop, func(cl *graph.Client) error { return cl.AddMember(ctx, groupID, userID) }, true, false, 1},
		{"assign, 504", func(w http.ResponseWriter) { graphError(w, 504, "GatewayTimeout", "Gateway Timeout") },
			func(cl *graph.Client) error { return cl.AssignLicense(ctx, userID, []string{skuE3}, nil) }, true, true, 1},
		{"assign, dropped", drop, func(cl *graph.Client) error { return cl.AssignLicense(ctx, userID, []string{skuE3}, nil) }, true, false, 1},
		{"remove, dropped then done", drop, func(cl *graph.Client) error { return cl.RemoveMember(ctx, groupID, userID) }, false, false, 2},
		{"read, 503 then answered", func(w http.ResponseWriter) { graphError(w, 503, "ServiceUnavailable", "try later") },
			func(cl *graph.Client) error { _, err := cl.Group(ctx, groupID); return err }, false, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := true
			r := newRig(t, nil, func(w http.ResponseWriter, req *http.Request) {
				if first {
					first = false
					tc.fault(w)
					return
				}
				switch req.Method {
				case http.MethodGet:
					writeJSON(w, 200, map[string]any{"id": groupID, "displayName": "Sales", "securityEnabled": true})
				default:
					w.WriteHeader(204)
				}
			})
			err := tc.call(r.cl)
			if tc.lost != errors.Is(err, graph.ErrAnswerLost) || tc.server != errors.Is(err, graph.ErrServer) {
				t.Fatalf("got %v, want lost %v, server error %v", err, tc.lost, tc.server)
			}
			if !tc.lost {
				ok(t, err)
			}
			if n := len(r.g.requests()); n != tc.sent {
				t.Fatalf("sent %d, want %d", n, tc.sent)
			}
		})
	}
}

// TestRefusesBadIDs: object ids go into URLs and bodies only as GUIDs.
func TestRefusesBadIDs(t *testing.T) {
	r := newRig(t, nil, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) })
	ctx := context.Background()
	for name, err := range map[string]error{
		"remove":  r.cl.RemoveMember(ctx, groupID, "../../users/"+userID),
		"add":     r.cl.AddMember(ctx, "sales", userID),
		"members": func() error { _, err := r.cl.GroupMembers(ctx, groupID+"/owners"); return err }(),
		"assign":  r.cl.AssignLicense(ctx, userID, []string{"E3"}, nil),
		"user":    func() error { _, err := r.cl.User(ctx, " "); return err }(),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if n := len(r.g.requests()); n != 0 {
		t.Fatalf("sent %d", n)
	}
}

// TestOptions: the flags the manager exposes, and what Validate refuses.
func TestOptions(t *testing.T) {
	o := graph.DefaultOptions()
	if o.URL != "https://graph.microsoft.com/v1.0" || o.RequestsPerMinute*5/2 > graph.ServiceWritesPer150s/2 {
		t.Fatalf("defaults %+v: the rate must stay well under Graph's writes per 2.5 minutes", o)
	}
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	o.BindFlags(fs)
	ok(t, fs.Parse([]string{"--graph-url=https://127.0.0.1:8443/graph/v1.0/", "--graph-requests-per-minute=120", "--graph-burst=5",
		"--graph-max-concurrent=2", "--graph-timeout=3s", "--graph-max-retries=1", "--graph-max-wait=0"}))
	got := []any{o.URL, o.RequestsPerMinute, o.Burst, o.MaxConcurrent, o.Timeout, o.MaxRetries, o.MaxWait}
	if d := cmp.Diff([]any{"https://127.0.0.1:8443/graph/v1.0/", 120, 5, 2, 3 * time.Second, 1, time.Duration(0)}, got); d != "" {
		t.Fatal(d)
	}
	ok(t, o.Validate())
	for _, tc := range []struct {
		tweak func(*graph.Options)
		want  string
	}{
		{func(o *graph.Options) { o.URL = "http://graph.microsoft.com/v1.0" }, "https"},
		{func(o *graph.Options) { o.URL = "https://graph.microsoft.com/v1.0?x=1" }, "without a query"},
		{func(o *graph.Options) { o.MaxConcurrent = 0 }, "graph max concurrent"},
		{func(o *graph.Options) { o.RequestsPerMinute = 0 }, "graph requests per minute"},
		{func(o *graph.Options) { o.MaxWait = -1 }, "graph max wait"},
	} {
		o := graph.DefaultOptions()
		tc.tweak(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// TestTenants: each tenant has its own limiter and metric series, forgotten with the tenant; a
// trailing slash of --graph-url does not double in URLs.
func TestTenants(t *testing.T) {
	r := newRig(t, func(o *graph.Options) { o.URL += "/" }, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, userJSON) })
	other := must(r.conn.Tenant("Fabrikam.onmicrosoft.com", r.cred))
	ctx := context.Background()
	must(r.cl.User(ctx, userID))
	must(other.User(ctx, userID))
	if n := r.conn.Limiters(); n != 2 {
		t.Fatalf("%d limiters", n)
	}
	for _, s := range r.g.requests() {
		if strings.Contains(s.URI, "//") {
			t.Fatalf("URL %s", s.URI)
		}
	}
	other.Forget()
	if n := r.conn.Limiters(); n != 1 {
		t.Fatalf("%d limiters after Forget", n)
	}
	r.expectMetrics(t, `# HELP graph_requests_total Microsoft Graph requests by tenant, operation and HTTP status code ("error" when no answer came); a $batch is one request.
# TYPE graph_requests_total counter
graph_requests_total{code="200",operation="User",tenant="`+tenant+`"} 1
`, "graph_requests_total")
	if _, err := r.conn.Tenant("a/b", r.cred); err == nil {
		t.Fatal("a tenant with a slash")
	}
}
