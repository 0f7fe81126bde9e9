package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
	"github.com/accessplane/dataverse-access-operator/internal/graph"
	"github.com/accessplane/dataverse-access-operator/internal/webapi"
)

// EntraConfig gives every Environment an Entra ID target (spec.entra, managementPolicy Manage)
// served by the emulator's Microsoft Graph over one tenant directory: every person of the fleet
// (user principal name = spec.userName, usage location set, licenses as spec.license says), one
// security group per environment named by spec.securityGroup and gating its emulated Dataverse
// environment, and each group team's group. Only with DataverseConfig.Enabled (the emulator runs
// for Dataverse; Graph is part of it).
type EntraConfig struct {
	Enabled bool
	// SyncInterval is every Environment's spec.entra.syncInterval (default 15s: short, so an idle
	// window of a minute covers several re-reads of each environment's snapshot).
	SyncInterval time.Duration
	// Manage is spec.entra.manage (nil: the API's default, [SecurityGroupMembership]). Facts
	// not listed are seeded as decided (group teams' members exactly those listing the group,
	// licenses as spec.license), so they end Synced, not EntraDrift; facts listed are seeded
	// partly right, like the security group, so the operator has writes to make.
	Manage []string
	// MembersAlready is the share of the people seeded as direct members of their environment's
	// security group before the operator starts (default 0.5), chosen by a hash of the name, so
	// some decided enabled are already in, some must be added, and some waiting for a seat or a
	// slot are in and must be removed.
	MembersAlready float64
	// NoSetupLicenses leaves the Administrative and NonInteractive people (no spec.license: they
	// need none once set up) without any license in the directory. By default they hold the SKU
	// too, as a person must to be set up: Dataverse lets in an unlicensed person only once its
	// record's access mode is Administrative or NonInteractive, and a record arrives ReadWrite,
	// so unlicensed they arrive disabled, their roles are refused (0x80040203) and they end
	// Stalled SyncConflict (see the bench's report).
	NoSetupLicenses bool
	// RequestsPerMinute is the manager's --graph-requests-per-minute (per tenant; the bench has
	// one tenant for every environment); the default, 60000, keeps the client's limiter from
	// being the bottleneck (the manager's own default, 600, is what a real tenant should get).
	RequestsPerMinute int
}

func (c *EntraConfig) defaults() {
	if c.SyncInterval <= 0 {
		c.SyncInterval = 15 * time.Second
	}
	if c.MembersAlready <= 0 {
		c.MembersAlready = 0.5
	}
	if c.MembersAlready > 1 {
		c.MembersAlready = 1
	}
	if c.RequestsPerMinute <= 0 {
		c.RequestsPerMinute = 60000
	}
}

func (c EntraConfig) manages(f accessv1alpha1.EntraFact) bool {
	if len(c.Manage) == 0 {
		return f == accessv1alpha1.EntraSecurityGroupMembership
	}
	for _, m := range c.Manage {
		if strings.EqualFold(strings.TrimSpace(m), string(f)) {
			return true
		}
	}
	return false
}

// benchSku is the SKU every licensed person of the fleet names (workload's spec.license).
const benchSku = "PLAN1"

