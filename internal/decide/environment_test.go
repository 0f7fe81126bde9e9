package decide

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
)

func slots(used int32, holders []v1alpha1.LedgerEntry, waiting ...v1alpha1.LedgerEntry) *v1alpha1.SlotLedger {
	return &v1alpha1.SlotLedger{Limit: 7, Used: used, Usage: string(rune('0'+used)) + "/7", Holders: holders, Waiting: waiting}
}

func entry(name string, since metav1.Time) v1alpha1.LedgerEntry {
	return v1alpha1.LedgerEntry{Name: name, Since: since}
}

var nowT = metav1.NewTime(now)

// TestEnvironment covers every reason the Environment decision can produce: Ready,
// AwaitingAllocation (with when to look again), BusinessUnitCycle (EV2) and SeatsBelowUsage (LI1).
func TestEnvironment(t *testing.T) {
	withStatus := func(f func(*v1alpha1.PlatformUser)) userOpt { return f }
	enabledNow := withStatus(func(u *v1alpha1.PlatformUser) { u.Status.Enabled = true })
	deleting := withStatus(func(u *v1alpha1.PlatformUser) {
		ts := metav1.NewTime(now)
		u.DeletionTimestamp = &ts
	})
	justCreated := userCreated(3599) // one second before now: its claim has not settled (EV1)

	cases := []struct {
		name    string
		env     *v1alpha1.Environment
		users   []v1alpha1.PlatformUser
		apps    []v1alpha1.ApplicationUser
		want    v1alpha1.EnvironmentStatus
		requeue time.Duration
		says    []string
	}{
		{name: "EV1 Ready: an environment without users",
			env: prod(),
			want: v1alpha1.EnvironmentStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready"),
				NonInteractive: slots(0, nil), Users: &v1alpha1.UserCounts{}},
			says: []string{"environment allocated: non-interactive slots 0/7"}},
		{name: "EV1 AM6 AM7 EN1 Ready: users counted by access mode and by enablement as their own decisions say (not their status); application users are counted but take no slot",
			env: prod(),
			users: usersOf(user("ada", enabledNow), user("bob", mode(v1alpha1.AccessModeAdministrative)),
				user("cy", mode(v1alpha1.AccessModeNonInteractive), enabledNow), user("dan", stub)),
			apps: []v1alpha1.ApplicationUser{*app("etl", func(a *v1alpha1.ApplicationUser) { a.Status.Enabled = true }), *app("old")},
			want: v1alpha1.EnvironmentStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready"),
				NonInteractive: slots(1, []v1alpha1.LedgerEntry{entry("cy", nowT)}),
				Users:          &v1alpha1.UserCounts{Total: 6, ReadWrite: 1, Administrative: 1, NonInteractive: 1, Stub: 1, Application: 2, Enabled: 4, Disabled: 2}},
			says: []string{"non-interactive slots 1/7"}},
		{name: "LI1 EV1 Ready: seats granted in creation order per SKU, ledgers sorted by SKU, waiters counted in the message",
			env: prod(licenses("E5", 1), licenses("E3", 1)),
			users: usersOf(user("ada", userCreated(2)), user("bob", userCreated(1)), user("cy", license("E5")),
				user("dee", license("E7"))),
			want: v1alpha1.EnvironmentStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready"),
				NonInteractive: slots(0, nil),
				Seats: []v1alpha1.SeatLedger{
					{SKU: "E3", Seats: 1, Used: 1, Holders: []v1alpha1.LedgerEntry{entry("bob", nowT)}, Waiting: []v1alpha1.LedgerEntry{entry("ada", at(2))}},
					{SKU: "E5", Seats: 1, Used: 1, Holders: []v1alpha1.LedgerEntry{entry("cy", nowT)}},
				},
				Users: &v1alpha1.UserCounts{Total: 4, ReadWrite: 4, Enabled: 2, Disabled: 2}},
			says: []string{"E3 seats 1/1 (1 waiting), E5 seats 1/1"}},
		{name: "EV1 a user being deleted claims nothing, but is still counted",
			env:   prod(licenses("E3", 1)),
			users: usersOf(user("ada", deleting), user("bob", mode(v1alpha1.AccessModeNonInteractive), deleting)),
			want: v1alpha1.EnvironmentStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=True:Ready"),
				NonInteractive: slots(0, nil), Seats: []v1alpha1.SeatLedger{{SKU: "E3", Seats: 1}},
				Users: &v1alpha1.UserCounts{Total: 2, ReadWrite: 1, NonInteractive: 1, Disabled: 2}}},
		{name: "EV1 AwaitingAllocation: a claim younger than the settle window waits, not Stalled, and the decision says when to look again",
			env:   prod(licenses("E3", 1)),
			users: usersOf(user("ada", justCreated), user("ni", mode(v1alpha1.AccessModeNonInteractive), justCreated)),
			want: v1alpha1.EnvironmentStatus{ObservedGeneration: 1, Conditions: conds(1, "Ready=False:AwaitingAllocation"),
				NonInteractive: slots(0, nil, entry("ni", at(3599))),
				Seats:          []v1alpha1.SeatLedger{{SKU: "E3", Seats: 1, Waiting: []v1alpha1.LedgerEntry{entry("ada", at(3599))}}},
				Users:          &v1alpha1.UserCounts{Total: 2, ReadWrite: 1, NonInteractive: 1, Disabled: 2}},
			requeue: 1100 * time.Millisecond,
			says:    []string{"allocating: new claims are granted in creation order once their burst has settled"}},
		{name: "EV2 BusinessUnitCycle: a cycle in the business-unit tree is Stalled and allocates nothing",
			env: prod(units("root", "a<b", "b<a"), slotLedger([]string{"ni1"})), users: usersOf(user("ni2", mode(v1alpha1.AccessModeNonInteractive))),
			want: v1alpha1.EnvironmentStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("BusinessUnitCycle")...),
				NonInteractive: &v1alpha1.SlotLedger{Limit: 7, Used: 1, Holders: entries([]string{"ni1"})}},
			says: []string{"the business-unit tree of environment prod is invalid (EV2)", "correct spec.businessUnits"}},
		{name: "EV2 BusinessUnitCycle: two roots",
			env:  prod(units("root", "other")),
			want: v1alpha1.EnvironmentStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("BusinessUnitCycle")...)},
			says: []string{"exactly one root, found 2"}},
		{name: "EV2 BusinessUnitCycle: a parent that is not listed",
			env:  prod(units("root", "emea<europe")),
			want: v1alpha1.EnvironmentStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("BusinessUnitCycle")...)},
			says: []string{`business unit "emea" names parent "europe", which is not listed`}},
		{name: "LI1 SeatsBelowUsage: seats lowered below those held keep every holder; Stalled naming the SKU, held and offered",
			env: prod(licenses("E3", 2), seatLedger("E3", 3, []string{"a", "b", "c"})),
			users: usersOf(user("a", seen(1), claimed("seats/E3", at(0))), user("b", seen(1), claimed("seats/E3", at(0))),
				user("c", seen(1), claimed("seats/E3", at(0))), user("d", userCreated(1))),
			want: v1alpha1.EnvironmentStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("SeatsBelowUsage")...),
				NonInteractive: slots(0, nil),
				Seats: []v1alpha1.SeatLedger{{SKU: "E3", Seats: 2, Used: 3, Holders: entries([]string{"a", "b", "c"}),
					Waiting: []v1alpha1.LedgerEntry{entry("d", at(1))}}},
				Users: &v1alpha1.UserCounts{Total: 4, ReadWrite: 4, Enabled: 3, Disabled: 1}},
			says: []string{"E3 has 3 seat(s) held and 2 offered", "raise spec.licenses[].seats, or remove licenses from users"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := untouched(t, EnvironmentInput{Environment: c.env, Users: c.users, Apps: c.apps, Now: now}, Environment)
			if diff := cmp.Diff(c.want, out.Status, statusOpts); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if out.RequeueAfter != c.requeue {
				t.Errorf("RequeueAfter %v, want %v", out.RequeueAfter, c.requeue)
			}
			wantContains(t, message(t, out.Status.Conditions, "Ready"), c.says)
			checkStalled(t, out.Status.Conditions)
			fixpoint(t, out.Status, func(st v1alpha1.EnvironmentStatus) v1alpha1.EnvironmentStatus {
				e := c.env.DeepCopy()
				e.Status = st
				return Environment(EnvironmentInput{Environment: e, Users: c.users, Apps: c.apps, Now: now}).Status
			})
		})
	}
}

