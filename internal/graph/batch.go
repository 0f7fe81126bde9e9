package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/accessplane/dataverse-access-operator/internal/webapi"
)

// MaxBatch is how many requests one $batch carries ("JSON batching": "JSON batch requests are
// currently limited to 20 individual requests").
const MaxBatch = 20

type batchRequest struct {
	ID     string `json:"id"`
	Method string `json:"method"`
	URL    string `json:"url"` // relative to the base URL: /users/…
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// Users reads people by object id or user principal name, as User does, in POST /$batch requests
// of at most MaxBatch. The answer maps each id or name asked (as given) to its user; one Graph
// does not have (404) is absent. Each sub-request is answered on its own and the batch's own
// answer is 200 whatever they say ("JSON batching": "Requests in a batch are evaluated
// individually against the applicable throttling limits and if any request exceeds the limits,
// it fails with a status of 429"): a 429 (or a 5xx: these are reads) is sent again in the next
// batch after its Retry-After (or backoff), under the client's retries and MaxWait; any other
// failure is the error. A $batch is one request to the client's limiter: Graph meters reads in
// thousands of resource units per 10 seconds per app and tenant, and the limiter's rate is set for
// writes, which are not batched.
func (cl *Client) Users(ctx context.Context, idsOrUPNs []string) (map[string]*User, error) {
	out := make(map[string]*User, len(idsOrUPNs))
	seen := make(map[string]bool, len(idsOrUPNs))
	var todo []string
	for _, id := range idsOrUPNs {
		if _, err := userPath("Users", id); err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			todo = append(todo, id)
		}
	}
	for start := 0; start < len(todo); start += MaxBatch {
		if err := cl.usersBatch(ctx, todo[start:min(start+MaxBatch, len(todo))], out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// usersBatch reads up to MaxBatch people into out, sending the throttled ones again.
func (cl *Client) usersBatch(ctx context.Context, ids []string, out map[string]*User) error {
	for attempt := 0; ; attempt++ {
		again, wait, last, err := cl.sendUsersBatch(ctx, ids, out)
		if err != nil || len(again) == 0 {
			return err
		}
		if err := cl.t.Retry(ctx, "Users", attempt, wait, last); err != nil {
			return err
		}
		ids = again
	}
}

// sendUsersBatch sends one $batch. It answers the ids to ask again (throttled or a 5xx), the
// longest Retry-After among them, and the failure of one of them for when the retries run out.
func (cl *Client) sendUsersBatch(ctx context.Context, ids []string, out map[string]*User) (again []string, wait time.Duration, last, err error) {
	reqs := make([]batchRequest, len(ids))
	for i, id := range ids {
		p, _ := userPath("Users", id)
		reqs[i] = batchRequest{ID: strconv.Itoa(i + 1), Method: http.MethodGet, URL: webapi.Query("", p, "$select", userSelect)}
	}
	var answer struct {
		Responses []batchResponse `json:"responses"`
	}
	// Only reads inside: the batch may be resent like a read.
	if err := cl.t.Do(ctx, &webapi.Call{Op: "Users", Method: http.MethodPost, URL: cl.base + "/$batch", Idempotent: true,
		Body: map[string]any{"requests": reqs}, Out: &answer}); err != nil {
		return nil, 0, nil, err
	}
	byID := make(map[string]batchResponse, len(answer.Responses))
	for _, r := range answer.Responses {
		byID[r.ID] = r
	}
	for i, id := range ids {
		r, ok := byID[reqs[i].ID]
		if !ok {
			return nil, 0, nil, fmt.Errorf("graph Users: the $batch answer has no response %s (for %q)", reqs[i].ID, id)
		}
		switch {
		case r.Status >= 200 && r.Status < 300:
			var u User
			if err := json.Unmarshal(r.Body, &u); err != nil {
				return nil, 0, nil, fmt.Errorf("graph Users: decode the answer for %q: %w", id, err)
			}
			out[id] = &u
		case r.Status == http.StatusNotFound:
			// Absent: Graph has no such person.
		default:
			f := cl.subFailure(reqs[i], r)
			e, code := decodeError(f)
			if r.Status != http.StatusTooManyRequests && r.Status < 500 {
				return nil, 0, nil, e
			}
			if r.Status == http.StatusTooManyRequests {
				cl.t.Throttled(code, f.RetryAfter)
			}
			again, wait, last = append(again, id), max(wait, f.RetryAfter), e
		}
	}
	return again, wait, last, nil
}

// subFailure is the Failure of one sub-request of a $batch, for the client's error decoding.
func (cl *Client) subFailure(req batchRequest, r batchResponse) *webapi.Failure {
	h := http.Header{}
	for k, v := range r.Headers {
		h.Set(k, v)
	}
	u := cl.base + req.URL
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	return &webapi.Failure{Cause: webapi.Answered, Operation: "Users", Method: req.Method, URL: u, StatusCode: r.Status, Header: h, Body: r.Body,
		RetryAfter: webapi.ParseRetryAfter(h.Get("Retry-After"), cl.t.Now())}
}
