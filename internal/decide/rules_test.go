package decide

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
)

// decideUserOnce runs the PlatformUser decision and writes its status back, as a controller would.
func decideUserOnce(t *testing.T, u *v1alpha1.PlatformUser, e *v1alpha1.Environment, roles Roles, teams ...v1alpha1.Team) PlatformUserOutcome {
	t.Helper()
	out := PlatformUser(PlatformUserInput{User: u, Environment: e, Roles: roles, Teams: teams, Now: now})
	u.Status = out.Status
	return out
}

// edit changes a user's spec the way kubectl apply does: the generation moves on.
func edit(u *v1alpha1.PlatformUser, opts ...userOpt) {
	for _, o := range opts {
		o(u)
	}
	u.Generation++
}

func ready(t *testing.T, list []metav1.Condition) (status metav1.ConditionStatus, reason string) {
	t.Helper()
	for _, c := range list {
		if c.Type == v1alpha1.ConditionReady {
			return c.Status, c.Reason
		}
	}
	t.Fatalf("no Ready condition in %v", list)
	return "", ""
}

func stalledReason(list []metav1.Condition) string {
	for _, c := range list {
		if c.Type == v1alpha1.ConditionStalled && c.Status == metav1.ConditionTrue {
			return c.Reason
		}
	}
	return ""
}

