package dvsync

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
)

// Observing in bulk (docs/design.md, "Observing at scale"): per environment and sync interval,
// one snapshot of its users, roles and user–role links, read page by page (systemusers, roles and
// the intersect table systemuserrolescollection: a few requests per 5,000 rows), from which every
// object's reconcile answers the reads it would otherwise make one by one. Writes made through
// the target update it, so comparing again finds nothing to do; what it cannot know yet — a record
// created or changed since it was read, by the operator or not — is read alone, and then kept.

// BulkReader is what a snapshot is read with: the Web API's paged list reads.
type BulkReader interface {
	ListUsers(ctx context.Context, filter string) ([]dataverse.SystemUser, error)
	ListRoles(ctx context.Context, businessUnitID string) ([]dataverse.Role, error)
	ListUserRoleLinks(ctx context.Context) ([]dataverse.UserRoleLink, error)
	ListTeams(ctx context.Context) ([]dataverse.Team, error)
	ListTeamMemberLinks(ctx context.Context) ([]dataverse.TeamMemberLink, error)
	ListTeamRoleLinks(ctx context.Context) ([]dataverse.TeamRoleLink, error)
	ListRolePrivilegeLinks(ctx context.Context) ([]dataverse.RolePrivilegeLink, error)
	// Change tracking of systemusers (the one table read often enough for it to pay).
	ChangeTrackingEnabled(ctx context.Context, logicalName string) (bool, error)
	TrackUsers(ctx context.Context, deltaLink string) (dataverse.UserDelta, error)
}

var _ BulkReader = (*dataverse.Client)(nil)

