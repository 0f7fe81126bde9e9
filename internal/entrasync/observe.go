package entrasync

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/accessplane/dataverse-access-operator/internal/graph"
	"github.com/accessplane/dataverse-access-operator/internal/webapi"
)

// Reader is what observing needs of Microsoft Graph: reads only (graph.Client's read methods).
// Observe is given no writer.
type Reader interface {
	Users(ctx context.Context, idsOrUPNs []string) (map[string]*graph.User, error)
	GroupMembers(ctx context.Context, groupID string) ([]graph.Member, error)
	GroupsByName(ctx context.Context, displayName string) ([]graph.Group, error)
	Group(ctx context.Context, id string) (*graph.Group, error)
	SubscribedSkus(ctx context.Context) ([]graph.SubscribedSku, error)
}

var _ Reader = (*graph.Client)(nil)

// membersPage is the page size GroupMembers asks for ($top=999).
const membersPage = 999

// Observe reads what Entra ID holds for an environment, in bulk: each group named (resolved by
// one request: GET /groups/{id}, or GET /groups?$filter=displayName eq '…'), each resolved group's
// direct user members once (one request per 999), every managed person in $batch requests of 20
// (by object id, else by user name), and the tenant's subscribedSkus once. Its cost is
// groups + member pages + ceil(people/20) + 1 requests, whatever the number of reconciles that
// compare with it.
//
// What cannot be used is recorded, not returned: a group name matching none or several groups or
// not security-enabled (GroupState.Problem), a person Entra ID does not have (Found false). An
// error is a failure of Graph itself (throttled, forbidden, unreachable).
func Observe(ctx context.Context, r Reader, env Environment) (*Snapshot, error) {
	s := &Snapshot{People: map[string]*PersonState{}}
	members := map[string]map[string]string{} // by group id: read once
	group := func(ref string) (*GroupState, error) {
		g, n, err := resolve(ctx, r, ref)
		s.Requests += n
		if err != nil || g.Problem != nil {
			return g, err
		}
		if m, ok := members[g.ID]; ok {
			g.Members = m
			return g, nil
		}
		list, err := r.GroupMembers(ctx, g.ID)
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", ref, err)
		}
		s.Requests += max(1, (len(list)+membersPage-1)/membersPage)
		g.Members = make(map[string]string, len(list))
		for _, m := range list {
			g.Members[strings.ToLower(m.ID)] = m.UserPrincipalName
		}
		members[g.ID] = g.Members
		return g, nil
	}
	if strings.TrimSpace(env.SecurityGroup) != "" {
		g, err := group(env.SecurityGroup)
		if err != nil {
			return nil, err
		}
		s.SecurityGroup = g
	}
	for _, ref := range env.GroupTeamGroups {
		g, err := group(ref)
		if err != nil {
			return nil, err
		}
		s.Groups = append(s.Groups, g)
	}

	skus, err := r.SubscribedSkus(ctx)
	if err != nil {
		return nil, fmt.Errorf("subscribedSkus: %w", err)
	}
	s.Requests++
	s.setSkus(skus)

	// People: one $batch per 20, each asked by its key (object id or user name).
	var keys []string
	for _, p := range env.People {
		k := PersonKey(p)
		if _, seen := s.People[k]; seen {
			continue
		}
		s.People[k] = &PersonState{}
		if k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		users, err := r.Users(ctx, keys)
		if err != nil {
			return nil, fmt.Errorf("people: %w", err)
		}
		s.Requests += (len(keys) + graph.MaxBatch - 1) / graph.MaxBatch
		for _, k := range keys {
			if u := users[k]; u != nil {
				*s.People[k] = s.personOf(u)
			}
		}
	}
	for _, ps := range s.People {
		s.refresh(ps)
	}
	s.countUnmanaged(env.People)
	return s, nil
}

