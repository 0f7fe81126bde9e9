package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/internal/graph"
)

type batchIn struct {
	Requests []struct {
		ID, Method, URL string
	}
}

// batchGraph answers $batch requests: each sub-request's answer comes from sub, given the user
// id or name in its URL and how many times that one was asked.
func batchGraph(t *testing.T, sub func(who string, asked int) (status int, headers map[string]string, body any)) (http.HandlerFunc, func() []int) {
	var mu sync.Mutex
	asked := map[string]int{}
	var sizes []int
	return func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.URL.Path != "/v1.0/$batch" {
				t.Errorf("%s %s, want POST /v1.0/$batch", r.Method, r.URL.Path)
			}
			var in batchIn
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				t.Error(err)
			}
			mu.Lock()
			sizes = append(sizes, len(in.Requests))
			var out []map[string]any
			for _, q := range in.Requests {
				if q.Method != "GET" || !strings.HasPrefix(q.URL, "/users/") || !strings.HasSuffix(q.URL, userQuery) {
					t.Errorf("sub-request %+v", q)
				}
				who := strings.TrimSuffix(strings.TrimPrefix(q.URL, "/users/"), userQuery)
				asked[who]++
				status, headers, body := sub(who, asked[who])
				out = append(out, map[string]any{"id": q.ID, "status": status, "headers": headers, "body": body})
			}
			mu.Unlock()
			// Graph answers in any order.
			for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
				out[i], out[j] = out[j], out[i]
			}
			writeJSON(w, 200, map[string]any{"responses": out})
		}, func() []int {
			mu.Lock()
			defer mu.Unlock()
			return append([]int(nil), sizes...)
		}
}

func objectID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

func userBody(id string) map[string]any {
	return map[string]any{"id": id, "userPrincipalName": id + "@contoso.com", "accountEnabled": true}
}

func notFound() map[string]any {
	return map[string]any{"error": map[string]any{"code": "Request_ResourceNotFound", "message": "Resource does not exist."}}
}

// TestUsersBatch: 45 people go in 3 batches of 20, 20 and 5; a throttled sub-request is sent
// again in a batch of its own after its Retry-After; one Graph lacks is absent; duplicates are
// asked once.
func TestUsersBatch(t *testing.T) {
	const throttled, missing = 7, 30
	h, sizes := batchGraph(t, func(who string, asked int) (int, map[string]string, any) {
		switch {
		case who == objectID(throttled) && asked == 1:
			return 429, map[string]string{"Retry-After": "3", "Content-Type": "application/json"},
				map[string]any{"error": map[string]any{"code": "TooManyRequests", "message": "Too many requests"}}
		case who == objectID(missing):
			return 404, map[string]string{"Content-Type": "application/json"}, notFound()
		}
		return 200, map[string]string{"Content-Type": "application/json"}, userBody(who)
	})
	r := newRig(t, nil, h)
	var ids []string
	for i := 0; i < 45; i++ {
		ids = append(ids, objectID(i))
	}
	users := must(r.cl.Users(context.Background(), append(ids, objectID(0))))
	if len(users) != 44 || users[objectID(missing)] != nil || users[objectID(throttled)] == nil || users[objectID(44)].UserPrincipalName != objectID(44)+"@contoso.com" {
		t.Fatalf("%d users: %v", len(users), users)
	}
	if d := cmp.Diff([]int{20, 1, 20, 5}, sizes()); d != "" {
		t.Fatalf("batch sizes (-want +got):\n%s", d)
	}
	// The first long wait is the sub-request's Retry-After; later ones are the limiter's, which
	// owes Graph that wait and spaces the next batches of 20 at 600 a minute.
	if w := r.clock.Waits(); len(w) == 0 || w[0] != 3*time.Second {
		t.Fatalf("waits %v, want the 3s asked first", w)
	}
	r.expectMetrics(t, `# HELP graph_retries_total Microsoft Graph requests (or a $batch's throttled sub-requests) retried, by tenant and operation.
# TYPE graph_retries_total counter
graph_retries_total{operation="Users",tenant="`+tenant+`"} 1
`, "graph_retries_total")
	r.expectMetrics(t, `# HELP graph_throttled_total Answers 429 from Microsoft Graph, a $batch's sub-requests included, by tenant and Graph error code.
# TYPE graph_throttled_total counter
graph_throttled_total{code="TooManyRequests",tenant="`+tenant+`"} 1
`, "graph_throttled_total")
}

// TestUsersBatchByUPN: user principal names are escaped in the sub-requests' URLs as in User.
func TestUsersBatchByUPN(t *testing.T) {
	h, _ := batchGraph(t, func(who string, _ int) (int, map[string]string, any) {
		if who != "adele_adatum.com%23EXT%23@contoso.com" {
			t.Errorf("sub-request for %q", who)
		}
		return 200, nil, userBody(userID)
	})
	r := newRig(t, nil, h)
	users := must(r.cl.Users(context.Background(), []string{"adele_adatum.com#EXT#@contoso.com"}))
	if users["adele_adatum.com#EXT#@contoso.com"] == nil {
		t.Fatalf("%v", users)
	}
}

// TestUsersBatchFailures: a sub-request refused for lack of a permission fails the read, naming
// it; a sub-request throttled past MaxWait returns ErrThrottled with the wait; none is empty.
func TestUsersBatchFailures(t *testing.T) {
	ctx := context.Background()
	h, _ := batchGraph(t, func(who string, _ int) (int, map[string]string, any) {
		return 403, nil, map[string]any{"error": map[string]any{"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation.",
			"innerError": map[string]string{"request-id": "sub-req"}}}
	})
	r := newRig(t, nil, h)
	_, err := r.cl.Users(ctx, []string{userID})
	var e *graph.Error
	if !errors.Is(err, graph.ErrForbidden) || !errors.As(err, &e) || e.Permission != "User.Read.All" || e.RequestID != "sub-req" || e.StatusCode != 403 {
		t.Fatalf("got %v", err)
	}

	h, sizes := batchGraph(t, func(string, int) (int, map[string]string, any) {
		return 429, map[string]string{"Retry-After": "60"}, map[string]any{"error": map[string]any{"code": "TooManyRequests", "message": "slow down"}}
	})
	r = newRig(t, nil, h)
	_, err = r.cl.Users(ctx, []string{userID})
	if ra, _ := graph.RetryAfter(err); !errors.Is(err, graph.ErrThrottled) || ra != time.Minute || len(sizes()) != 1 {
		t.Fatalf("got %v (retry after %s, %d batches)", err, ra, len(sizes()))
	}

	r = newRig(t, nil, func(w http.ResponseWriter, _ *http.Request) { t.Error("sent") })
	if users, err := r.cl.Users(ctx, nil); err != nil || len(users) != 0 {
		t.Fatalf("%v %v", users, err)
	}
}
