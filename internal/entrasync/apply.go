package entrasync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/accessplane/dataverse-access-operator/internal/graph"
)

// Writer is what applying needs of Microsoft Graph: the three writes, nothing else.
type Writer interface {
	AddMember(ctx context.Context, groupID, userID string) error
	RemoveMember(ctx context.Context, groupID, userID string) error
	AssignLicense(ctx context.Context, userID string, add, remove []string) error
}

// Client is a Reader and a Writer: graph.Client.
type Client interface {
	Reader
	Writer
}

var _ Client = (*graph.Client)(nil)

// Target is one environment's Entra ID target as a sync sees it.
type Target struct {
	reader Reader
	// write is nil under PolicyObserve: see NewTarget.
	write Writer
}

// NewTarget is the one place the management policy is checked: only PolicyManage gets a writer,
// so a target under Observe cannot write, whatever the rest of the code does.
func NewTarget(policy Policy, c Client) *Target {
	t := &Target{reader: c}
	if policy == PolicyManage {
		t.write = c
	}
	return t
}

// writer returns the target's writer; false under PolicyObserve.
func (t *Target) writer() (Writer, bool) { return t.write, t.write != nil }

// Result is what one sync of an environment found and did.
type Result struct {
	// Snapshot is what Entra ID holds, the writes made included.
	Snapshot *Snapshot
	// People are the outcomes per person, in the Environment's order.
	People []PersonResult
	// Writes is how many write requests were sent.
	Writes int
}

// PersonResult is one person's outcome.
type PersonResult struct {
	Person Person
	// Facts are what Entra ID holds once Wrote is made, with the problems and drift found.
	Facts Facts
	// Wrote are the writes made.
	Wrote []Change
	// Pending are the writes found and not made: under Observe all of them (Drifted), under
	// Manage those after a write that failed or the sync stopped.
	Pending []Change
	// Err is why the first of Pending (or Lost) was not made. graph.ErrAnswerLost: the write
	// was sent and its outcome is unknown (Lost); it is not sent again as is — the next Sync
	// observes first and decides.
	Err  error
	Lost *Change
}

// Changed reports whether a membership or license of the person changed: Dataverse should then
// be asked to follow at once (the admin API's addUser).
func (r PersonResult) Changed() bool { return len(r.Wrote) > 0 || r.Lost != nil }

// Sync observes the environment, compares each person and, under Manage, makes the writes found.
// It is the one loop: observe in bulk, compare per person (pure), apply through the writer (only
// under Manage), and keep the snapshot up to date with each write made so that comparing again
// finds nothing to do. A write Graph refuses for the person alone (no usage location, no unit
// left, a license by a group, a person deleted meanwhile) ends that person's writes; any other
// failure (throttled, forbidden, unreachable) ends the sync and is returned, with the results so
// far. Nothing is retried here: the next Sync observes again.
func (t *Target) Sync(ctx context.Context, env Environment) (*Result, error) {
	s, err := Observe(ctx, t.reader, env)
	if err != nil {
		return nil, err
	}
	res := &Result{Snapshot: s}
	w, canWrite := t.writer()
	var stop error
	for _, p := range env.People {
		changes, facts := ComparePerson(p, s, env.Manage)
		pr := PersonResult{Person: p, Facts: facts}
		if !canWrite || stop != nil {
			pr.Pending = changes
			res.People = append(res.People, pr)
			continue
		}
		for i, c := range changes {
			res.Writes++
			if err := applyOne(ctx, w, c); err != nil {
				pr.Err = err
				if errors.Is(err, graph.ErrAnswerLost) {
					lost := c
					pr.Lost, pr.Pending = &lost, changes[i+1:]
				} else {
					pr.Pending = changes[i:]
				}
				if !personal(err) {
					stop = err
				}
				break
			}
			s.record(c)
			pr.Wrote = append(pr.Wrote, c)
		}
		if len(pr.Wrote) > 0 {
			_, pr.Facts = ComparePerson(p, s, env.Manage)
		}
		res.People = append(res.People, pr)
	}
	return res, stop
}

func applyOne(ctx context.Context, w Writer, c Change) error {
	switch c.Op {
	case OpAddMember:
		return w.AddMember(ctx, c.Group, c.User)
	case OpRemoveMember:
		return w.RemoveMember(ctx, c.Group, c.User)
	case OpAssignLicense:
		return w.AssignLicense(ctx, c.User, c.Add, c.Remove)
	}
	return fmt.Errorf("entrasync: unknown change %q", c.Op)
}

// personal: Graph refused the write for this person only; the others' writes go on. A lost
// answer is one too: the next observation tells what happened.
func personal(err error) bool {
	for _, e := range []error{graph.ErrAnswerLost, graph.ErrNoUsageLocation, graph.ErrNoLicensesLeft, graph.ErrLicenseByGroup, graph.ErrNotFound} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// record makes a write that was made part of the snapshot: the group's members, the person's
// memberships and licenses, the SKU's consumed units.
func (s *Snapshot) record(c Change) {
	var ps *PersonState
	for _, x := range s.People {
		if x.Found && x.ObjectID == c.User {
			ps = x
			break
		}
	}
	switch c.Op {
	case OpAddMember, OpRemoveMember:
		for _, g := range s.groups() {
			if g.ID != c.Group || g.Members == nil {
				continue
			}
			if c.Op == OpAddMember {
				upn := c.UserName
				if ps != nil {
					upn = ps.UserPrincipalName
				}
				g.Members[c.User] = upn
			} else {
				delete(g.Members, c.User)
			}
		}
		for _, x := range s.People {
			if x.Found && x.ObjectID == c.User {
				s.refresh(x)
			}
		}
	case OpAssignLicense:
		if ps == nil {
			return
		}
		for _, id := range c.Add {
			s.assign(ps, id)
		}
		for _, id := range c.Remove {
			s.unassign(ps, id)
		}
	}
}

func (s *Snapshot) assign(ps *PersonState, skuID string) {
	for i, l := range ps.Licenses {
		if strings.EqualFold(l.SkuID, skuID) {
			ps.Licenses[i].Direct = true
			return
		}
	}
	ps.Licenses = append(ps.Licenses, License{SkuPartNumber: s.skuPart(skuID), SkuID: skuID, Direct: true})
	sortLicenses(ps.Licenses)
	s.consume(skuID, 1)
}

func (s *Snapshot) unassign(ps *PersonState, skuID string) {
	for i, l := range ps.Licenses {
		if !strings.EqualFold(l.SkuID, skuID) {
			continue
		}
		if len(l.ByGroups) > 0 {
			ps.Licenses[i].Direct = false // still held through a group
			return
		}
		ps.Licenses = append(ps.Licenses[:i], ps.Licenses[i+1:]...)
		s.consume(skuID, -1)
		return
	}
}

func (s *Snapshot) consume(skuID string, n int) {
	for i, k := range s.Skus {
		if strings.EqualFold(k.SkuID, skuID) {
			s.Skus[i].Consumed = max(k.Consumed+n, 0)
		}
	}
}
