package decide

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
)

// Every test runs at fixed times, so the decisions are deterministic: objects are created at t0
// (or a few seconds after it), and a decision runs at now, long after every settle window.
var (
	t0  = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	now = t0.Add(time.Hour)
)

const ns = "team-a"

func at(sec int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(sec) * time.Second)) }

func mtime(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }

// --- Environments ---

type envOpt func(*v1alpha1.Environment)

// env is environment name in namespace ns: product Dynamics365, security group "sg", the default
// root unit, licenses not counted, generation 1.
func env(name string, opts ...envOpt) *v1alpha1.Environment {
	e := &v1alpha1.Environment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 1, CreationTimestamp: metav1.NewTime(t0)},
		Spec:       v1alpha1.EnvironmentSpec{DisplayName: name, Product: v1alpha1.ProductDynamics365, SecurityGroup: "sg"},
	}
	for _, o := range opts {
		o(e)
	}
	return e
}

func prod(opts ...envOpt) *v1alpha1.Environment { return env("prod", opts...) }

// units sets spec.businessUnits from "name" (the root) and "name<parent" items.
func units(items ...string) envOpt {
	return func(e *v1alpha1.Environment) {
		for _, it := range items {
			name, parent, _ := strings.Cut(it, "<")
			e.Spec.BusinessUnits = append(e.Spec.BusinessUnits, v1alpha1.BusinessUnit{Name: name, Parent: parent})
		}
	}
}

// regions is the tree root > emea, apac; emea > france.
var regions = units("root", "emea<root", "apac<root", "france<emea")

func licenses(sku string, seats int32) envOpt {
	return func(e *v1alpha1.Environment) {
		e.Spec.Licenses = append(e.Spec.Licenses, v1alpha1.LicenseSeats{SKU: sku, Seats: seats})
	}
}

func noGroup(e *v1alpha1.Environment) { e.Spec.SecurityGroup = "" }
func allowDisabled(e *v1alpha1.Environment) {
	e.Spec.Settings.AllowRoleAssignmentOnDisabledUsers = true
}
func powerApps(e *v1alpha1.Environment) { e.Spec.Product = v1alpha1.ProductPowerApps }

// seatLedger records a seat ledger of sku in the environment's status, holders granted at t0.
func seatLedger(sku string, seats int32, holders []string, waiting ...string) envOpt {
	return func(e *v1alpha1.Environment) {
		e.Status.Seats = append(e.Status.Seats, v1alpha1.SeatLedger{SKU: sku, Seats: seats, Used: int32(len(holders)),
			Holders: entries(holders), Waiting: entries(waiting)})
	}
}

// slotLedger records the non-interactive ledger in the environment's status.
func slotLedger(holders []string, waiting ...string) envOpt {
	return func(e *v1alpha1.Environment) {
		e.Status.NonInteractive = &v1alpha1.SlotLedger{Limit: 7, Used: int32(len(holders)),
			Holders: entries(holders), Waiting: entries(waiting)}
	}
}

func entries(names []string) []v1alpha1.LedgerEntry {
	var out []v1alpha1.LedgerEntry
	for _, n := range names {
		out = append(out, v1alpha1.LedgerEntry{Name: n, Since: metav1.NewTime(t0)})
	}
	return out
}

func names(prefix string, n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, prefix+string(rune('0'+i)))
	}
	return out
}

// --- Security roles ---

type roleOpt func(*v1alpha1.SecurityRole)