// TestLI1SeatsNeverTakenBack lowers an SKU's seats below those held and follows the environment
// and its users until use falls below the offer.
func TestLI1SeatsNeverTakenBack(t *testing.T) {
	e := prod(licenses("E3", 3))
	us := map[string]*v1alpha1.PlatformUser{}
	for i, n := range []string{"a", "b", "c", "d"} {
		us[n] = user(n, userCreated(i))
	}
	all := func() []v1alpha1.PlatformUser { return usersOf(us["a"], us["b"], us["c"], us["d"]) }
	decideEnv := func(t *testing.T) EnvironmentOutcome {
		t.Helper()
		out := Environment(EnvironmentInput{Environment: e, Users: all(), Now: now})
		e.Status = out.Status
		for _, u := range us {
			decideUserOnce(t, u, e, stdRoles())
		}
		return out
	}
	holders := func() (h, w []string) {
		for _, x := range e.Status.Seats[0].Holders {
			h = append(h, x.Name)
		}
		for _, x := range e.Status.Seats[0].Waiting {
			w = append(w, x.Name)
		}
		return h, w
	}
	licensed := func(name string) string {
		return ConditionReason(us[name].Status.Conditions, v1alpha1.ConditionLicensed)
	}

	decideEnv(t)
	if h, w := holders(); !cmp.Equal(h, []string{"a", "b", "c"}) || !cmp.Equal(w, []string{"d"}) {
		t.Fatalf("setup: holders %v waiting %v", h, w)
	}

	t.Run("LI1 lowering seats below those held keeps every holder and reports SeatsBelowUsage, Stalled", func(t *testing.T) {
		e.Spec.Licenses[0].Seats = 2
		e.Generation = 2
		decideEnv(t)
		if h, w := holders(); !cmp.Equal(h, []string{"a", "b", "c"}) || !cmp.Equal(w, []string{"d"}) {
			t.Errorf("holders %v waiting %v; want every holder kept, d waiting", h, w)
		}
		if s := e.Status.Seats[0]; s.Used != 3 || s.Seats != 2 {
			t.Errorf("E3 used %d of %d, want 3 of 2", s.Used, s.Seats)
		}
		want := "environment prod offers fewer seats than are held: E3 has 3 seat(s) held and 2 offered; seats are never taken back (LI1), " +
			"so no new seat is granted until use falls below the offer: raise spec.licenses[].seats, or remove licenses from users"
		if s, r := ready(t, e.Status.Conditions); s != "False" || r != v1alpha1.ReasonSeatsBelowUsage || stalledReason(e.Status.Conditions) != r {
			t.Errorf("Ready %s/%s stalled %q; want False/SeatsBelowUsage, Stalled", s, r, stalledReason(e.Status.Conditions))
		}
		if got := message(t, e.Status.Conditions, "Ready"); got != want {
			t.Errorf("Ready message:\n got %q\nwant %q", got, want)
		}
		for _, n := range []string{"a", "b", "c"} {
			if licensed(n) != v1alpha1.ReasonSeatHeld || !us[n].Status.Enabled {
				t.Errorf("LI1 holder %s: Licensed %s, enabled %v; want SeatHeld, enabled", n, licensed(n), us[n].Status.Enabled)
			}
		}
		if licensed("d") != v1alpha1.ReasonSeatsExhausted || stalledReason(us["d"].Status.Conditions) != v1alpha1.ReasonSeatsExhausted {
			t.Errorf("LI1 waiter d: Licensed %s, stalled %q; want SeatsExhausted", licensed("d"), stalledReason(us["d"].Status.Conditions))
		}
	})

	t.Run("LI1 once use equals the offer the environment is Ready but grants nothing new", func(t *testing.T) {
		edit(us["c"], license(""))
		decideEnv(t)
		if h, w := holders(); !cmp.Equal(h, []string{"a", "b"}) || !cmp.Equal(w, []string{"d"}) {
			t.Errorf("holders %v waiting %v; want a, b holding and d waiting", h, w)
		}
		if s, r := ready(t, e.Status.Conditions); s != "True" || stalledReason(e.Status.Conditions) != "" {
			t.Errorf("Ready %s/%s, Stalled %q; want Ready and no Stalled", s, r, stalledReason(e.Status.Conditions))
		}
		if licensed("d") != v1alpha1.ReasonSeatsExhausted {
			t.Errorf("d: Licensed %s, want SeatsExhausted", licensed("d"))
		}
	})

	t.Run("LI1 once use falls below the offer the next in line is granted", func(t *testing.T) {
		edit(us["b"], license(""))
		decideEnv(t)
		if h, w := holders(); !cmp.Equal(h, []string{"a", "d"}) || len(w) != 0 {
			t.Errorf("holders %v waiting %v; want a, d holding", h, w)
		}
		// The user reads the grant the environment wrote.
		decideUserOnce(t, us["d"], e, stdRoles())
		if licensed("d") != v1alpha1.ReasonSeatHeld || !us["d"].Status.Enabled {
			t.Errorf("d: Licensed %s, enabled %v; want SeatHeld, enabled", licensed("d"), us["d"].Status.Enabled)
		}
	})
}

