package emulator

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// The tenant directory: one emulated Microsoft Entra ID tenant shared by every environment, served
// through Microsoft Graph (graph.go) and followed by each environment's Dataverse (entrasync.go).
// docs/design.md, "Entra ID target (Microsoft Graph)", lists the facts it follows.

// DefaultGraphPermissions are the application permissions an app registration holds unless
// Config.AppPermissions or SetAppPermissions says otherwise: what the operator needs to observe and
// to manage membership and licenses (docs/design.md, "Entra ID target": least privilege).
var DefaultGraphPermissions = []string{"User.Read.All", "GroupMember.ReadWrite.All", "Organization.Read.All", "LicenseAssignment.ReadWrite.All"}

// AssignedLicense is Graph's assignedLicense: a SKU and the service plans disabled in it.
type AssignedLicense struct {
	SkuID         string   `json:"skuId"`
	DisabledPlans []string `json:"disabledPlans"`
	// SkuPartNumber, in a seed or a control call only, names the SKU instead of SkuID.
	SkuPartNumber string `json:"skuPartNumber,omitempty"`
}

// DirectoryUser is a person in the tenant directory, as a seed gives it.
type DirectoryUser struct {
	ID                string `json:"id,omitempty"` // object id; default: derived from the user principal name
	UserPrincipalName string `json:"userPrincipalName"`
	DisplayName       string `json:"displayName,omitempty"` // default: given name and surname
	GivenName         string `json:"givenName,omitempty"`
	Surname           string `json:"surname,omitempty"`
	// AccountEnabled is whether sign-in is allowed (nil: true).
	AccountEnabled *bool  `json:"accountEnabled,omitempty"`
	UsageLocation  string `json:"usageLocation,omitempty"` // two letters; none: no direct license can be assigned
	// AssignedLicenses are the licenses assigned directly (those inherited from groups come from
	// the groups). A seed is not held to the tenant's units.
	AssignedLicenses []AssignedLicense `json:"assignedLicenses,omitempty"`
}

// DirectoryGroup is a group in the tenant directory.
type DirectoryGroup struct {
	ID              string `json:"id,omitempty"` // default: derived from the display name
	DisplayName     string `json:"displayName"`
	Description     string `json:"description,omitempty"`
	SecurityEnabled *bool  `json:"securityEnabled,omitempty"` // nil: true
	MailEnabled     bool   `json:"mailEnabled,omitempty"`
	// Members are the direct members: object ids, users' principal names or other groups' display
	// names (a nested group's members are not this group's direct members).
	Members []string `json:"members,omitempty"`
	// AssignedLicenses flow to the group's direct user members (group-based licensing).
	AssignedLicenses []AssignedLicense `json:"assignedLicenses,omitempty"`
}

// PrepaidUnits is Graph's licenseUnitsDetail.
type PrepaidUnits struct {
	Enabled   int `json:"enabled"`
	Suspended int `json:"suspended"`
	Warning   int `json:"warning"`
	LockedOut int `json:"lockedOut"`
}

// SubscribedSku is a commercial subscription of the tenant; its consumed units are computed from
// the licenses people hold.
type SubscribedSku struct {
	SkuID         string       `json:"skuId,omitempty"` // default: derived from the part number
	SkuPartNumber string       `json:"skuPartNumber"`
	PrepaidUnits  PrepaidUnits `json:"prepaidUnits"`
}

// DirectorySeed is the JSON a directory is seeded from (Config.Directory, --entra-directory,
// POST /_emulator/directory). Every part is optional; entries replace those with the same id.
type DirectorySeed struct {
	SubscribedSkus []SubscribedSku  `json:"subscribedSkus,omitempty"`
	Users          []DirectoryUser  `json:"users,omitempty"`
	Groups         []DirectoryGroup `json:"groups,omitempty"`
	// AppPermissions: client id to the application permissions it holds (replacing the default).
	AppPermissions map[string][]string `json:"appPermissions,omitempty"`
}

