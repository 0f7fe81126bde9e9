package controllers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/allocation"
)

// allocate recomputes the slot ledger and the seat ledgers of env from its users (EV1). It
// returns how long until a claim too young to be granted settles, or 0.
func allocate(env *accessv1alpha1.Environment, users []accessv1alpha1.PlatformUser, now time.Time) time.Duration {
	var slotClaims []allocation.Claim
	seatClaims := map[string][]allocation.Claim{}
	for i := range users {
		u := &users[i]
		if !u.DeletionTimestamp.IsZero() {
			continue
		}
		c := allocation.Claim{Name: u.Name, Since: claimSince(u, now)}
		if u.NeedsSlot() {
			slotClaims = append(slotClaims, c)
		}
		if u.NeedsLicense() {
			seatClaims[u.Spec.License] = append(seatClaims[u.Spec.License], c)
		}
	}

	var prevSlot allocation.Ledger
	if l := env.Status.NonInteractive; l != nil {
		prevSlot = ledgerOf(l.Holders, l.Waiting)
	}
	var wake time.Time
	settleAt := func(l allocation.Ledger, capacity int) {
		if at, ok := l.NextGrant(capacity, now); ok && (wake.IsZero() || at.Before(wake)) {
			wake = at
		}
	}
	slot := allocation.Allocate(prevSlot, slotClaims, accessv1alpha1.NonInteractiveSlotLimit, now)
	settleAt(slot, accessv1alpha1.NonInteractiveSlotLimit)
	env.Status.NonInteractive = &accessv1alpha1.SlotLedger{
		Limit:   accessv1alpha1.NonInteractiveSlotLimit,
		Used:    int32(len(slot.Holders)),
		Usage:   fmt.Sprintf("%d/%d", len(slot.Holders), accessv1alpha1.NonInteractiveSlotLimit),
		Holders: entriesOf(slot.Holders),
		Waiting: entriesOf(slot.Waiting),
	}

	prevSeats := map[string]allocation.Ledger{}
	for _, s := range env.Status.Seats {
		prevSeats[s.SKU] = ledgerOf(s.Holders, s.Waiting)
	}
	var seats []accessv1alpha1.SeatLedger
	for _, l := range env.Spec.Licenses {
		next := allocation.Allocate(prevSeats[l.SKU], seatClaims[l.SKU], int(l.Seats), now)
		settleAt(next, int(l.Seats))
		seats = append(seats, accessv1alpha1.SeatLedger{
			SKU: l.SKU, Seats: l.Seats, Used: int32(len(next.Holders)),
			Holders: entriesOf(next.Holders), Waiting: entriesOf(next.Waiting),
		})
	}
	sort.Slice(seats, func(i, j int) bool { return seats[i].SKU < seats[j].SKU })
	env.Status.Seats = seats
	if wake.IsZero() {
		return 0
	}
	return wake.Sub(now)
}

// claimSince is when a user began needing a slot or seat (EV1): its creation time while its spec
// has never changed, otherwise the first time the authority sees the claim. A user already in the
// ledger keeps its place whatever this says.
func claimSince(u *accessv1alpha1.PlatformUser, now time.Time) time.Time {
	if u.Generation <= 1 {
		return u.CreationTimestamp.Time
	}
	return now.Truncate(time.Second)
}

func entriesOf(es []allocation.Entry) []accessv1alpha1.LedgerEntry {
	if len(es) == 0 {
		return nil
	}
	out := make([]accessv1alpha1.LedgerEntry, len(es))
	for i, e := range es {
		// Status keeps seconds: truncate so a restart reads back exactly what was decided.
		out[i] = accessv1alpha1.LedgerEntry{Name: e.Name, Since: metav1.NewTime(e.Since.Truncate(time.Second))}
	}
	return out
}

func countUsers(users []accessv1alpha1.PlatformUser, apps []accessv1alpha1.ApplicationUser) *accessv1alpha1.UserCounts {
	c := &accessv1alpha1.UserCounts{}
	for i := range users {
		u := &users[i]
		c.Total++
		switch {
		case u.Spec.Stub:
			c.Stub++
		case u.Spec.AccessMode == accessv1alpha1.AccessModeAdministrative:
			c.Administrative++
		case u.Spec.AccessMode == accessv1alpha1.AccessModeNonInteractive:
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

func readySummary(env *accessv1alpha1.Environment) string {
	parts := []string{fmt.Sprintf("non-interactive slots %s", env.Status.NonInteractive.Usage)}
	if n := len(env.Status.NonInteractive.Waiting); n > 0 {
		parts[0] += fmt.Sprintf(" (%d waiting)", n)
	}
	for _, s := range env.Status.Seats {
		p := fmt.Sprintf("%s seats %d/%d", s.SKU, s.Used, s.Seats)
		if n := len(s.Waiting); n > 0 {
			p += fmt.Sprintf(" (%d waiting)", n)
		}
		parts = append(parts, p)
	}
	return "environment allocated: " + strings.Join(parts, ", ")
}
