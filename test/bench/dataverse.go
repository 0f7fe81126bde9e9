package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

// DataverseConfig turns on the Dataverse target: the emulator runs as its own process, every
// Environment names one emulated environment (managementPolicy Manage) and the manager reaches it
// exactly as it would reach the service (SSL_CERT_FILE, AZURE_AUTHORITY_HOST,
// --power-platform-api-url).
type DataverseConfig struct {
	Enabled bool
	// SyncInterval is every Environment's spec.dataverse.syncInterval (default 10m, the API's
	// default).
	SyncInterval time.Duration
	// RequestsPerMinute is the manager's --dataverse-requests-per-minute (per environment); the
	// default, 60000, keeps the client's limiter from being the bottleneck.
	RequestsPerMinute int
	// Users says where the people of the PlatformUsers come from:
	//   UsersFromEntra (default): they are in the emulated Entra ID tenant only; each PlatformUser
	//     has spec.entraObjectId, so the operator adds it with the admin API's addUser and waits
	//     for Entra ID's sync (AwaitingEntraSync): the whole path of a fresh environment.
	//   UsersPresent: they are in Dataverse already (as Entra ID's group sync leaves them) and the
	//     PlatformUsers have no entraObjectId: found by user name, then corrected (adoption).
	Users string
	// EntraSyncDelay is the emulator's delay between addUser and the person's arrival (default 5s).
	EntraSyncDelay time.Duration
	// NoLimits turns the emulator's service-protection limits off (by default it enforces 6,000
	// requests per 5 minutes and 52 in flight per environment, answering 429 with Retry-After and
	// the x-ms-ratelimit-* headers, as the service does).
	NoLimits bool
	// Latency is added by the emulator to every request (the service answers in tens to hundreds
	// of milliseconds; 0: none).
	Latency time.Duration
	// Entra, when Enabled, adds an Entra ID target (spec.entra, Manage) over the emulator's
	// Microsoft Graph: the people are in its tenant directory instead of being given to each
	// environment as an outcome, and each environment lets in only its security group's direct
	// members.
	Entra EntraConfig
}

// Where the people come from (DataverseConfig.Users).
const (
	UsersFromEntra = "entra"
	UsersPresent   = "present"
)

