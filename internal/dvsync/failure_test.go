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