// role is a SecurityRole of environment prod in the root unit that can read webresource (SR8).
func role(name string, opts ...roleOpt) *v1alpha1.SecurityRole {
	r := &v1alpha1.SecurityRole{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 1, CreationTimestamp: metav1.NewTime(t0)},
		Spec: v1alpha1.SecurityRoleSpec{EnvironmentName: "prod", Tables: []v1alpha1.TablePermission{
			{Table: "account", PermissionSetting: v1alpha1.PermissionPrivate},
			{Table: "webresource", Ownership: v1alpha1.OwnershipOrganization, PermissionSetting: v1alpha1.PermissionReference},
		}},
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

func ofUnit(bu string) roleOpt { return func(r *v1alpha1.SecurityRole) { r.Spec.BusinessUnit = bu } }
func ofEnv(e string) roleOpt   { return func(r *v1alpha1.SecurityRole) { r.Spec.EnvironmentName = e } }
func shown(n string) roleOpt   { return func(r *v1alpha1.SecurityRole) { r.Spec.RoleName = n } }
func roleCreated(sec int) roleOpt {
	return func(r *v1alpha1.SecurityRole) { r.CreationTimestamp = at(sec) }
}
func tables(ts ...v1alpha1.TablePermission) roleOpt {
	return func(r *v1alpha1.SecurityRole) { r.Spec.Tables = ts }
}

// builtIn is the built-in role the Environment e keeps under that object name.
func builtIn(e *v1alpha1.Environment, b v1alpha1.BuiltInRole) *v1alpha1.SecurityRole {
	for name, kind := range BuiltInRoles(e) {
		if kind == b {
			return &v1alpha1.SecurityRole{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 1, CreationTimestamp: e.CreationTimestamp,
					Labels: map[string]string{BuiltInLabel: e.Name}},
				Spec: BuiltInRoleSpec(e, b, nil),
			}
		}
	}
	panic("no built-in role " + string(b))
}

func rolesOf(rs ...*v1alpha1.SecurityRole) Roles {
	out := Roles{}
	for _, r := range rs {
		out[r.Name] = r
	}
	return out
}

// --- Users ---

type userOpt func(*v1alpha1.PlatformUser)

// user is a ReadWrite PlatformUser of prod, meant to be enabled, licensed E3, a direct member of
// "sg", holding the role "sales"; userName <name>@contoso.com, generation 1, never looked at.
func user(name string, opts ...userOpt) *v1alpha1.PlatformUser {
	u := &v1alpha1.PlatformUser{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 1, CreationTimestamp: metav1.NewTime(t0)},
		Spec: v1alpha1.PlatformUserSpec{
			EnvironmentName: "prod", UserName: name + "@contoso.com", AccessMode: v1alpha1.AccessModeReadWrite,
			Enabled: true, License: "E3", SecurityGroups: []string{"sg"}, SecurityRoles: []string{"sales"},
		},
	}
	for _, o := range opts {
		o(u)
	}
	return u
}

func userCreated(sec int) userOpt {
	return func(u *v1alpha1.PlatformUser) { u.CreationTimestamp = at(sec) }
}
func userEnv(e string) userOpt { return func(u *v1alpha1.PlatformUser) { u.Spec.EnvironmentName = e } }
func withRoles(rs ...string) userOpt {
	return func(u *v1alpha1.PlatformUser) { u.Spec.SecurityRoles = rs }
}
func groups(gs ...string) userOpt {
	return func(u *v1alpha1.PlatformUser) { u.Spec.SecurityGroups = gs }
}
func license(sku string) userOpt { return func(u *v1alpha1.PlatformUser) { u.Spec.License = sku } }
func userUnit(bu string) userOpt { return func(u *v1alpha1.PlatformUser) { u.Spec.BusinessUnit = bu } }
func intent(enabled bool) userOpt {
	return func(u *v1alpha1.PlatformUser) { u.Spec.Enabled = enabled }
}
func signInBlocked(u *v1alpha1.PlatformUser) { u.Spec.SignInBlocked = true }

// mode sets the access mode; modes other than ReadWrite take no license (AM3).
func mode(m v1alpha1.AccessMode) userOpt {
	return func(u *v1alpha1.PlatformUser) {
		u.Spec.AccessMode = m
		if m != v1alpha1.AccessModeReadWrite {
			u.Spec.License = ""
		}
	}
}

// stub is a placeholder created by data import: it cannot be enabled and takes no license (AM8).
func stub(u *v1alpha1.PlatformUser) {
	u.Spec.Stub = true
	u.Spec.Enabled = false
	u.Spec.License = ""
	u.Spec.SecurityRoles = nil
}

func admin(rs ...v1alpha1.AdministratorRole) userOpt {
	return func(u *v1alpha1.PlatformUser) { u.Spec.AdministratorRoles = rs }
}