// resolve finds a group by object id or display name, and says how many requests it took.
func resolve(ctx context.Context, r Reader, ref string) (*GroupState, int, error) {
	name := strings.TrimSpace(ref)
	g := &GroupState{Ref: ref}
	if webapi.IsGUID(name) {
		got, err := r.Group(ctx, name)
		if errors.Is(err, graph.ErrNotFound) {
			g.Problem = &Problem{Kind: GroupNotFound, Name: ref, Message: fmt.Sprintf("Entra ID has no group with object id %s: name an existing security group (the operator never creates groups)", name)}
			return g, 1, nil
		}
		if err != nil {
			return nil, 1, fmt.Errorf("group %s: %w", ref, err)
		}
		return check(g, *got), 1, nil
	}
	list, err := r.GroupsByName(ctx, name)
	if err != nil {
		return nil, 1, fmt.Errorf("group %s: %w", ref, err)
	}
	switch len(list) {
	case 0:
		g.Problem = &Problem{Kind: GroupNotFound, Name: ref, Message: fmt.Sprintf("no Entra group is named %q: name an existing security group by its display name or object id (the operator never creates groups)", name)}
		return g, 1, nil
	case 1:
		return check(g, list[0]), 1, nil
	}
	ids := make([]string, len(list))
	for i, x := range list {
		ids[i] = strings.ToLower(x.ID)
	}
	sort.Strings(ids)
	g.Problem = &Problem{Kind: GroupAmbiguous, Name: ref, Matches: ids,
		Message: fmt.Sprintf("%d Entra groups are named %q (%s): name the one meant by its object id", len(list), name, strings.Join(ids, ", "))}
	return g, 1, nil
}

func check(g *GroupState, got graph.Group) *GroupState {
	g.ID, g.DisplayName = strings.ToLower(got.ID), got.DisplayName
	if !got.SecurityEnabled {
		g.Problem = &Problem{Kind: GroupNotSecurityEnabled, Name: g.Ref,
			Message: fmt.Sprintf("Entra group %q (%s) is not security-enabled: name a security group", got.DisplayName, g.ID)}
	}
	return g
}

func (s *Snapshot) setSkus(skus []graph.SubscribedSku) {
	for _, k := range skus {
		s.Skus = append(s.Skus, Sku{SkuID: strings.ToLower(k.SkuID), SkuPartNumber: k.SkuPartNumber, Enabled: k.PrepaidUnits.Enabled, Consumed: k.ConsumedUnits})
	}
	sort.Slice(s.Skus, func(i, j int) bool { return s.Skus[i].SkuPartNumber < s.Skus[j].SkuPartNumber })
}

// personOf is what the snapshot records of a user: assignedLicenses (which include those
// inherited from groups) tell what is held, licenseAssignmentStates how (assignedByGroup null:
// direct).
func (s *Snapshot) personOf(u *graph.User) PersonState {
	ps := PersonState{Found: true, ObjectID: strings.ToLower(u.ID), UserPrincipalName: u.UserPrincipalName,
		AccountEnabled: u.AccountEnabled, UsageLocation: u.UsageLocation}
	for _, a := range u.AssignedLicenses {
		id := strings.ToLower(a.SkuID)
		l := License{SkuPartNumber: s.skuPart(id), SkuID: id, Direct: u.DirectLicense(id)}
		for _, g := range u.LicenseGroups(id) {
			l.ByGroups = append(l.ByGroups, strings.ToLower(g))
		}
		sort.Strings(l.ByGroups)
		ps.Licenses = append(ps.Licenses, l)
	}
	sortLicenses(ps.Licenses)
	return ps
}

// countUnmanaged records, per group, the members no Person is (by object id or user name).
func (s *Snapshot) countUnmanaged(people []Person) {
	ids, names := map[string]bool{}, map[string]bool{}
	for _, p := range people {
		names[strings.ToLower(strings.TrimSpace(p.UserName))] = true
		if ps := s.Person(p); ps != nil && ps.Found {
			ids[ps.ObjectID] = true
		}
	}
	for _, g := range s.groups() {
		if g.Problem != nil {
			continue
		}
		var upns []string
		for id, upn := range g.Members {
			if !ids[id] && !names[strings.ToLower(upn)] {
				upns = append(upns, upn)
			}
		}
		sort.Strings(upns)
		g.Unmanaged = Unmanaged{Count: len(upns), First: upns[:min(len(upns), MaxUnmanagedListed)]}
	}
}