// EntraResult is what the Entra ID target cost, from the emulator's request log (Graph requests,
// those inside a $batch logged on their own) and the manager's graph_requests_total.
type EntraResult struct {
	Environments        int      `json:"environments"`
	People              int      `json:"people"`
	SyncIntervalSeconds float64  `json:"syncIntervalSeconds"`
	Manage              []string `json:"manage"`
	RequestsPerMinute   int      `json:"requestsPerMinute"`
	// The seed: people already direct members of their security group, people holding a license.
	SeededMembers  int `json:"seededMembers"`
	SeededLicensed int `json:"seededLicensed"`
	// SeededSetupLicensed are the Administrative and NonInteractive people given the SKU to be set
	// up (no spec.license); 0 with NoSetupLicenses.
	SeededSetupLicensed int `json:"seededSetupLicensed"`

	// Convergence: every Graph request from the manager's start to every object settled. A
	// $batch counts one (Requests, Reads); SubRequests are the requests inside them.
	Requests    int            `json:"requests"`
	Reads       int            `json:"reads"`
	Writes      int            `json:"writes"`
	Batches     int            `json:"batches"`
	SubRequests int            `json:"subRequests"`
	ByTarget    map[string]int `json:"byTarget"`
	// BatchSizes counts the $batches by how many requests they held (1 is a person read alone).
	BatchSizes   map[int]int `json:"batchSizes"`
	Throttled    int         `json:"throttled"`
	ServerErrors int         `json:"serverErrors"`
	// Observations are the bulk reads of an environment's snapshot (one GET /subscribedSkus each).
	Observations int `json:"observations"`
	// AloneReads are the $batches of one request: a person the snapshot did not know read on its
	// own (an observation's last $batch holds one only when its people are 1 more than a
	// multiple of 20, which the bench's sizes avoid); BulkReads are the other reads.
	AloneReads int `json:"aloneReads"`
	BulkReads  int `json:"bulkReads"`
	// PeriodicReads are the bulk reads beyond one observation per environment: the re-reads
	// syncInterval (and changes of an environment's groups) made while converging, at the
	// observations' mean cost. RequestsPerPersonBeyondPeriodic leaves them out: what converging
	// costs whatever the interval.
	PeriodicReads                   int     `json:"periodicReads"`
	RequestsPerPersonBeyondPeriodic float64 `json:"requestsPerPersonBeyondPeriodic"`
	BeyondPeriodicToBaseline        float64 `json:"beyondPeriodicToBaseline"`
	// Per person (PlatformUser) of the fleet.
	RequestsPerPerson    float64 `json:"requestsPerPerson"`
	ReadsPerPerson       float64 `json:"readsPerPerson"`
	WritesPerPerson      float64 `json:"writesPerPerson"`
	SubRequestsPerPerson float64 `json:"subRequestsPerPerson"`
	// ManagerRequests is graph_requests_total's increase over convergence, by operation (the
	// manager's own count, attempts included: it does not overflow as the log can).
	ManagerRequests map[string]int `json:"managerRequests"`

	// The baseline, from the same run: one bulk observation per environment (ceil(people/20)
	// $batches + member pages + 1 subscribedSkus, plus one request per group to resolve it) and
	// the fewest writes that take the seed to the converged state (each seeded membership that
	// differs from the final one, each license the operator had to assign).
	BaselineObserveReads   int     `json:"baselineObserveReads"`
	BaselineResolveReads   int     `json:"baselineResolveReads"`
	MinimumWrites          int     `json:"minimumWrites"`
	BaselineRequests       int     `json:"baselineRequests"`
	RequestsToBaseline     float64 `json:"requestsToBaseline"`
	ReadsToBaseline        float64 `json:"readsToBaseline"`
	WritesToMinimum        float64 `json:"writesToMinimum"`
	MinimumWritesPerPerson float64 `json:"minimumWritesPerPerson"`
	// Floors the service and the manager's default limiter set for these requests: Graph's write
	// limit (3,000 per 2.5 minutes per app and tenant: writes / 20 per second) and the manager's
	// default --graph-requests-per-minute (600: requests / 10 per second).
	WriteLimitFloorSeconds      float64 `json:"writeLimitFloorSeconds"`
	DefaultLimiterFloorSeconds  float64 `json:"defaultLimiterFloorSeconds"`
	ConvergenceToDefaultLimiter float64 `json:"convergenceToDefaultLimiter"`

	// Between every object settling and the manager going quiet (kube side).
	TailRequests int `json:"tailRequests"`
	TailWrites   int `json:"tailWrites"`

	// Idle: the window after the manager went quiet.
	IdleSeconds      float64        `json:"idleSeconds"`
	IdleRequests     int            `json:"idleRequests"`
	IdleReads        int            `json:"idleReads"`
	IdleWrites       int            `json:"idleWrites"`
	IdleSubRequests  int            `json:"idleSubRequests"`
	IdleByTarget     map[string]int `json:"idleByTarget"`
	IdleBatchSizes   map[int]int    `json:"idleBatchSizes"`
	IdleObservations int            `json:"idleObservations"`
	IdleWritesDetail []string       `json:"idleWritesDetail,omitempty"`
	// IdleIntervals is the idle window in sync intervals; the per-interval figures divide by it.
	IdleIntervals float64 `json:"idleIntervals"`
	// PerIntervalMeasured: the idle window is at least 1.1 x syncInterval (every environment
	// re-read at least once); the per-interval figures are -1 otherwise.
	PerIntervalMeasured bool `json:"perIntervalMeasured"`
	// IdleRequestsPerEnvironmentPerInterval is IdleRequests / environments / IdleIntervals;
	// IdleRequestsPerObservation is IdleRequests / IdleObservations (what one re-read cost).
	IdleRequestsPerEnvironmentPerInterval    float64 `json:"idleRequestsPerEnvironmentPerInterval"`
	IdleSubRequestsPerEnvironmentPerInterval float64 `json:"idleSubRequestsPerEnvironmentPerInterval"`
	IdleObservationsPerEnvironment           float64 `json:"idleObservationsPerEnvironment"`
	IdleRequestsPerObservation               float64 `json:"idleRequestsPerObservation"`
	// The bound per environment per interval: ceil(people/20) + member pages + 1 subscribedSkus;
	// with the groups' resolution (one request each) as Observe documents its cost.
	BoundPerEnvironmentPerInterval            float64        `json:"boundPerEnvironmentPerInterval"`
	BoundWithResolvePerEnvironmentPerInterval float64        `json:"boundWithResolvePerEnvironmentPerInterval"`
	IdleToBound                               float64        `json:"idleToBound"`
	IdleToBoundWithResolve                    float64        `json:"idleToBoundWithResolve"`
	IdleManagerRequests                       map[string]int `json:"idleManagerRequests"`

	// The end state (after the idle window): security group members that are not what the
	// operator decided (managed people whose direct membership differs from status.enabled), and
	// the users' Synced reasons.
	MembershipMismatches       int      `json:"membershipMismatches"`
	MembershipMismatchesDetail []string `json:"membershipMismatchesDetail,omitempty"`
	FinalMembers               int      `json:"finalMembers"`
	LogTruncated               bool     `json:"logTruncated,omitempty"`
}