// ReadDirectorySeed reads a DirectorySeed from a JSON file.
func ReadDirectorySeed(path string) (*DirectorySeed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s DirectorySeed
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// --- the directory itself ---

type dirUser struct {
	id, upn, displayName, givenName, surname, usageLocation string
	enabled                                                 bool
	direct                                                  []AssignedLicense // skuId lower-case
}

type dirGroup struct {
	id, displayName, description string
	security, mail               bool
	members                      map[string]int64 // member object id -> order it was added
	licenses                     []AssignedLicense
}

type dirSku struct {
	id, part string
	units    PrepaidUnits
}

type directory struct {
	users   map[string]*dirUser  // by object id
	upns    map[string]string    // lower-case UPN -> object id
	groups  map[string]*dirGroup // by object id
	skus    map[string]*dirSku   // by skuId
	deleted map[string]bool      // users deleted from the directory (Dataverse disables them)
	seq     int64                // membership order, for who keeps a group-assigned unit
	version int64
	view    *licenseView
	// permissions by lower-case client id; absent: DefaultGraphPermissions.
	perms map[string][]string
	// Graph write limit bookkeeping, by client id.
	writes map[string][]time.Time
}

func newDirectory() *directory {
	return &directory{users: map[string]*dirUser{}, upns: map[string]string{}, groups: map[string]*dirGroup{},
		skus: map[string]*dirSku{}, deleted: map[string]bool{}, perms: map[string][]string{}, writes: map[string][]time.Time{}}
}

func (d *directory) changed() { d.version++; d.view = nil }

func (d *directory) user(idOrUPN string) *dirUser {
	k := strings.ToLower(idOrUPN)
	if u := d.users[k]; u != nil {
		return u
	}
	return d.users[d.upns[k]]
}

func (d *directory) skuByPart(part string) *dirSku {
	for _, s := range d.skus {
		if strings.EqualFold(s.part, part) {
			return s
		}
	}
	return nil
}

// normLicenses resolves part numbers, lower-cases ids and checks the SKUs exist.
func (d *directory) normLicenses(in []AssignedLicense) ([]AssignedLicense, error) {
	out := make([]AssignedLicense, 0, len(in))
	seen := map[string]bool{}
	for _, l := range in {
		id := strings.ToLower(l.SkuID)
		if id == "" && l.SkuPartNumber != "" {
			s := d.skuByPart(l.SkuPartNumber)
			if s == nil {
				return nil, envErr("no subscribed SKU with part number " + l.SkuPartNumber)
			}
			id = s.id
		}
		if d.skus[id] == nil {
			return nil, envErr("no subscribed SKU " + l.SkuID)
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		plans := []string{}
		for _, p := range l.DisabledPlans {
			plans = append(plans, strings.ToLower(p))
		}
		out = append(out, AssignedLicense{SkuID: id, DisabledPlans: plans})
	}
	return out, nil
}

func (d *directory) addSku(s SubscribedSku) (string, error) {
	if strings.TrimSpace(s.SkuPartNumber) == "" {
		return "", envErr("skuPartNumber is required")
	}
	id := strings.ToLower(s.SkuID)
	if id == "" {
		id = nameGUID("entra-sku/" + strings.ToLower(s.SkuPartNumber))
	}
	if !guidRE.MatchString(id) {
		return "", envErr("skuId must be a GUID")
	}
	if o := d.skuByPart(s.SkuPartNumber); o != nil && o.id != id {
		return "", envErr("another SKU has part number " + s.SkuPartNumber)
	}
	d.skus[id] = &dirSku{id: id, part: s.SkuPartNumber, units: s.PrepaidUnits}
	d.changed()
	return id, nil
}

func (d *directory) addUser(u DirectoryUser) (string, error) {
	if !strings.Contains(u.UserPrincipalName, "@") {
		return "", envErr("userPrincipalName must be name@domain")
	}
	id := strings.ToLower(u.ID)
	if id == "" {
		id = nameGUID("entra-user/" + strings.ToLower(u.UserPrincipalName))
	}
	if !guidRE.MatchString(id) {
		return "", envErr("id must be a GUID")
	}
	if other, ok := d.upns[strings.ToLower(u.UserPrincipalName)]; ok && other != id {
		return "", envErr("another user has userPrincipalName " + u.UserPrincipalName)
	}
	if d.groups[id] != nil {
		return "", envErr("a group has object id " + id)
	}
	lic, err := d.normLicenses(u.AssignedLicenses)
	if err != nil {
		return "", err
	}
	if old := d.users[id]; old != nil {
		delete(d.upns, strings.ToLower(old.upn))
	}
	name := u.DisplayName
	if name == "" {
		name = strings.TrimSpace(u.GivenName + " " + u.Surname)
	}
	if name == "" {
		name = u.UserPrincipalName[:strings.Index(u.UserPrincipalName, "@")]
	}
	d.users[id] = &dirUser{id: id, upn: u.UserPrincipalName, displayName: name, givenName: u.GivenName, surname: u.Surname,
		usageLocation: u.UsageLocation, enabled: u.AccountEnabled == nil || *u.AccountEnabled, direct: lic}
	d.upns[strings.ToLower(u.UserPrincipalName)] = id
	delete(d.deleted, id)
	d.changed()
	return id, nil
}

// deleteUser removes a person and its memberships; Dataverse disables its record at the next sync.
func (d *directory) deleteUser(id string) error {
	u := d.user(id)
	if u == nil {
		return envErr("no user " + id)
	}
	delete(d.users, u.id)
	delete(d.upns, strings.ToLower(u.upn))
	for _, g := range d.groups {
		delete(g.members, u.id)
	}
	d.deleted[u.id] = true
	d.changed()
	return nil
}

func (d *directory) deleteGroup(id string) {
	delete(d.groups, id)
	for _, g := range d.groups {
		delete(g.members, id)
	}
	d.changed()
}

func (d *directory) addGroup(g DirectoryGroup) (string, error) {
	if strings.TrimSpace(g.DisplayName) == "" {
		return "", envErr("displayName is required")
	}
	id := strings.ToLower(g.ID)
	if id == "" {
		id = nameGUID("entra-group/" + strings.ToLower(g.DisplayName))
	}
	if !guidRE.MatchString(id) {
		return "", envErr("id must be a GUID")
	}
	if d.users[id] != nil {
		return "", envErr("a user has object id " + id)
	}
	lic, err := d.normLicenses(g.AssignedLicenses)
	if err != nil {
		return "", err
	}
	ng := &dirGroup{id: id, displayName: g.DisplayName, description: g.Description,
		security: g.SecurityEnabled == nil || *g.SecurityEnabled, mail: g.MailEnabled, members: map[string]int64{}, licenses: lic}
	if old := d.groups[id]; old != nil {
		ng.members = old.members
	}
	d.groups[id] = ng
	d.changed()
	return id, nil
}

// resolveMember finds a directory object by id, user principal name or group display name.
func (d *directory) resolveMember(ref string) (string, error) {
	k := strings.ToLower(ref)
	if d.users[k] != nil || d.groups[k] != nil {
		return k, nil
	}
	if id, ok := d.upns[k]; ok {
		return id, nil
	}
	var found []string
	for _, g := range d.groups {
		if strings.EqualFold(g.displayName, ref) {
			found = append(found, g.id)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", envErr("no user or group " + ref)
	}
	return "", envErr("several groups are named " + ref)
}

func (d *directory) addMember(groupID, member string) error {
	g := d.groups[strings.ToLower(groupID)]
	if g == nil {
		return envErr("no group " + groupID)
	}
	id, err := d.resolveMember(member)
	if err != nil {
		return err
	}
	if id == g.id {
		return envErr("a group cannot be a member of itself")
	}
	if _, ok := g.members[id]; !ok {
		d.seq++
		g.members[id] = d.seq
		d.changed()
	}
	return nil
}

func (d *directory) removeMember(groupID, member string) error {
	g := d.groups[strings.ToLower(groupID)]
	if g == nil {
		return envErr("no group " + groupID)
	}
	id, err := d.resolveMember(member)
	if err != nil {
		return err
	}
	delete(g.members, id)
	d.changed()
	return nil
}

// seed merges a seed: SKUs, then users, then groups (all created before any membership, so a
// group may list a group defined after it).
func (d *directory) seed(s DirectorySeed) error {
	for _, k := range s.SubscribedSkus {
		if _, err := d.addSku(k); err != nil {
			return fmt.Errorf("subscribedSku %s: %w", k.SkuPartNumber, err)
		}
	}
	for _, u := range s.Users {
		if _, err := d.addUser(u); err != nil {
			return fmt.Errorf("user %s: %w", u.UserPrincipalName, err)
		}
	}
	ids := make([]string, len(s.Groups))
	for i, g := range s.Groups {
		id, err := d.addGroup(g)
		if err != nil {
			return fmt.Errorf("group %s: %w", g.DisplayName, err)
		}
		ids[i] = id
	}
	for i, g := range s.Groups {
		for _, m := range g.Members {
			if err := d.addMember(ids[i], m); err != nil {
				return fmt.Errorf("group %s: member %s: %w", g.DisplayName, m, err)
			}
		}
	}
	for c, p := range s.AppPermissions {
		d.perms[strings.ToLower(c)] = append([]string{}, p...)
	}
	return nil
}

// --- licenses: direct and inherited, units consumed ---

type licState struct {
	sku, byGroup string // byGroup "": assigned directly
	active       bool
}

type licenseView struct {
	states   map[string][]licState // user -> states, by SKU then direct first then group id
	active   map[string]map[string]bool
	consumed map[string]int // sku -> units consumed
}

// licenses computes who holds which license. A person holds a SKU directly or through a group
// that has it and of which the person is a direct member: group-based licensing applies a nested
// group's licenses to its first-level user members only (Microsoft Entra ID, "What is group-based
// licensing": nested groups are not supported). One unit per person and SKU however many paths
// lead to it. Direct assignments are refused when no unit is left (assignLicense), so they are
// always active; group assignments beyond the enabled units are in error (licenseAssignmentState
// state "Error", error "CountViolation"), the members who joined last first.
func (d *directory) licenses() *licenseView {
	if d.view != nil {
		return d.view
	}
	v := &licenseView{states: map[string][]licState{}, active: map[string]map[string]bool{}, consumed: map[string]int{}}
	groupIDs := make([]string, 0, len(d.groups))
	for id := range d.groups {
		groupIDs = append(groupIDs, id)
	}
	sort.Strings(groupIDs)
	for _, sku := range d.skus {
		direct := map[string]bool{}
		for id, u := range d.users {
			for _, l := range u.direct {
				if l.SkuID == sku.id {
					direct[id] = true
				}
			}
		}
		// Group-only holders, in the order they joined a group licensing the SKU.
		joined := map[string]int64{}
		for _, g := range d.groups {
			if !hasSku(g.licenses, sku.id) {
				continue
			}
			for m, at := range g.members {
				if d.users[m] == nil || direct[m] {
					continue
				}
				if old, ok := joined[m]; !ok || at < old {
					joined[m] = at
				}
			}
		}
		waiting := make([]string, 0, len(joined))
		for m := range joined {
			waiting = append(waiting, m)
		}
		sort.Slice(waiting, func(i, j int) bool {
			if joined[waiting[i]] != joined[waiting[j]] {
				return joined[waiting[i]] < joined[waiting[j]]
			}
			return waiting[i] < waiting[j]
		})
		free := max(sku.units.Enabled-len(direct), 0)
		holders := map[string]bool{}
		for id := range direct {
			holders[id] = true
		}
		for i, m := range waiting {
			if i < free {
				holders[m] = true
			}
		}
		v.consumed[sku.id] = len(holders)
		for id := range holders {
			if v.active[id] == nil {
				v.active[id] = map[string]bool{}
			}
			v.active[id][sku.id] = true
		}
		for id := range direct {
			v.states[id] = append(v.states[id], licState{sku: sku.id, active: true})
		}
		for _, gid := range groupIDs {
			g := d.groups[gid]
			if !hasSku(g.licenses, sku.id) {
				continue
			}
			for m := range g.members {
				if d.users[m] != nil {
					v.states[m] = append(v.states[m], licState{sku: sku.id, byGroup: gid, active: holders[m]})
				}
			}
		}
	}
	for _, s := range v.states {
		sort.SliceStable(s, func(i, j int) bool {
			if s[i].sku != s[j].sku {
				return s[i].sku < s[j].sku
			}
			return s[i].byGroup < s[j].byGroup
		})
	}
	d.view = v
	return v
}

func hasSku(list []AssignedLicense, sku string) bool {
	for _, l := range list {
		if l.SkuID == sku {
			return true
		}
	}
	return false
}

// assigned is a user's assignedLicenses: every SKU it holds, directly or through a group, once
// (Graph: "assignedLicenses includes licenses inherited from groups"; docs/design.md).
func (d *directory) assigned(u *dirUser) []AssignedLicense {
	v := d.licenses()
	out := []AssignedLicense{}
	for _, s := range v.states[u.id] {
		if !s.active || hasSku(out, s.sku) {
			continue
		}
		plans := []string{}
		src := u.direct
		if s.byGroup != "" {
			src = d.groups[s.byGroup].licenses
		}
		for _, l := range src {
			if l.SkuID == s.sku {
				plans = append(plans, l.DisabledPlans...)
			}
		}
		out = append(out, AssignedLicense{SkuID: s.sku, DisabledPlans: plans})
	}
	return out
}

// licensed: the person holds at least one license.
func (d *directory) licensed(id string) bool { return len(d.licenses().active[id]) > 0 }

func (d *directory) directMember(groupID, objectID string) bool {
	g := d.groups[strings.ToLower(groupID)]
	if g == nil {
		return false
	}
	_, ok := g.members[strings.ToLower(objectID)]
	return ok
}

// --- permissions ---

func (d *directory) permissions(clientID string) []string {
	if p, ok := d.perms[strings.ToLower(clientID)]; ok {
		return p
	}
	return DefaultGraphPermissions
}

// holds says whether any of the permissions is granted; a ReadWrite permission includes its
// Read one (Microsoft Graph permissions reference: GroupMember.ReadWrite.All "allows the app to
// list groups, read basic properties, read and update the membership").
func holds(granted []string, anyOf ...string) bool {
	for _, g := range granted {
		for _, want := range anyOf {
			if strings.EqualFold(g, want) || strings.EqualFold(strings.Replace(g, ".ReadWrite.", ".Read.", 1), want) {
				return true
			}
		}
	}
	return false
}

// --- the Go API: seeding and edits behind the operator's back ---

// SeedDirectory merges a seed into the tenant directory.
func (e *Emulator) SeedDirectory(s DirectorySeed) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dir.seed(s)
}

// ResetDirectory empties the tenant directory (people, groups, SKUs; permissions back to the default).
func (e *Emulator) ResetDirectory() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dir = newDirectory()
}

// AddEntraUser adds (or replaces, by object id) a person in the tenant directory and returns its
// object id. Dataverse learns of it at addUser or at its background sync, not at once.
func (e *Emulator) AddEntraUser(u DirectoryUser) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dir.addUser(u)
}

