package decide

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// stalledSync are the Synced reasons only a person can clear: differences reported under
// Observe, credentials refused, a change Dataverse refuses, and a person's enablement that Entra
// ID, not the Web API, decides.
var stalledSync = map[string]bool{
	v1alpha1.ReasonDrifted:         true,
	v1alpha1.ReasonUnauthorized:    true,
	v1alpha1.ReasonEnablementDrift: true,
	v1alpha1.ReasonSyncConflict:    true,
	// The Entra ID target's: a person, a group or a license only a person can fix.
	v1alpha1.ReasonEntraDrift:              true,
	v1alpha1.ReasonPersonNotFound:          true,
	v1alpha1.ReasonTenantLicensesExhausted: true,
	v1alpha1.ReasonLicenseNotInTenant:      true,
	v1alpha1.ReasonNoUsageLocation:         true,
	v1alpha1.ReasonGroupNotFound:           true,
	v1alpha1.ReasonGroupAmbiguous:          true,
	v1alpha1.ReasonGroupNotSecurityEnabled: true,
}

// ApplySynced writes the Synced condition of an object whose Environment names a Dataverse
// target, and makes Ready require it: a decision that is Ready but not in place in Dataverse is
// not Ready, so kstatus, Argo CD and `kubectl wait` mean "in place in Dataverse". A problem the
// decision found keeps its place in Ready: it is the first thing to fix.
func ApplySynced(list *[]metav1.Condition, generation int64, reason, message string) {
	c := Conditions{List: list, Generation: generation}
	synced := reason == v1alpha1.ReasonSynced
	c.Set(v1alpha1.ConditionSynced, synced, reason, message)
	if synced || ConditionReason(*list, v1alpha1.ConditionReady) != v1alpha1.ReasonReady {
		return
	}
	c.Apply(Verdict{Reason: reason, Message: message, Stalled: stalledSync[reason]})
}

// RemoveSynced drops the Synced condition of an object whose Environment has no target.
func RemoveSynced(list *[]metav1.Condition) {
	Conditions{List: list}.Remove(v1alpha1.ConditionSynced)
}
