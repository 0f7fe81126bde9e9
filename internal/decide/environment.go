package decide

import (
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/allocation"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
	"github.com/accessplane/dataverse-access-operator/internal/enablement"
)

// EnvironmentInput is what the Environment's decision reads: the environment with its previous
// status (the ledger) and every user and application user that names it.
type EnvironmentInput struct {
	Environment *v1alpha1.Environment
	Users       []v1alpha1.PlatformUser
	Apps        []v1alpha1.ApplicationUser
	Now         time.Time
}

// EnvironmentOutcome is the status to write and when to look again: RequeueAfter is how long
// until a claim too young to be granted settles (EV1), 0 when none waits on time.
type EnvironmentOutcome struct {
	Status       v1alpha1.EnvironmentStatus
	RequeueAfter time.Duration
	// Desired is what Dataverse should hold for the environment; nil while its business-unit
	// tree is invalid (EV2), so nothing is synced from it.
	Desired *DesiredEnvironment
	// Events are the allocation's news, one per round rather than one per user: who was granted a
	// slot or a seat, and who must wait because the limit is full.
	Events []Event
	// Defer is true when the new status only adds claims that are settling (and the counts that
	// come with them): the reconcile at RequeueAfter grants them and writes once for the whole
	// burst, instead of one ledger write per arriving claim. Nothing is lost: the deferred claims
	// are recomputed from the users, in the same order.
	Defer bool
}

// Environment is the single authority over an environment's scarce things (EV1): it allocates
// the seven non-interactive slots and the license seats from the previous ledger and the users'
// claims, counts users, validates the business-unit tree (EV2) and reports seats offered below
// use (LI1).
func Environment(in EnvironmentInput) EnvironmentOutcome {
	env := in.Environment
	st := *env.Status.DeepCopy()
	st.ObservedGeneration = env.Generation
	conds, list := conditionsOf(env.Status.Conditions, env.Generation)

	if err := butree.Tree(env.BusinessUnitParents()).Validate(); err != nil {
		conds.Apply(StalledBy(v1alpha1.ReasonBusinessUnitCycle,
			fmt.Sprintf("the business-unit tree of environment %s is invalid (EV2): %v: correct spec.businessUnits", env.Name, err)))
		st.Conditions = *list
		return EnvironmentOutcome{Status: st}
	}

	settle, firstSync := allocate(env, &st, in.Users, in.Now)
	st.Users = countUsers(env, &st, in.Users, in.Apps)
	events := allocationEvents(env, &env.Status, &st)
	switch short := seatsBelowUsage(st.Seats); {
	case short != "":
		conds.Apply(StalledBy(v1alpha1.ReasonSeatsBelowUsage, fmt.Sprintf(
			"environment %s offers fewer seats than are held: %s; seats are never taken back (LI1), so no new seat is granted until use falls below the offer: raise spec.licenses[].seats, or remove licenses from users", env.Name, short)))
	case firstSync:
		conds.Apply(WaitingFor(v1alpha1.ReasonAwaitingAllocation, fmt.Sprintf(
			"waiting for the first sync with Dataverse to count the non-interactive users no PlatformUser manages before granting slots (AM6); %s", readySummary(&st))))
	case settle > 0:
		// Claims of a burst are settling (EV1): the environment is still working, not Ready.
		conds.Apply(WaitingFor(v1alpha1.ReasonAwaitingAllocation, "allocating: new claims are granted in creation order once their burst has settled; "+readySummary(&st)))
	default:
		conds.Apply(Ready(readySummary(&st)))
	}
	st.Conditions = *list
	deferred := settle > 0 && onlySettling(&env.Status, &st, env.Generation)
	if deferred {
		events = nil // the round that grants writes them
	}
	return EnvironmentOutcome{Status: st, RequeueAfter: settle, Defer: deferred, Events: events, Desired: desiredEnvironment(env, in.Users)}
}