// DeleteEntraUser deletes a person from the tenant directory (and from its groups).
func (e *Emulator) DeleteEntraUser(idOrUPN string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dir.deleteUser(idOrUPN)
}

// SetAccountEnabled allows or blocks a person's sign-in.
func (e *Emulator) SetAccountEnabled(idOrUPN string, enabled bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.dir.user(idOrUPN)
	if u == nil {
		return envErr("no user " + idOrUPN)
	}
	u.enabled = enabled
	e.dir.changed()
	return nil
}

// SetUsageLocation sets (or, with "", clears) a person's usage location.
func (e *Emulator) SetUsageLocation(idOrUPN, location string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.dir.user(idOrUPN)
	if u == nil {
		return envErr("no user " + idOrUPN)
	}
	u.usageLocation = location
	e.dir.changed()
	return nil
}

// SetDirectLicenses replaces a person's directly assigned licenses, as another admin would, without
// assignLicense's checks (usage location, units).
func (e *Emulator) SetDirectLicenses(idOrUPN string, licenses []AssignedLicense) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.dir.user(idOrUPN)
	if u == nil {
		return envErr("no user " + idOrUPN)
	}
	l, err := e.dir.normLicenses(licenses)
	if err != nil {
		return err
	}
	u.direct = l
	e.dir.changed()
	return nil
}

