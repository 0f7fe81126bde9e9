package dvsync

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// compareUser with an Entra target: when the operator manages the person's enablement in Entra
// ID (DesiredUser.EnablementManaged: spec.entra Manage with SecurityGroupMembership and a
// security group), Dataverse's isdisabled disagreeing is Dataverse not having followed Entra ID
// yet (AwaitingEntraSync), not EnablementDrift; addUser makes it follow at once, asked once per
// entraReAdd and again right after the operator changed the person in Entra ID.
func TestCompareUserEntra(t *testing.T) {
	const bu = "bu-sales"
	addUser := Change{Op: OpAddFromEntra, Why: "asked Dataverse to follow Entra ID now (addUser)", ID: "oid-ada"}
	desired := func(enabled, managed bool) func(*decide.DesiredUser) {
		return func(d *decide.DesiredUser) { d.Enabled, d.EnablementManaged = enabled, managed }
	}
	record := func(disabled bool) *dataverse.SystemUser {
		return &dataverse.SystemUser{ID: "u1", ETag: `W/"1"`, DomainName: "ada@contoso.com", AccessMode: dataverse.AccessModeReadWrite,
			BusinessUnitID: bu, IsDisabled: disabled}
	}
	obs := func(disabled bool, mut ...func(*observedUser)) observedUser {
		o := observedUser{User: record(disabled), BusinessUnitID: bu, Roles: []dataverse.Role{{ID: "r-Seller", Name: "Seller"}}, RoleIDs: map[string]string{}, CanAdd: true}
		for _, m := range mut {
			m(&o)
		}
		return o
	}
	asked := func(o *observedUser) { o.AskedRecently = true }
	changed := func(o *observedUser) { o.EntraChanged = true }
	cases := []struct {
		name    string
		desired func(*decide.DesiredUser)
		obs     observedUser
		changes []Change
		then    string
		says    []string
	}{
		{name: "EN1 EN4/entra: decided disabled, Dataverse still enabled, enablement managed: AwaitingEntraSync and addUser asked",
			desired: desired(false, true), obs: obs(false), changes: []Change{addUser}, then: v1alpha1.ReasonAwaitingEntraSync,
			says: []string{"Dataverse holds ada@contoso.com enabled and has not followed Entra ID yet, where the operator made it disabled"}},
		{name: "EN1/entra: decided enabled, Dataverse still disabled, enablement managed: AwaitingEntraSync and addUser asked",
			desired: desired(true, true), obs: obs(true), changes: []Change{addUser}, then: v1alpha1.ReasonAwaitingEntraSync,
			says: []string{"Dataverse holds ada@contoso.com disabled", "where the operator made it enabled"}},
		{name: "EN1/entra: asked a moment ago: only awaited, addUser not asked again",
			desired: desired(false, true), obs: obs(false, asked), then: v1alpha1.ReasonAwaitingEntraSync},
		{name: "EN1/entra: asked a moment ago but Entra ID changed just now: addUser asked again at once",
			desired: desired(false, true), obs: obs(false, asked, changed), changes: []Change{addUser}, then: v1alpha1.ReasonAwaitingEntraSync},
		{name: "EN1/entra: the admin API is not known (no environmentId): awaited, nothing asked",
			desired: desired(false, true), obs: obs(false, func(o *observedUser) { o.CanAdd = false }, changed), then: v1alpha1.ReasonAwaitingEntraSync},
		{name: "EN1/entra: no object id (not found in Entra ID yet): awaited, nothing asked",
			desired: func(d *decide.DesiredUser) { desired(false, true)(d); d.EntraObjectID = "" }, obs: obs(false, changed), then: v1alpha1.ReasonAwaitingEntraSync},
		{name: "EN1/entra: Dataverse agrees: nothing asked",
			desired: desired(false, true), obs: obs(true)},
		{name: "EN1/entra: Dataverse agrees and Entra ID changed just now: addUser asked so it follows the change at once",
			desired: desired(false, true), obs: obs(true, changed), changes: []Change{addUser}},

		{name: "EN6/entra: decided enabled, Dataverse still disabled: no role is assigned yet (Dataverse refuses roles to a disabled user), addUser asked",
			desired: desired(true, true), obs: obs(true, func(o *observedUser) { o.Roles = nil; o.RoleIDs = map[string]string{"Seller": "r-Seller"} }),
			changes: []Change{addUser}, then: v1alpha1.ReasonAwaitingEntraSync},
		{name: "AM3/entra: an access mode written (Administrative needs no license) is followed at once, though addUser was asked a moment ago",
			desired: func(d *decide.DesiredUser) { desired(true, true)(d); d.AccessMode = v1alpha1.AccessModeAdministrative },
			obs:     obs(true, asked),
			changes: []Change{{Op: OpUpdateUser, Why: "accessmode ReadWrite, decided Administrative", Record: "u1", ETag: `W/"1"`, Patch: &dataverse.UserPatch{AccessMode: ptrMode(dataverse.AccessModeAdministrative)}}, addUser},
			then:    v1alpha1.ReasonAwaitingEntraSync},

		// Enablement not managed: as before, Dataverse disagreeing is EnablementDrift.
		{name: "EN1: enablement not managed, Dataverse disabled, decided enabled: EnablementDrift, addUser never asked",
			desired: desired(true, false), obs: obs(true, changed), then: v1alpha1.ReasonEnablementDrift,
			says: []string{"in Entra ID check that"}},
		{name: "EN1: enablement not managed, Dataverse enabled, decided disabled: EnablementDrift, addUser never asked",
			desired: desired(false, false), obs: obs(false), then: v1alpha1.ReasonEnablementDrift},
		{name: "EN1: enablement not managed, Dataverse agrees, Entra ID changed (a license): addUser asked",
			desired: desired(true, false), obs: obs(false, changed), changes: []Change{addUser}},

		// A role not in Dataverse yet: the wait is the outcome; addUser only follows an Entra change.
		{name: "a desired role not in Dataverse yet: waited for, addUser not asked at every look",
			desired: desired(false, true), obs: obs(false, func(o *observedUser) { o.Roles = nil; o.RoleIDs = map[string]string{"Seller": ""} }),
			then: v1alpha1.ReasonSyncPending},
		{name: "a desired role not in Dataverse yet and Entra ID changed just now: addUser asked",
			desired: desired(true, true), obs: obs(false, changed, func(o *observedUser) { o.Roles = nil; o.RoleIDs = map[string]string{"Seller": ""} }),
			changes: []Change{addUser}, then: v1alpha1.ReasonSyncPending},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &decide.DesiredUser{UserName: "ada@contoso.com", EntraObjectID: "oid-ada", AccessMode: v1alpha1.AccessModeReadWrite,
				BusinessUnit: "sales", Roles: []string{"Seller"}, SecurityGroup: "sg", License: "PLAN1"}
			c.desired(d)
			got := compareUser(d, c.obs, 7*time.Second)
			if diff := cmp.Diff(c.changes, got.Changes); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if reason := thenReason(got); reason != c.then {
				t.Errorf("outcome once changed: %q, want %q", reason, c.then)
			}
			if c.then == v1alpha1.ReasonAwaitingEntraSync {
				// addUser just asked updates the record at once: looked at again soon; otherwise
				// at the Entra sync wait.
				want := 7 * time.Second
				if slices.ContainsFunc(got.Changes, func(x Change) bool { return x.Op == OpAddFromEntra }) && c.obs.User != nil {
					want = followWait
				}
				if got.Then.RequeueAfter != want {
					t.Errorf("AwaitingEntraSync looks again in %s, want %s", got.Then.RequeueAfter, want)
				}
			}
			for _, p := range c.says {
				if got.Then == nil || !strings.Contains(got.Then.Message, p) {
					t.Errorf("outcome %+v does not say %q", got.Then, p)
				}
			}
		})
	}
}

func ptrMode(m dataverse.AccessMode) *dataverse.AccessMode { return &m }
