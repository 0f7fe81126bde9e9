package dvsync

import (
	"testing"
	"time"
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