// DataverseResult is what the Dataverse target cost, from the emulator's request log.
type DataverseResult struct {
	Environments int    `json:"environments"`
	Users        string `json:"users"`
	// Entra: the run has an Entra ID target as well (Result.Entra).
	Entra               bool    `json:"entra"`
	SyncIntervalSeconds float64 `json:"syncIntervalSeconds"`
	RequestsPerMinute   int     `json:"requestsPerMinute"`
	// Convergence: every request the emulator logged from the manager's start to the moment
	// every object was settled (the token endpoint is not logged; addUser is).
	Requests          int            `json:"requests"`
	Reads             int            `json:"reads"`
	Writes            int            `json:"writes"`
	RequestsPerObject float64        `json:"requestsPerObject"`
	ReadsPerObject    float64        `json:"readsPerObject"`
	WritesPerObject   float64        `json:"writesPerObject"`
	ByTarget          map[string]int `json:"byTarget"` // entity set or action ("systemusers GET", "addUser POST", …)
	Throttled         int            `json:"throttled"`
	ServerErrors      int            `json:"serverErrors"`
	// Limits: the emulator enforced the service-protection limits; LatencySeconds per request.
	Limits         bool    `json:"limits"`
	LatencySeconds float64 `json:"latencySeconds"`
	// MaxWindowRequests is the most requests any environment received in any 5-minute window
	// (of the convergence log and of the idle log, each on its own), against the operator's
	// default budget of 4,800 and the service's 6,000.
	MaxWindowRequests int `json:"maxWindowRequests"`
	// Requests between every object settling and the manager going quiet (kube side).
	TailRequests int `json:"tailRequests"`
	TailWrites   int `json:"tailWrites"`
	// The floor the service protection limit (6,000 requests per 5 minutes per user and web
	// server) sets for this many requests: Requests / 20 per second, as if one environment's web
	// server took them all; and per environment (each environment is its own web server): the
	// busiest environment's requests / 20 per second.
	FloorSeconds               float64 `json:"floorSeconds"`
	ConvergenceToFloor         float64 `json:"convergenceToFloor"`
	PerEnvironmentFloorSeconds float64 `json:"perEnvironmentFloorSeconds"`
	ConvergenceToPerEnvFloor   float64 `json:"convergenceToPerEnvironmentFloor"`
	BusiestEnvironmentRequests int     `json:"busiestEnvironmentRequests"`
	IdleSeconds                float64 `json:"idleSeconds"`
	IdleRequests               int     `json:"idleRequests"`
	// IdleDetail lists the first idle requests (time, method, path up to $select).
	IdleDetail []string `json:"idleDetail,omitempty"`
	// IdleByTarget is IdleRequests by entity set or action, as ByTarget.
	IdleByTarget     map[string]int `json:"idleByTarget,omitempty"`
	IdleWrites       int            `json:"idleWrites"`
	IdleWritesDetail []string       `json:"idleWritesDetail,omitempty"`
	// IdleObjectUpdates are the kube objects the bench's watch saw change while idle, by kind
	// (the kube side's idle writes that are not events).
	IdleObjectUpdates map[string]int `json:"idleObjectUpdates,omitempty"`
	// IdleRequestsPerObjectPerInterval is IdleRequests / objects x (mean sync period / idle
	// window), the mean period being 1.05 x syncInterval (each object is due again after the
	// interval plus up to a tenth of jitter). Only measured when the idle window is at least 1.1
	// x syncInterval (every object re-read at least once); -1 otherwise.
	IdleRequestsPerObjectPerInterval float64 `json:"idleRequestsPerObjectPerInterval"`
	// Synced conditions after convergence: True, and the reasons of the others.
	SyncedTrue int            `json:"syncedTrue"`
	NotSynced  map[string]int `json:"notSynced,omitempty"`
	// NotSyncedDetail names the first 20 of them, with Stalled's reason when they are Stalled.
	NotSyncedDetail []string `json:"notSyncedDetail,omitempty"`
	// The same at the end of the idle window: people Stalled for a seat or a slot settle before
	// their sync is done, so what they end as is read here (EnablementDrift among them).
	FinalSyncedTrue      int            `json:"finalSyncedTrue"`
	FinalNotSynced       map[string]int `json:"finalNotSynced,omitempty"`
	FinalNotSyncedDetail []string       `json:"finalNotSyncedDetail,omitempty"`
	// FinalEnablementDrift counts the PlatformUsers ending Synced=False EnablementDrift.
	FinalEnablementDrift int  `json:"finalEnablementDrift"`
	LogTruncated         bool `json:"logTruncated,omitempty"`
}

// dataverseRun is the emulator and what the bench set up around it.
type dataverseRun struct {
	cfg  DataverseConfig
	emu  *localcluster.Emulator
	envs []string
	// people per environment, for the emulator.
	entra   map[string][]emulator.EntraUser
	present map[string][]map[string]any
	// entraSeed is the tenant directory (DataverseConfig.Entra).
	entraSeed *entraSeed
}

const (
	dataverseSecret       = "dataverse-credentials"
	dataverseClientSecret = "bench-client-secret"
	dataverseTenant       = "00000000-0000-4000-8000-00000000be4c"
)

func (d *DataverseConfig) defaults() {
	if d.SyncInterval <= 0 {
		d.SyncInterval = 10 * time.Minute
	}
	if d.RequestsPerMinute <= 0 {
		d.RequestsPerMinute = 60000
	}
	if d.Users == "" {
		d.Users = UsersFromEntra
	}
	if d.EntraSyncDelay <= 0 {
		d.EntraSyncDelay = 5 * time.Second
	}
	if d.Entra.Enabled {
		d.Entra.defaults()
	}
}

// guid is a stable GUID for a name (people's and groups' Entra object ids).
func guid(name string) string {
	h := sha256.Sum256([]byte(name))
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-4" + x[13:16] + "-8" + x[17:20] + "-" + x[20:32]
}

