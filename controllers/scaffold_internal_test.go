package controllers

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// A condition set twice within one reconcile (the decision's Ready, then the sync's verdict) that
// ends where it began is no transition: its lastTransitionTime stays, so the status is not
// rewritten for a new timestamp alone. A real transition, and a new condition, keep theirs.
func TestKeepTransitionTimes(t *testing.T) {
	then := metav1.NewTime(time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC))
	now := metav1.NewTime(then.Add(time.Hour))
	cond := func(typ string, st metav1.ConditionStatus, at metav1.Time) metav1.Condition {
		return metav1.Condition{Type: typ, Status: st, Reason: "R", LastTransitionTime: at}
	}
	before := &accessv1alpha1.PlatformUser{}
	before.Status.Conditions = []metav1.Condition{cond("Ready", metav1.ConditionFalse, then), cond("Synced", metav1.ConditionFalse, then)}
	after := &accessv1alpha1.PlatformUser{}
	after.Status.Conditions = []metav1.Condition{cond("Ready", metav1.ConditionFalse, now), cond("Synced", metav1.ConditionTrue, now), cond("Enabled", metav1.ConditionTrue, now)}
	keepTransitionTimes(before, after)
	want := []metav1.Condition{cond("Ready", metav1.ConditionFalse, then), cond("Synced", metav1.ConditionTrue, now), cond("Enabled", metav1.ConditionTrue, now)}
	if d := cmp.Diff(want, after.Status.Conditions); d != "" {
		t.Errorf("conditions (-want +got):\n%s", d)
	}
}
