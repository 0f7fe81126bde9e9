package dataverse_test

import (
	"context"
	"testing"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
)

// The admin API reports the security group that gates an environment (manager export reads it),
// and "" for one with none.
func TestAdminSecurityGroup(t *testing.T) {
	const group = "5b0c4f7e-1d2a-4c3b-9e8f-0a1b2c3d4e5f"
	h := newHarness(t, nil, func(c *emulator.Config) {
		c.Environments = []emulator.EnvironmentConfig{{Name: "contoso", SecurityGroupID: group}, {Name: "fabrikam"}}
	})
	ctx := context.Background()
	got, err := h.admin.SecurityGroup(ctx, h.emu.EnvironmentID("contoso"))
	if err != nil || got != group {
		t.Errorf("contoso: %q, %v; want %q", got, err, group)
	}
	got, err = h.admin.SecurityGroup(ctx, h.emu.EnvironmentID("fabrikam"))
	if err != nil || got != "" {
		t.Errorf("fabrikam has no security group: %q, %v", got, err)
	}
	if _, err := h.admin.SecurityGroup(ctx, "a/b"); err == nil {
		t.Error("a bad environment id is refused before any request")
	}
	if n := h.requests("GET", "/scopes/admin/environments/"); n != 2 {
		t.Errorf("%d admin API GETs, want 2", n)
	}
}