// seen makes the previous status that of a user the operator looked at at generation gen.
func seen(gen int64) userOpt {
	return func(u *v1alpha1.PlatformUser) {
		u.Generation = gen
		u.Status.ObservedGeneration = gen
	}
}

// wasEnabledWith is the previous status of a user that was enabled (first at t0) with these roles.
func wasEnabledWith(roles ...string) userOpt {
	return func(u *v1alpha1.PlatformUser) {
		u.Status.ObservedGeneration = u.Generation
		u.Status.Enabled = true
		u.Status.AssignedRoles = roles
		u.Status.FirstEnabledTime = mtime(t0)
	}
}

func claimed(resource string, since metav1.Time) userOpt {
	return func(u *v1alpha1.PlatformUser) {
		u.Status.Claims = append(u.Status.Claims, v1alpha1.Claim{Resource: resource, Since: since})
	}
}

func usersOf(us ...*v1alpha1.PlatformUser) []v1alpha1.PlatformUser {
	out := make([]v1alpha1.PlatformUser, len(us))
	for i, u := range us {
		out[i] = *u
	}
	return out
}

// --- Application users and teams ---

type appOpt func(*v1alpha1.ApplicationUser)

// app is an enabled ApplicationUser of prod holding "sales".
func app(name string, opts ...appOpt) *v1alpha1.ApplicationUser {
	a := &v1alpha1.ApplicationUser{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 1, CreationTimestamp: metav1.NewTime(t0)},
		Spec: v1alpha1.ApplicationUserSpec{EnvironmentName: "prod", ApplicationID: "11111111-2222-3333-4444-555555555555",
			Enabled: true, SecurityRoles: []string{"sales"}},
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

type teamOpt func(*v1alpha1.Team)

// team is an Owner team of prod in the root unit holding "sales".
func team(name string, opts ...teamOpt) *v1alpha1.Team {
	t := &v1alpha1.Team{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 1, CreationTimestamp: metav1.NewTime(t0)},
		Spec:       v1alpha1.TeamSpec{EnvironmentName: "prod", Type: v1alpha1.TeamOwner, SecurityRoles: []string{"sales"}},
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

func members(ms ...string) teamOpt { return func(t *v1alpha1.Team) { t.Spec.Members = ms } }
func groupTeam(g string) teamOpt {
	return func(t *v1alpha1.Team) { t.Spec.Type = v1alpha1.TeamAADSecurityGroup; t.Spec.Group = g }
}
func teamHolds(rs ...string) teamOpt { return func(t *v1alpha1.Team) { t.Spec.SecurityRoles = rs } }
func teamUnit(bu string) teamOpt     { return func(t *v1alpha1.Team) { t.Spec.BusinessUnit = bu } }

func teamsOf(ts ...*v1alpha1.Team) []v1alpha1.Team {
	out := make([]v1alpha1.Team, len(ts))
	for i, t := range ts {
		out[i] = *t
	}
	return out
}

// --- Expected statuses ---

// conds builds expected conditions from "Type=True:Reason" items, at generation gen. Messages
// and transition times are compared separately (see statusOpts), so the tables stay readable.
func conds(gen int64, items ...string) []metav1.Condition {
	var out []metav1.Condition
	for _, it := range items {
		typ, rest, _ := strings.Cut(it, "=")
		status, reason, _ := strings.Cut(rest, ":")
		out = append(out, metav1.Condition{Type: typ, Status: metav1.ConditionStatus(status), Reason: reason, ObservedGeneration: gen})
	}
	return out
}

// stalled is Ready False and Stalled True with the same reason.
func stalled(reason string) []string {
	return []string{"Ready=False:" + reason, "Stalled=True:" + reason}
}

func join(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		}
	}
	return out
}

// statusOpts compare statuses whatever the order of conditions, ignoring transition times and
// messages (messages are checked on their own).
var statusOpts = cmp.Options{
	cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime", "Message"),
	cmpopts.SortSlices(func(a, b metav1.Condition) bool { return a.Type < b.Type }),
	cmpopts.EquateEmpty(),
}