// snapshot is one environment's people, roles and their links as read at taken.
type snapshot struct {
	mu    sync.Mutex
	taken time.Time
	// failed: the last read failed (err); reads go to the Web API until the next one works,
	// which is not tried before retryAt.
	failed  bool
	err     error
	retryAt time.Time
	users   map[string]*dataverse.SystemUser // by id (lower case)
	byOID   map[string]string                // Entra object id → user id
	byUPN   map[string]string                // domainname → user id
	byApp   map[string]string                // application id → user id (not being deleted)
	links   map[string]map[string]bool       // user id → role ids
	roles   map[string]*dataverse.Role       // by id
	// Freshness of users. seq orders the marks below and the catch-ups: staleAt holds the users
	// whose record was written (or is being changed by the service) at a seq — fresh again once a
	// catch-up that started after it has been read (caughtUp ≥ the mark), or once read alone;
	// staleLinks the users whose role links are unknown (a write whose outcome is unknown, a user
	// that arrived after the read): read alone next; lookedAt the people (by "oid:"/"upn:" key)
	// the snapshot answered absent at a seq: the next look needs newer information than that.
	seq        uint64
	caughtUp   uint64
	staleAt    map[string]uint64
	staleLinks map[string]bool
	lookedAt   map[string]uint64
	// Change tracking of systemusers: tracking says whether the table has it (read once per
	// connection: nil until then), usersLink is the deltaLink of the last read ("": none).
	tracking  *bool
	usersLink string
	// teams by id, their members (user ids) and roles (role ids); staleTeams were written since
	// the read (or their outcome is unknown): read alone next.
	teams       map[string]*dataverse.Team
	teamMembers map[string]map[string]bool
	teamRoles   map[string]map[string]bool
	staleTeams  map[string]bool
	// rolePrivs are each role's privileges (by role id); staleRoles had them written since with
	// an unknown outcome: read alone next.
	rolePrivs  map[string][]dataverse.RolePrivilege
	staleRoles map[string]bool
	// Requests is how many requests the last read cost.
	Requests int
	// takenAt is taken in Unix nanoseconds, for the metrics to read without mu (held while a
	// read is in flight); 0: never read.
	takenAt atomic.Int64
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// due reports whether the snapshot must be read again.
func (s *snapshot) due(now time.Time, interval time.Duration) bool {
	if s.failed {
		return !now.Before(s.retryAt)
	}
	return s.users == nil || now.Sub(s.taken) >= interval
}

// snapshotRetry is how soon a failed snapshot is read again when the service said nothing.
const snapshotRetry = 15 * time.Second

func (s *snapshot) fail(err error, now time.Time) error {
	wait := snapshotRetry
	if d, ok := dataverse.RetryAfter(err); ok && d > 0 {
		wait = d
	}
	s.failed, s.err, s.retryAt = true, err, now.Add(wait)
	return err
}

// refresh reads the snapshot again: every user (paged), every role, every user–role link.
func (s *snapshot) refresh(ctx context.Context, r BulkReader, now time.Time) error {
	start := s.next()
	users, link, err := s.readUsers(ctx, r)
	if err != nil {
		return s.fail(err, now)
	}
	roles, err := r.ListRoles(ctx, "")
	if err != nil {
		return s.fail(err, now)
	}
	links, err := r.ListUserRoleLinks(ctx)
	if err != nil {
		return s.fail(err, now)
	}
	teams, err := r.ListTeams(ctx)
	if err != nil {
		return s.fail(err, now)
	}
	members, err := r.ListTeamMemberLinks(ctx)
	if err != nil {
		return s.fail(err, now)
	}
	teamRoles, err := r.ListTeamRoleLinks(ctx)
	if err != nil {
		return s.fail(err, now)
	}
	privs, err := r.ListRolePrivilegeLinks(ctx)
	if err != nil {
		return s.fail(err, now)
	}
	s.users, s.byOID, s.byUPN, s.byApp = map[string]*dataverse.SystemUser{}, map[string]string{}, map[string]string{}, map[string]string{}
	s.links, s.roles = map[string]map[string]bool{}, map[string]*dataverse.Role{}
	s.staleAt, s.staleLinks, s.lookedAt = map[string]uint64{}, map[string]bool{}, map[string]uint64{}
	s.usersLink, s.caughtUp = link, start
	s.teams, s.teamMembers, s.teamRoles, s.staleTeams = map[string]*dataverse.Team{}, map[string]map[string]bool{}, map[string]map[string]bool{}, map[string]bool{}
	for i := range users {
		s.putUser(&users[i])
	}
	for i := range roles {
		s.roles[lower(roles[i].ID)] = &roles[i]
	}
	for _, l := range links {
		addLink(s.links, l.UserID, l.RoleID)
	}
	for i := range teams {
		s.teams[lower(teams[i].ID)] = &teams[i]
	}
	for _, l := range members {
		addLink(s.teamMembers, l.TeamID, l.UserID)
	}
	for _, l := range teamRoles {
		addLink(s.teamRoles, l.TeamID, l.RoleID)
	}
	// Every role read has an entry (none: no privileges); a role found since (created after the
	// read) has none, so its privileges are read alone.
	s.rolePrivs, s.staleRoles = map[string][]dataverse.RolePrivilege{}, map[string]bool{}
	for id := range s.roles {
		s.rolePrivs[id] = []dataverse.RolePrivilege{}
	}
	for _, l := range privs {
		if d, ok := l.Depth(); ok {
			id := lower(l.RoleID)
			s.rolePrivs[id] = append(s.rolePrivs[id], dataverse.RolePrivilege{PrivilegeID: lower(l.PrivilegeID), Depth: d})
		}
	}
	s.taken, s.failed, s.err = now, false, nil
	s.takenAt.Store(now.UnixNano())
	s.Requests = pages(len(users)) + pages(len(roles)) + pages(len(links)) + pages(len(teams)) + pages(len(members)) + pages(len(teamRoles)) + pages(len(privs))
	return nil
}

// next is a new mark in the order of writes, looks and catch-ups.
func (s *snapshot) next() uint64 { s.seq++; return s.seq }

// readUsers reads every user: through change tracking when the table has it (a deltaLink for the
// catch-ups to follow), else as a plain paged list.
func (s *snapshot) readUsers(ctx context.Context, r BulkReader) ([]dataverse.SystemUser, string, error) {
	if s.tracking == nil {
		on, err := r.ChangeTrackingEnabled(ctx, "systemuser")
		if err != nil && !errors.Is(err, dataverse.ErrForbidden) && !errors.Is(err, dataverse.ErrNotFound) {
			return nil, "", err
		}
		s.tracking = &on // unreadable metadata (403, 404): read without it
	}
	if *s.tracking {
		d, err := r.TrackUsers(ctx, "")
		switch {
		case err == nil:
			return d.Users, d.Link, nil
		case errors.Is(err, dataverse.ErrBadRequest):
			off := false // turned off since it was read: plain lists from now on
			s.tracking = &off
		default:
			return nil, "", err
		}
	}
	users, err := r.ListUsers(ctx, "")
	return users, "", err
}

// tracked reports whether catch-ups can answer what the snapshot does not know yet.
func (s *snapshot) tracked() bool { return s.usersLink != "" }

// fresh reports whether user id's record in the snapshot can be trusted.
func (s *snapshot) fresh(id string) bool { return s.staleAt[id] <= s.caughtUp }

// catchUp reads what changed in systemusers since the last read (one request, its deltaLink), with
// s.mu held: every reconcile that needs it waits for the one in flight, so a burst of them costs
// one read. A user that arrived has its role links read with the intersect table (a few pages for
// the whole environment) in the same catch-up. An expired token makes the snapshot due for a full
// read.
func (s *snapshot) catchUp(ctx context.Context, r BulkReader) error {
	start := s.next()
	d, err := r.TrackUsers(ctx, s.usersLink)
	if err != nil {
		if errors.Is(err, dataverse.ErrDeltaExpired) {
			s.usersLink, s.taken = "", time.Time{}
		}
		return err
	}
	var arrived []string
	for i := range d.Users {
		id := lower(d.Users[i].ID)
		if s.users[id] == nil {
			arrived = append(arrived, id)
		}
		s.putUser(&d.Users[i])
	}
	for _, id := range d.Deleted {
		s.dropUser(lower(id))
	}
	if len(arrived) > 0 {
		links, err := r.ListUserRoleLinks(ctx)
		byUser := map[string]map[string]bool{}
		if err == nil {
			for _, l := range links {
				addLink(byUser, l.UserID, l.RoleID)
			}
		}
		for _, id := range arrived {
			switch {
			case err != nil:
				s.staleLinks[id] = true
			case byUser[id] != nil:
				s.links[id] = byUser[id]
			default:
				s.links[id] = map[string]bool{}
			}
		}
	}
	s.usersLink, s.caughtUp = d.Link, start
	return nil
}

// dropUser forgets a user deleted in Dataverse, with the index entries its own record made.
func (s *snapshot) dropUser(id string) {
	u := s.users[id]
	if u == nil {
		return
	}
	delete(s.users, id)
	delete(s.links, id)
	for _, e := range []struct {
		index map[string]string
		key   string
	}{{s.byOID, u.AzureActiveDirectoryObjectID}, {s.byUPN, u.DomainName}, {s.byApp, u.ApplicationID}} {
		if e.index[lower(e.key)] == id {
			delete(e.index, lower(e.key))
		}
	}
}

// addLink records the association a–b (ids lower-cased).
func addLink(m map[string]map[string]bool, a, b string) {
	a = lower(a)
	if m[a] == nil {
		m[a] = map[string]bool{}
	}
	m[a][lower(b)] = true
}

// pages is how many 5,000-row pages n rows take (at least one request).
func pages(n int) int { return max(1, (n+4999)/5000) }

func (s *snapshot) putUser(u *dataverse.SystemUser) {
	id := lower(u.ID)
	c := *u
	s.users[id] = &c
	if oid := lower(u.AzureActiveDirectoryObjectID); oid != "" {
		s.byOID[oid] = id
	}
	if upn := lower(u.DomainName); upn != "" {
		s.byUPN[upn] = id
	}
	if u.IsApplicationUser() && u.DeletedState == 0 {
		s.byApp[lower(u.ApplicationID)] = id
	}
}

// user returns a copy of a fresh user found through index (false: not known, or stale).
func (s *snapshot) user(index map[string]string, k string) (*dataverse.SystemUser, bool) {
	id, ok := index[lower(k)]
	if !ok || !s.fresh(id) || s.users[id] == nil {
		return nil, false
	}
	c := *s.users[id]
	return &c, true
}

// snapshotReader answers a target's reads from its environment's snapshot and falls back to the
// Web API for what the snapshot does not know. It is a Reader: comparisons cannot tell the two
// apart, which keeps every kind's compare pure and unchanged.
type snapshotReader struct {
	Reader
	bulk BulkReader // for catch-ups; nil: none (reads alone)
	s    *snapshot
}

// known keeps a user read alone in the snapshot, fresh again; one it did not hold has its role
// links read alone too (they were not in the snapshot's read).
func (r snapshotReader) known(u *dataverse.SystemUser, err error) (*dataverse.SystemUser, error) {
	if err == nil && u != nil && r.s.users != nil {
		r.s.mu.Lock()
		id := lower(u.ID)
		if r.s.users[id] == nil && r.s.links[id] == nil {
			r.s.staleLinks[id] = true
		}
		r.s.putUser(u)
		delete(r.s.staleAt, id)
		r.s.mu.Unlock()
	}
	return u, err
}

// errAbsent is a person the snapshot does not hold, taken as not found.
var errAbsent = fmt.Errorf("%w: not in the environment's snapshot", dataverse.ErrNotFound)

// person answers a lookup of a person (by Entra object id or user name) from the snapshot. A
// record written since is fresh again after a catch-up (change tracking) or read alone. A person
// the snapshot does not hold is taken as absent at the first look without a read — acting on
// that absence is asking addUser, which adds or updates, so a person who arrived meanwhile loses
// nothing — and each later look needs newer information than the one before: a catch-up that
// started after it, or a read alone where the table has no change tracking.
func (r snapshotReader) person(ctx context.Context, kind string, index func(*snapshot) map[string]string, k string, live func() (*dataverse.SystemUser, error)) (*dataverse.SystemUser, error) {
	s := r.s
	s.mu.Lock()
	if s.users == nil || s.failed {
		s.mu.Unlock()
		return r.known(live())
	}
	key := kind + ":" + lower(k)
	id, held := index(s)[lower(k)]
	looked, lookedBefore := s.lookedAt[key]
	needCatchUp := (held && !s.fresh(id)) || (!held && lookedBefore && s.caughtUp < looked)
	if needCatchUp && s.tracked() && r.bulk != nil {
		if err := s.catchUp(ctx, r.bulk); err != nil && !errors.Is(err, dataverse.ErrDeltaExpired) {
			s.mu.Unlock()
			return nil, err
		}
		id, held = index(s)[lower(k)]
	}
	switch {
	case held && s.fresh(id) && s.users[id] != nil:
		delete(s.lookedAt, key)
		u := *s.users[id]
		s.mu.Unlock()
		return &u, nil
	case !held && (!lookedBefore || (s.tracked() && s.caughtUp >= looked)):
		s.lookedAt[key] = s.next()
		s.mu.Unlock()
		return nil, errAbsent
	}
	s.mu.Unlock()
	return r.known(live())
}

// asked notes that addUser was asked for a person: its next look needs newer information.
func (r snapshotReader) asked(oid string) {
	r.s.mu.Lock()
	if r.s.lookedAt != nil {
		r.s.lookedAt["oid:"+lower(oid)] = r.s.next()
	}
	r.s.mu.Unlock()
}

func (r snapshotReader) UserByObjectID(ctx context.Context, oid string) (*dataverse.SystemUser, error) {
	return r.person(ctx, "oid", func(s *snapshot) map[string]string { return s.byOID }, oid, func() (*dataverse.SystemUser, error) { return r.Reader.UserByObjectID(ctx, oid) })
}

func (r snapshotReader) UserByDomainName(ctx context.Context, upn string) (*dataverse.SystemUser, error) {
	return r.person(ctx, "upn", func(s *snapshot) map[string]string { return s.byUPN }, upn, func() (*dataverse.SystemUser, error) { return r.Reader.UserByDomainName(ctx, upn) })
}

// lookup answers an application user or a user by id from the snapshot when it holds it fresh,
// else reads it alone: an absence is never taken from the snapshot here, as acting on it would
// create a record (a second application user after a create whose answer was lost).
func (r snapshotReader) lookup(index func(*snapshot) map[string]string, k string, live func() (*dataverse.SystemUser, error)) (*dataverse.SystemUser, error) {
	r.s.mu.Lock()
	if r.s.users != nil && !r.s.failed {
		if u, ok := r.s.user(index(r.s), k); ok {
			r.s.mu.Unlock()
			return u, nil
		}
	}
	r.s.mu.Unlock()
	return r.known(live())
}

func (r snapshotReader) UserByApplicationID(ctx context.Context, appID string) (*dataverse.SystemUser, error) {
	return r.lookup(func(s *snapshot) map[string]string { return s.byApp }, appID, func() (*dataverse.SystemUser, error) { return r.Reader.UserByApplicationID(ctx, appID) })
}

func (r snapshotReader) GetUser(ctx context.Context, id string) (*dataverse.SystemUser, error) {
	return r.lookup(func(s *snapshot) map[string]string { return map[string]string{lower(id): lower(id)} }, id, func() (*dataverse.SystemUser, error) { return r.Reader.GetUser(ctx, id) })
}

// UserRoles answers from the links when the user and every role it holds are known.
func (r snapshotReader) UserRoles(ctx context.Context, userID string) ([]dataverse.Role, error) {
	id := lower(userID)
	r.s.mu.Lock()
	if r.s.users != nil && !r.s.failed && r.s.users[id] != nil && !r.s.staleLinks[id] {
		out, complete := []dataverse.Role{}, true
		for roleID := range r.s.links[id] {
			role := r.s.roles[roleID]
			if role == nil {
				complete = false
				break
			}
			out = append(out, *role)
		}
		if complete {
			r.s.mu.Unlock()
			return out, nil
		}
	}
	r.s.mu.Unlock()
	roles, err := r.Reader.UserRoles(ctx, userID)
	if err == nil {
		r.s.mu.Lock()
		if r.s.links != nil {
			set := map[string]bool{}
			for i := range roles {
				set[lower(roles[i].ID)] = true
				c := roles[i]
				r.s.roles[lower(c.ID)] = &c
			}
			r.s.links[id] = set
			delete(r.s.staleLinks, id)
		}
		r.s.mu.Unlock()
	}
	return roles, err
}

// staleUser makes the next read of a user need newer information (a catch-up, or a read alone):
// the service is changing its record itself.
func (r snapshotReader) staleUser(id string) { markStale(r.s, id) }

func markStale(s *snapshot, id string) {
	s.mu.Lock()
	if s.staleAt != nil {
		s.staleAt[lower(id)] = s.next()
	}
	s.mu.Unlock()
}

// RoleByName answers from the roles read; a role not among them is looked for alone (it may have
// been created since).
func (r snapshotReader) RoleByName(ctx context.Context, name, businessUnitID string) (*dataverse.Role, error) {
	bu := lower(businessUnitID)
	r.s.mu.Lock()
	if r.s.roles != nil && !r.s.failed {
		for _, role := range r.s.roles {
			if role.Name == name && lower(role.BusinessUnitID) == bu {
				c := *role
				r.s.mu.Unlock()
				return &c, nil
			}
		}
	}
	r.s.mu.Unlock()
	role, err := r.Reader.RoleByName(ctx, name, businessUnitID)
	if err == nil && role != nil {
		r.s.mu.Lock()
		if r.s.roles != nil {
			c := *role
			r.s.roles[lower(c.ID)] = &c
		}
		r.s.mu.Unlock()
	}
	return role, err
}

// snapshotWriter keeps the snapshot up to date with the writes made: an association is recorded,
// a record written is read alone next time (its ETag and fields changed), a record deleted is
// forgotten.
type snapshotWriter struct {
	Writer
	s *snapshot
}

func (w snapshotWriter) link(userID, roleID string, on bool) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.s.links == nil {
		return
	}
	u := lower(userID)
	if w.s.links[u] == nil {
		w.s.links[u] = map[string]bool{}
	}
	if on {
		w.s.links[u][lower(roleID)] = true
	} else {
		delete(w.s.links[u], lower(roleID))
	}
}

