package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// verdict is the outcome of a reconcile for the Ready and Stalled conditions: Ready when reason
// is ReasonReady; stalled when only a person can fix it (kstatus reports Failed); otherwise the
// operator is still working (InProgress).
type verdict struct {
	reason  string
	message string
	stalled bool
}

func ready(message string) verdict {
	return verdict{reason: accessv1alpha1.ReasonReady, message: message}
}

// stalledBy is a problem only a person can fix: a missing reference, a full limit, a contradiction.
func stalledBy(reason, message string) verdict {
	return verdict{reason: reason, message: message, stalled: true}
}

// waitingFor is a state the operator will leave by itself (another reconcile has yet to run).
func waitingFor(reason, message string) verdict { return verdict{reason: reason, message: message} }

func (v verdict) isReady() bool { return v.reason == accessv1alpha1.ReasonReady }

// conditions sets conditions with the object's generation; meta.SetStatusCondition keeps
// lastTransitionTime unless the status flips, so a reconcile that changes nothing writes nothing.
type conditions struct {
	list       *[]metav1.Condition
	generation int64
}

func (c conditions) set(condType string, status bool, reason, message string) {
	s := metav1.ConditionFalse
	if status {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(c.list, metav1.Condition{
		Type: condType, Status: s, Reason: reason, Message: message, ObservedGeneration: c.generation,
	})
}

func (c conditions) remove(condType string) { meta.RemoveStatusCondition(c.list, condType) }

// apply writes Ready and Stalled from a verdict. Stalled is removed rather than set False when
// the object is Ready, so `kubectl get` and kstatus show the fewest conditions.
func (c conditions) apply(v verdict) {
	c.set(accessv1alpha1.ConditionReady, v.isReady(), v.reason, v.message)
	if v.stalled {
		c.set(accessv1alpha1.ConditionStalled, true, v.reason, v.message)
	} else {
		c.remove(accessv1alpha1.ConditionStalled)
	}
}

// setRolesAssigned writes a principal's RolesAssigned condition: the first problem with its roles,
// or how many it holds.
func (c conditions) setRolesAssigned(problem *verdict, roles int) {
	if problem != nil {
		c.set(accessv1alpha1.ConditionRolesAssigned, false, problem.reason, problem.message)
		return
	}
	c.set(accessv1alpha1.ConditionRolesAssigned, true, accessv1alpha1.ReasonRolesAssigned, fmt.Sprintf("%d effective role(s)", roles))
}

// isTrue reports whether the condition of that type is True.
func isTrue(list []metav1.Condition, condType string) bool {
	return meta.IsStatusConditionTrue(list, condType)
}

// patchStatus writes the status of obj when it differs from before, and only then: no write when
// nothing changed. getStatus returns the status struct to compare.
//
// ownStatusRevisits: before is read from the cache, which can lag the reconciler's own last
// write, so "unchanged" may be judged against a stale status and a needed write skipped. Every
// reconciler therefore watches its own kind unfiltered: once the cache catches up with a status
// write, the object is reconciled again against what the server holds, and that reconcile writes
// nothing unless the status really differs.
func patchStatus(ctx context.Context, c client.Client, before, obj client.Object, getStatus func(client.Object) any, opts ...client.MergeFromOption) error {
	if equality.Semantic.DeepEqual(getStatus(before), getStatus(obj)) {
		return nil
	}
	return c.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, opts...))
}