// startDataverse builds and starts the emulator with one environment per bench Environment.
func startDataverse(ctx context.Context, root, workDir string, cfg DataverseConfig, environments int) (*dataverseRun, error) {
	binary := filepath.Join(workDir, "dataverse-emulator")
	if err := localcluster.BuildEmulator(ctx, root, binary); err != nil {
		return nil, err
	}
	d := &dataverseRun{cfg: cfg, entra: map[string][]emulator.EntraUser{}, present: map[string][]map[string]any{}}
	for e := 0; e < environments; e++ {
		d.envs = append(d.envs, fmt.Sprintf("env-%02d", e))
	}
	args := []string{"--environments", strings.Join(d.envs, ","), fmt.Sprintf("--max-log=%d", emulatorMaxLog),
		"--entra-sync-delay", cfg.EntraSyncDelay.String(),
		"--client-secrets", emulator.OperatorApplicationID + "=" + dataverseClientSecret}
	if !cfg.NoLimits {
		args = append(args, "--enforce-limits")
	}
	if cfg.Latency > 0 {
		args = append(args, "--latency", cfg.Latency.String())
	}
	emu, err := localcluster.StartEmulator(binary, workDir, filepath.Join(workDir, "emulator.log"), args...)
	if err != nil {
		return nil, err
	}
	d.emu = emu
	return d, nil
}

// target gives the workload a Dataverse target: spec.dataverse on every Environment, Entra object
// ids (group teams need a GUID for their group; UsersFromEntra: people too), and the people the
// emulator must know.
func (d *dataverseRun) target(objs []client.Object) {
	group := func(name string) string {
		if strings.HasPrefix(name, "sg-") {
			return name // the environment's security group: not a team's, never sent to Dataverse
		}
		return guid("group/" + name)
	}
	for _, o := range objs {
		switch t := o.(type) {
		case *accessv1alpha1.Environment:
			t.Spec.Dataverse = &accessv1alpha1.DataverseTarget{
				URL: d.emu.Info.EnvironmentURL(t.Name), EnvironmentID: d.environmentID(t.Name),
				CredentialsSecretRef: accessv1alpha1.SecretReference{Name: dataverseSecret},
				ManagementPolicy:     accessv1alpha1.ManagementManage,
				SyncInterval:         &metav1.Duration{Duration: d.cfg.SyncInterval},
			}
		case *accessv1alpha1.Team:
			if t.Spec.Group != "" {
				t.Spec.Group = group(t.Spec.Group)
			}
		case *accessv1alpha1.PlatformUser:
			for i, g := range t.Spec.SecurityGroups {
				t.Spec.SecurityGroups[i] = group(g)
			}
			oid := guid("user/" + t.Spec.UserName)
			env := t.Spec.EnvironmentName
			if d.cfg.Users == UsersPresent {
				d.present[env] = append(d.present[env], map[string]any{"domainname": t.Spec.UserName,
					"azureactivedirectoryobjectid": oid, "accessmode": 0, "isdisabled": false, "islicensed": t.Spec.License != ""})
				continue
			}
			t.Spec.EntraObjectID = oid
			if d.cfg.Entra.Enabled {
				continue // in the tenant directory (entraTarget)
			}
			d.entra[env] = append(d.entra[env], emulator.EntraUser{ObjectID: oid, UPN: t.Spec.UserName,
				FirstName: "Bench", LastName: t.Name, Licensed: t.Spec.License != ""})
		}
	}
	if d.cfg.Entra.Enabled {
		d.entraTarget(objs)
	}
}

// envNames maps each emulated environment's id (lower case, as addUser logs it) to its name.
func (d *dataverseRun) envNames() map[string]string {
	names := map[string]string{}
	for _, e := range d.emu.Info.Environments {
		names[strings.ToLower(e.EnvironmentID)] = e.Name
	}
	return names
}

func (d *dataverseRun) environmentID(name string) string {
	for _, e := range d.emu.Info.Environments {
		if e.Name == name {
			return e.EnvironmentID
		}
	}
	return ""
}