// onlySettling reports whether next differs from prev only by claims that are still settling:
// the generation was already observed and every ledger has the same holders. Grants, releases and
// waiters that cannot be granted (the limit is full, so nothing settles) are always written.
func onlySettling(prev, next *v1alpha1.EnvironmentStatus, generation int64) bool {
	if prev.ObservedGeneration != generation || prev.NonInteractive == nil || len(prev.Seats) != len(next.Seats) {
		return false
	}
	if !sameHolders(prev.NonInteractive.Holders, next.NonInteractive.Holders) {
		return false
	}
	for i := range next.Seats {
		if prev.Seats[i].SKU != next.Seats[i].SKU || prev.Seats[i].Seats != next.Seats[i].Seats || !sameHolders(prev.Seats[i].Holders, next.Seats[i].Holders) {
			return false
		}
	}
	return true
}

func sameHolders(a, b []v1alpha1.LedgerEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}

// allocate recomputes the slot ledger and the seat ledgers into st from the users' claims (EV1)
// and returns how long until a claim too young to be granted settles, or 0, and whether slot
// claims wait for the environment's first sync with Dataverse (awaitingCount).
func allocate(env *v1alpha1.Environment, st *v1alpha1.EnvironmentStatus, users []v1alpha1.PlatformUser, now time.Time) (settle time.Duration, awaitingCount bool) {
	var slotClaims []allocation.Claim
	seatClaims := map[string][]allocation.Claim{}
	// A user refused as a duplicate (an older one has its userName) holds nothing.
	oldest := oldestBy(users, func(u *v1alpha1.PlatformUser) string { return UserKey(u) })
	for i := range users {
		u := &users[i]
		if !u.DeletionTimestamp.IsZero() || oldest[UserKey(u)].Name != u.Name {
			continue
		}
		if u.NeedsSlot() {
			slotClaims = append(slotClaims, allocation.Claim{Name: u.Name, Since: ClaimSince(u, v1alpha1.SlotsResource, now)})
		}
		if u.NeedsLicense() {
			c := allocation.Claim{Name: u.Name, Since: ClaimSince(u, v1alpha1.SeatsResource(u.Spec.License), now)}
			seatClaims[u.Spec.License] = append(seatClaims[u.Spec.License], c)
		}
	}

	var wake time.Time
	settleAt := func(l allocation.Ledger, capacity int) {
		if at, ok := l.NextGrant(capacity, now); ok && (wake.IsZero() || at.Before(wake)) {
			wake = at
		}
	}
	var prevSlot allocation.Ledger
	if l := env.Status.NonInteractive; l != nil {
		prevSlot = LedgerOf(l.Holders, l.Waiting)
	}
	// The seven are the service's seven: non-interactive users Dataverse holds that no
	// PlatformUser manages hold theirs first (spec.dataverse).
	unmanaged := 0
	if dv := st.Dataverse; dv != nil && env.Spec.Dataverse != nil {
		unmanaged = len(dv.UnmanagedNonInteractive)
	}
	capacity := max(0, v1alpha1.NonInteractiveSlotLimit-unmanaged)
	slot := prevSlot
	if env.Spec.Dataverse != nil && st.Dataverse == nil {
		// The non-interactive users Dataverse holds that no PlatformUser manages take slots first
		// (AM6) and a slot once granted is never taken back (EV1): nothing is granted before the
		// first sync has counted them. The claims are not in the ledger yet, so they wait as
		// AwaitingAllocation, and the sync's observation wakes the environment again.
		awaitingCount = len(slotClaims) > len(prevSlot.Holders)
	} else {
		slot = allocation.Allocate(prevSlot, slotClaims, capacity, now)
		settleAt(slot, capacity)
	}
	used := len(slot.Holders) + unmanaged
	st.NonInteractive = &v1alpha1.SlotLedger{
		Limit:     v1alpha1.NonInteractiveSlotLimit,
		Used:      int32(used),
		Unmanaged: int32(unmanaged),
		Usage:     fmt.Sprintf("%d/%d", used, v1alpha1.NonInteractiveSlotLimit),
		Holders:   entriesOf(slot.Holders),
		Waiting:   entriesOf(slot.Waiting),
	}

	prevSeats := map[string]allocation.Ledger{}
	for _, s := range env.Status.Seats {
		prevSeats[s.SKU] = LedgerOf(s.Holders, s.Waiting)
	}
	var seats []v1alpha1.SeatLedger
	for _, l := range env.Spec.Licenses {
		next := allocation.Allocate(prevSeats[l.SKU], seatClaims[l.SKU], int(l.Seats), now)
		settleAt(next, int(l.Seats))
		seats = append(seats, v1alpha1.SeatLedger{
			SKU: l.SKU, Seats: l.Seats, Used: int32(len(next.Holders)),
			Holders: entriesOf(next.Holders), Waiting: entriesOf(next.Waiting),
		})
	}
	sort.Slice(seats, func(i, j int) bool { return seats[i].SKU < seats[j].SKU })
	st.Seats = seats
	if wake.IsZero() {
		return 0, awaitingCount
	}
	return wake.Sub(now), awaitingCount
}

