package dvsync

import (
	"testing"
	"time"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// TestThrottledUntil: throttling met by any object is the Environment's state until the latest
// retry time, then it is gone.
func TestThrottledUntil(t *testing.T) {
	var p Pool
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if _, ok := p.ThrottledUntil("ns", "env", t0); ok {
		t.Fatal("an environment nothing throttled is not throttled")
	}
	p.NoteThrottled("ns", "env", t0.Add(5*time.Second))
	p.NoteThrottled("ns", "env", t0.Add(2*time.Second)) // an earlier time does not shorten it
	if until, ok := p.ThrottledUntil("ns", "env", t0.Add(time.Second)); !ok || !until.Equal(t0.Add(5*time.Second)) {
		t.Errorf("ThrottledUntil = %v, %v; want %v, true", until, ok, t0.Add(5*time.Second))
	}
	if _, ok := p.ThrottledUntil("ns", "other", t0.Add(time.Second)); ok {
		t.Error("another environment is not throttled")
	}
	if _, ok := p.ThrottledUntil("ns", "env", t0.Add(5*time.Second)); ok {
		t.Error("throttling ends at the retry time")
	}
}

// TestFinishMessageStable: a sync that corrected something and the next one that found nothing
// to correct give the same Synced message, so the second writes no status.
func TestFinishMessageStable(t *testing.T) {
	tgt := &Target{Env: &v1alpha1.Environment{Spec: v1alpha1.EnvironmentSpec{Dataverse: &v1alpha1.DataverseTarget{ManagementPolicy: v1alpha1.ManagementManage}}}}
	corrected := differences{}
	corrected.add("role Seller not assigned")
	first := tgt.finish(&corrected, &v1alpha1.DataverseRecord{ID: "u1"}, "user ada@contoso.com")
	second := tgt.finish(&differences{}, &v1alpha1.DataverseRecord{ID: "u1"}, "user ada@contoso.com")
	if first.Reason != v1alpha1.ReasonSynced || first.Message != second.Message {
		t.Errorf("Synced %q then %q: the message must not carry what was corrected", first.Message, second.Message)
	}
	if len(first.Wrote) != 1 || len(second.Wrote) != 0 {
		t.Errorf("Wrote %v then %v: the correction is reported once, in the event", first.Wrote, second.Wrote)
	}
}