// staleUser: a record written has a new version and ETag (or an unknown outcome).
func (w snapshotWriter) staleUser(id string) { markStale(w.s, id) }

// staleLinks: an association whose outcome is unknown; the user's roles are read alone next.
func (w snapshotWriter) staleLinks(id string) {
	w.s.mu.Lock()
	if w.s.staleLinks != nil {
		w.s.staleLinks[lower(id)] = true
	}
	w.s.mu.Unlock()
}

func (w snapshotWriter) AssignUserRole(ctx context.Context, userID, roleID string) error {
	err := w.Writer.AssignUserRole(ctx, userID, roleID)
	if err == nil {
		w.link(userID, roleID, true)
	} else {
		w.staleLinks(userID) // the outcome may be unknown: read its roles alone next time
	}
	return err
}

func (w snapshotWriter) UnassignUserRole(ctx context.Context, userID, roleID string) error {
	err := w.Writer.UnassignUserRole(ctx, userID, roleID)
	if err == nil {
		w.link(userID, roleID, false)
	} else {
		w.staleLinks(userID)
	}
	return err
}

func (w snapshotWriter) UpdateUser(ctx context.Context, id, etag string, p dataverse.UserPatch) error {
	err := w.Writer.UpdateUser(ctx, id, etag, p)
	w.staleUser(id) // a new version and ETag, or an unknown outcome
	return err
}