// ClaimSince is when a user began needing resource (EV1): the time its status records; for a user
// the operator has not looked at yet, or whose spec never changed, its creation time; otherwise
// now, the first time the need is seen. A user already in a ledger keeps its place whatever this
// says.
func ClaimSince(u *v1alpha1.PlatformUser, resource string, now time.Time) time.Time {
	if since, ok := u.ClaimSince(resource); ok {
		return since.Time
	}
	if u.Status.ObservedGeneration == 0 || u.Generation <= 1 {
		return u.CreationTimestamp.Time
	}
	return now.Truncate(time.Second)
}

// LedgerOf converts a ledger from an Environment's status.
func LedgerOf(holders, waiting []v1alpha1.LedgerEntry) allocation.Ledger {
	var l allocation.Ledger
	for _, h := range holders {
		l.Holders = append(l.Holders, allocation.Entry{Name: h.Name, Since: h.Since.Time})
	}
	for _, w := range waiting {
		l.Waiting = append(l.Waiting, allocation.Entry{Name: w.Name, Since: w.Since.Time})
	}
	return l
}

func entriesOf(es []allocation.Entry) []v1alpha1.LedgerEntry {
	if len(es) == 0 {
		return nil
	}
	out := make([]v1alpha1.LedgerEntry, len(es))
	for i, e := range es {
		// Status keeps seconds: truncate so a restart reads back exactly what was decided.
		out[i] = v1alpha1.LedgerEntry{Name: e.Name, Since: metav1.NewTime(e.Since.Truncate(time.Second))}
	}
	return out
}

// seatsBelowUsage names every SKU with more seats held than offered (LI1), or "".
func seatsBelowUsage(seats []v1alpha1.SeatLedger) string {
	var short []string
	for _, s := range seats {
		if s.Used > s.Seats {
			short = append(short, fmt.Sprintf("%s has %d seat(s) held and %d offered", s.SKU, s.Used, s.Seats))
		}
	}
	return strings.Join(short, "; ")
}

// countUsers counts the environment's users by access mode, and by whether they are in fact
// enabled as the user's own decision will say (EN1, with the ledger just allocated, and the Entra
// ID facts its status last recorded), so the counts never wait for the users' status writes. A user refused as a duplicate is disabled.
func countUsers(env *v1alpha1.Environment, st *v1alpha1.EnvironmentStatus, users []v1alpha1.PlatformUser, apps []v1alpha1.ApplicationUser) *v1alpha1.UserCounts {
	view := newEnablementView(&v1alpha1.Environment{ObjectMeta: env.ObjectMeta, Spec: env.Spec, Status: *st})
	oldestUser := oldestBy(users, func(u *v1alpha1.PlatformUser) string { return UserKey(u) })
	oldestApp := oldestBy(apps, func(a *v1alpha1.ApplicationUser) string { return ApplicationKey(a) })
	c := &v1alpha1.UserCounts{}
	count := func(enabled bool) {
		if enabled {
			c.Enabled++
		} else {
			c.Disabled++
		}
	}
	for i := range users {
		u := &users[i]
		c.Total++
		switch {
		case u.Spec.Stub:
			c.Stub++
		case u.Spec.AccessMode == v1alpha1.AccessModeAdministrative:
			c.Administrative++
		case u.Spec.AccessMode == v1alpha1.AccessModeNonInteractive:
			c.NonInteractive++
		default:
			c.ReadWrite++
		}
		in := view.input(u)
		in.Entra = entraFacts(env, u, EntraPersonFromStatus(u.Status.Entra))
		count(oldestUser[UserKey(u)].Name == u.Name && enablement.Decide(in).Enabled)
	}
	for i := range apps {
		a := &apps[i]
		c.Total++
		c.Application++
		count(oldestApp[ApplicationKey(a)].Name == a.Name && a.Spec.Enabled) // AM7: enabled as its spec says
	}
	return c
}

