package decide

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// outcome is "Ready", or the reason Ready is False, with " (Stalled)" when Stalled is True.
func outcome(list []metav1.Condition) string {
	r := ConditionReason(list, v1alpha1.ConditionReady)
	if r == "" {
		return "<no Ready>"
	}
	if s := ConditionReason(list, v1alpha1.ConditionStalled); s != "" {
		return r + " (Stalled)"
	}
	return r
}

// outcomes is every object's outcome by kind/name.
func outcomes(s Snapshot) map[string]string {
	out := map[string]string{}
	for i := range s.Environments {
		out["Environment/"+s.Environments[i].Name] = outcome(s.Environments[i].Status.Conditions)
	}
	for i := range s.Roles {
		out["SecurityRole/"+s.Roles[i].Name] = outcome(s.Roles[i].Status.Conditions)
	}
	for i := range s.Users {
		out["PlatformUser/"+s.Users[i].Name] = outcome(s.Users[i].Status.Conditions)
	}
	for i := range s.Apps {
		out["ApplicationUser/"+s.Apps[i].Name] = outcome(s.Apps[i].Status.Conditions)
	}
	for i := range s.Teams {
		out["Team/"+s.Teams[i].Name] = outcome(s.Teams[i].Status.Conditions)
	}
	return out
}

// namespace is a small namespace with one of most things: an environment with two E3 seats, its
// roles, users of every mode (one through an Owner team, one through a group team), a stub, an
// application user and its duplicate, and a few mistakes.
func namespace() Snapshot {
	adm := mode(v1alpha1.AccessModeAdministrative)
	return Snapshot{
		Environments: []v1alpha1.Environment{*prod(licenses("E3", 2), units("root", "emea<root"))},
		Roles: []v1alpha1.SecurityRole{*role("sales"), *role("emea-sales", ofUnit("emea")),
			*role("sales-copy", shown("SALES"), roleCreated(5))},
		Users: usersOf(
			user("ada", userCreated(1)),
			user("bob", userCreated(2), withRoles()),
			user("cy", userCreated(3)),
			user("dan", userCreated(4), mode(v1alpha1.AccessModeNonInteractive)),
			user("eve", userCreated(5), adm, withRoles(), admin(v1alpha1.AdminGlobal)),
			user("fay", userCreated(6), stub),
			user("gus", userCreated(7), adm, withRoles(), groups("sg", "g-support")),
			user("hal", userCreated(8), adm, withRoles("emea-sales")),
			user("ivy", userCreated(9), adm, groups(), intent(false)),
		),
		Apps: []v1alpha1.ApplicationUser{*app("etl"), *app("etl-copy", func(a *v1alpha1.ApplicationUser) { a.CreationTimestamp = at(5) })},
		Teams: teamsOf(
			team("sellers", members("bob")),
			team("support", groupTeam("g-support")),
			team("ghosts", members("nobody")),
		),
	}
}

