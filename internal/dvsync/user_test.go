package dvsync

import (
	"testing"
	"time"
)

// A person awaiting Entra ID's sync is added once, and again only after entraReAdd.
func TestEntraAddsAsksOncePerReAdd(t *testing.T) {
	a := &entraAdds{at: map[string]time.Time{}}
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
	var none *entraAdds
	if none.recent(oid, now) {
		t.Fatal("a target without memory always asks")
	}
	none.mark(oid, now)
}