// entraSeed is what the bench put in the tenant directory, for the baseline.
type entraSeed struct {
	seed emulator.DirectorySeed
	// member: person object id -> seeded member of its environment's security group.
	member map[string]bool
	// licensed: person object id -> seeded holding benchSku.
	licensed map[string]bool
	// envOf: person object id -> environment; people per environment.
	envOf  map[string]string
	people map[string]int
	// groups per environment (the security group first), by object id.
	groups   map[string][]string
	sgOf     map[string]string // environment -> security group id
	teamOf   map[string]string // team group id -> environment
	teamSeed map[string]map[string]bool
	// setup counts the people without spec.license seeded holding the SKU (NoSetupLicenses).
	setup int
}

// memberSeeded: a stable choice of about share of the people.
func memberSeeded(name string, share float64) bool {
	h := sha256.Sum256([]byte("sg-member/" + name))
	return float64(uint16(h[0])<<8|uint16(h[1])) < share*65536
}

// securityGroupID is the object id of environment env's security group in the directory.
func securityGroupID(env string) string { return guid("group/sg-" + env) }

// entraTarget gives every Environment spec.entra and builds the tenant directory from the
// workload (run after target, which gives the people their object ids and the group teams GUIDs).
func (d *dataverseRun) entraTarget(objs []client.Object) {
	cfg := d.cfg.Entra
	s := &entraSeed{member: map[string]bool{}, licensed: map[string]bool{}, envOf: map[string]string{}, people: map[string]int{},
		groups: map[string][]string{}, sgOf: map[string]string{}, teamOf: map[string]string{}, teamSeed: map[string]map[string]bool{}}
	teamGroups := map[string]string{} // group id -> display name
	var licensed int
	for _, o := range objs {
		switch t := o.(type) {
		case *accessv1alpha1.Environment:
			t.Spec.Entra = &accessv1alpha1.EntraTarget{ManagementPolicy: accessv1alpha1.ManagementManage,
				SyncInterval: &metav1.Duration{Duration: cfg.SyncInterval}}
			for _, m := range cfg.Manage {
				t.Spec.Entra.Manage = append(t.Spec.Entra.Manage, accessv1alpha1.EntraFact(strings.TrimSpace(m)))
			}
			id := securityGroupID(t.Name)
			s.sgOf[t.Name] = id
			s.groups[t.Name] = append([]string{id}, s.groups[t.Name]...)
		case *accessv1alpha1.Team:
			if t.Spec.Group != "" {
				teamGroups[t.Spec.Group] = t.Name
				s.teamOf[t.Spec.Group] = t.Spec.EnvironmentName
				s.groups[t.Spec.EnvironmentName] = append(s.groups[t.Spec.EnvironmentName], t.Spec.Group)
				s.teamSeed[t.Spec.Group] = map[string]bool{}
			}
		case *accessv1alpha1.PlatformUser:
			if t.Spec.License != "" || !cfg.NoSetupLicenses {
				licensed++
			}
		}
	}
	// Enough units for every licensed person and a tenth more: the tenant is not what stalls.
	s.seed.SubscribedSkus = []emulator.SubscribedSku{{SkuPartNumber: benchSku, PrepaidUnits: emulator.PrepaidUnits{Enabled: licensed + licensed/10 + 1}}}
	sgMembers := map[string][]string{}
	for _, o := range objs {
		u, ok := o.(*accessv1alpha1.PlatformUser)
		if !ok {
			continue
		}
		oid := guid("user/" + u.Spec.UserName)
		env := u.Spec.EnvironmentName
		s.envOf[oid], s.people[env] = env, s.people[env]+1
		du := emulator.DirectoryUser{ID: oid, UserPrincipalName: u.Spec.UserName, GivenName: "Bench", Surname: u.Name, UsageLocation: "US"}
		// Licenses as spec.license says, unless the operator manages them: then about the same
		// share as the security group's members holds it already, and the operator assigns the
		// rest (to those holding their seat).
		if u.Spec.License != "" && (!cfg.manages(accessv1alpha1.EntraLicenses) || memberSeeded("license/"+u.Name, cfg.MembersAlready)) {
			du.AssignedLicenses = []emulator.AssignedLicense{{SkuPartNumber: u.Spec.License}}
			s.licensed[oid] = true
		}
		if u.Spec.License == "" && !cfg.NoSetupLicenses {
			du.AssignedLicenses = []emulator.AssignedLicense{{SkuPartNumber: benchSku}}
			s.setup++
		}
		s.seed.Users = append(s.seed.Users, du)
		if memberSeeded(u.Name, cfg.MembersAlready) {
			s.member[oid] = true
			sgMembers[env] = append(sgMembers[env], oid)
		}
		for _, g := range u.Spec.SecurityGroups {
			if _, team := s.teamSeed[g]; !team {
				continue
			}
			// A group team's group: its members are those listing it, unless the operator
			// manages them (then seeded like the security group).
			if !cfg.manages(accessv1alpha1.EntraGroupTeamMembership) || memberSeeded("team/"+u.Name, cfg.MembersAlready) {
				s.teamSeed[g][oid] = true
			}
		}
	}
	for _, env := range d.envs {
		s.seed.Groups = append(s.seed.Groups, emulator.DirectoryGroup{ID: s.sgOf[env], DisplayName: "sg-" + env,
			Description: "the bench's security group of environment " + env, Members: sgMembers[env]})
	}
	ids := make([]string, 0, len(teamGroups))
	for id := range teamGroups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		var members []string
		for m := range s.teamSeed[id] {
			members = append(members, m)
		}
		sort.Strings(members)
		s.seed.Groups = append(s.seed.Groups, emulator.DirectoryGroup{ID: id, DisplayName: "group of team " + teamGroups[id], Members: members})
	}
	d.entraSeed = s
}