// allocationEvents are the news of one allocation round (EV1, AM6, LI1): the principals newly
// granted a slot or a seat, and those newly waiting behind a full limit.
func allocationEvents(env *v1alpha1.Environment, prev, next *v1alpha1.EnvironmentStatus) []Event {
	var out []Event
	if l := next.NonInteractive; l != nil {
		var before *v1alpha1.SlotLedger
		if prev.NonInteractive != nil {
			before = prev.NonInteractive
		} else {
			before = &v1alpha1.SlotLedger{}
		}
		if granted := added(before.Holders, l.Holders); len(granted) > 0 {
			out = append(out, Event{eventNormal, v1alpha1.ReasonSlotGranted, "Allocate",
				fmt.Sprintf("granted a non-interactive slot of environment %s to %s (AM6)", env.Name, nameList(granted))})
		}
		if l.Used >= l.Limit {
			if waiting := added(blocked(before.Waiting, before.Used >= before.Limit && before.Limit > 0), l.Waiting); len(waiting) > 0 {
				out = append(out, Event{eventWarning, v1alpha1.ReasonNonInteractiveLimitReached, "Allocate",
					fmt.Sprintf("all %d non-interactive slots of environment %s are held; %s wait(s) in creation order (AM6)", l.Limit, env.Name, nameList(waiting))})
			}
		}
	}
	prevSeats := map[string]v1alpha1.SeatLedger{}
	for _, s := range prev.Seats {
		prevSeats[s.SKU] = s
	}
	for _, s := range next.Seats {
		before := prevSeats[s.SKU]
		if granted := added(before.Holders, s.Holders); len(granted) > 0 {
			out = append(out, Event{eventNormal, "SeatGranted", "Allocate",
				fmt.Sprintf("granted a seat of %s in environment %s to %s (LI1)", s.SKU, env.Name, nameList(granted))})
		}
		if s.Used >= s.Seats {
			if waiting := added(blocked(before.Waiting, before.SKU != "" && before.Used >= before.Seats), s.Waiting); len(waiting) > 0 {
				out = append(out, Event{eventWarning, v1alpha1.ReasonSeatsExhausted, "Allocate",
					fmt.Sprintf("all %d seats of %s in environment %s are held; %s wait(s) in creation order (LI1)", s.Seats, s.SKU, env.Name, nameList(waiting))})
			}
		}
	}
	return out
}

// blocked are the waiters of a ledger that waited behind a full limit (told so already); waiters
// of a ledger with free capacity were only settling.
func blocked(waiting []v1alpha1.LedgerEntry, full bool) []v1alpha1.LedgerEntry {
	if !full {
		return nil
	}
	return waiting
}

// added are the names in next that were not in prev, in next's order.
func added(prev, next []v1alpha1.LedgerEntry) []string {
	had := make(map[string]bool, len(prev))
	for _, e := range prev {
		had[e.Name] = true
	}
	var out []string
	for _, e := range next {
		if !had[e.Name] {
			out = append(out, e.Name)
		}
	}
	return out
}