// AddGroup adds (or replaces, keeping its members) a group and returns its object id; the
// group's Members are added to those it has.
func (e *Emulator) AddGroup(g DirectoryGroup) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, err := e.dir.addGroup(g)
	if err != nil {
		return "", err
	}
	for _, m := range g.Members {
		if err := e.dir.addMember(id, m); err != nil {
			return "", err
		}
	}
	return id, nil
}

// AddGroupMember makes a user or group (by id, user principal name or group display name) a
// direct member of a group; already one is no error.
func (e *Emulator) AddGroupMember(groupID, member string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dir.addMember(groupID, member)
}

// RemoveGroupMember removes a direct member of a group; not one is no error.
func (e *Emulator) RemoveGroupMember(groupID, member string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dir.removeMember(groupID, member)
}

// SetGroupLicenses replaces the licenses a group assigns to its direct user members.
func (e *Emulator) SetGroupLicenses(groupID string, licenses []AssignedLicense) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.dir.groups[strings.ToLower(groupID)]
	if g == nil {
		return envErr("no group " + groupID)
	}
	l, err := e.dir.normLicenses(licenses)
	if err != nil {
		return err
	}
	g.licenses = l
	e.dir.changed()
	return nil
}

// AddSku adds (or replaces) a subscribed SKU and returns its skuId.
func (e *Emulator) AddSku(s SubscribedSku) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dir.addSku(s)
}

