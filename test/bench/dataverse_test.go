package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// TestSmallRunDataverse runs the bench with a Dataverse target (the emulator as its own process)
// at a size with nothing to stall, and checks counts only: every object Synced, Dataverse
// requests counted, and no Dataverse write while idle across more than one sync interval. It
// asserts no timing: CI machines are shared, and convergence includes the operator's 30 s wait
// for Entra ID's sync.
func TestSmallRunDataverse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane, the emulator and the manager")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set: run through make test")
	}
	log.SetLogger(logr.Discard())
	cfg := Config{
		// At most seven NonInteractive users and seats for every licensed one: nothing stalls, so
		// every object must end Synced.
		Size: Size{Environments: 2, UsersPerEnvironment: 12, NonInteractivePerEnv: 5, ApplicationUsers: 2, Roles: 2, Teams: 2},
		QPS:  50, Burst: 100, MaxConcurrentReconciles: 4,
		// Longer than 1.1 x the sync interval: every object is read again once while idle.
		Idle:      20 * time.Second,
		Timeout:   5 * time.Minute,
		WorkDir:   filepath.Join(t.TempDir(), "bench"),
		NoProfile: true,
		Dataverse: DataverseConfig{Enabled: true, SyncInterval: 15 * time.Second},
	}
	var progress bytes.Buffer
	res, err := Run(context.Background(), cfg, &progress)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, progress.String())
	}
	var out bytes.Buffer
	Print(&out, res)
	t.Log("\n" + out.String())
	dv := res.Dataverse
	if dv == nil {
		t.Fatal("no Dataverse figures")
	}
	if want := res.Objects + 3*cfg.Environments; dv.SyncedTrue != want || len(dv.NotSynced) != 0 {
		t.Errorf("Synced True on %d objects, want every one of %d; not synced: %v", dv.SyncedTrue, want, dv.NotSynced)
	}
	if dv.Requests == 0 || dv.Writes == 0 || dv.ByTarget["addUser POST"] != 2*12 {
		t.Errorf("Dataverse requests to converge: %d (%d writes, %d addUser), want some, with one addUser per person", dv.Requests, dv.Writes, dv.ByTarget["addUser POST"])
	}
	if dv.IdleWrites != 0 {
		t.Errorf("Dataverse writes while idle = %d, want 0: %v", dv.IdleWrites, dv.IdleWritesDetail)
	}
	if dv.IdleRequests == 0 || dv.IdleRequestsPerObjectPerInterval <= 0 {
		t.Errorf("no Dataverse reads while idle (%d) over more than one sync interval: drift is not re-observed", dv.IdleRequests)
	}
	if dv.LogTruncated || dv.Throttled != 0 {
		t.Errorf("the emulator's log overflowed (%t) or throttled (%d) at this size", dv.LogTruncated, dv.Throttled)
	}
}

// TestSmallRunEntra runs the bench with an Entra ID target as well (spec.entra Manage over the
// emulator's Graph) at a size with nothing to stall, and checks counts only: every object
// Synced, no EnablementDrift, each security group holding exactly the people decided enabled,
// Graph writes no more than the seed's differences need, and while idle over several sync
// intervals no Graph write and one bulk re-read per environment per interval at the cost of
// its bound (people in $batches of 20, member pages, subscribedSkus, the groups' resolution).
func TestSmallRunEntra(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane, the emulator and the manager")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set: run through make test")
	}
	log.SetLogger(logr.Discard())
	cfg := Config{
		Size: Size{Environments: 2, UsersPerEnvironment: 12, NonInteractivePerEnv: 5, ApplicationUsers: 2, Roles: 2, Teams: 2},
		QPS:  50, Burst: 100, MaxConcurrentReconciles: 4,
		Idle:      25 * time.Second,
		Timeout:   5 * time.Minute,
		WorkDir:   filepath.Join(t.TempDir(), "bench"),
		NoProfile: true,
		Dataverse: DataverseConfig{Enabled: true, Entra: EntraConfig{Enabled: true, SyncInterval: 5 * time.Second}},
	}
	var progress bytes.Buffer
	res, err := Run(context.Background(), cfg, &progress)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, progress.String())
	}
	var out bytes.Buffer
	Print(&out, res)
	t.Log("\n" + out.String())
	dv, e := res.Dataverse, res.Entra
	if dv == nil || e == nil {
		t.Fatal("no Dataverse or Entra figures")
	}
	if want := res.Objects + 3*cfg.Environments; dv.FinalSyncedTrue != want || dv.FinalEnablementDrift != 0 {
		t.Errorf("at the end Synced True on %d objects, want every one of %d; not synced: %v", dv.FinalSyncedTrue, want, dv.FinalNotSynced)
	}
	if e.MembershipMismatches != 0 {
		t.Errorf("%d people's security group membership is not the decision: %v", e.MembershipMismatches, e.MembershipMismatchesDetail)
	}
	if e.Writes == 0 || e.Writes > e.MinimumWrites {
		t.Errorf("Graph writes to converge: %d, want between 1 and the %d the seed's differences need", e.Writes, e.MinimumWrites)
	}
	if e.IdleWrites != 0 {
		t.Errorf("Graph writes while idle = %d, want 0: %v", e.IdleWrites, e.IdleWritesDetail)
	}
	if e.IdleObservations == 0 || e.IdleRequestsPerObservation > e.BoundWithResolvePerEnvironmentPerInterval {
		t.Errorf("while idle %d bulk re-reads costing %.2f requests each, want some, at most the bound %.2f", e.IdleObservations, e.IdleRequestsPerObservation, e.BoundWithResolvePerEnvironmentPerInterval)
	}
	if e.LogTruncated || e.Throttled != 0 {
		t.Errorf("the emulator's log overflowed (%t) or Graph throttled (%d) at this size", e.LogTruncated, e.Throttled)
	}
}