func (w snapshotWriter) DeleteApplicationUser(ctx context.Context, id string) error {
	err := w.Writer.DeleteApplicationUser(ctx, id)
	w.staleUser(id)
	return err
}

func (w snapshotWriter) DeleteRole(ctx context.Context, id string) error {
	err := w.Writer.DeleteRole(ctx, id)
	w.s.mu.Lock()
	if w.s.roles != nil {
		delete(w.s.roles, lower(id))
	}
	w.s.mu.Unlock()
	return err
}

// --- teams ---

// team is a copy of a team the snapshot knows (not written since), or false.
func (s *snapshot) team(match func(*dataverse.Team) bool) (*dataverse.Team, bool) {
	if s.teams == nil || s.failed {
		return nil, false
	}
	for id, t := range s.teams {
		if !s.staleTeams[id] && match(t) {
			c := *t
			return &c, true
		}
	}
	return nil, false
}

// keepTeam puts a team read alone into the snapshot, fresh again.
func (r snapshotReader) keepTeam(t *dataverse.Team, err error) (*dataverse.Team, error) {
	if err == nil && t != nil {
		r.s.mu.Lock()
		if r.s.teams != nil {
			c := *t
			r.s.teams[lower(t.ID)] = &c
		}
		r.s.mu.Unlock()
	}
	return t, err
}