// TestEnvironmentDeletion: an Environment being deleted says what it waits for (EV4).
func TestEnvironmentDeletion(t *testing.T) {
	e := prod(slotLedger([]string{"ni1"}))
	e.Status.Conditions = conds(1, "Ready=True:Ready")
	st := EnvironmentDeletion(e, []string{"3 PlatformUser(s)", "1 Team(s)"})
	want := v1alpha1.EnvironmentStatus{ObservedGeneration: 1, Conditions: conds(1, stalled("DeletionBlocked")...),
		NonInteractive: &v1alpha1.SlotLedger{Limit: 7, Used: 1, Holders: entries([]string{"ni1"})}}
	if diff := cmp.Diff(want, st, statusOpts); diff != "" {
		t.Errorf("EV4 status (-want +got):\n%s", diff)
	}
	msg := "environment prod is being deleted and waits for 3 PlatformUser(s), 1 Team(s) that still reference it (EV4): " +
		"delete them, e.g. kubectl delete puser,appuser,ppteam,secrole -l <selector> -n team-a"
	if got := message(t, st.Conditions, "Ready"); got != msg {
		t.Errorf("EV4 DeletionBlocked message:\n got %q\nwant %q", got, msg)
	}
}

// TestBuiltInRoleSpec: the Environment always restores a built-in role's privileges, keeps a
// changed member's privilege inheritance on every built-in role but System Administrator, and
// forces System Administrator's back (SR7).
func TestBuiltInRoleSpec(t *testing.T) {
	e := prod()
	tampered := func(b v1alpha1.BuiltInRole, inherit v1alpha1.MemberPrivilegeInheritance) *v1alpha1.SecurityRoleSpec {
		return &v1alpha1.SecurityRoleSpec{EnvironmentName: "prod", RoleName: "Mine", BuiltIn: b, BusinessUnit: "emea",
			MemberPrivilegeInheritance: inherit,
			Tables:                     []v1alpha1.TablePermission{{Table: "account", PermissionSetting: v1alpha1.PermissionFullAccess}},
			MiscellaneousPrivileges:    []v1alpha1.NamedPrivilege{{Name: "ExportCustomizations", Level: v1alpha1.AccessOrganization}},
		}
	}
	withInheritance := func(s v1alpha1.SecurityRoleSpec, i v1alpha1.MemberPrivilegeInheritance) v1alpha1.SecurityRoleSpec {
		s.MemberPrivilegeInheritance = i
		return s
	}
	all := []v1alpha1.BuiltInRole{v1alpha1.BuiltInSystemCustomizer, v1alpha1.BuiltInBasicUser, v1alpha1.BuiltInEnvironmentMaker,
		v1alpha1.BuiltInSalesperson, v1alpha1.BuiltInCommonDataServiceUser}
	type sr7 struct {
		name    string
		builtIn v1alpha1.BuiltInRole
		current *v1alpha1.SecurityRoleSpec
		want    v1alpha1.SecurityRoleSpec
	}
	var cases []sr7
	for _, b := range all {
		product := access.BuiltInRoleSpec("prod", b)
		cases = append(cases,
			sr7{"SR7 a new " + string(b) + " role defaults to DirectUserBasicAndTeam", b, nil,
				withInheritance(product, v1alpha1.InheritDirectUserBasicAndTeam)},
			sr7{"SR7 " + string(b) + " keeps a changed inheritance and gets its privileges back", b,
				tampered(b, v1alpha1.InheritTeamPrivilegesOnly), withInheritance(product, v1alpha1.InheritTeamPrivilegesOnly)},
			sr7{"SR7 " + string(b) + " with no inheritance set gets the default", b,
				tampered(b, ""), withInheritance(product, v1alpha1.InheritDirectUserBasicAndTeam)},
		)
	}
	sa := access.BuiltInRoleSpec("prod", v1alpha1.BuiltInSystemAdministrator)
	cases = append(cases,
		sr7{"SR7 System Administrator's inheritance is forced back to DirectUserBasicAndTeam", v1alpha1.BuiltInSystemAdministrator,
			tampered(v1alpha1.BuiltInSystemAdministrator, v1alpha1.InheritTeamPrivilegesOnly), withInheritance(sa, v1alpha1.InheritDirectUserBasicAndTeam)},
		sr7{"SR7 a new System Administrator role is DirectUserBasicAndTeam", v1alpha1.BuiltInSystemAdministrator, nil,
			withInheritance(sa, v1alpha1.InheritDirectUserBasicAndTeam)},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := BuiltInRoleSpec(e, c.builtIn, c.current)
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
			if got.RoleName != access.BuiltInDisplayName(c.builtIn) || got.EnvironmentName != "prod" || got.BusinessUnit != "" {
				t.Errorf("identity not restored: roleName %q environment %q unit %q", got.RoleName, got.EnvironmentName, got.BusinessUnit)
			}
			if c.builtIn != v1alpha1.BuiltInSystemAdministrator && !access.HasWebResourceRead(&got) {
				t.Errorf("SR8 built-in %s lost its webresource read", c.builtIn)
			}
		})
	}
}

