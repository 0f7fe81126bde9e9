package dataverse_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
)

// waitsOf keeps the waits of at least min, dropping the limiter's zero-length ones.
func waitsOf(slept []time.Duration, min time.Duration) []time.Duration {
	var out []time.Duration
	for _, d := range slept {
		if d >= min {
			out = append(out, d)
		}
	}
	return out
}

// TestThrottledHonoursRetryAfter: 429 is retried after exactly the Retry-After the service sent,
// and the limiter holds every other request back for as long (Microsoft Learn, "Service protection
// API limits": a client must wait Retry-After). MaxWait is above the 7 s asked, so the client
// waits; TestMaxWait covers a Retry-After longer than MaxWait.
func TestThrottledHonoursRetryAfter(t *testing.T) {
	h := newHarness(t, func(o *dataverse.Options) { o.RequestsPerMinute = 600; o.Burst = 10; o.MaxWait = time.Minute }, nil)
	ctx := context.Background()
	h.emu.AddFault(emulator.Fault{Status: 429, Code: dataverse.CodeTooManyRequests, RetryAfter: 7, Count: 2, Message: "Number of requests exceeded the limit of 6000 over time window of 300 seconds."})
	h.clock.Reset()
	start := h.clock.Now()
	ok(t, func() error { _, err := h.cl.WhoAmI(ctx); return err }())
	if d := cmp.Diff([]time.Duration{7 * time.Second, 7 * time.Second}, waitsOf(h.clock.Slept(), time.Second)); d != "" {
		t.Fatalf("retry waits (-want +got):\n%s", d)
	}
	// The limiter owed the service the whole Retry-After: after each wait only one token's worth
	// (100 ms at 600/min) more.
	if el := h.clock.Now().Sub(start); el < 14*time.Second || el > 14*time.Second+300*time.Millisecond {
		t.Fatalf("elapsed %s, want 14s and a little", el)
	}
	if n := h.metricSum("dataverse_throttled_total", map[string]string{"code": dataverse.CodeTooManyRequests}); n != 2 {
		t.Fatalf("throttled metric %v, want 2", n)
	}
}

// TestLimiterRate: the token bucket spaces requests at the configured rate once the burst is
// spent; the waits are measured on the fake clock.
func TestLimiterRate(t *testing.T) {
	h := newHarness(t, func(o *dataverse.Options) { o.RequestsPerMinute = 60; o.Burst = 2 }, nil)
	ctx := context.Background()
	h.clock.Reset()
	start := h.clock.Now()
	for i := 0; i < 6; i++ {
		ok(t, func() error { _, err := h.cl.WhoAmI(ctx); return err }())
	}
	// Two free, then one a second.
	if el := h.clock.Now().Sub(start); el != 4*time.Second {
		t.Fatalf("6 requests at 60/min with burst 2 took %s, want 4s", el)
	}
	if d := cmp.Diff([]time.Duration{time.Second, time.Second, time.Second, time.Second}, waitsOf(h.clock.Slept(), time.Millisecond)); d != "" {
		t.Fatalf("limiter waits (-want +got):\n%s", d)
	}
}

// TestConcurrencyCap: with the emulator enforcing 3 concurrent requests, a client capped at 3
// never meets 0x80072326 however many goroutines call it.
func TestConcurrencyCap(t *testing.T) {
	h := newHarness(t, func(o *dataverse.Options) { o.MaxConcurrent = 3; o.Burst = 1000; o.RequestsPerMinute = 1200 },
		func(c *emulator.Config) {
			c.Limits = emulator.Limits{Enforce: true, MaxConcurrent: 3}
			c.Latency = 5 * time.Millisecond
		})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _, err := h.cl.WhoAmI(ctx); errs <- err }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		ok(t, err)
	}
	for _, r := range h.emu.Requests() {
		if r.Status == http.StatusTooManyRequests {
			t.Fatalf("throttled at %s", r.Path)
		}
	}
}

