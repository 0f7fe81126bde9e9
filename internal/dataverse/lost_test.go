package dataverse_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
)

// countWhere counts the records of a dump whose field is value.
func countWhere(recs []map[string]any, field string, value any) int {
	n := 0
	for _, r := range recs {
		if strings.EqualFold(strings.TrimSpace(toString(r[field])), toString(value)) {
			n++
		}
	}
	return n
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

func contoso(h *harness) emulator.EnvironmentDump {
	for _, e := range h.emu.Dump().Environments {
		if e.Name == "contoso" {
			return e
		}
	}
	panic("no contoso")
}

// TestAppliedThenLost: a change the service made but whose answer was a gateway's 502, or never
// came, is sent exactly once; the caller gets ErrAnswerLost (and for the 502 ErrServer with the
// status and code), and the record exists exactly once, for the caller's look-up to find.
func TestAppliedThenLost(t *testing.T) {
	for _, mode := range []struct {
		name  string
		fault emulator.Fault
	}{
		{"502 after applying", emulator.Fault{Method: "POST", Status: http.StatusBadGateway, Code: "0x80040216", Message: "Bad Gateway", After: true}},
		{"dropped after applying", emulator.Fault{Method: "POST", Drop: true, After: true}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			h := newHarness(t, nil, nil)
			ctx := context.Background()
			root := must(h.cl.RootBusinessUnit(ctx))
			role := must(h.cl.CreateRole(ctx, "Existing", root.ID, dataverse.InheritanceDirectUserBasicAndTeam))
			app := must(h.cl.CreateApplicationUser(ctx, "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", root.ID))
			const objectID = "21111111-2222-4333-8444-555555555555"
			ok(t, h.emu.SetEntraUser("contoso", emulatorUser(objectID, "lin@contoso.example")))

			for _, tc := range []struct {
				name, path, sent string
				applied          int
				call             func() error
				once             func(emulator.EnvironmentDump) int
			}{
				{"CreateRole", "roles", "/v9.2/roles", 204, func() error {
					_, err := h.cl.CreateRole(ctx, "Lost", root.ID, dataverse.InheritanceDirectUserBasicAndTeam)
					return err
				}, func(d emulator.EnvironmentDump) int { return countWhere(d.Roles, "name", "Lost") }},
				{"CreateApplicationUser", "systemusers", "/v9.2/systemusers", 204, func() error {
					_, err := h.cl.CreateApplicationUser(ctx, "3b4c5d6e-7f80-4a1b-9c2d-3e4f5a6b7c8d", root.ID)
					return err
				}, func(d emulator.EnvironmentDump) int {
					return countWhere(d.Users, "applicationid", "3b4c5d6e-7f80-4a1b-9c2d-3e4f5a6b7c8d")
				}},
				{"AssignUserRole", "$ref", "/systemuserroles_association/$ref", 204, func() error {
					return h.cl.AssignUserRole(ctx, app, role)
				}, func(d emulator.EnvironmentDump) int {
					n := 0
					for _, u := range d.Users {
						if u["systemuserid"] == app {
							roles, _ := u["roles"].([]string)
							for _, r := range roles {
								if r == "Existing" {
									n++
								}
							}
						}
					}
					return n
				}},
				{"CreateTeam", "teams", "/v9.2/teams", 204, func() error {
					_, err := h.cl.CreateTeam(ctx, dataverse.NewTeam{Name: "Lost team", TeamType: dataverse.TeamTypeOwner, BusinessUnitID: root.ID})
					return err
				}, func(d emulator.EnvironmentDump) int { return countWhere(d.Teams, "name", "Lost team") }},
				{"CreateBusinessUnit", "businessunits", "/v9.2/businessunits", 204, func() error {
					_, err := h.cl.CreateBusinessUnit(ctx, "Lost unit", root.ID)
					return err
				}, func(d emulator.EnvironmentDump) int { return countWhere(d.BusinessUnits, "name", "Lost unit") }},
				{"AddUser", "addUser", "/addUser", 200, func() error {
					return h.admin.AddUser(ctx, h.emu.EnvironmentID("contoso"), objectID)
				}, func(d emulator.EnvironmentDump) int { return len(d.PendingEntra) }},
			} {
				t.Run(tc.name, func(t *testing.T) {
					f := mode.fault
					f.PathContains = tc.path
					h.emu.AddFault(f)
					h.emu.ClearRequests()
					h.clock.Reset()
					err := tc.call()
					if !errors.Is(err, dataverse.ErrAnswerLost) {
						t.Fatalf("got %v, want ErrAnswerLost", err)
					}
					if mode.fault.Status != 0 {
						var e *dataverse.Error
						if !errors.Is(err, dataverse.ErrServer) || !errors.As(err, &e) || e.StatusCode != mode.fault.Status || e.Code != mode.fault.Code {
							t.Fatalf("got %v, want ErrServer with the service's %d %s", err, mode.fault.Status, mode.fault.Code)
						}
					}
					var sent []emulator.LoggedRequest
					for _, r := range h.emu.Requests() {
						if r.Method == "POST" && strings.Contains(r.Path, tc.sent) {
							sent = append(sent, r)
						}
					}
					if len(sent) != 1 || sent[0].Applied != tc.applied {
						t.Fatalf("sent %+v, want one POST that the emulator applied (%d)", sent, tc.applied)
					}
					if w := waitsOf(h.clock.Slept(), time.Millisecond); len(w) != 0 {
						t.Fatalf("waited %v before giving up, want no retry", w)
					}
					if n := tc.once(contoso(h)); n != 1 {
						t.Fatalf("the change is in the emulator %d times, want once", n)
					}
				})
			}
		})
	}
}