// seedEntra puts the directory into the emulator and binds each emulated environment to its
// security group (only its direct members are let into Dataverse).
func (d *dataverseRun) seedEntra(ctx context.Context) error {
	if err := d.emu.Control(ctx, http.MethodPost, "directory", d.entraSeed.seed, nil); err != nil {
		return fmt.Errorf("seeding the tenant directory: %w", err)
	}
	for _, env := range d.envs {
		if err := d.emu.Control(ctx, http.MethodPut, "environments/"+env+"/security-group",
			map[string]string{"securityGroupId": d.entraSeed.sgOf[env]}, nil); err != nil {
			return fmt.Errorf("binding environment %s to its security group: %w", env, err)
		}
	}
	return nil
}

// graphURL is the emulator's Microsoft Graph (hack/dataverse-emulator prints it as graphUrl).
func (d *dataverseRun) graphURL() string { return d.emu.Info.URL + "/graph/v1.0" }

func (d *dataverseRun) directory(ctx context.Context) (emulator.DirectoryDump, error) {
	var dd emulator.DirectoryDump
	err := d.emu.Control(ctx, http.MethodGet, "directory", nil, &dd)
	return dd, err
}

// graphLog splits a request log into Dataverse's (and the admin API's) and Graph's.
func graphLog(log []emulator.LoggedRequest) (dv, gr []emulator.LoggedRequest) {
	for _, l := range log {
		if l.Environment == emulator.GraphEnvironment {
			gr = append(gr, l)
		} else {
			dv = append(dv, l)
		}
	}
	return dv, gr
}

// graphCount is a Graph log summed up.
type graphCount struct {
	requests, reads, writes, batches, sub, throttled, serverErrors, observations int
	byTarget                                                                     map[string]int
	batchSizes                                                                   map[int]int
	writeDetail                                                                  []string
}