// seed puts the people into the emulated Entra ID tenant (or into Dataverse) and creates the
// credentials Secret: one app registration for every environment, as one operator has.
func (d *dataverseRun) seed(ctx context.Context, c client.Client) error {
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: dataverseSecret},
		StringData: map[string]string{"tenantId": dataverseTenant, "clientId": d.emu.Info.OperatorClientID, "clientSecret": dataverseClientSecret}}); err != nil {
		return err
	}
	if d.entraSeed != nil {
		// Before any person reaches Dataverse: the environments' security groups decide who is
		// let in from the start.
		if err := d.seedEntra(ctx); err != nil {
			return err
		}
	}
	type call struct {
		path string
		body any
	}
	var calls []call
	for env, people := range d.entra {
		for _, p := range people {
			calls = append(calls, call{"environments/" + env + "/entra-users", p})
		}
	}
	for env, people := range d.present {
		for _, p := range people {
			calls = append(calls, call{"environments/" + env + "/users", p})
		}
	}
	work := make(chan call)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var first error
			for c := range work {
				if first == nil {
					first = d.emu.Control(ctx, http.MethodPost, c.path, c.body, nil)
				}
			}
			errs <- first
		}()
	}
	for _, c := range calls {
		work <- c
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return fmt.Errorf("seeding the emulator: %w", err)
		}
	}
	return nil
}

func (d *dataverseRun) managerArgs() []string {
	args := append(d.emu.Info.ManagerArgs(), fmt.Sprintf("--dataverse-requests-per-minute=%d", d.cfg.RequestsPerMinute))
	if d.cfg.Entra.Enabled {
		args = append(args, "--graph-url="+d.graphURL(), fmt.Sprintf("--graph-requests-per-minute=%d", d.cfg.Entra.RequestsPerMinute))
	}
	return args
}

// emulatorMaxLog is how many requests the emulator's log keeps (--max-log): a full-size run with
// an Entra ID target logs about 150,000 before it is cleared for the idle window (each person
// read inside a Graph $batch is one), more than the emulator's default 100,000.
const emulatorMaxLog = 1_000_000

// requests reads the emulator's request log; truncated says it may have dropped its oldest
// entries (it keeps the last emulatorMaxLog).
func (d *dataverseRun) requests(ctx context.Context) ([]emulator.LoggedRequest, bool, error) {
	l, err := d.emu.Requests(ctx)
	return l, len(l) >= emulatorMaxLog, err
}

// saveLog writes a request log next to the manager's log, for reading what one object cost.
func (d *dataverseRun) saveLog(path string, log []emulator.LoggedRequest) {
	if b, err := json.MarshalIndent(log, "", " "); err == nil {
		_ = os.WriteFile(path, b, 0o644)
	}
}

func (d *dataverseRun) clearRequests(ctx context.Context) error {
	return d.emu.Control(ctx, http.MethodDelete, "requests", nil, nil)
}

func isWrite(l emulator.LoggedRequest) bool { return l.Method != http.MethodGet }

// target of a logged request: the entity set or action, without ids and query.
func requestTarget(l emulator.LoggedRequest) string {
	p := l.Path
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if rest, ok := strings.CutPrefix(p, "/env/"); ok {
		_, p, _ = strings.Cut(rest, "/")
		p = strings.TrimPrefix(p, "api/data/v9.2/")
	} else {
		p = p[strings.LastIndexByte(p, '/')+1:]
	}
	if i := strings.IndexAny(p, "(/"); i >= 0 {
		// systemusers(<id>)/systemuserroles_association/$ref → systemusers/systemuserroles_association
		head, tail := p[:i], p[i:]
		if j := strings.Index(tail, ")/"); j >= 0 {
			nav := tail[j+2:]
			if k := strings.IndexAny(nav, "(/"); k >= 0 {
				nav = nav[:k]
			}
			return head + "/" + nav + " " + l.Method
		}
		p = head
	}
	return p + " " + l.Method
}