// SetSkuUnits changes a SKU's prepaid units (by skuId or part number).
func (e *Emulator) SetSkuUnits(skuIDOrPart string, units PrepaidUnits) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.dir.skus[strings.ToLower(skuIDOrPart)]
	if s == nil {
		s = e.dir.skuByPart(skuIDOrPart)
	}
	if s == nil {
		return envErr("no subscribed SKU " + skuIDOrPart)
	}
	s.units = units
	e.dir.changed()
	return nil
}

// SetAppPermissions sets the application permissions an app registration (client id; the static
// tokens act as OperatorApplicationID) holds in Graph; nil restores DefaultGraphPermissions.
func (e *Emulator) SetAppPermissions(clientID string, permissions []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if permissions == nil {
		delete(e.dir.perms, strings.ToLower(clientID))
		return
	}
	e.dir.perms[strings.ToLower(clientID)] = append([]string{}, permissions...)
}

// AppPermissions returns the application permissions a client id holds.
func (e *Emulator) AppPermissions(clientID string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string{}, e.dir.permissions(clientID)...)
}

// --- the dump ---

// DirectoryDump is the tenant directory as the dump shows it, with what is computed (licenses
// inherited from groups, each license's state, units consumed).
type DirectoryDump struct {
	Users          []DirectoryUserDump  `json:"users"`
	Groups         []DirectoryGroupDump `json:"groups"`
	SubscribedSkus []SubscribedSkuDump  `json:"subscribedSkus"`
	// DeletedUsers are the object ids of people deleted from the directory.
	DeletedUsers   []string            `json:"deletedUsers,omitempty"`
	AppPermissions map[string][]string `json:"appPermissions,omitempty"` // the ones set; others hold the default
}