// TestServerErrorsRetried: 5xx are retried with exponential backoff for calls that are safe to
// resend; a create that met one is not resent (a gateway's 5xx may come after the service
// committed) and answers ErrAnswerLost as well as ErrServer.
func TestServerErrorsRetried(t *testing.T) {
	h := newHarness(t, func(o *dataverse.Options) { o.BackoffBase = time.Second; o.BackoffMax = 8 * time.Second }, nil)
	ctx := context.Background()
	root := must(h.cl.RootBusinessUnit(ctx))
	h.emu.AddFault(emulator.Fault{Method: "POST", PathContains: "roles", Status: 500, Code: "0x80040216", Message: "An unexpected error occurred.", Count: 1})
	h.clock.Reset()
	h.emu.ClearRequests()
	_, err := h.cl.CreateRole(ctx, "Retried", root.ID, dataverse.InheritanceDirectUserBasicAndTeam)
	var e *dataverse.Error
	if !errors.Is(err, dataverse.ErrAnswerLost) || !errors.Is(err, dataverse.ErrServer) || !errors.As(err, &e) || e.StatusCode != 500 || e.Code != "0x80040216" {
		t.Fatalf("a create answered 500: %v, want ErrAnswerLost and ErrServer with the *Error", err)
	}
	if n := h.requests("POST", "roles"); n != 1 || len(waitsOf(h.clock.Slept(), time.Millisecond)) != 0 {
		t.Fatalf("create sent %d times with waits %v, want once and no wait", n, h.clock.Slept())
	}
	// This fault answered before doing anything, so the caller's look-up finds nothing and it
	// creates the role again.
	if _, err := h.cl.RoleByName(ctx, "Retried", root.ID); !errors.Is(err, dataverse.ErrNotFound) {
		t.Fatalf("look-up after the lost create: %v", err)
	}
	id := must(h.cl.CreateRole(ctx, "Retried", root.ID, dataverse.InheritanceDirectUserBasicAndTeam))

	h.emu.AddFault(emulator.Fault{Method: "GET", PathContains: "roles(", Status: 503, Count: 3})
	h.clock.Reset()
	must(h.cl.GetRole(ctx, id))
	waits := waitsOf(h.clock.Slept(), time.Millisecond)
	if len(waits) != 3 {
		t.Fatalf("waits %v, want 3 backoffs", waits)
	}
	// Jitter keeps each wait in [d/2, d] for d = 1s, 2s, 4s.
	for i, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if waits[i] < d/2 || waits[i] > d {
			t.Errorf("wait %d = %s, want within [%s, %s]", i, waits[i], d/2, d)
		}
	}
	if roles := must(h.cl.ListRoles(ctx, root.ID)); len(roles) != 8 {
		t.Fatalf("%d roles, want the 7 built-in ones and one created", len(roles))
	}
	if n := h.metricSum("dataverse_retries_total", nil); n != 3 {
		t.Fatalf("retries metric %v, want 3", n)
	}
	// Retries run out (or the next backoff is over MaxWait): the last error comes back.
	h.emu.AddFault(emulator.Fault{Method: "GET", Status: 502, Count: 100})
	if _, err := h.cl.WhoAmI(ctx); !errors.Is(err, dataverse.ErrServer) || errors.Is(err, dataverse.ErrAnswerLost) {
		t.Fatalf("after retries: %v", err)
	}
	h.emu.ClearFaults()
}