// TeamByName answers from the teams read; one not among them (created since) is looked for alone.
func (r snapshotReader) TeamByName(ctx context.Context, name, businessUnitID string) (*dataverse.Team, error) {
	bu := lower(businessUnitID)
	r.s.mu.Lock()
	t, ok := r.s.team(func(t *dataverse.Team) bool { return t.Name == name && lower(t.BusinessUnitID) == bu })
	r.s.mu.Unlock()
	if ok {
		return t, nil
	}
	return r.keepTeam(r.Reader.TeamByName(ctx, name, businessUnitID))
}

// TeamByGroup answers from the teams read, as TeamByName.
func (r snapshotReader) TeamByGroup(ctx context.Context, groupObjectID string, mt dataverse.MembershipType) (*dataverse.Team, error) {
	g := lower(groupObjectID)
	r.s.mu.Lock()
	t, ok := r.s.team(func(t *dataverse.Team) bool {
		return lower(t.AzureActiveDirectoryObjectID) == g && t.MembershipType == mt
	})
	r.s.mu.Unlock()
	if ok {
		return t, nil
	}
	return r.keepTeam(r.Reader.TeamByGroup(ctx, groupObjectID, mt))
}

// teamLinks answers a team's members or roles from the snapshot when the team is known and not
// written since; else reads them alone and keeps them.
func (r snapshotReader) teamLinks(teamID string, links func(*snapshot) map[string]map[string]bool, live func() ([]string, error)) ([]string, error) {
	id := lower(teamID)
	r.s.mu.Lock()
	if r.s.teams != nil && !r.s.failed && r.s.teams[id] != nil && !r.s.staleTeams[id] {
		out := []string{}
		for other := range links(r.s)[id] {
			out = append(out, other)
		}
		r.s.mu.Unlock()
		sort.Strings(out)
		return out, nil
	}
	r.s.mu.Unlock()
	ids, err := live()
	if err == nil {
		r.s.mu.Lock()
		if m := links(r.s); m != nil {
			set := map[string]bool{}
			for _, other := range ids {
				set[lower(other)] = true
			}
			m[id] = set
		}
		r.s.mu.Unlock()
	}
	return ids, err
}