// DirectoryUserDump is a person with its licenses as Graph gives them.
type DirectoryUserDump struct {
	ID                      string                   `json:"id"`
	UserPrincipalName       string                   `json:"userPrincipalName"`
	DisplayName             string                   `json:"displayName"`
	AccountEnabled          bool                     `json:"accountEnabled"`
	UsageLocation           string                   `json:"usageLocation,omitempty"`
	AssignedLicenses        []AssignedLicense        `json:"assignedLicenses"`
	LicenseAssignmentStates []LicenseAssignmentState `json:"licenseAssignmentStates"`
	MemberOf                []string                 `json:"memberOf"` // direct: group ids
}

// LicenseAssignmentState is Graph's licenseAssignmentState (Microsoft Graph, "licenseAssignmentState
// resource type"). Error is "None" for a license assigned successfully, as the service answers
// (the resource page says null).
type LicenseAssignmentState struct {
	SkuID               string   `json:"skuId"`
	AssignedByGroup     *string  `json:"assignedByGroup"` // nil: assigned directly
	DisabledPlans       []string `json:"disabledPlans"`
	State               string   `json:"state"` // Active or Error
	Error               string   `json:"error"` // None or CountViolation
	LastUpdatedDateTime *string  `json:"lastUpdatedDateTime"`
}