// TestDroppedConnection: a request whose answer never comes is resent only when resending cannot
// do a thing twice.
func TestDroppedConnection(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	root := must(h.cl.RootBusinessUnit(ctx))

	// A create whose answer is lost after the service made the record: not resent, so one role.
	h.emu.AddFault(emulator.Fault{Method: "POST", PathContains: "roles", DropAfter: true})
	h.emu.ClearRequests()
	if _, err := h.cl.CreateRole(ctx, "Once", root.ID, dataverse.InheritanceDirectUserBasicAndTeam); !errors.Is(err, dataverse.ErrAnswerLost) {
		t.Fatalf("a create without an answer: %v, want ErrAnswerLost", err)
	}
	if n := h.requests("POST", "roles"); n != 1 {
		t.Fatalf("create sent %d times, want 1: %+v", n, h.emu.Requests())
	}
	role := must(h.cl.RoleByName(ctx, "Once", root.ID)) // made exactly once

	// Reads, PATCHes and ReplacePrivileges are resent.
	for _, tc := range []struct {
		name, method, path string
		call               func() error
	}{
		{"read", "GET", "roles(", func() error { _, err := h.cl.GetRole(ctx, role.ID); return err }},
		{"patch", "PATCH", "roles(", func() error {
			return h.cl.SetRoleInheritance(ctx, role.ID, "", dataverse.InheritanceTeamPrivilegesOnly)
		}},
		{"replace privileges", "POST", "ReplacePrivilegesRole", func() error { return h.cl.ReplacePrivileges(ctx, role.ID, nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.emu.AddFault(emulator.Fault{Method: tc.method, PathContains: tc.path, DropAfter: true})
			h.emu.ClearRequests()
			ok(t, tc.call())
			if n := h.requests(tc.method, tc.path); n != 2 {
				t.Fatalf("sent %d times, want 2", n)
			}
		})
	}

	// An association is not resent either: the second would be a duplicate.
	appUser := must(h.cl.CreateApplicationUser(ctx, "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", root.ID))
	h.emu.AddFault(emulator.Fault{Method: "POST", PathContains: "$ref", Drop: true})
	h.emu.ClearRequests()
	if err := h.cl.AssignUserRole(ctx, appUser, role.ID); !errors.Is(err, dataverse.ErrAnswerLost) {
		t.Fatalf("association without an answer: %v, want ErrAnswerLost", err)
	}
	if n := h.requests("POST", "$ref"); n != 1 {
		t.Fatalf("association sent %d times, want 1", n)
	}
}

// TestErrorTypes decodes each kind of failure into its sentinel, keeping the service's code and
// message.
func TestErrorTypes(t *testing.T) {
	h := newHarness(t, func(o *dataverse.Options) { o.MaxRetries = 0 }, nil)
	ctx := context.Background()
	root := must(h.cl.RootBusinessUnit(ctx))
	must(h.cl.CreateRole(ctx, "Taken", root.ID, dataverse.InheritanceDirectUserBasicAndTeam))
	objectID := "11111111-2222-4333-8444-555555555555"
	ok(t, h.emu.SetEntraUser("contoso", emulatorUser(objectID, "grace@contoso.example")))
	ok(t, h.admin.AddUser(ctx, h.emu.EnvironmentID("contoso"), objectID))
	h.clock.Advance(time.Hour)
	person := must(h.cl.UserByObjectID(ctx, objectID))
	ok(t, h.emu.Patch("contoso", "systemusers", person.ID, map[string]any{"title": "changed"}))
	disabled := true

	for _, tc := range []struct {
		name       string
		fault      *emulator.Fault
		call       func() error
		kind       error
		status     int
		code       string
		retryAfter time.Duration
	}{
		{name: "not found", call: func() error { _, err := h.cl.GetRole(ctx, "00000000-1111-4222-8333-444444444444"); return err },
			kind: dataverse.ErrNotFound, status: 404, code: dataverse.CodeNotFound},
		{name: "duplicate", call: func() error {
			_, err := h.cl.CreateRole(ctx, "Taken", root.ID, dataverse.InheritanceDirectUserBasicAndTeam)
			return err
		}, kind: dataverse.ErrDuplicate, status: 400, code: dataverse.CodeDuplicate},
		{name: "precondition failed", call: func() error {
			mode := dataverse.AccessModeAdministrative
			return h.cl.UpdateUser(ctx, person.ID, person.ETag, dataverse.UserPatch{AccessMode: &mode})
		}, kind: dataverse.ErrPreconditionFailed, status: 412, code: dataverse.CodePreconditionFailed},
		{name: "throttled", fault: &emulator.Fault{Status: 429, Code: dataverse.CodeConcurrentRequests, RetryAfter: 3, Message: "Number of concurrent requests exceeded the limit of 52."},
			call: func() error { _, err := h.cl.WhoAmI(ctx); return err }, kind: dataverse.ErrThrottled, status: 429, code: dataverse.CodeConcurrentRequests, retryAfter: 3 * time.Second},
		{name: "unauthorized", call: func() error { _, err := h.client(t, "contoso", "wrong").WhoAmI(ctx); return err },
			kind: dataverse.ErrUnauthorized, status: 401},
		{name: "forbidden", fault: &emulator.Fault{Status: 403, Code: dataverse.CodePrivilegeDenied, Message: "Principal user is missing prvCreateRole privilege"},
			call: func() error { _, err := h.cl.WhoAmI(ctx); return err }, kind: dataverse.ErrForbidden, status: 403, code: dataverse.CodePrivilegeDenied},
		{name: "bad request: isdisabled of a person is Entra ID's", call: func() error {
			return h.cl.UpdateUser(ctx, person.ID, "", dataverse.UserPatch{IsDisabled: &disabled})
		}, kind: dataverse.ErrBadRequest, status: 400, code: "0x80040203"},
		{name: "server error", fault: &emulator.Fault{Status: 500, Code: "0x80040216", Message: "An unexpected error occurred."},
			call: func() error { _, err := h.cl.WhoAmI(ctx); return err }, kind: dataverse.ErrServer, status: 500, code: "0x80040216"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fault != nil {
				h.emu.AddFault(*tc.fault)
			}
			err := tc.call()
			if !errors.Is(err, tc.kind) {
				t.Fatalf("got %v, want %v", err, tc.kind)
			}
			var e *dataverse.Error
			if !errors.As(err, &e) {
				t.Fatalf("%v is not a *dataverse.Error", err)
			}
			got := struct {
				Status     int
				Code       string
				RetryAfter time.Duration
				HasMessage bool
			}{e.StatusCode, e.Code, e.RetryAfter, e.Message != ""}
			want := struct {
				Status     int
				Code       string
				RetryAfter time.Duration
				HasMessage bool
			}{tc.status, tc.code, tc.retryAfter, true}
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("error %v (-want +got):\n%s", err, d)
			}
			if ra, ok := dataverse.RetryAfter(err); ok != (tc.retryAfter > 0) || ra != tc.retryAfter {
				t.Errorf("RetryAfter(err) = %s, %v", ra, ok)
			}
			for _, other := range []error{dataverse.ErrNotFound, dataverse.ErrDuplicate, dataverse.ErrPreconditionFailed, dataverse.ErrThrottled,
				dataverse.ErrUnauthorized, dataverse.ErrForbidden, dataverse.ErrBadRequest, dataverse.ErrServer} {
				if other != tc.kind && errors.Is(err, other) {
					t.Errorf("%v also matches %v", err, other)
				}
			}
		})
	}
}