// TestBuiltInRoles: the roles an Environment keeps are named after it; the stub default role
// follows its product (AM8, AM9), and a product change leaves the other one stale.
func TestBuiltInRoles(t *testing.T) {
	cases := []struct {
		name  string
		env   *v1alpha1.Environment
		want  map[string]v1alpha1.BuiltInRole
		stale string
	}{
		{"AM8 AM9 Dynamics365: System Administrator, Basic User and Salesperson", prod(),
			map[string]v1alpha1.BuiltInRole{"prod-system-administrator": v1alpha1.BuiltInSystemAdministrator,
				"prod-basic-user": v1alpha1.BuiltInBasicUser, "prod-salesperson": v1alpha1.BuiltInSalesperson},
			"prod-common-data-service-user"},
		{"AM8 AM9 PowerApps: System Administrator, Basic User and Common Data Service User", env("dev", powerApps),
			map[string]v1alpha1.BuiltInRole{"dev-system-administrator": v1alpha1.BuiltInSystemAdministrator,
				"dev-basic-user": v1alpha1.BuiltInBasicUser, "dev-common-data-service-user": v1alpha1.BuiltInCommonDataServiceUser},
			"dev-salesperson"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, BuiltInRoles(c.env)); diff != "" {
				t.Errorf("built-ins (-want +got):\n%s", diff)
			}
			if got := StaleBuiltInRole(c.env); got != c.stale {
				t.Errorf("stale %q, want %q", got, c.stale)
			}
		})
	}
}