// TestThrottledCreateRetried: a 429 is retried even for a create, since the service refused it
// before doing anything (Microsoft Learn, "Service protection API limits"); the record is made once.
func TestThrottledCreateRetried(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	root := must(h.cl.RootBusinessUnit(ctx))
	h.emu.AddFault(emulator.Fault{Method: "POST", PathContains: "roles", Status: 429, Code: dataverse.CodeTooManyRequests, RetryAfter: 2, Count: 2})
	h.emu.ClearRequests()
	h.clock.Reset()
	must(h.cl.CreateRole(ctx, "Throttled", root.ID, dataverse.InheritanceDirectUserBasicAndTeam))
	if n := h.requests("POST", "/v9.2/roles"); n != 3 {
		t.Fatalf("sent %d times, want 3 (two 429s, then the create)", n)
	}
	if n := countWhere(contoso(h).Roles, "name", "Throttled"); n != 1 {
		t.Fatalf("%d roles, want 1", n)
	}
}

// TestNotSentIsRetried: a create that never left the client (the connection was refused) cannot
// have been made, so it is retried, not reported lost.
func TestNotSentIsRetried(t *testing.T) {
	h := newHarness(t, nil, nil)
	var refused atomic.Int32
	tr := h.srv.Client().Transport.(*http.Transport).Clone()
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if refused.Add(-1) >= 0 {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
		}
		return dial(ctx, network, addr)
	}
	conn, err := dataverse.NewConnector(h.conn.Options(), &http.Client{Transport: tr}, nil)
	ok(t, err)
	cl, err := conn.Environment(h.srv.URL+"/env/contoso", staticCred(testToken))
	ok(t, err)
	ctx := context.Background()
	root := must(h.cl.RootBusinessUnit(ctx))
	refused.Store(1)
	h.emu.ClearRequests()
	must(cl.CreateRole(ctx, "Refused once", root.ID, dataverse.InheritanceDirectUserBasicAndTeam))
	if n := refused.Load(); n != -1 {
		t.Fatalf("dialled %d times, want 2 (one refused)", 1-n)
	}
	if n := h.requests("POST", "/v9.2/roles"); n != 1 {
		t.Fatalf("the emulator saw %d creates, want 1", n)
	}
	if n := countWhere(contoso(h).Roles, "name", "Refused once"); n != 1 {
		t.Fatalf("%d roles, want 1", n)
	}
}