// TestAttemptTimeout: every attempt has a deadline; a read that overruns it is sent again, a
// create is not (its answer may only be late).
func TestAttemptTimeout(t *testing.T) {
	h := newHarness(t, func(o *dataverse.Options) { o.Timeout = 100 * time.Millisecond }, nil)
	ctx := context.Background()
	root := must(h.cl.RootBusinessUnit(ctx))
	h.emu.AddFault(emulator.Fault{Method: "GET", PathContains: "WhoAmI", Latency: time.Second})
	h.emu.ClearRequests()
	ok(t, func() error { _, err := h.cl.WhoAmI(ctx); return err }())
	if n := h.requests("GET", "WhoAmI"); n != 2 {
		t.Fatalf("WhoAmI sent %d times, want 2", n)
	}
	h.emu.AddFault(emulator.Fault{Method: "POST", PathContains: "roles", Latency: time.Second})
	if _, err := h.cl.CreateRole(ctx, "Slow", root.ID, dataverse.InheritanceDirectUserBasicAndTeam); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, dataverse.ErrAnswerLost) {
		t.Fatalf("slow create: %v, want a deadline and ErrAnswerLost", err)
	}
	if n := h.requests("POST", "roles"); n != 1 {
		t.Fatalf("create sent %d times, want 1", n)
	}
}