// convergence fills the convergence figures from the log up to the moment every object settled.
func (r *DataverseResult) convergence(log []emulator.LoggedRequest, objects int, convergenceSeconds float64, envNames map[string]string) {
	r.ByTarget = map[string]int{}
	perEnv := map[string]int{}
	for _, l := range log {
		r.Requests++
		if isWrite(l) {
			r.Writes++
		} else {
			r.Reads++
		}
		switch {
		case l.Status == http.StatusTooManyRequests:
			r.Throttled++
		case l.Status >= 500 || l.Status < 0:
			r.ServerErrors++
		}
		r.ByTarget[requestTarget(l)]++
		env := l.Environment
		if n, ok := envNames[strings.ToLower(env)]; ok {
			env = n // addUser is logged under the environment id
		}
		perEnv[env]++
	}
	for _, n := range perEnv {
		if n > r.BusiestEnvironmentRequests {
			r.BusiestEnvironmentRequests = n
		}
	}
	r.MaxWindowRequests = max(r.MaxWindowRequests, maxWindow(log))
	n := float64(objects)
	r.RequestsPerObject, r.ReadsPerObject, r.WritesPerObject = float64(r.Requests)/n, float64(r.Reads)/n, float64(r.Writes)/n
	perSecond := float64(dataverse.ServiceRequestsPer5Min) / 300
	r.FloorSeconds = float64(r.Requests) / perSecond
	r.PerEnvironmentFloorSeconds = float64(r.BusiestEnvironmentRequests) / perSecond
	if r.FloorSeconds > 0 {
		r.ConvergenceToFloor = convergenceSeconds / r.FloorSeconds
	}
	if r.PerEnvironmentFloorSeconds > 0 {
		r.ConvergenceToPerEnvFloor = convergenceSeconds / r.PerEnvironmentFloorSeconds
	}
}

// maxWindow is the most Web API requests one environment received in any 5-minute window of
// log. addUser goes to the admin API (logged under the environment's id), which the environment's
// service-protection limit and the operator's budget do not count.
func maxWindow(log []emulator.LoggedRequest) int {
	times := map[string][]time.Time{}
	for _, l := range log {
		if !strings.HasPrefix(l.Path, "/env/") {
			continue
		}
		times[l.Environment] = append(times[l.Environment], l.Time)
	}
	most := 0
	for _, ts := range times {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		lo := 0
		for hi := range ts {
			for ts[hi].Sub(ts[lo]) >= 5*time.Minute {
				lo++
			}
			most = max(most, hi-lo+1)
		}
	}
	return most
}

// idle fills the idle figures from the log of the idle window.
func (r *DataverseResult) idle(log []emulator.LoggedRequest, objects int, window time.Duration) {
	r.MaxWindowRequests = max(r.MaxWindowRequests, maxWindow(log))
	r.IdleSeconds = window.Seconds()
	r.IdleByTarget = map[string]int{}
	for _, l := range log {
		r.IdleRequests++
		r.IdleByTarget[requestTarget(l)]++
		if len(r.IdleDetail) < 60 {
			p, _, _ := strings.Cut(l.Path, "$select")
			r.IdleDetail = append(r.IdleDetail, fmt.Sprintf("%s %s %s", l.Time.Format("15:04:05.000"), l.Method, p))
		}
		if isWrite(l) {
			r.IdleWrites++
			if len(r.IdleWritesDetail) < 20 {
				r.IdleWritesDetail = append(r.IdleWritesDetail, fmt.Sprintf("%s %s %s → %d", l.Time.Format("15:04:05.000"), l.Method, l.Path, l.Status))
			}
		}
	}
	r.IdleRequestsPerObjectPerInterval = -1
	interval := time.Duration(r.SyncIntervalSeconds * float64(time.Second))
	if window >= interval+interval/10 {
		meanPeriod := 1.05 * interval.Seconds()
		r.IdleRequestsPerObjectPerInterval = float64(r.IdleRequests) / float64(objects) * meanPeriod / window.Seconds()
	}
}

// synced counts the Synced conditions of every object.
func (r *DataverseResult) synced(objs []client.Object) {
	r.SyncedTrue, r.NotSynced, r.NotSyncedDetail = syncedCounts(objs)
}