func isBatch(l emulator.LoggedRequest) bool {
	p, _, _ := strings.Cut(l.Path, "?")
	return l.BatchID == "" && strings.HasSuffix(p, "/$batch")
}

// graphTarget is a Graph request's resource without ids and query: "groups/{id}/members/$ref
// POST", "$batch POST", "users/{id} GET (in $batch)".
func graphTarget(l emulator.LoggedRequest) string {
	p, q, _ := strings.Cut(l.Path, "?")
	p = strings.TrimPrefix(strings.TrimPrefix(p, "/graph/v1.0"), "/")
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if webapi.IsGUID(s) || strings.Contains(s, "@") {
			parts[i] = "{id}"
		}
	}
	t := strings.Join(parts, "/")
	if strings.Contains(q, "$filter") {
		t += "?$filter"
	}
	if strings.Contains(q, "$skiptoken") {
		t += " (next page)"
	}
	t += " " + l.Method
	if l.BatchID != "" {
		t += " (in $batch)"
	}
	return t
}

func countGraph(log []emulator.LoggedRequest) graphCount {
	c := graphCount{byTarget: map[string]int{}, batchSizes: map[int]int{}}
	// A $batch's requests carry ids 1..n (internal/graph numbers them so): those with id k
	// count the batches of at least k requests.
	atLeast := map[int]int{}
	for _, l := range log {
		switch {
		case l.Status == http.StatusTooManyRequests:
			c.throttled++
		case l.Status >= 500 || l.Status < 0:
			c.serverErrors++
		}
		c.byTarget[graphTarget(l)]++
		if l.BatchID != "" {
			c.sub++
			var k int
			if _, err := fmt.Sscanf(l.BatchID, "%d", &k); err == nil {
				atLeast[k]++
			}
			continue
		}
		c.requests++
		p, _, _ := strings.Cut(l.Path, "?")
		switch {
		case isBatch(l):
			c.batches++
			c.reads++
		case l.Method == http.MethodGet:
			c.reads++
			if strings.HasSuffix(p, "/subscribedSkus") {
				c.observations++
			}
		default:
			c.writes++
			if len(c.writeDetail) < 20 {
				c.writeDetail = append(c.writeDetail, fmt.Sprintf("%s %s %s → %d", l.Time.Format("15:04:05.000"), l.Method, l.Path, l.Status))
			}
		}
	}
	for k, n := range atLeast {
		if m := n - atLeast[k+1]; m > 0 {
			c.batchSizes[k] = m
		}
	}
	return c
}

// graphManager is graph_requests_total by operation.
func graphManager(before, after metrics) map[string]int {
	out := map[string]int{}
	for k, v := range delta(before.counters("graph_requests_total", "operation"), after.counters("graph_requests_total", "operation")) {
		if v > 0 {
			out[k] = int(v)
		}
	}
	return out
}