// TestEnvironmentDeletionObservedGeneration: setting deletionTimestamp on an object with
// finalizers bumps metadata.generation, so the deletion status must describe that generation in
// status.observedGeneration as its conditions already do; otherwise kstatus readers see a status
// older than the object.
func TestEnvironmentDeletionObservedGeneration(t *testing.T) {
	e := prod()
	e.Generation = 2
	e.Status.ObservedGeneration = 1
	st := EnvironmentDeletion(e, []string{"1 PlatformUser(s)"})
	if st.ObservedGeneration != 2 {
		t.Errorf("EV4 status.observedGeneration %d, want 2 like its conditions", st.ObservedGeneration)
	}
}

// TestAllocationEvents: the Environment records each round's grants and new waits once, naming
// the principals, instead of one event per user (AM6, LI1, EV1).
func TestAllocationEvents(t *testing.T) {
	var users []*v1alpha1.PlatformUser
	for i, n := range names("ni", 9) {
		users = append(users, user(n, mode(v1alpha1.AccessModeNonInteractive), userCreated(i)))
	}
	e := prod(licenses("E3", 1))
	seat := usersOf(user("ada", license("E3"), userCreated(20)), user("bob", license("E3"), userCreated(21)))
	out := Environment(EnvironmentInput{Environment: e, Users: append(usersOf(users...), seat...), Now: now})
	got := map[string]string{}
	for _, ev := range out.Events {
		got[ev.Type+"/"+ev.Reason] = ev.Message
	}
	want := map[string]string{
		"Normal/SlotGranted":                 "granted a non-interactive slot of environment prod to ni1, ni2, ni3, ni4, ni5, ni6, ni7 (AM6)",
		"Warning/NonInteractiveLimitReached": "all 7 non-interactive slots of environment prod are held; ni8, ni9 wait(s) in creation order (AM6)",
		"Normal/SeatGranted":                 "granted a seat of E3 in environment prod to ada (LI1)",
		"Warning/SeatsExhausted":             "all 1 seats of E3 in environment prod are held; bob wait(s) in creation order (LI1)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AM6 LI1 allocation events (-want +got):\n%s", diff)
	}

	e.Status = out.Status
	again := Environment(EnvironmentInput{Environment: e, Users: append(usersOf(users...), seat...), Now: now.Add(time.Minute)})
	if len(again.Events) != 0 {
		t.Errorf("EV1 a round that changes nothing records nothing, got %v", again.Events)
	}
}

