// Package decide holds one decision per kind: a pure function that takes the objects a reconcile
// read and returns the whole status to write, with the events to record. Controllers read, call
// these and write; the sync target and the offline plan call the same functions, so every
// question (is this user enabled, which roles does it hold, who gets the seventh slot) has one
// answer in one place.
package decide

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// Verdict is the outcome of a decision for the Ready and Stalled conditions: Ready when Reason is
// ReasonReady; Stalled when only a person can fix it (kstatus reports Failed); otherwise the
// operator is still working (InProgress).
type Verdict struct {
	Reason  string
	Message string
	Stalled bool
}

// Ready is the verdict of an object whose spec is in place.
func Ready(message string) Verdict { return Verdict{Reason: v1alpha1.ReasonReady, Message: message} }

// StalledBy is a problem only a person can fix: a missing reference, a full limit, a contradiction.
func StalledBy(reason, message string) Verdict {
	return Verdict{Reason: reason, Message: message, Stalled: true}
}

// WaitingFor is a state the operator leaves by itself (another reconcile has yet to run).
func WaitingFor(reason, message string) Verdict { return Verdict{Reason: reason, Message: message} }

// IsReady reports whether the verdict is Ready.
func (v Verdict) IsReady() bool { return v.Reason == v1alpha1.ReasonReady }

// Event is something worth recording on the object, decided with its status.
type Event struct {
	Type    string // Normal or Warning
	Reason  string
	Action  string
	Message string
}

const (
	eventNormal  = "Normal"
	eventWarning = "Warning"
)

// Conditions sets conditions with the object's generation; meta.SetStatusCondition keeps
// lastTransitionTime unless the status flips, so a decision that changes nothing changes nothing.
type Conditions struct {
	List       *[]metav1.Condition
	Generation int64
}

// conditionsOf starts a decision's conditions from the previous ones, so transition times survive.
func conditionsOf(prev []metav1.Condition, generation int64) (Conditions, *[]metav1.Condition) {
	list := make([]metav1.Condition, len(prev))
	copy(list, prev)
	if len(list) == 0 {
		list = nil
	}
	return Conditions{List: &list, Generation: generation}, &list
}

// Set sets one condition.
func (c Conditions) Set(condType string, status bool, reason, message string) {
	s := metav1.ConditionFalse
	if status {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(c.List, metav1.Condition{
		Type: condType, Status: s, Reason: reason, Message: message, ObservedGeneration: c.Generation,
	})
}

// Remove removes one condition.
func (c Conditions) Remove(condType string) { meta.RemoveStatusCondition(c.List, condType) }

// Apply writes Ready and Stalled from a verdict. Stalled is removed rather than set False when
// the object is not stalled, so `kubectl get` and kstatus show the fewest conditions.
func (c Conditions) Apply(v Verdict) {
	c.Set(v1alpha1.ConditionReady, v.IsReady(), v.Reason, v.Message)
	if v.Stalled {
		c.Set(v1alpha1.ConditionStalled, true, v.Reason, v.Message)
	} else {
		c.Remove(v1alpha1.ConditionStalled)
	}
}

// ConditionReason returns the reason of the condition of that type, or "".
func ConditionReason(list []metav1.Condition, condType string) string {
	if c := meta.FindStatusCondition(list, condType); c != nil {
		return c.Reason
	}
	return ""
}

// ConditionMessage returns the message of the condition of that type, or "".
func ConditionMessage(list []metav1.Condition, condType string) string {
	if c := meta.FindStatusCondition(list, condType); c != nil {
		return c.Message
	}
	return ""
}
