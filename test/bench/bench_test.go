package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// TestSmallRun runs the bench at a size that fits CI and checks the figures the issue targets:
// zero writes while idle, a role change that reconciles only its holders, the Stalled objects the
// workload provokes, and both floors (measured with the manager stopped) in the JSON line. It
// asserts no timing: CI machines are shared.
func TestSmallRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and the manager")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set: run through make test")
	}
	log.SetLogger(logr.Discard()) // the bench's own clients have nothing to say
	cfg := Config{
		Size: Size{Environments: 3, UsersPerEnvironment: 40, NonInteractivePerEnv: 9, ApplicationUsers: 15, Roles: 12, Teams: 6},
		QPS:  50, Burst: 100, MaxConcurrentReconciles: 4,
		Idle:    10 * time.Second,
		Timeout: 5 * time.Minute,
		WorkDir: filepath.Join(t.TempDir(), "bench"),
		// The control plane isolated from the clients wherever there are two CPUs to split.
		SharedCPUs: runtime.NumCPU() < 2,
	}
	var log bytes.Buffer
	res, err := Run(context.Background(), cfg, &log)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, log.String())
	}
	var out bytes.Buffer
	Print(&out, res)
	t.Log("\n" + out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var figures map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &figures); err != nil {
		t.Fatalf("the last line is not the JSON figures: %v\n%s", err, out.String())
	}
	for _, key := range []string{"convergenceToFloor", "convergenceToUnthrottledFloor", "floorSeconds", "unthrottledFloorSeconds", "writesPerObject"} {
		if v, ok := figures[key].(float64); !ok || v <= 0 {
			t.Errorf("JSON %q = %v, want a positive number", key, figures[key])
		}
	}
	if objects := res.Objects + 3*cfg.Environments; res.Floor.StatusWrites != objects || res.UnthrottledFloor.StatusWrites != objects {
		t.Errorf("the floors wrote %d and %d statuses, want one per object: %d", res.Floor.StatusWrites, res.UnthrottledFloor.StatusWrites, objects)
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
	if want := 3 * ((40 - 9 - 4) / 10); res.Stalled.SeatsExhausted != want {
		t.Errorf("SeatsExhausted = %d, want %d", res.Stalled.SeatsExhausted, want)
	}
	for _, p := range []string{"kube-apiserver", "etcd", "manager", "bench"} {
		if res.ConvergenceCPU.ByProcess[p] <= 0 {
			t.Errorf("no CPU time for %s while converging: %v", p, res.ConvergenceCPU)
		}
	}
	if res.FloorCPU.ByProcess["kube-apiserver"] <= 0 || res.FloorCPU.ByProcess["manager"] != 0 {
		t.Errorf("the floor's CPU should be the control plane's and the bench's, with the manager stopped: %v", res.FloorCPU)
	}
	if !cfg.SharedCPUs && !strings.HasPrefix(res.CPULayout, "isolated: ") {
		t.Errorf("CPU layout %q, want the control plane isolated", res.CPULayout)
	}
	if pu := res.Breakdown.PerKind["PlatformUser"]; pu == nil || pu.Reconciles == 0 || pu.Objects != 3*40 {
		t.Errorf("the breakdown has no PlatformUser reconciles for %d users: %+v", 3*40, pu)
	}
}

// TestIsolate: the control plane and the clients end up on disjoint CPUs, and the bench gets back
// every CPU it had once the run is over. A child stands in for the control plane.
func TestIsolate(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs")
	}
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		t.Fatal(err)
	}
	layout, restore, err := isolate(map[string]int{"kube-apiserver": child.Process.Pid})
	if err != nil {
		t.Fatal(err)
	}
	var plane, clients unix.CPUSet
	if err := unix.SchedGetaffinity(child.Process.Pid, &plane); err != nil {
		t.Fatal(err)
	}
	if err := unix.SchedGetaffinity(0, &clients); err != nil {
		t.Fatal(err)
	}
	if plane.Count() == 0 || clients.Count() == 0 || plane.Count()+clients.Count() != before.Count() {
		t.Errorf("control plane on %d CPU(s), clients on %d, of %d", plane.Count(), clients.Count(), before.Count())
	}
	for i := 0; i < len(plane)*64; i++ {
		if plane.IsSet(i) && clients.IsSet(i) {
			t.Errorf("CPU %d is both the control plane's and the clients' (%s)", i, layout)
		}
	}
	restore()
	var after unix.CPUSet
	if err := unix.SchedGetaffinity(0, &after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("after restore the bench may use %d CPU(s), want the %d it had", after.Count(), before.Count())
	}
}