// TestEN6DisabledTheRecommendedWay follows one user through its life: enabled with a role,
// disabled by leaving the security group, given a new role while disabled, and the environment
// then allowing assignment to disabled users.
func TestEN6DisabledTheRecommendedWay(t *testing.T) {
	roles := stdRoles()
	u := user("ada")
	decideUserOnce(t, u, prod(), roles)
	if s, r := ready(t, u.Status.Conditions); s != "True" || !cmp.Equal(u.Status.AssignedRoles, []string{"sales"}) {
		t.Fatalf("setup: enabled user not Ready with sales assigned: Ready %s/%s, assigned %v", s, r, u.Status.AssignedRoles)
	}

	t.Run("EN6 a user disabled the recommended way keeps its roles and stays Ready", func(t *testing.T) {
		edit(u, groups(), intent(false))
		out := decideUserOnce(t, u, prod(), roles)
		want := pu(v1alpha1.PrincipalStatus{ObservedGeneration: 2, Conditions: conds(2, "Ready=True:Ready", "Enabled=False:NotInSecurityGroup",
			"Licensed=True:LicensesNotCounted", "RolesAssigned=True:RolesAssigned"),
			EffectiveRoles: sales, Access: none, AssignedRoles: []string{"sales"}, FirstEnabledTime: mtime(now)}, "root", e3Claim)
		if diff := cmp.Diff(want, out.Status, statusOpts); diff != "" {
			t.Errorf("status (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"Warning/Disabled"}, eventReasons(out.Events)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("EN6 a role added while disabled is refused, Stalled, and the other roles stay assigned", func(t *testing.T) {
		edit(u, withRoles("sales", "marketing"))
		out := decideUserOnce(t, u, prod(), roles)
		want := pu(v1alpha1.PrincipalStatus{ObservedGeneration: 3, Conditions: conds(3, join(stalled("RoleAssignmentToDisabledUser"),
			"Enabled=False:NotInSecurityGroup", "Licensed=True:LicensesNotCounted", "RolesAssigned=False:RoleAssignmentToDisabledUser")...),
			EffectiveRoles: sales, Access: none, AssignedRoles: []string{"sales"}, FirstEnabledTime: mtime(now)}, "root", e3Claim)
		if diff := cmp.Diff(want, out.Status, statusOpts); diff != "" {
			t.Errorf("status (-want +got):\n%s", diff)
		}
		wantMsg := "roles can be assigned only to enabled users and ada@contoso.com is disabled, so marketing cannot be assigned (EN6); " +
			"the roles assigned before it was disabled (sales) stay assigned: enable it, remove marketing from spec.securityRoles, " +
			"or set environment prod's spec.settings.allowRoleAssignmentOnDisabledUsers to true"
		if got := message(t, out.Status.Conditions, "Ready"); got != wantMsg {
			t.Errorf("Ready message:\n got %q\nwant %q", got, wantMsg)
		}
		if got := message(t, out.Status.Conditions, "Stalled"); got != wantMsg {
			t.Errorf("Stalled message:\n got %q\nwant %q", got, wantMsg)
		}
	})

	t.Run("EN6 a refused role stays refused on the next reconcile (assignedRoles does not grow by itself)", func(t *testing.T) {
		out := decideUserOnce(t, u, prod(), roles)
		if _, r := ready(t, out.Status.Conditions); r != v1alpha1.ReasonRoleAssignmentToDisabledUser || !cmp.Equal(out.Status.AssignedRoles, []string{"sales"}) {
			t.Errorf("second look: Ready reason %s, assigned %v; want RoleAssignmentToDisabledUser, [sales]", r, out.Status.AssignedRoles)
		}
	})

	t.Run("EN6 with allowRoleAssignmentOnDisabledUsers the added role is assigned", func(t *testing.T) {
		out := PlatformUser(PlatformUserInput{User: u.DeepCopy(), Environment: prod(allowDisabled), Roles: roles, Now: now})
		want := pu(v1alpha1.PrincipalStatus{ObservedGeneration: 3, Conditions: conds(3, "Ready=True:Ready", "Enabled=False:NotInSecurityGroup",
			"Licensed=True:LicensesNotCounted", "RolesAssigned=True:RolesAssigned"),
			EffectiveRoles: []v1alpha1.EffectiveRole{direct("sales"), direct("marketing")}, Access: none,
			AssignedRoles: []string{"sales", "marketing"}, FirstEnabledTime: mtime(now)}, "root", e3Claim)
		if diff := cmp.Diff(want, out.Status, statusOpts); diff != "" {
			t.Errorf("status (-want +got):\n%s", diff)
		}
	})

	t.Run("EN6 EN7 enabled again, the refused role is assigned and the user is re-invited", func(t *testing.T) {
		edit(u, groups("sg"), intent(true))
		out := decideUserOnce(t, u, prod(), roles)
		want := pu(v1alpha1.PrincipalStatus{ObservedGeneration: 4, Conditions: conds(4, "Ready=True:Ready", "Enabled=True:Enabled",
			"Licensed=True:LicensesNotCounted", "RolesAssigned=True:RolesAssigned"),
			Enabled: true, EffectiveRoles: []v1alpha1.EffectiveRole{direct("sales"), direct("marketing")}, Access: full,
			AssignedRoles: []string{"sales", "marketing"}, FirstEnabledTime: mtime(now)}, "root", e3Claim)
		if diff := cmp.Diff(want, out.Status, statusOpts); diff != "" {
			t.Errorf("status (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"Normal/Enabled"}, eventReasons(out.Events)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("EN6 a role removed from the spec is no longer assigned, even while disabled", func(t *testing.T) {
		edit(u, groups(), intent(false))
		decideUserOnce(t, u, prod(), roles)
		edit(u, withRoles("marketing"))
		out := decideUserOnce(t, u, prod(), roles)
		if !cmp.Equal(out.Status.AssignedRoles, []string{"marketing"}) || !cmp.Equal(out.Status.EffectiveRoles, []v1alpha1.EffectiveRole{direct("marketing")}) {
			t.Errorf("assigned %v, effective %v; want only marketing", out.Status.AssignedRoles, out.Status.EffectiveRoles)
		}
		if s, r := ready(t, out.Status.Conditions); s != "True" {
			t.Errorf("Ready %s/%s, want True", s, r)
		}
	})
}

// TestEN7Reinvitation: the re-invitation event fires only for a user that had been enabled
// before, is not enabled, and becomes enabled; never for a new user's first enablement.
func TestEN7Reinvitation(t *testing.T) {
	wasDisabled := func(u *v1alpha1.PlatformUser) {
		u.Status.Enabled = false
		u.Status.AssignedRoles = []string{"sales"}
		u.Status.FirstEnabledTime = mtime(t0)
		u.Status.Claims = []v1alpha1.Claim{e3Claim}
	}
	cases := []struct {
		name string
		user *v1alpha1.PlatformUser
		env  *v1alpha1.Environment
		want []string
	}{
		{"EN7 a user enabled before, then disabled, that becomes enabled again is re-invited",
			user("ada", seen(3), wasDisabled), prod(), []string{"Normal/Enabled"}},
		{"EN7 a new user's first enablement (empty status) records no re-invitation",
			user("ada"), prod(), nil},
		{"EN7 a user observed before but never enabled (it waited for its seat) records no re-invitation",
			user("ada", seen(2), claimed("seats/E3", at(0))), prod(licenses("E3", 1), seatLedger("E3", 1, []string{"ada"})), nil},
		{"EN7 a user that stays enabled records nothing",
			user("ada", wasEnabledWith("sales"), claimed("seats/E3", at(0))), prod(), nil},
		{"EN7 a user enabled before that stays disabled records nothing",
			user("ada", seen(3), wasDisabled, groups()), prod(), nil},
		{"EN4 a user that was enabled and leaves the group records a Disabled warning",
			user("ada", wasEnabledWith("sales"), claimed("seats/E3", at(0)), groups(), intent(false)), prod(), []string{"Warning/Disabled"}},
		{"AM6 a slot granted records nothing on the user: the Environment records the round's grants",
			user("ada", mode(v1alpha1.AccessModeNonInteractive)), prod(slotLedger([]string{"ada"})), nil},
		{"AM6 a full limit records nothing on the user: the Environment records who waits",
			user("ada", mode(v1alpha1.AccessModeNonInteractive)), prod(slotLedger(names("ni", 7), "ada")), nil},
		{"LI1 exhausted seats record nothing on the user: the Environment records who waits",
			user("ada"), prod(licenses("E3", 1), seatLedger("E3", 1, []string{"bob"}, "ada")), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := PlatformUser(PlatformUserInput{User: c.user, Environment: c.env, Roles: stdRoles(), Now: now})
			if diff := cmp.Diff(c.want, eventReasons(out.Events)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("EN7 the re-invitation event says what to do", func(t *testing.T) {
		out := PlatformUser(PlatformUserInput{User: user("ada", seen(3), wasDisabled), Environment: prod(), Roles: stdRoles(), Now: now})
		want := []Event{{Type: "Normal", Reason: "Enabled", Action: "Enable",
			Message: "ada@contoso.com was disabled and is now enabled again: send it a new invitation to access the environment (EN7)"}}
		if diff := cmp.Diff(want, out.Events); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if !out.Status.FirstEnabledTime.Equal(mtime(t0)) {
			t.Errorf("firstEnabledTime moved to %v; it records the first enablement, t0", out.Status.FirstEnabledTime)
		}
	})
	t.Run("EN7 a user's first enablement records firstEnabledTime, so a later one is a re-enablement", func(t *testing.T) {
		u := user("ada")
		decideUserOnce(t, u, prod(), stdRoles())
		if !u.Status.FirstEnabledTime.Equal(mtime(now)) {
			t.Fatalf("firstEnabledTime %v, want %v", u.Status.FirstEnabledTime, now)
		}
		edit(u, groups())
		decideUserOnce(t, u, prod(), stdRoles())
		edit(u, groups("sg"))
		if got := eventReasons(decideUserOnce(t, u, prod(), stdRoles()).Events); !cmp.Equal(got, []string{"Normal/Enabled"}) {
			t.Errorf("events %v, want the re-invitation", got)
		}
	})
}

// TestAM4OneAnswer: status.access and check-access (access.Evaluate) give the same answer for the
// same principal, from the same function (access.AccessOf).
func TestAM4OneAnswer(t *testing.T) {
	cases := []struct {
		name string
		user *v1alpha1.PlatformUser
		env  *v1alpha1.Environment
		want v1alpha1.Access
	}{
		{"AM4 EN5 an enabled user with no role reaches nothing: None", user("ada", withRoles()), prod(), none},
		{"AM4 AM1 an enabled ReadWrite user with a role: Full", user("ada"), prod(), full},
		{"AM4 an enabled Administrative user with a role: SettingsOnly", user("ada", mode(v1alpha1.AccessModeAdministrative)), prod(), settingsOnly},
		{"AM4 an enabled NonInteractive user with a role: Programmatic",
			user("ada", mode(v1alpha1.AccessModeNonInteractive)), prod(slotLedger([]string{"ada"})), programmatic},
		{"AM4 an enabled Administrative user with no role: None", user("ada", mode(v1alpha1.AccessModeAdministrative), withRoles()), prod(), none},
		{"AM4 EN6 a disabled user keeping its roles: None",
			user("ada", wasEnabledWith("sales"), claimed("seats/E3", at(0)), groups(), intent(false)), prod(), none},
		{"AM4 TM1 a role held only through a group team counts",
			user("ada", withRoles(), groups("sg", "g-support")), prod(), full},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			roles := stdRoles()
			teams := teamsOf(team("support", groupTeam("g-support")))
			st := PlatformUser(PlatformUserInput{User: c.user, Environment: c.env, Roles: roles, Teams: teams, Now: now}).Status
			evaluated := access.Evaluate(principal(c.user, st, roles), butree.Tree(c.env.BusinessUnitParents()), access.Options{})
			if st.Access != c.want || evaluated.Access != c.want {
				t.Errorf("status.access %s, access.Evaluate %s; want both %s", st.Access, evaluated.Access, c.want)
			}
			if of := access.AccessOf(c.user.Spec.AccessMode, st.Enabled, len(st.EffectiveRoles) > 0); of != st.Access {
				t.Errorf("access.AccessOf %s, status.access %s", of, st.Access)
			}
		})
	}
}

// TestEV1Claims: the user's status records when it began to need a slot or a seat, and the
// Environment orders its waiting line by those times, so an unrelated edit never moves a user back.
func TestEV1Claims(t *testing.T) {
	ni := mode(v1alpha1.AccessModeNonInteractive)
	cases := []struct {
		name string
		user *v1alpha1.PlatformUser
		want []v1alpha1.Claim
	}{
		{"EV1 on first look the claim is the creation time",
			user("ada", userCreated(5)), claimList(claimOf("seats/E3", at(5)))},
		{"EV1 a recorded claim survives an unrelated spec edit (generation bump)",
			user("ada", userCreated(5), seen(1), claimed("seats/E3", at(5)), func(u *v1alpha1.PlatformUser) {
				u.Generation = 4
				u.Spec.Profile = &v1alpha1.Profile{FirstName: "Ada"}
			}), claimList(claimOf("seats/E3", at(5)))},
		{"EV1 a spec that begins to need a slot later claims it now, and drops the claim it no longer needs",
			user("ada", userCreated(5), seen(1), claimed("seats/E3", at(5)), ni, func(u *v1alpha1.PlatformUser) { u.Generation = 2 }),
			claimList(claimOf(v1alpha1.SlotsResource, metav1.NewTime(now)))},
		{"EV1 a changed license is a new need: claimed now, the old SKU's claim dropped",
			user("ada", userCreated(5), seen(1), claimed("seats/E3", at(5)), license("E5"), func(u *v1alpha1.PlatformUser) { u.Generation = 2 }),
			claimList(claimOf("seats/E5", metav1.NewTime(now)))},
		{"EV1 AM3 a user that needs neither claims nothing",
			user("ada", mode(v1alpha1.AccessModeAdministrative)), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := PlatformUser(PlatformUserInput{User: c.user, Environment: prod(), Roles: stdRoles(), Now: now}).Status
			if diff := cmp.Diff(c.want, st.Claims, statusOpts); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("EV1 the claim is recorded even when the environment is missing the seat's SKU, and kept when the environment disappears", func(t *testing.T) {
		u := user("ada", userCreated(5))
		decideUserOnce(t, u, prod(licenses("E5", 1)), stdRoles())
		edit(u, func(u *v1alpha1.PlatformUser) { u.Spec.Profile = &v1alpha1.Profile{LastName: "Lovelace"} })
		decideUserOnce(t, u, nil, stdRoles())
		if diff := cmp.Diff(claimList(claimOf("seats/E3", at(5))), u.Status.Claims, statusOpts); diff != "" {
			t.Errorf("claims (-want +got):\n%s", diff)
		}
	})

	t.Run("EV1 the Environment orders waiters by recorded claim times, not by generation or creation", func(t *testing.T) {
		users := usersOf(
			user("hal", seen(1), claimed("seats/E3", at(0))),
			// Edited three times since its claim: still first in line.
			user("zed", userCreated(0), seen(3), claimed("seats/E3", at(1))),
			user("amy", userCreated(5), seen(1), claimed("seats/E3", at(5))),
			// Created first, but began to need a seat at 30s.
			user("kim", userCreated(0), seen(2), claimed("seats/E3", at(30))),
			// Never looked at: its creation time.
			user("neo", userCreated(10)),
		)
		e := prod(licenses("E3", 1), seatLedger("E3", 1, []string{"hal"}))
		out := Environment(EnvironmentInput{Environment: e, Users: users, Now: now})
		want := []v1alpha1.SeatLedger{{SKU: "E3", Seats: 1, Used: 1, Holders: entries([]string{"hal"}),
			Waiting: []v1alpha1.LedgerEntry{{Name: "zed", Since: at(1)}, {Name: "amy", Since: at(5)}, {Name: "neo", Since: at(10)}, {Name: "kim", Since: at(30)}}}}
		if diff := cmp.Diff(want, out.Status.Seats); diff != "" {
			t.Errorf("seats (-want +got):\n%s", diff)
		}
	})

	t.Run("EV1 an unrelated edit while waiting never moves a user back", func(t *testing.T) {
		roles := stdRoles()
		e := prod(licenses("E3", 1), seatLedger("E3", 1, []string{"hal"}))
		hal := user("hal", seen(1), claimed("seats/E3", at(0)))
		zed, amy := user("zed", userCreated(1)), user("amy", userCreated(5))
		// Each user is decided once (claims recorded), then zed is edited twice.
		decideUserOnce(t, zed, e, roles)
		decideUserOnce(t, amy, e, roles)
		edit(zed, func(u *v1alpha1.PlatformUser) { u.Spec.Profile = &v1alpha1.Profile{FirstName: "Zed"} })
		decideUserOnce(t, zed, e, roles)
		edit(zed, func(u *v1alpha1.PlatformUser) { u.Spec.Profile.Title = "Engineer" })
		decideUserOnce(t, zed, e, roles)
		// The Environment sees the waiting line for the first time (e.g. its ledger was lost).
		out := Environment(EnvironmentInput{Environment: e, Users: usersOf(hal, amy, zed), Now: now.Add(time.Minute)})
		var waiting []string
		for _, w := range out.Status.Seats[0].Waiting {
			waiting = append(waiting, w.Name)
		}
		if diff := cmp.Diff([]string{"zed", "amy"}, waiting); diff != "" {
			t.Errorf("waiting (-want +got):\n%s", diff)
		}
	})
}

// TestEV1AM6NineNonInteractiveUsers: nine NonInteractive users, created in an order opposite to
// their names: the seven oldest hold the slots, the other two wait in creation order (name
// breaking a tie), through the Environment's decision and then each user's.
func TestEV1AM6NineNonInteractiveUsers(t *testing.T) {
	var us []*v1alpha1.PlatformUser
	for i := 1; i <= 9; i++ {
		created := 10 - i
		if i == 1 {
			created = 8 // same second as ni2: the name breaks the tie
		}
		us = append(us, user("ni"+string(rune('0'+i)), userCreated(created), mode(v1alpha1.AccessModeNonInteractive)))
	}
	e := prod()
	out := Environment(EnvironmentInput{Environment: e, Users: usersOf(us...), Now: now})
	e.Status = out.Status

	var holders, waiting []string
	for _, h := range e.Status.NonInteractive.Holders {
		holders = append(holders, h.Name)
	}
	for _, w := range e.Status.NonInteractive.Waiting {
		waiting = append(waiting, w.Name)
	}
	if diff := cmp.Diff([]string{"ni9", "ni8", "ni7", "ni6", "ni5", "ni4", "ni3"}, holders); diff != "" {
		t.Errorf("EV1 AM6 holders (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ni1", "ni2"}, waiting); diff != "" {
		t.Errorf("EV1 AM6 waiting (-want +got):\n%s", diff)
	}
	if e.Status.NonInteractive.Used != 7 || e.Status.NonInteractive.Usage != "7/7" || out.RequeueAfter != 0 {
		t.Errorf("AM6 ledger used %d usage %q requeue %v; want 7, 7/7, 0", e.Status.NonInteractive.Used, e.Status.NonInteractive.Usage, out.RequeueAfter)
	}
	if s, r := ready(t, e.Status.Conditions); s != "True" {
		t.Errorf("environment Ready %s/%s, want True", s, r)
	}
	wantContains(t, message(t, e.Status.Conditions, "Ready"), []string{"non-interactive slots 7/7 (2 waiting)"})

	want := map[string]string{"ni1": "1st of 2 waiting", "ni2": "2nd of 2 waiting"}
	for _, u := range us {
		st := PlatformUser(PlatformUserInput{User: u, Environment: e, Roles: stdRoles(), Now: now}).Status
		_, reason := ready(t, st.Conditions)
		if pos, waits := want[u.Name]; waits {
			if reason != v1alpha1.ReasonNonInteractiveLimitReached || stalledReason(st.Conditions) != reason || st.Enabled {
				t.Errorf("AM6 %s: Ready reason %s, stalled %q, enabled %v; want NonInteractiveLimitReached, stalled, disabled", u.Name, reason, stalledReason(st.Conditions), st.Enabled)
			}
			wantContains(t, message(t, st.Conditions, "Ready"), []string{pos})
		} else if reason != v1alpha1.ReasonReady || !st.Enabled || st.Access != programmatic {
			t.Errorf("AM6 %s: Ready reason %s, enabled %v, access %s; want Ready, enabled, Programmatic", u.Name, reason, st.Enabled, st.Access)
		}
	}

	t.Run("EV1 a restart from the same ledger reshuffles nothing", func(t *testing.T) {
		again := Environment(EnvironmentInput{Environment: e, Users: usersOf(us...), Now: now.Add(time.Hour)})
		if diff := cmp.Diff(e.Status.NonInteractive, again.Status.NonInteractive); diff != "" {
			t.Errorf("ledger (-want +got):\n%s", diff)
		}
	})
	t.Run("EV1 AM6 a holder deleted frees its slot for the head of the line", func(t *testing.T) {
		rest := usersOf(us...)[:8] // ni9, the oldest holder, is gone
		next := Environment(EnvironmentInput{Environment: e, Users: rest, Now: now.Add(time.Minute)})
		var holders []string
		for _, h := range next.Status.NonInteractive.Holders {
			holders = append(holders, h.Name)
		}
		if diff := cmp.Diff([]string{"ni8", "ni7", "ni6", "ni5", "ni4", "ni3", "ni1"}, holders); diff != "" {
			t.Errorf("holders (-want +got):\n%s", diff)
		}
		if w := next.Status.NonInteractive.Waiting; len(w) != 1 || w[0].Name != "ni2" {
			t.Errorf("waiting %v, want ni2", w)
		}
	})
}

// TestEV1DuplicatesHoldNothing: a PlatformUser refused as DuplicateUserName is not a user of the
// environment (its userName belongs to the older object, and the sync target applies only decided
// state), so it must not take one of the seven slots or a seat ahead of real users.
func TestEV1DuplicatesHoldNothing(t *testing.T) {
	ni := mode(v1alpha1.AccessModeNonInteractive)
	sameUPN := func(of string) userOpt {
		return func(u *v1alpha1.PlatformUser) { u.Spec.UserName = of + "@contoso.com" }
	}
	var users []*v1alpha1.PlatformUser
	for i := 1; i <= 6; i++ {
		users = append(users, user("ni"+string(rune('0'+i)), ni, userCreated(i)))
	}
	users = append(users,
		user("ni1-copy", ni, sameUPN("ni1"), userCreated(10)), // a duplicate of ni1
		user("ni7", ni, userCreated(20)),                      // the seventh real NonInteractive user
		user("ada", userCreated(1)),
		user("ada-copy", sameUPN("ada"), userCreated(10)), // a duplicate of ada
		user("bob", userCreated(20)),
	)
	out := Converge(Snapshot{Environments: []v1alpha1.Environment{*prod(licenses("E3", 2))}, Roles: []v1alpha1.SecurityRole{*role("sales")},
		Users: usersOf(users...)}, now)
	got := outcomes(out)
	for name, want := range map[string]string{
		"ni7": "Ready", "bob": "Ready",
		"ni1-copy": "DuplicateUserName (Stalled)", "ada-copy": "DuplicateUserName (Stalled)",
	} {
		if got["PlatformUser/"+name] != want {
			t.Errorf("AM6 LI1 %s: %s, want %s", name, got["PlatformUser/"+name], want)
		}
	}
	for _, h := range out.Environments[0].Status.NonInteractive.Holders {
		if h.Name == "ni1-copy" {
			t.Errorf("AM6 the duplicate ni1-copy holds a non-interactive slot")
		}
	}
}
