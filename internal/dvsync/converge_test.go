package dvsync

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// recordingWriter is a Writer that records what it is asked to write.
type recordingWriter struct {
	Writer // nil: any method not overridden panics, so a test sees an unexpected write
	calls  []string
}

func (w *recordingWriter) CreateRole(_ context.Context, name, _ string, _ dataverse.Inheritance) (string, error) {
	w.calls = append(w.calls, "CreateRole "+name)
	return "r1", nil
}

func (w *recordingWriter) ReplacePrivileges(_ context.Context, id string, _ []dataverse.RolePrivilege) error {
	w.calls = append(w.calls, "ReplacePrivileges "+id)
	return nil
}

func targetWith(policy v1alpha1.ManagementPolicy, w Writer) *Target {
	env := &v1alpha1.Environment{Spec: v1alpha1.EnvironmentSpec{Dataverse: &v1alpha1.DataverseTarget{ManagementPolicy: policy}}}
	c := &connection{}
	t := newTarget(env, time.Now(), c, 0)
	if t.write != nil { // newTarget gave Manage the connection's client; the test's writer replaces it
		t.write = w
	}
	return t
}

// observations plays one observation per round.
func observations(obs ...Observation) func(context.Context, Reader) (Observation, error) {
	round := 0
	return func(context.Context, Reader) (Observation, error) {
		o := obs[min(round, len(obs)-1)]
		round++
		return o, nil
	}
}

var (
	missingRole = Observation{Record: &v1alpha1.DataverseRecord{}, Changes: []Change{{Op: OpCreateRole, Why: "role missing", Name: "Seller"}}}
	driftedRole = Observation{Record: &v1alpha1.DataverseRecord{ID: "r1"}, Changes: []Change{{Op: OpReplacePrivileges, Why: "privileges differ", Record: "r1"}}}
	roleInPlace = Observation{Record: &v1alpha1.DataverseRecord{ID: "r1"}}
)

func TestConvergePolicyInOnePlace(t *testing.T) {
	cases := []struct {
		name   string
		policy v1alpha1.ManagementPolicy
		obs    []Observation
		reason string
		calls  []string
		wrote  []string
	}{
		{name: "Observe: a difference is Drifted and nothing is written (the target has no writer)",
			policy: v1alpha1.ManagementObserve, obs: []Observation{driftedRole}, reason: v1alpha1.ReasonDrifted},
		{name: "Manage: the changes are made, and the record is in place",
			policy: v1alpha1.ManagementManage, obs: []Observation{driftedRole}, reason: v1alpha1.ReasonSynced,
			calls: []string{"ReplacePrivileges r1"}, wrote: []string{"privileges differ"}},
		{name: "Manage: a create is observed again, and what the new record lacks is made next",
			policy: v1alpha1.ManagementManage, obs: []Observation{missingRole, driftedRole, roleInPlace}, reason: v1alpha1.ReasonSynced,
			calls: []string{"CreateRole Seller", "ReplacePrivileges r1"}, wrote: []string{"role missing", "privileges differ"}},
		{name: "Manage: a service that never keeps a create is a conflict after a bounded number of rounds",
			policy: v1alpha1.ManagementManage, obs: []Observation{missingRole}, reason: v1alpha1.ReasonSyncConflict,
			calls: []string{"CreateRole Seller", "CreateRole Seller", "CreateRole Seller"}, wrote: []string{"role missing", "role missing", "role missing"}},
		{name: "in place: nothing to write under either policy",
			policy: v1alpha1.ManagementObserve, obs: []Observation{roleInPlace}, reason: v1alpha1.ReasonSynced},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := &recordingWriter{}
			tgt := targetWith(c.policy, w)
			if c.policy == v1alpha1.ManagementObserve && tgt.write != nil {
				t.Fatal("a target under Observe has a writer")
			}
			r := tgt.converge(context.Background(), "role Seller", observations(c.obs...))
			if r.Reason != c.reason {
				t.Errorf("reason %s, want %s (%s)", r.Reason, c.reason, r.Message)
			}
			if diff := cmp.Diff(c.calls, w.calls); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.wrote, r.Wrote); diff != "" {
				t.Errorf("Wrote (-want +got):\n%s", diff)
			}
			if c.reason == v1alpha1.ReasonDrifted && !strings.Contains(r.Message, "privileges differ") {
				t.Errorf("Drifted names the difference: %s", r.Message)
			}
		})
	}
}

// TestSyncedMessageStable: a sync that corrected something and the next one that found nothing
// to correct give the same Synced message, so the second writes no status.
func TestSyncedMessageStable(t *testing.T) {
	tgt := targetWith(v1alpha1.ManagementManage, &recordingWriter{})
	first := tgt.converge(context.Background(), "role Seller", observations(driftedRole))
	second := tgt.converge(context.Background(), "role Seller", observations(roleInPlace))
	if first.Reason != v1alpha1.ReasonSynced || first.Message != second.Message {
		t.Errorf("Synced %q then %q: the message must not carry what was corrected", first.Message, second.Message)
	}
	if len(first.Wrote) != 1 || len(second.Wrote) != 0 {
		t.Errorf("Wrote %v then %v: the correction is reported once, in the event", first.Wrote, second.Wrote)
	}
}

// A person awaiting Entra ID's sync is added once, and again only after entraReAdd; old entries
// are forgotten.
func TestEntraAddsAsksOncePerReAdd(t *testing.T) {
	a := &entraAdds{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const oid = "0B9F3A1E-5C7D-4E2F-8A6B-1C2D3E4F5A6B"
	if a.recent(oid, now) {
		t.Fatal("never asked: not recent")
	}
	a.mark(oid, now)
	if !a.recent("0b9f3a1e-5c7d-4e2f-8a6b-1c2d3e4f5a6b", now.Add(entraReAdd-time.Second)) {
		t.Fatal("asked a moment ago (object ids compare without case): recent")
	}
	if a.recent(oid, now.Add(entraReAdd)) {
		t.Fatal("asked entraReAdd ago: asked again")
	}
	a.mark("other", now.Add(entraReAdd))
	if a.size() != 1 {
		t.Fatalf("an entry older than entraReAdd is forgotten: %d left", a.size())
	}
	var none *entraAdds
	if none.recent(oid, now) {
		t.Fatal("a target without memory always asks")
	}
	none.mark(oid, now)
}