func (r snapshotReader) TeamMembers(ctx context.Context, teamID string) ([]string, error) {
	return r.teamLinks(teamID, func(s *snapshot) map[string]map[string]bool { return s.teamMembers }, func() ([]string, error) {
		return r.Reader.TeamMembers(ctx, teamID)
	})
}

// TeamRoles answers from the links when every role the team holds is known.
func (r snapshotReader) TeamRoles(ctx context.Context, teamID string) ([]dataverse.Role, error) {
	id := lower(teamID)
	r.s.mu.Lock()
	if r.s.teams != nil && !r.s.failed && r.s.teams[id] != nil && !r.s.staleTeams[id] {
		out, complete := []dataverse.Role{}, true
		for roleID := range r.s.teamRoles[id] {
			role := r.s.roles[roleID]
			if role == nil {
				complete = false
				break
			}
			out = append(out, *role)
		}
		if complete {
			r.s.mu.Unlock()
			sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
			return out, nil
		}
	}
	r.s.mu.Unlock()
	roles, err := r.Reader.TeamRoles(ctx, teamID)
	if err == nil {
		r.s.mu.Lock()
		if r.s.teamRoles != nil {
			set := map[string]bool{}
			for i := range roles {
				set[lower(roles[i].ID)] = true
				c := roles[i]
				r.s.roles[lower(c.ID)] = &c
			}
			r.s.teamRoles[id] = set
		}
		r.s.mu.Unlock()
	}
	return roles, err
}

