package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSmallRun runs the bench at a size that fits CI and checks the figures the issue targets:
// zero writes while idle, a role change that reconciles only its holders, and a convergence time
// within a bound of the floor measured in the same run.
func TestSmallRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and the manager")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set: run through make test")
	}
	cfg := Config{
		Size: Size{Environments: 3, UsersPerEnvironment: 40, NonInteractivePerEnv: 9, ApplicationUsers: 15, Roles: 12, Teams: 6},
		QPS:  50, Burst: 100, MaxConcurrentReconciles: 4,
		Idle:    10 * time.Second,
		Timeout: 5 * time.Minute,
		WorkDir: filepath.Join(t.TempDir(), "bench"),
	}
	var log bytes.Buffer
	res, err := Run(context.Background(), cfg, &log)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, log.String())
	}
	var out bytes.Buffer
	Print(&out, res)
	t.Log("\n" + out.String())
	if !strings.Contains(out.String(), `"convergenceToFloor"`) {
		t.Fatalf("the last line is not the JSON figures:\n%s", out.String())
	}
	if res.IdleWrites != 0 {
		t.Errorf("writes while idle = %d, want 0", res.IdleWrites)
	}
	if res.RoleHolders == 0 || res.RoleChangeReconciles > 3*res.RoleHolders+5 {
		t.Errorf("one role change reconciled %d objects for %d holders: it should reach only its holders", res.RoleChangeReconciles, res.RoleHolders)
	}
	if res.Stalled.LimitReached != 3*(9-7) {
		t.Errorf("NonInteractiveLimitReached = %d, want %d", res.Stalled.LimitReached, 3*(9-7))
	}
}