// DirectoryGroupDump is a group with its direct members.
type DirectoryGroupDump struct {
	ID               string            `json:"id"`
	DisplayName      string            `json:"displayName"`
	SecurityEnabled  bool              `json:"securityEnabled"`
	Members          []string          `json:"members"` // direct: object ids, in the order they were added
	AssignedLicenses []AssignedLicense `json:"assignedLicenses"`
}

// SubscribedSkuDump is a SKU with its consumed units.
type SubscribedSkuDump struct {
	SkuID         string       `json:"skuId"`
	SkuPartNumber string       `json:"skuPartNumber"`
	PrepaidUnits  PrepaidUnits `json:"prepaidUnits"`
	ConsumedUnits int          `json:"consumedUnits"`
}

func (d *directory) states(u *dirUser) []LicenseAssignmentState {
	out := []LicenseAssignmentState{}
	for _, s := range d.licenses().states[u.id] {
		ls := LicenseAssignmentState{SkuID: s.sku, State: "Active", Error: "None", DisabledPlans: []string{}}
		src := u.direct
		if s.byGroup != "" {
			g := s.byGroup
			ls.AssignedByGroup = &g
			src = d.groups[g].licenses
		}
		for _, l := range src {
			if l.SkuID == s.sku {
				ls.DisabledPlans = append(ls.DisabledPlans, l.DisabledPlans...)
			}
		}
		if !s.active {
			ls.State, ls.Error = "Error", "CountViolation"
		}
		out = append(out, ls)
	}
	return out
}

func (d *directory) memberOf(id string) []string {
	out := []string{}
	for gid, g := range d.groups {
		if _, ok := g.members[id]; ok {
			out = append(out, gid)
		}
	}
	sort.Strings(out)
	return out
}

func (d *directory) dump() *DirectoryDump {
	dd := &DirectoryDump{Users: []DirectoryUserDump{}, Groups: []DirectoryGroupDump{}, SubscribedSkus: []SubscribedSkuDump{}}
	v := d.licenses()
	for _, u := range d.users {
		dd.Users = append(dd.Users, DirectoryUserDump{ID: u.id, UserPrincipalName: u.upn, DisplayName: u.displayName,
			AccountEnabled: u.enabled, UsageLocation: u.usageLocation, AssignedLicenses: d.assigned(u),
			LicenseAssignmentStates: d.states(u), MemberOf: d.memberOf(u.id)})
	}
	sort.Slice(dd.Users, func(i, j int) bool { return dd.Users[i].UserPrincipalName < dd.Users[j].UserPrincipalName })
	for _, g := range d.groups {
		dd.Groups = append(dd.Groups, DirectoryGroupDump{ID: g.id, DisplayName: g.displayName, SecurityEnabled: g.security,
			Members: g.memberIDs(), AssignedLicenses: append([]AssignedLicense{}, g.licenses...)})
	}
	sort.Slice(dd.Groups, func(i, j int) bool { return dd.Groups[i].DisplayName < dd.Groups[j].DisplayName })
	for _, s := range d.skus {
		dd.SubscribedSkus = append(dd.SubscribedSkus, SubscribedSkuDump{SkuID: s.id, SkuPartNumber: s.part, PrepaidUnits: s.units, ConsumedUnits: v.consumed[s.id]})
	}
	sort.Slice(dd.SubscribedSkus, func(i, j int) bool { return dd.SubscribedSkus[i].SkuPartNumber < dd.SubscribedSkus[j].SkuPartNumber })
	for id := range d.deleted {
		dd.DeletedUsers = append(dd.DeletedUsers, id)
	}
	sort.Strings(dd.DeletedUsers)
	if len(d.perms) > 0 {
		dd.AppPermissions = map[string][]string{}
		for c, p := range d.perms {
			dd.AppPermissions[c] = append([]string{}, p...)
		}
	}
	return dd
}

// memberIDs lists the direct members in the order they were added.
func (g *dirGroup) memberIDs() []string {
	out := make([]string, 0, len(g.members))
	for m := range g.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return g.members[out[i]] < g.members[out[j]] })
	return out
}

// Directory returns the tenant directory with what is computed from it.
func (e *Emulator) Directory() DirectoryDump {
	e.mu.Lock()
	defer e.mu.Unlock()
	return *e.dir.dump()
}