// TestAllocationEventsAfterSettling: waiters first written while their claims settled (the limit
// was not full yet) are told they wait once the round that fills the limit runs (AM6).
func TestAllocationEventsAfterSettling(t *testing.T) {
	var users []*v1alpha1.PlatformUser
	for _, n := range names("ni", 9) {
		users = append(users, user(n, mode(v1alpha1.AccessModeNonInteractive), userCreated(3599)))
	}
	e := prod()
	first := Environment(EnvironmentInput{Environment: e, Users: usersOf(users...), Now: now})
	if first.Defer || len(first.Status.NonInteractive.Waiting) != 9 {
		t.Fatalf("EV1 the first round writes 9 settling claims, got defer %v and %d waiting", first.Defer, len(first.Status.NonInteractive.Waiting))
	}
	e.Status = first.Status
	second := Environment(EnvironmentInput{Environment: e, Users: usersOf(users...), Now: now.Add(3 * time.Second)})
	var reasons []string
	for _, ev := range second.Events {
		reasons = append(reasons, ev.Reason)
	}
	if diff := cmp.Diff([]string{v1alpha1.ReasonSlotGranted, v1alpha1.ReasonNonInteractiveLimitReached}, reasons); diff != "" {
		t.Errorf("AM6 events of the granting round (-want +got):\n%s", diff)
	}
}