// nameList names up to ten principals and counts the rest, to keep an event short.
func nameList(names []string) string {
	const shown = 10
	if len(names) <= shown {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:shown], ", "), len(names)-shown)
}

func readySummary(st *v1alpha1.EnvironmentStatus) string {
	parts := []string{fmt.Sprintf("non-interactive slots %s", st.NonInteractive.Usage)}
	if n := len(st.NonInteractive.Waiting); n > 0 {
		parts[0] += fmt.Sprintf(" (%d waiting)", n)
	}
	for _, s := range st.Seats {
		p := fmt.Sprintf("%s seats %d/%d", s.SKU, s.Used, s.Seats)
		if n := len(s.Waiting); n > 0 {
			p += fmt.Sprintf(" (%d waiting)", n)
		}
		parts = append(parts, p)
	}
	return "environment allocated: " + strings.Join(parts, ", ")
}

// EnvironmentDeletion is the status of an Environment whose deletion waits for the objects that
// still reference it (EV4); waiting describes them, e.g. "3 PlatformUser(s)".
func EnvironmentDeletion(env *v1alpha1.Environment, waiting []string) v1alpha1.EnvironmentStatus {
	st := *env.Status.DeepCopy()
	st.ObservedGeneration = env.Generation
	conds, list := conditionsOf(env.Status.Conditions, env.Generation)
	conds.Apply(StalledBy(v1alpha1.ReasonDeletionBlocked,
		fmt.Sprintf("environment %s is being deleted and waits for %s that still reference it (EV4): delete them, e.g. kubectl delete %s -n %s",
			env.Name, strings.Join(waiting, ", "), "puser,appuser,ppteam,secrole -l <selector>", env.Namespace)))
	st.Conditions = *list
	return st
}

// BuiltInLabel marks the SecurityRoles an Environment creates and keeps.
const BuiltInLabel = "access.accessplane.io/built-in-of"

// BuiltInRoles are the roles an Environment keeps, by object name: System Administrator (AM9),
// Basic User, and the stub default role of its product (AM8).
func BuiltInRoles(env *v1alpha1.Environment) map[string]v1alpha1.BuiltInRole {
	return map[string]v1alpha1.BuiltInRole{
		v1alpha1.SystemAdministratorRoleName(env.Name):           v1alpha1.BuiltInSystemAdministrator,
		env.Name + v1alpha1.BasicUserRoleSuffix:                  v1alpha1.BuiltInBasicUser,
		v1alpha1.StubDefaultRoleName(env.Name, env.Spec.Product): stubDefaultBuiltIn(env.Spec.Product),
	}
}

// StaleBuiltInRole is the stub default role a product change leaves behind, to be removed.
func StaleBuiltInRole(env *v1alpha1.Environment) string {
	other := v1alpha1.ProductPowerApps
	if env.Spec.Product == v1alpha1.ProductPowerApps {
		other = v1alpha1.ProductDynamics365
	}
	return v1alpha1.StubDefaultRoleName(env.Name, other)
}

// BuiltInRoleSpec is the spec the Environment keeps on a built-in role: the product's privileges,
// always, and the member's privilege inheritance that people may change on every built-in role
// but System Administrator (SR7). current is the spec the role has now, nil when it is absent.
func BuiltInRoleSpec(env *v1alpha1.Environment, builtIn v1alpha1.BuiltInRole, current *v1alpha1.SecurityRoleSpec) v1alpha1.SecurityRoleSpec {
	spec := access.BuiltInRoleSpec(env.Name, builtIn)
	if current != nil && builtIn != v1alpha1.BuiltInSystemAdministrator && current.MemberPrivilegeInheritance != "" {
		spec.MemberPrivilegeInheritance = current.MemberPrivilegeInheritance
	}
	return spec
}

func stubDefaultBuiltIn(p v1alpha1.Product) v1alpha1.BuiltInRole {
	if p == v1alpha1.ProductPowerApps {
		return v1alpha1.BuiltInCommonDataServiceUser
	}
	return v1alpha1.BuiltInSalesperson
}