// convergence fills the figures of convergence from the Graph log up to every object settled,
// and the baseline from the directory as it is then.
func (r *EntraResult) convergence(log []emulator.LoggedRequest, s *entraSeed, dir emulator.DirectoryDump, convergenceSeconds float64) {
	c := countGraph(log)
	r.Requests, r.Reads, r.Writes, r.Batches, r.SubRequests = c.requests, c.reads, c.writes, c.batches, c.sub
	r.ByTarget, r.BatchSizes, r.Throttled, r.ServerErrors, r.Observations = c.byTarget, c.batchSizes, c.throttled, c.serverErrors, c.observations
	r.AloneReads = c.batchSizes[1]
	r.BulkReads = c.reads - r.AloneReads
	r.PeriodicReads = 0
	if c.observations > r.Environments {
		r.PeriodicReads = int(math.Round(float64(r.BulkReads) * float64(c.observations-r.Environments) / float64(c.observations)))
	}
	n := float64(r.People)
	r.RequestsPerPerson, r.ReadsPerPerson, r.WritesPerPerson, r.SubRequestsPerPerson = float64(c.requests)/n, float64(c.reads)/n, float64(c.writes)/n, float64(c.sub)/n
	r.RequestsPerPersonBeyondPeriodic = float64(c.requests-r.PeriodicReads) / n

	// One bulk observation per environment, with the groups as they are now.
	members := map[string]int{}
	for _, g := range dir.Groups {
		members[strings.ToLower(g.ID)] = len(g.Members)
	}
	r.BaselineObserveReads, r.BaselineResolveReads = 0, 0
	for env, groups := range s.groups {
		r.BaselineObserveReads += observeBound(s.people[env], groups, members)
		r.BaselineResolveReads += len(groups)
	}
	// The fewest writes: each seeded security-group membership that is not the final one; each
	// managed team group's; each license the operator had to assign.
	final := map[string]map[string]bool{}
	for _, g := range dir.Groups {
		m := map[string]bool{}
		for _, id := range g.Members {
			m[strings.ToLower(id)] = true
		}
		final[strings.ToLower(g.ID)] = m
	}
	r.MinimumWrites = 0
	for oid, env := range s.envOf {
		if sg := s.sgOf[env]; r.manages(accessv1alpha1.EntraSecurityGroupMembership) && s.member[oid] != final[sg][oid] {
			r.MinimumWrites++
		}
	}
	if r.manages(accessv1alpha1.EntraGroupTeamMembership) {
		for g, seeded := range s.teamSeed {
			for oid := range s.envOf {
				if seeded[oid] != final[g][oid] {
					r.MinimumWrites++
				}
			}
		}
	}
	if r.manages(accessv1alpha1.EntraLicenses) {
		for _, u := range dir.Users {
			if id := strings.ToLower(u.ID); !s.licensed[id] && len(u.AssignedLicenses) > 0 {
				r.MinimumWrites++
			}
		}
	}
	r.BaselineRequests = r.BaselineObserveReads + r.BaselineResolveReads + r.MinimumWrites
	r.RequestsToBaseline = ratioOf(r.Requests, r.BaselineRequests)
	r.BeyondPeriodicToBaseline = ratioOf(r.Requests-r.PeriodicReads, r.BaselineRequests)
	r.ReadsToBaseline = ratioOf(r.Reads, r.BaselineObserveReads+r.BaselineResolveReads)
	r.WritesToMinimum = ratioOf(r.Writes, r.MinimumWrites)
	r.MinimumWritesPerPerson = float64(r.MinimumWrites) / n
	r.WriteLimitFloorSeconds = float64(r.Writes) / (float64(graph.ServiceWritesPer150s) / 150)
	r.DefaultLimiterFloorSeconds = float64(r.Requests) / (float64(graph.DefaultOptions().RequestsPerMinute) / 60)
	if r.DefaultLimiterFloorSeconds > 0 {
		r.ConvergenceToDefaultLimiter = convergenceSeconds / r.DefaultLimiterFloorSeconds
	}
}

// observeBound is one bulk observation of an environment: ceil(people/20) $batches, each group's
// member pages (999 a page, at least one), one subscribedSkus.
func observeBound(people int, groups []string, members map[string]int) int {
	n := (people+graph.MaxBatch-1)/graph.MaxBatch + 1
	for _, g := range groups {
		n += max(1, (members[g]+998)/999)
	}
	return n
}

func (r *EntraResult) manages(f accessv1alpha1.EntraFact) bool {
	return EntraConfig{Manage: r.Manage}.manages(f)
}

// ratioOf is a / b; -1 when b is 0 (JSON has no infinity).
func ratioOf(a, b int) float64 {
	if b == 0 {
		return -1
	}
	return float64(a) / float64(b)
}

// idle fills the idle figures from the Graph log of the idle window.
func (r *EntraResult) idle(log []emulator.LoggedRequest, window time.Duration, s *entraSeed, dir emulator.DirectoryDump) {
	c := countGraph(log)
	r.IdleSeconds = window.Seconds()
	r.IdleRequests, r.IdleReads, r.IdleWrites, r.IdleSubRequests = c.requests, c.reads, c.writes, c.sub
	r.IdleByTarget, r.IdleBatchSizes, r.IdleObservations, r.IdleWritesDetail = c.byTarget, c.batchSizes, c.observations, c.writeDetail
	envs := float64(r.Environments)
	r.IdleIntervals = window.Seconds() / r.SyncIntervalSeconds
	r.IdleRequestsPerEnvironmentPerInterval = float64(c.requests) / envs / r.IdleIntervals
	r.IdleSubRequestsPerEnvironmentPerInterval = float64(c.sub) / envs / r.IdleIntervals
	r.IdleObservationsPerEnvironment = float64(c.observations) / envs
	if c.observations > 0 {
		r.IdleRequestsPerObservation = float64(c.requests) / float64(c.observations)
	}
	members := map[string]int{}
	for _, g := range dir.Groups {
		members[strings.ToLower(g.ID)] = len(g.Members)
	}
	var bound, resolve int
	for env, groups := range s.groups {
		bound += observeBound(s.people[env], groups, members)
		resolve += len(groups)
	}
	r.BoundPerEnvironmentPerInterval = float64(bound) / envs
	r.BoundWithResolvePerEnvironmentPerInterval = float64(bound+resolve) / envs
	r.IdleToBound = ratioOf(c.requests, bound) / r.IdleIntervals
	r.IdleToBoundWithResolve = ratioOf(c.requests, bound+resolve) / r.IdleIntervals
	if r.PerIntervalMeasured = r.IdleIntervals >= 1.1; !r.PerIntervalMeasured {
		r.IdleRequestsPerEnvironmentPerInterval, r.IdleSubRequestsPerEnvironmentPerInterval, r.IdleToBound, r.IdleToBoundWithResolve = -1, -1, -1, -1
	}
}