// finalSynced counts them again at the end of the idle window.
func (r *DataverseResult) finalSynced(objs []client.Object) {
	r.FinalSyncedTrue, r.FinalNotSynced, r.FinalNotSyncedDetail = syncedCounts(objs)
	r.FinalEnablementDrift = r.FinalNotSynced[accessv1alpha1.ReasonEnablementDrift+" PlatformUser"]
}

// syncedCounts counts Synced True, the other reasons by kind, and names the first 20 of those.
func syncedCounts(objs []client.Object) (int, map[string]int, []string) {
	r := struct {
		SyncedTrue      int
		NotSynced       map[string]int
		NotSyncedDetail []string
	}{NotSynced: map[string]int{}}
	for _, o := range objs {
		var status, reason string
		for _, c := range conditionsOf(o) {
			if c.Type == accessv1alpha1.ConditionSynced {
				status, reason = string(c.Status), c.Reason
			}
		}
		switch {
		case status == string(metav1.ConditionTrue):
			r.SyncedTrue++
		case status == "":
			r.NotSynced["(no Synced condition) "+kindOf(o)]++
		default:
			r.NotSynced[reason+" "+kindOf(o)]++
			if len(r.NotSyncedDetail) < 20 {
				stalled := ""
				if ok, why := settledObject(o); ok && why != "" {
					stalled = ", Stalled " + why
				}
				r.NotSyncedDetail = append(r.NotSyncedDetail, fmt.Sprintf("%s %s: %s%s", kindOf(o), o.GetName(), reason, stalled))
			}
		}
	}
	return r.SyncedTrue, r.NotSynced, r.NotSyncedDetail
}