// TestMaxWait: no wait inside the client is longer than Options.MaxWait; the request returns at
// once with the wait in RetryAfter(err) instead of holding the caller's goroutine.
func TestMaxWait(t *testing.T) {
	ctx := context.Background()
	throttle := func(after int) emulator.Fault {
		return emulator.Fault{Status: 429, Code: dataverse.CodeTooManyRequests, RetryAfter: after, Message: "Number of requests exceeded the limit of 6000 over time window of 300 seconds."}
	}

	t.Run("a Retry-After over MaxWait is returned, not slept", func(t *testing.T) {
		h := newHarness(t, func(o *dataverse.Options) { o.RequestsPerMinute = 600; o.Burst = 10 }, nil)
		if got := h.conn.Options().MaxWait; got != 5*time.Second {
			t.Fatalf("default MaxWait %s, want 5s", got)
		}
		h.emu.AddFault(throttle(7))
		h.emu.ClearRequests()
		h.clock.Reset()
		_, err := h.cl.WhoAmI(ctx)
		if ra, _ := dataverse.RetryAfter(err); !errors.Is(err, dataverse.ErrThrottled) || ra != 7*time.Second {
			t.Fatalf("got %v (retry after %s), want ErrThrottled after 7s", err, ra)
		}
		if n := h.requests("GET", "WhoAmI"); n != 1 || len(waitsOf(h.clock.Slept(), time.Millisecond)) != 0 {
			t.Fatalf("sent %d, waits %v: want one request and no wait", n, h.clock.Slept())
		}
		// The limiter owes the service those 7 s: the environment's next request is not sent
		// either, and says the operator's own limiter held it.
		_, err = h.cl.WhoAmI(ctx)
		if ra, _ := dataverse.RetryAfter(err); !errors.Is(err, dataverse.ErrRateLimited) || errors.Is(err, dataverse.ErrThrottled) || ra < 6*time.Second || ra > 7*time.Second+200*time.Millisecond {
			t.Fatalf("got %v (retry after %s), want ErrRateLimited for about 7s", err, ra)
		}
		if n := h.requests("GET", "WhoAmI"); n != 1 {
			t.Fatalf("sent %d, want the held request not sent", n)
		}
		h.clock.Advance(7 * time.Second)
		ok(t, func() error { _, err := h.cl.WhoAmI(ctx); return err }())
	})

	t.Run("a limiter wait over MaxWait is ErrRateLimited and takes no token", func(t *testing.T) {
		h := newHarness(t, func(o *dataverse.Options) { o.RequestsPerMinute = 60; o.Burst = 1; o.MaxWait = 500 * time.Millisecond }, nil)
		h.emu.ClearRequests()
		h.clock.Reset()
		ok(t, func() error { _, err := h.cl.WhoAmI(ctx); return err }())
		_, err := h.cl.WhoAmI(ctx)
		var e *dataverse.Error
		if !errors.Is(err, dataverse.ErrRateLimited) || errors.Is(err, dataverse.ErrThrottled) || !errors.As(err, &e) || e.StatusCode != 0 {
			t.Fatalf("got %v, want ErrRateLimited (not ErrThrottled), an *Error without a status", err)
		}
		if ra, _ := dataverse.RetryAfter(err); ra != time.Second {
			t.Fatalf("RetryAfter %s, want the 1s until the next token", ra)
		}
		if !strings.Contains(err.Error(), "operator's own rate limit") || !strings.Contains(err.Error(), "not sent") {
			t.Fatalf("message %q does not say the operator's own limit held the request", err)
		}
		if n := h.requests("GET", "WhoAmI"); n != 1 {
			t.Fatalf("sent %d, want 1", n)
		}
		// The refused request took no token: a second later one is due, and it needs no wait.
		h.clock.Advance(time.Second)
		h.clock.Reset()
		ok(t, func() error { _, err := h.cl.WhoAmI(ctx); return err }())
		if w := waitsOf(h.clock.Slept(), time.Millisecond); len(w) != 0 {
			t.Fatalf("waited %v: the refused request consumed a token", w)
		}
		// A wait within MaxWait is still waited.
		h.clock.Advance(600 * time.Millisecond)
		h.clock.Reset()
		ok(t, func() error { _, err := h.cl.WhoAmI(ctx); return err }())
		if w := waitsOf(h.clock.Slept(), time.Millisecond); len(w) != 1 || w[0] != 400*time.Millisecond {
			t.Fatalf("waits %v, want one of 400ms", w)
		}
	})

	t.Run("a backoff over MaxWait returns the last error", func(t *testing.T) {
		h := newHarness(t, func(o *dataverse.Options) { o.BackoffBase = 20 * time.Second; o.BackoffMax = time.Minute }, nil)
		h.emu.AddFault(emulator.Fault{Method: "GET", PathContains: "WhoAmI", Status: 503, Count: 1})
		h.emu.ClearRequests()
		h.clock.Reset()
		_, err := h.cl.WhoAmI(ctx)
		ra, _ := dataverse.RetryAfter(err)
		if !errors.Is(err, dataverse.ErrServer) || ra < 10*time.Second || ra > 20*time.Second {
			t.Fatalf("got %v (retry after %s), want ErrServer with the 10-20s backoff", err, ra)
		}
		if n := h.requests("GET", "WhoAmI"); n != 1 || len(waitsOf(h.clock.Slept(), time.Millisecond)) != 0 {
			t.Fatalf("sent %d, waits %v: want one request and no wait", n, h.clock.Slept())
		}
	})

	t.Run("MaxWait 0 waits as told", func(t *testing.T) {
		h := newHarness(t, func(o *dataverse.Options) { o.MaxWait = 0 }, nil)
		h.emu.AddFault(throttle(30))
		h.clock.Reset()
		ok(t, func() error { _, err := h.cl.WhoAmI(ctx); return err }())
		if w := waitsOf(h.clock.Slept(), time.Second); len(w) != 1 || w[0] != 30*time.Second {
			t.Fatalf("waits %v, want the 30s asked", w)
		}
	})

	t.Run("a context deadline nearer than MaxWait bounds the waits", func(t *testing.T) {
		h := newHarness(t, func(o *dataverse.Options) { o.MaxWait = 0 }, nil)
		h.emu.AddFault(throttle(3))
		h.clock.Reset()
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := h.cl.WhoAmI(dctx)
		if ra, _ := dataverse.RetryAfter(err); !errors.Is(err, dataverse.ErrThrottled) || ra != 3*time.Second {
			t.Fatalf("got %v, want ErrThrottled after 3s", err)
		}
		if w := waitsOf(h.clock.Slept(), time.Millisecond); len(w) != 0 {
			t.Fatalf("waited %v past the deadline", w)
		}
	})

	t.Run("a concurrency slot not free within MaxWait is ErrRateLimited", func(t *testing.T) {
		h := newHarness(t, func(o *dataverse.Options) { o.MaxConcurrent = 1; o.MaxWait = 100 * time.Millisecond }, nil)
		h.emu.AddFault(emulator.Fault{Method: "GET", PathContains: "WhoAmI", Latency: time.Second})
		h.emu.ClearRequests()
		var wg sync.WaitGroup
		wg.Add(1)
		var slowErr error
		go func() { defer wg.Done(); _, slowErr = h.cl.WhoAmI(ctx) }()
		for deadline := time.Now().Add(5 * time.Second); h.requests("GET", "WhoAmI") == 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the slow request never arrived")
			}
		}
		start := time.Now()
		_, err := h.cl.WhoAmI(ctx)
		if el := time.Since(start); el > 900*time.Millisecond {
			t.Fatalf("waited %s for a slot, want about 100ms", el)
		}
		if !errors.Is(err, dataverse.ErrRateLimited) || !strings.Contains(err.Error(), "in flight") {
			t.Fatalf("got %v, want ErrRateLimited for the cap on requests in flight", err)
		}
		wg.Wait()
		ok(t, slowErr)
		if n := h.requests("GET", "WhoAmI"); n != 1 {
			t.Fatalf("sent %d, want only the slow one", n)
		}
	})
}