// staleTeam makes the next read of a team and its links go to the Web API.
func (w snapshotWriter) staleTeam(id string) {
	w.s.mu.Lock()
	if w.s.staleTeams != nil {
		w.s.staleTeams[lower(id)] = true
	}
	w.s.mu.Unlock()
}

// teamLink records a team's member or role added or removed by a write that succeeded.
func (w snapshotWriter) teamLink(links func(*snapshot) map[string]map[string]bool, teamID string, others []string, on bool) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	m := links(w.s)
	if m == nil {
		return
	}
	t := lower(teamID)
	if m[t] == nil {
		m[t] = map[string]bool{}
	}
	for _, o := range others {
		if on {
			m[t][lower(o)] = true
		} else {
			delete(m[t], lower(o))
		}
	}
}

func members(s *snapshot) map[string]map[string]bool     { return s.teamMembers }
func teamRoleSet(s *snapshot) map[string]map[string]bool { return s.teamRoles }

func (w snapshotWriter) AddTeamMembers(ctx context.Context, teamID string, userIDs ...string) error {
	err := w.Writer.AddTeamMembers(ctx, teamID, userIDs...)
	if err == nil {
		w.teamLink(members, teamID, userIDs, true)
	} else {
		w.staleTeam(teamID) // the outcome may be unknown: read its members alone next time
	}
	return err
}