// endState checks the security groups against the decisions: a managed person is a direct member
// exactly when the operator decided it enabled (status.enabled).
func (r *EntraResult) endState(objs []client.Object, s *entraSeed, dir emulator.DirectoryDump) {
	members := map[string]map[string]bool{}
	for _, g := range dir.Groups {
		m := map[string]bool{}
		for _, id := range g.Members {
			m[strings.ToLower(id)] = true
		}
		members[strings.ToLower(g.ID)] = m
	}
	r.MembershipMismatches, r.MembershipMismatchesDetail, r.FinalMembers = 0, nil, 0
	for _, o := range objs {
		u, ok := o.(*accessv1alpha1.PlatformUser)
		if !ok || u.Spec.Stub {
			continue
		}
		oid := guid("user/" + u.Spec.UserName)
		in := members[s.sgOf[u.Spec.EnvironmentName]][oid]
		if in {
			r.FinalMembers++
		}
		if in != u.Status.Enabled {
			r.MembershipMismatches++
			if len(r.MembershipMismatchesDetail) < 20 {
				r.MembershipMismatchesDetail = append(r.MembershipMismatchesDetail, fmt.Sprintf("PlatformUser %s: status.enabled %t, direct member of sg-%s %t", u.Name, u.Status.Enabled, u.Spec.EnvironmentName, in))
			}
		}
	}
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func sortedCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func batchSizes(m map[int]int) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d×%d", m[k], k))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func printEntra(out io.Writer, r *EntraResult) {
	manage := "[SecurityGroupMembership] (the API's default)"
	if len(r.Manage) > 0 {
		manage = "[" + strings.Join(r.Manage, ", ") + "]"
	}
	fmt.Fprintf(out, "Entra ID target:                 one tenant for %d environments (emulated Graph, out of process, --graph-url), managementPolicy Manage, manage %s, syncInterval %s, --graph-requests-per-minute=%d\n",
		r.Environments, manage, time.Duration(r.SyncIntervalSeconds*float64(time.Second)), r.RequestsPerMinute)
	fmt.Fprintf(out, "  seed:                          %d people (usage location US; %d holding %s as spec.license says, %d Administrative and NonInteractive holding it to be set up), one security group per environment (%d people already direct members), each group team's group with the people listing it\n",
		r.People, r.SeededLicensed, benchSku, r.SeededSetupLicensed, r.SeededMembers)
	fmt.Fprintf(out, "Graph requests to converge:      %d for %d people: %.2f per person (%.2f reads, %.2f writes); %d $batch holding %d requests (%.2f per person); %d throttled, %d 5xx or dropped\n",
		r.Requests, r.People, r.RequestsPerPerson, r.ReadsPerPerson, r.WritesPerPerson, r.Batches, r.SubRequests, r.SubRequestsPerPerson, r.Throttled, r.ServerErrors)
	fmt.Fprintf(out, "  by target:                     %s\n", sortedCounts(r.ByTarget))
	fmt.Fprintf(out, "  $batch sizes (count×requests): %s\n", batchSizes(r.BatchSizes))
	fmt.Fprintf(out, "  reads:                         %d in %d bulk observations (%.1f per environment: the first, one per syncInterval, one per change of an environment's groups), %d people read alone (not in the snapshot yet)\n",
		r.BulkReads, r.Observations, float64(r.Observations)/float64(r.Environments), r.AloneReads)
	fmt.Fprintf(out, "  without the re-reads:          %.2f requests per person (%d of the bulk reads are the %d observations beyond one per environment, which the short syncInterval makes while converging)\n",
		r.RequestsPerPersonBeyondPeriodic, r.PeriodicReads, max(r.Observations-r.Environments, 0))
	fmt.Fprintf(out, "  manager's graph_requests_total: %s (attempts: retries count again)\n", sortedCounts(r.ManagerRequests))
	if n := sumCounts(r.ManagerRequests); n != r.Requests {
		fmt.Fprintf(out, "  note: the manager counted %d Graph requests, the emulator's log %d (retries, or requests answered after the log was read)\n", n, r.Requests)
	}
	fmt.Fprintf(out, "  baseline (same run):           %d requests = one bulk observation per environment (%d: ceil(people/20) $batches + member pages + 1 subscribedSkus, and %d to resolve the groups) + %d writes (the fewest from the seed to the end state)\n",
		r.BaselineRequests, r.BaselineObserveReads, r.BaselineResolveReads, r.MinimumWrites)
	fmt.Fprintf(out, "  measured / baseline:           %s requests (%s without the re-reads), %s reads, %s writes\n", ratio2(r.RequestsToBaseline), ratio2(r.BeyondPeriodicToBaseline), ratio2(r.ReadsToBaseline), ratio2(r.WritesToMinimum))
	fmt.Fprintf(out, "Graph writes per person:         %.3f (%d writes; minimum %.3f: %d)\n", r.WritesPerPerson, r.Writes, r.MinimumWritesPerPerson, r.MinimumWrites)
	fmt.Fprintf(out, "  floors for these requests:     Graph's write limit (3,000 per 2.5 min): %.1f s; the manager's default --graph-requests-per-minute=600: %.1f s (convergence / that floor %s)\n",
		r.WriteLimitFloorSeconds, r.DefaultLimiterFloorSeconds, ratio2(r.ConvergenceToDefaultLimiter))
	fmt.Fprintf(out, "  after settling, before quiet:  %d requests, %d writes\n", r.TailRequests, r.TailWrites)
	fmt.Fprintf(out, "Graph while idle:                %d requests (%d reads, %d writes), %d inside $batch, in %.0f s = %.2f sync intervals; %d bulk observations (%.2f per environment)\n",
		r.IdleRequests, r.IdleReads, r.IdleWrites, r.IdleSubRequests, r.IdleSeconds, r.IdleIntervals, r.IdleObservations, r.IdleObservationsPerEnvironment)
	fmt.Fprintf(out, "  by target:                     %s\n", sortedCounts(r.IdleByTarget))
	fmt.Fprintf(out, "  $batch sizes (count×requests): %s\n", batchSizes(r.IdleBatchSizes))
	for _, w := range r.IdleWritesDetail {
		fmt.Fprintf(out, "  idle Graph write: %s\n", w)
	}
	if r.PerIntervalMeasured {
		fmt.Fprintf(out, "  per environment per interval:  %.2f requests (%.2f inside $batch); one re-read costs %.2f requests\n",
			r.IdleRequestsPerEnvironmentPerInterval, r.IdleSubRequestsPerEnvironmentPerInterval, r.IdleRequestsPerObservation)
	} else {
		fmt.Fprintf(out, "  per environment per interval:  not measured: the idle window (%.0f s) is shorter than 1.1 x syncInterval (%.0f s); run with -idle longer or -entra-sync-interval shorter\n", r.IdleSeconds, 1.1*r.SyncIntervalSeconds)
	}
	fmt.Fprintf(out, "  bound per environment per interval: %.2f (ceil(people/20) $batches + member pages + 1 subscribedSkus); %.2f with one request per group to resolve it; measured / bound %s (with resolution %s)\n",
		r.BoundPerEnvironmentPerInterval, r.BoundWithResolvePerEnvironmentPerInterval, ratio2(r.IdleToBound), ratio2(r.IdleToBoundWithResolve))
	fmt.Fprintf(out, "  manager's graph_requests_total: %s\n", sortedCounts(r.IdleManagerRequests))
	fmt.Fprintf(out, "Entra end state:                 %d people direct members of their security group; %d differ from the decision (status.enabled)\n", r.FinalMembers, r.MembershipMismatches)
	for _, m := range r.MembershipMismatchesDetail {
		fmt.Fprintf(out, "  mismatch: %s\n", m)
	}
	if r.LogTruncated {
		fmt.Fprintf(out, "  WARNING: the emulator's request log (last %d) overflowed: the Graph counts from it are low (graph_requests_total is not)\n", emulatorMaxLog)
	}
}

func ratio2(r float64) string {
	if math.IsInf(r, 0) || math.IsNaN(r) || r < 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", r)
}
