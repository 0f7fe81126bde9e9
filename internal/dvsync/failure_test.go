package dvsync

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// TestFailedRetries: a change whose answer was lost is looked up again within seconds, while a
// service that cannot be reached is retried at an outage's pace.
func TestFailedRetries(t *testing.T) {
	dial := &url.Error{Op: "Post", URL: "https://org.example/api", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	cases := []struct {
		name   string
		err    error
		reason string
		after  time.Duration
	}{
		{"a create whose answer was lost", fmt.Errorf("dataverse CreateRole: POST roles: no answer: %w (%w)", dial, dataverse.ErrAnswerLost),
			v1alpha1.ReasonDataverseUnreachable, AnswerLostRetry},
		{"a service that cannot be reached", fmt.Errorf("dataverse GetRole: GET roles: no answer: %w", dial),
			v1alpha1.ReasonDataverseUnreachable, 30 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Failed(c.err, "SecurityRole late")
			if r.Reason != c.reason || r.RequeueAfter != c.after {
				t.Errorf("Failed = %s after %v, want %s after %v (%s)", r.Reason, r.RequeueAfter, c.reason, c.after, r.Message)
			}
		})
	}
}

// A wait for the operator's own budget says the same thing at every retry, whatever the wait:
// a countdown in the message would rewrite the status each time (conditions that never flap).
func TestFailedBudgetWaitIsStable(t *testing.T) {
	a := Failed(budgetSpent{14 * time.Second}, "user ada")
	b := Failed(budgetSpent{3 * time.Second}, "user ada")
	if a.Reason != v1alpha1.ReasonSyncPending || a.RequeueAfter != 14*time.Second || b.RequeueAfter != 3*time.Second {
		t.Fatalf("a budget wait is SyncPending, requeued after its wait: %+v, %+v", a, b)
	}
	if a.Message != b.Message {
		t.Errorf("the message changes with the wait:\n%s\n%s", a.Message, b.Message)
	}
}

// budgetSpent is the client's refusal when the operator's own budget is spent (ErrRateLimited,
// with the wait as its retry hint).
type budgetSpent struct{ wait time.Duration }

func (e budgetSpent) Error() string            { return fmt.Sprintf("budget spent (retry after %s)", e.wait) }
func (e budgetSpent) Unwrap() error            { return dataverse.ErrRateLimited }
func (e budgetSpent) RetryHint() time.Duration { return e.wait }