func printDataverse(out io.Writer, r *DataverseResult, convergenceSeconds float64, objects int) {
	fmt.Fprintf(out, "Dataverse target:                %d emulated environments (emulator out of process, managementPolicy Manage, syncInterval %s, --dataverse-requests-per-minute=%d, people %s)\n",
		r.Environments, time.Duration(r.SyncIntervalSeconds*float64(time.Second)), r.RequestsPerMinute, map[string]string{
			UsersFromEntra: "in Entra ID only: added with addUser, then AwaitingEntraSync", UsersPresent: "already in Dataverse: found by user name"}[r.Users])
	if r.Entra {
		fmt.Fprintf(out, "  with Entra ID:                 the people are in the tenant directory and each environment lets in only its security group's direct members (isdisabled follows Entra ID at addUser); the Dataverse figures exclude Graph\n")
	}
	limits := "off (-dataverse-limits=false)"
	if r.Limits {
		limits = "enforced: 6,000 requests per 5 minutes and 52 in flight per environment, 429 with Retry-After, x-ms-ratelimit-* headers"
	}
	fmt.Fprintf(out, "  emulator:                      limits %s; latency %s per request\n", limits, time.Duration(r.LatencySeconds*float64(time.Second)))
	fmt.Fprintf(out, "Dataverse requests to converge:  %d for %d objects: %.2f per object (%.2f reads, %.2f writes); %d throttled (429), %d 5xx or dropped (issue 21's baseline before the snapshot: 7.5 per object)\n",
		r.Requests, objects, r.RequestsPerObject, r.ReadsPerObject, r.WritesPerObject, r.Throttled, r.ServerErrors)
	fmt.Fprintf(out, "  most in any 5-minute window:   %d Web API requests to one environment (the operator's default budget 4,800, the service's limit 6,000; addUser goes to the admin API, not counted)\n", r.MaxWindowRequests)
	fmt.Fprintf(out, "  by target:                     %s\n", byTargetLine(r.ByTarget))
	fmt.Fprintf(out, "  after settling, before quiet:  %d requests, %d writes\n", r.TailRequests, r.TailWrites)
	fmt.Fprintf(out, "service-protection floor:        %.1f s for %d requests at 6,000 per 5 min (20/s); convergence / floor %.2f\n", r.FloorSeconds, r.Requests, r.ConvergenceToFloor)
	if r.Users == UsersFromEntra {
		fmt.Fprintf(out, "  note: a person added with addUser arrives after the emulator's Entra sync delay and is looked for again at the latest 30 s after addUser (dvsync's AwaitingEntraSync requeue, no manager flag; any other reconcile of the user looks sooner): that wait, not the requests, can bound convergence\n")
	}
	fmt.Fprintf(out, "  per environment (own limit):   %.1f s for the busiest environment's %d requests; convergence / that floor %.2f\n", r.PerEnvironmentFloorSeconds, r.BusiestEnvironmentRequests, r.ConvergenceToPerEnvFloor)
	fmt.Fprintf(out, "Dataverse while idle:            %d requests, %d writes in %.0f s\n", r.IdleRequests, r.IdleWrites, r.IdleSeconds)
	if len(r.IdleByTarget) > 0 {
		fmt.Fprintf(out, "  idle by target:                %s\n", byTargetLine(r.IdleByTarget))
	}
	for _, d := range r.IdleDetail {
		fmt.Fprintf(out, "  idle request: %s\n", d)
	}
	if len(r.IdleObjectUpdates) > 0 {
		var parts []string
		for k, v := range r.IdleObjectUpdates {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(parts)
		fmt.Fprintf(out, "  kube objects changed while idle (watch): %s\n", strings.Join(parts, ", "))
	}
	for _, w := range r.IdleWritesDetail {
		fmt.Fprintf(out, "  idle write: %s\n", w)
	}
	perObject := float64(r.IdleRequests) / float64(objects)
	if r.IdleRequestsPerObjectPerInterval >= 0 && r.Environments > 0 {
		perEnv := float64(r.IdleRequests) / float64(r.Environments) * 1.05 * r.SyncIntervalSeconds / r.IdleSeconds
		fmt.Fprintf(out, "  per environment per interval:  %.1f requests (goal at 5,000 people: 20; before the snapshot ~2.1 per object, ~10,000 at 5,000 people)\n", perEnv)
	}
	if r.IdleRequestsPerObjectPerInterval >= 0 {
		fmt.Fprintf(out, "  per object per sync interval:  %.2f requests as a steady rate (idle requests / objects x 1.05 x syncInterval / idle window); %.2f per object in the window, which spans %.2f mean sync periods (a fleet converged together is re-read together: a window under 2 periods may hold one re-read of nearly every object, and then %.2f is the cost of one)\n",
			r.IdleRequestsPerObjectPerInterval, perObject, r.IdleSeconds/(1.05*r.SyncIntervalSeconds), perObject)
	} else {
		fmt.Fprintf(out, "  per object per sync interval:  not measured: the idle window (%.0f s) is shorter than 1.1 x syncInterval (%.0f s); run with -idle longer or -dataverse-sync-interval shorter\n", r.IdleSeconds, 1.1*r.SyncIntervalSeconds)
	}
	var ns []string
	for k, v := range r.NotSynced {
		ns = append(ns, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(ns)
	if len(ns) == 0 {
		ns = []string{"none"}
	}
	fmt.Fprintf(out, "Synced after convergence:        %d True; not True: %s\n", r.SyncedTrue, strings.Join(ns, ", "))
	for _, d := range r.NotSyncedDetail {
		fmt.Fprintf(out, "  not synced: %s\n", d)
	}
	if r.FinalNotSynced != nil {
		var fs []string
		for k, v := range r.FinalNotSynced {
			fs = append(fs, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(fs)
		if len(fs) == 0 {
			fs = []string{"none"}
		}
		fmt.Fprintf(out, "Synced at the end (after idle):  %d True; not True: %s\n", r.FinalSyncedTrue, strings.Join(fs, ", "))
		fmt.Fprintf(out, "users ending EnablementDrift:    %d\n", r.FinalEnablementDrift)
		for _, d := range r.FinalNotSyncedDetail {
			fmt.Fprintf(out, "  not synced at the end: %s\n", d)
		}
	}
	if r.LogTruncated {
		fmt.Fprintf(out, "  WARNING: the emulator's request log (last %d) overflowed: the request counts are low\n", emulatorMaxLog)
	}
}

// byTargetLine lists request counts by target, the most first.
func byTargetLine(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