func direct(name string) v1alpha1.EffectiveRole {
	return v1alpha1.EffectiveRole{Name: name, RoleName: name, Source: string(v1alpha1.RoleSourceDirect)}
}

func viaTeam(name, team string) v1alpha1.EffectiveRole {
	return v1alpha1.EffectiveRole{Name: name, RoleName: name, Source: v1alpha1.RoleSourceTeamPrefix + team}
}

func claimList(items ...v1alpha1.Claim) []v1alpha1.Claim { return items }
func claimOf(resource string, since metav1.Time) v1alpha1.Claim {
	return v1alpha1.Claim{Resource: resource, Since: since}
}

// message returns the message of a condition, failing the test when it is absent.
func message(t *testing.T, list []metav1.Condition, condType string) string {
	t.Helper()
	for _, c := range list {
		if c.Type == condType {
			return c.Message
		}
	}
	t.Fatalf("no %s condition in %v", condType, list)
	return ""
}

// wantContains checks that the Ready message says each of the phrases: messages name the field
// and say what to change.
func wantContains(t *testing.T, msg string, phrases []string) {
	t.Helper()
	for _, p := range phrases {
		if !strings.Contains(msg, p) {
			t.Errorf("message %q does not say %q", msg, p)
		}
	}
}

// principal is the access evaluator's view of a decided user, for AM4's one answer.
func principal(u *v1alpha1.PlatformUser, st v1alpha1.PlatformUserStatus, roles Roles) access.Principal {
	p := access.Principal{Name: u.Name, BusinessUnit: st.BusinessUnit, AccessMode: u.Spec.AccessMode, Enabled: st.Enabled}
	for _, er := range st.EffectiveRoles {
		r := roles[er.Name]
		p.Roles = append(p.Roles, access.Assignment{Source: er.Source,
			Role: access.Role{Name: r.Name, RoleName: r.DisplayRoleName(), BusinessUnit: r.Spec.BusinessUnit, Spec: r.Spec}})
	}
	return p
}

func eventReasons(es []Event) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Type+"/"+e.Reason)
	}
	sort.Strings(out)
	return out
}

// checkStalled checks that Stalled, when present, is True with Ready's reason and message
// (kstatus readers show either), and that Ready is False then.
func checkStalled(t *testing.T, list []metav1.Condition) {
	t.Helper()
	var ready, stalled *metav1.Condition
	for i := range list {
		switch list[i].Type {
		case v1alpha1.ConditionReady:
			ready = &list[i]
		case v1alpha1.ConditionStalled:
			stalled = &list[i]
		}
	}
	if ready == nil {
		t.Fatalf("no Ready condition in %v", list)
	}
	if stalled == nil {
		return
	}
	if stalled.Status != metav1.ConditionTrue || ready.Status != metav1.ConditionFalse ||
		stalled.Reason != ready.Reason || stalled.Message != ready.Message {
		t.Errorf("Stalled %s/%s %q does not mirror Ready %s/%s %q", stalled.Status, stalled.Reason, stalled.Message, ready.Status, ready.Reason, ready.Message)
	}
}

// fixpoint checks that deciding again from the status just decided changes nothing, transition
// times included: no condition flaps, and a reconcile that changes nothing writes nothing.
func fixpoint[S any](t *testing.T, first S, again func(S) S) {
	t.Helper()
	if diff := cmp.Diff(first, again(first)); diff != "" {
		t.Errorf("deciding again from its own status changed it (-first +second):\n%s", diff)
	}
}

// untouched runs decide and fails the test if it changed anything it was given: the controllers
// hand decisions the objects of their informer cache without copying them
// (client.UnsafeDisableDeepCopy), so a decision that wrote to its input would corrupt the cache.
func untouched[In any, Out any](t *testing.T, in In, decide func(In) Out) Out {
	t.Helper()
	snapshot := func() string {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("snapshotting the input: %v", err)
		}
		return string(b)
	}
	before := snapshot()
	out := decide(in)
	if diff := cmp.Diff(before, snapshot()); diff != "" {
		t.Errorf("the decision changed its input (-before +after):\n%s", diff)
	}
	return out
}
