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

	settle := allocate(env, &st, in.Users, in.Now)
	st.Users = countUsers(in.Users, in.Apps)
	switch short := seatsBelowUsage(st.Seats); {
	case short != "":
		conds.Apply(StalledBy(v1alpha1.ReasonSeatsBelowUsage, fmt.Sprintf(
			"environment %s offers fewer seats than are held: %s; seats are never taken back (LI1), so no new seat is granted until use falls below the offer: raise spec.licenses[].seats, or remove licenses from users", env.Name, short)))
	case settle > 0:
		// Claims of a burst are settling (EV1): the environment is still working, not Ready.
		conds.Apply(WaitingFor(v1alpha1.ReasonAwaitingAllocation, "allocating: new claims are granted in creation order once their burst has settled; "+readySummary(&st)))
	default:
		conds.Apply(Ready(readySummary(&st)))
	}
	st.Conditions = *list
	return EnvironmentOutcome{Status: st, RequeueAfter: settle, Defer: settle > 0 && onlySettling(&env.Status, &st, env.Generation)}
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
// and returns how long until a claim too young to be granted settles, or 0.
func allocate(env *v1alpha1.Environment, st *v1alpha1.EnvironmentStatus, users []v1alpha1.PlatformUser, now time.Time) time.Duration {
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
	slot := allocation.Allocate(prevSlot, slotClaims, capacity, now)
	settleAt(slot, capacity)
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
		return 0
	}
	return wake.Sub(now)
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

func countUsers(users []v1alpha1.PlatformUser, apps []v1alpha1.ApplicationUser) *v1alpha1.UserCounts {
	c := &v1alpha1.UserCounts{}
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
		if u.Status.Enabled {
			c.Enabled++
		} else {
			c.Disabled++
		}
	}
	for i := range apps {
		c.Total++
		c.Application++
		if apps[i].Status.Enabled {
			c.Enabled++
		} else {
			c.Disabled++
		}
	}
	return c
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