func (w snapshotWriter) RemoveTeamMembers(ctx context.Context, teamID string, userIDs ...string) error {
	err := w.Writer.RemoveTeamMembers(ctx, teamID, userIDs...)
	if err == nil {
		w.teamLink(members, teamID, userIDs, false)
	} else {
		w.staleTeam(teamID)
	}
	return err
}

func (w snapshotWriter) AssignTeamRole(ctx context.Context, teamID, roleID string) error {
	err := w.Writer.AssignTeamRole(ctx, teamID, roleID)
	if err == nil {
		w.teamLink(teamRoleSet, teamID, []string{roleID}, true)
	} else {
		w.staleTeam(teamID)
	}
	return err
}

func (w snapshotWriter) UnassignTeamRole(ctx context.Context, teamID, roleID string) error {
	err := w.Writer.UnassignTeamRole(ctx, teamID, roleID)
	if err == nil {
		w.teamLink(teamRoleSet, teamID, []string{roleID}, false)
	} else {
		w.staleTeam(teamID)
	}
	return err
}

func (w snapshotWriter) DeleteTeam(ctx context.Context, id string) error {
	err := w.Writer.DeleteTeam(ctx, id)
	w.s.mu.Lock()
	if w.s.teams != nil {
		delete(w.s.teams, lower(id))
	}
	w.s.mu.Unlock()
	return err
}

// --- role privileges ---

// RolePrivileges answers from the privileges read when the role is known and its privileges were
// not written since with an unknown outcome; else reads them alone (RetrieveRolePrivilegesRole)
// and keeps them.
func (r snapshotReader) RolePrivileges(ctx context.Context, roleID string) ([]dataverse.RolePrivilege, error) {
	id := lower(roleID)
	r.s.mu.Lock()
	if known, ok := r.s.rolePrivs[id]; ok && !r.s.failed && !r.s.staleRoles[id] {
		out := append([]dataverse.RolePrivilege{}, known...)
		r.s.mu.Unlock()
		return out, nil
	}
	r.s.mu.Unlock()
	privs, err := r.Reader.RolePrivileges(ctx, roleID)
	if err == nil {
		r.s.mu.Lock()
		if r.s.rolePrivs != nil {
			r.s.rolePrivs[id] = keptPrivileges(privs)
			delete(r.s.staleRoles, id)
		}
		r.s.mu.Unlock()
	}
	return privs, err
}

// keptPrivileges are privileges as the snapshot keeps them: id and depth only (what compare reads).
func keptPrivileges(privs []dataverse.RolePrivilege) []dataverse.RolePrivilege {
	out := make([]dataverse.RolePrivilege, len(privs))
	for i, p := range privs {
		out[i] = dataverse.RolePrivilege{PrivilegeID: lower(p.PrivilegeID), Depth: p.Depth}
	}
	return out
}

// ReplacePrivileges records what the role holds after a replacement that succeeded; after a
// failure (its outcome may be unknown) the role's privileges are read alone next.
func (w snapshotWriter) ReplacePrivileges(ctx context.Context, roleID string, privs []dataverse.RolePrivilege) error {
	err := w.Writer.ReplacePrivileges(ctx, roleID, privs)
	id := lower(roleID)
	w.s.mu.Lock()
	if w.s.rolePrivs != nil {
		if err == nil {
			w.s.rolePrivs[id] = keptPrivileges(privs)
		} else {
			w.s.staleRoles[id] = true
		}
	}
	w.s.mu.Unlock()
	return err
}