func TestConverge(t *testing.T) {
	in := namespace()
	pristine := in.DeepCopy()
	out := Converge(in, now)

	t.Run("Converge reaches the expected outcome for every object and adds the built-in roles", func(t *testing.T) {
		want := map[string]string{
			"Environment/prod":                       "Ready",
			"SecurityRole/sales":                     "Ready",
			"SecurityRole/emea-sales":                "Ready",
			"SecurityRole/sales-copy":                "DuplicateRoleName (Stalled)",
			"SecurityRole/prod-system-administrator": "Ready",
			"SecurityRole/prod-basic-user":           "Ready",
			"SecurityRole/prod-salesperson":          "Ready",
			"PlatformUser/ada":                       "Ready",
			"PlatformUser/bob":                       "Ready",
			"PlatformUser/cy":                        "SeatsExhausted (Stalled)",
			"PlatformUser/dan":                       "Ready",
			"PlatformUser/eve":                       "Ready",
			"PlatformUser/fay":                       "Ready",
			"PlatformUser/gus":                       "Ready",
			"PlatformUser/hal":                       "RoleNotInBusinessUnit (Stalled)",
			"PlatformUser/ivy":                       "RoleAssignmentToDisabledUser (Stalled)",
			"ApplicationUser/etl":                    "Ready",
			"ApplicationUser/etl-copy":               "DuplicateApplicationId (Stalled)",
			"Team/sellers":                           "Ready",
			"Team/support":                           "Ready",
			"Team/ghosts":                            "TeamMemberNotFound (Stalled)",
		}
		if diff := cmp.Diff(want, outcomes(out)); diff != "" {
			t.Errorf("outcomes (-want +got):\n%s", diff)
		}
	})

	t.Run("EV1 LI1 AM6 TM1 AM9 AM8 Converge's derived fields", func(t *testing.T) {
		e := out.Environments[0].Status
		wantSeats := []v1alpha1.SeatLedger{{SKU: "E3", Seats: 2, Used: 2,
			Holders: []v1alpha1.LedgerEntry{entry("ada", nowT), entry("bob", nowT)}, Waiting: []v1alpha1.LedgerEntry{entry("cy", at(3))}}}
		if diff := cmp.Diff(wantSeats, e.Seats); diff != "" {
			t.Errorf("seats (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(slots(1, []v1alpha1.LedgerEntry{entry("dan", nowT)}), e.NonInteractive); diff != "" {
			t.Errorf("slots (-want +got):\n%s", diff)
		}
		wantCounts := &v1alpha1.UserCounts{Total: 11, ReadWrite: 3, Administrative: 4, NonInteractive: 1, Stub: 1, Application: 2, Enabled: 7, Disabled: 4}
		if diff := cmp.Diff(wantCounts, e.Users); diff != "" {
			t.Errorf("user counts (-want +got):\n%s", diff)
		}
		roles := map[string][]v1alpha1.EffectiveRole{}
		access := map[string]v1alpha1.Access{}
		for _, u := range out.Users {
			roles[u.Name] = u.Status.EffectiveRoles
			access[u.Name] = u.Status.Access
		}
		wantRoles := map[string][]v1alpha1.EffectiveRole{
			"ada": sales, "bob": {viaTeam("sales", "sellers")}, "cy": nil, "dan": sales, "eve": {saRole},
			"fay": {stubRole}, "gus": {viaTeam("sales", "support")}, "hal": nil, "ivy": nil,
		}
		if diff := cmp.Diff(wantRoles, roles, statusOpts); diff != "" {
			t.Errorf("effective roles (-want +got):\n%s", diff)
		}
		wantAccess := map[string]v1alpha1.Access{"ada": full, "bob": full, "cy": none, "dan": programmatic, "eve": settingsOnly,
			"fay": none, "gus": settingsOnly, "hal": none, "ivy": none}
		if diff := cmp.Diff(wantAccess, access); diff != "" {
			t.Errorf("access (-want +got):\n%s", diff)
		}
		members := map[string]int32{}
		for _, tm := range out.Teams {
			members[tm.Name] = tm.Status.MemberCount
		}
		if diff := cmp.Diff(map[string]int32{"sellers": 1, "support": 1, "ghosts": 0}, members); diff != "" {
			t.Errorf("member counts (-want +got):\n%s", diff)
		}
	})

	t.Run("built-in roles are created with their environment's spec, labelled", func(t *testing.T) {
		for _, r := range out.Roles {
			b, ok := BuiltInRoles(&out.Environments[0])[r.Name]
			if !ok {
				continue
			}
			if r.Labels[BuiltInLabel] != "prod" || r.Namespace != ns {
				t.Errorf("%s: label %q namespace %q", r.Name, r.Labels[BuiltInLabel], r.Namespace)
			}
			if diff := cmp.Diff(BuiltInRoleSpec(&out.Environments[0], b, nil), r.Spec); diff != "" {
				t.Errorf("%s spec (-want +got):\n%s", r.Name, diff)
			}
		}
	})

	t.Run("Converge on its own output changes nothing (idempotent)", func(t *testing.T) {
		if diff := cmp.Diff(out, Converge(out, now)); diff != "" {
			t.Errorf("second Converge (-first +second):\n%s", diff)
		}
		if diff := cmp.Diff(out, Converge(out, now.Add(time.Hour))); diff != "" {
			t.Errorf("Converge an hour later (-first +second):\n%s", diff)
		}
	})

	t.Run("Converge does not change its input", func(t *testing.T) {
		if diff := cmp.Diff(pristine, in); diff != "" {
			t.Errorf("input changed (-before +after):\n%s", diff)
		}
	})
}

// TestConvergeNineNonInteractiveUsers: through Converge, nine NonInteractive users leave seven
// holders and two waiting in creation order (EV1, AM6).
func TestConvergeNineNonInteractiveUsers(t *testing.T) {
	var us []*v1alpha1.PlatformUser
	for i := 1; i <= 9; i++ {
		us = append(us, user("ni"+string(rune('0'+i)), userCreated(10-i), mode(v1alpha1.AccessModeNonInteractive)))
	}
	out := Converge(Snapshot{Environments: []v1alpha1.Environment{*prod()}, Roles: []v1alpha1.SecurityRole{*role("sales")}, Users: usersOf(us...)}, now)
	l := out.Environments[0].Status.NonInteractive
	var holders, waiting []string
	for _, h := range l.Holders {
		holders = append(holders, h.Name)
	}
	for _, w := range l.Waiting {
		waiting = append(waiting, w.Name)
	}
	if diff := cmp.Diff([]string{"ni9", "ni8", "ni7", "ni6", "ni5", "ni4", "ni3"}, holders); diff != "" {
		t.Errorf("EV1 AM6 holders (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ni2", "ni1"}, waiting); diff != "" {
		t.Errorf("EV1 AM6 waiting (-want +got):\n%s", diff)
	}
	got := outcomes(out)
	for _, u := range us {
		want := "Ready"
		if u.Name == "ni1" || u.Name == "ni2" {
			want = "NonInteractiveLimitReached (Stalled)"
		}
		if got["PlatformUser/"+u.Name] != want {
			t.Errorf("AM6 %s: %s, want %s", u.Name, got["PlatformUser/"+u.Name], want)
		}
	}
}
