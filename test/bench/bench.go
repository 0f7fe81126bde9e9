// Package bench measures the operator at scale, out of process: it starts a control plane and the
// real manager binary, creates a fleet of environments, users, roles and teams, and reports how
// long convergence takes against a floor measured in the same run with the manager stopped (the
// same creates and one status write per object by a bare client), what it costs in API requests,
// what it writes while idle, what one role change reconciles, the manager's memory, and a
// breakdown of where convergence's time and writes went (per kind, queue depths, grant latency,
// the manager's CPU and block profiles).
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

// Config is one run.
type Config struct {
	Size
	// Manager flags under test.
	QPS                     float64
	Burst                   int
	MaxConcurrentReconciles int
	// Idle is how long to watch for writes after convergence.
	Idle time.Duration
	// Timeout bounds convergence.
	Timeout time.Duration
	// WorkDir holds the kubeconfig, the manager binary, its log and the profiles.
	WorkDir string
	// SampleInterval is how often the manager's metrics are scraped for the work-queue depths
	// (default 500 ms). Each scrape costs the manager a list of its users (the users gauge).
	SampleInterval time.Duration
	// NoProfile leaves the manager's pprof endpoint off: no CPU or block profile, and none of
	// their cost in the figures.
	NoProfile bool
	// SharedCPUs runs the control plane, the manager and the bench on the same CPUs; by default
	// the control plane has half of them to itself (see isolate).
	SharedCPUs bool
	// Dataverse, when Enabled, gives every Environment a Dataverse target served by the emulator.
	Dataverse DataverseConfig
}

// Result is every figure of a run; the last line the bench prints is this as JSON.
type Result struct {
	Objects            int     `json:"objects"`
	ConvergenceSeconds float64 `json:"convergenceSeconds"`
	// CreateSeconds is how long the bench's own creates took within convergence.
	CreateSeconds float64 `json:"createSeconds"`
	ManagerWrites int     `json:"managerWrites"`
	// The floor: the same objects created the same way and one converged status written per
	// object by a bare client, with the manager stopped; at the manager's limits and unthrottled.
	FloorSeconds                  float64  `json:"floorSeconds"`
	UnthrottledFloorSeconds       float64  `json:"unthrottledFloorSeconds"`
	ConvergenceToFloor            float64  `json:"convergenceToFloor"`
	ConvergenceToUnthrottledFloor float64  `json:"convergenceToUnthrottledFloor"`
	Floor                         FloorRun `json:"floor"`
	UnthrottledFloor              FloorRun `json:"unthrottledFloor"`
	RequestsPerObject             float64  `json:"requestsPerObject"`
	ReadsPerObject                float64  `json:"readsPerObject"`
	// WritesPerObject is the manager's writes per object; the minimum is 1 (one status each).
	WritesPerObject         float64   `json:"writesPerObject"`
	IdleSeconds             float64   `json:"idleSeconds"`
	IdleWrites              int       `json:"idleWrites"`
	RoleHolders             int       `json:"roleHolders"`
	RoleChangeReconciles    int       `json:"roleChangeReconciles"`
	RoleChangeSettleSeconds float64   `json:"roleChangeSettleSeconds"`
	PeakRSSBytes            int64     `json:"peakRSSBytes"`
	PeakHeapInuseBytes      int64     `json:"peakHeapInuseBytes"`
	ManagedFieldsBytes      int64     `json:"managedFieldsBytes"`
	ObjectBytes             int64     `json:"objectBytes"`
	Stalled                 Expected  `json:"stalled"`
	QPS                     float64   `json:"qps"`
	Burst                   int       `json:"burst"`
	MaxConcurrentReconciles int       `json:"maxConcurrentReconciles"`
	Breakdown               Breakdown `json:"breakdown"`
	// Dataverse is what the Dataverse target cost (bench -dataverse only).
	Dataverse *DataverseResult `json:"dataverse,omitempty"`
	// Entra is what the Entra ID target cost (bench -dataverse with -entra only).
	Entra *EntraResult `json:"entra,omitempty"`
	// CPULayout says which CPUs the control plane and the clients ran on.
	CPULayout string `json:"cpuLayout"`
	// ConvergenceCPU and FloorCPU are the CPU each process used converging and in the
	// unthrottled floor.
	ConvergenceCPU CPUUse `json:"convergenceCPU"`
	FloorCPU       CPUUse `json:"floorCPU"`
}

const namespace = "bench"

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = accessv1alpha1.AddToScheme(s)
	return s
}()

// supportsFlag says whether the manager binary lists flag in its --help.
func supportsFlag(ctx context.Context, binary, flag string) bool {
	out, _ := exec.CommandContext(ctx, binary, "--help").CombinedOutput()
	return strings.Contains(string(out), "-"+flag)
}

// Run performs one measured run and writes its progress and figures to out.
func Run(ctx context.Context, cfg Config, out io.Writer) (Result, error) {
	res := Result{QPS: cfg.QPS, Burst: cfg.Burst, MaxConcurrentReconciles: cfg.MaxConcurrentReconciles}
	say := func(format string, args ...any) { fmt.Fprintf(out, "bench: "+format+"\n", args...) }
	if cfg.SampleInterval <= 0 {
		cfg.SampleInterval = 500 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	root, err := localcluster.RepoRoot()
	if err != nil {
		return res, err
	}
	assets, err := localcluster.Assets(ctx, root, out)
	if err != nil {
		return res, err
	}
	if cfg.WorkDir, err = filepath.Abs(cfg.WorkDir); err != nil {
		return res, err
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return res, err
	}
	binary := filepath.Join(cfg.WorkDir, "manager")
	say("building the manager")
	if err := localcluster.BuildManager(ctx, root, binary); err != nil {
		return res, err
	}
	say("starting kube-apiserver and etcd")
	cluster, err := localcluster.Start(assets, filepath.Join(cfg.WorkDir, "kubeconfig"), namespace)
	if err != nil {
		return res, err
	}
	defer cluster.Stop()
	plane, err := controlPlanePids()
	if err != nil {
		return res, err
	}
	res.CPULayout = sharedLayout()
	if !cfg.SharedCPUs {
		var restore func()
		if res.CPULayout, restore, err = isolate(plane); err != nil {
			return res, err
		}
		defer restore()
	}
	say("CPU layout: %s", res.CPULayout)
	// Runs before cluster.Stop: the bench's watches and scrapes end first, or kube-apiserver waits
	// for its open watches a minute before it stops.
	defer cancel()
	if err := cluster.InstallCRDs(ctx, root); err != nil {
		return res, err
	}

	fast := rest.CopyConfig(cluster.Admin)
	fast.QPS, fast.Burst = 2000, 4000
	c, err := client.New(fast, client.Options{Scheme: scheme})
	if err != nil {
		return res, err
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return res, err
	}

	var dv *dataverseRun
	if cfg.Dataverse.Enabled {
		cfg.Dataverse.defaults()
		if u := cfg.Dataverse.Users; u != UsersFromEntra && u != UsersPresent {
			return res, fmt.Errorf("dataverse users %q: want %q or %q", u, UsersFromEntra, UsersPresent)
		}
		say("building and starting the Dataverse emulator (%d environments)", cfg.Environments)
		if dv, err = startDataverse(ctx, root, cfg.WorkDir, cfg.Dataverse, cfg.Environments); err != nil {
			return res, err
		}
		defer dv.emu.Stop()
		res.Dataverse = &DataverseResult{Environments: cfg.Environments, Users: cfg.Dataverse.Users, Entra: cfg.Dataverse.Entra.Enabled,
			SyncIntervalSeconds: cfg.Dataverse.SyncInterval.Seconds(), RequestsPerMinute: cfg.Dataverse.RequestsPerMinute,
			Limits: !cfg.Dataverse.NoLimits, LatencySeconds: cfg.Dataverse.Latency.Seconds()}
		if e := cfg.Dataverse.Entra; e.Enabled {
			res.Entra = &EntraResult{Environments: cfg.Environments, People: cfg.Environments * cfg.UsersPerEnvironment,
				SyncIntervalSeconds: e.SyncInterval.Seconds(), Manage: e.Manage, RequestsPerMinute: e.RequestsPerMinute}
		}
	}

	args := []string{"--metrics-secure=false", // the bench scrapes over plain HTTP on loopback
		fmt.Sprintf("--kube-api-qps=%g", cfg.QPS), fmt.Sprintf("--kube-api-burst=%d", cfg.Burst),
		fmt.Sprintf("--max-concurrent-reconciles=%d", cfg.MaxConcurrentReconciles)}
	pprofBase := ""
	switch {
	case cfg.NoProfile:
		res.Breakdown.ProfileNote = "none: profiling was turned off"
	case supportsFlag(ctx, binary, "pprof-bind-address"):
		port, err := localcluster.FreePort()
		if err != nil {
			return res, err
		}
		pprofBase = fmt.Sprintf("http://127.0.0.1:%d", port)
		args = append(args, fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", port))
	default:
		res.Breakdown.ProfileNote = "none: this manager has no --pprof-bind-address flag"
	}
	var managerEnv []string
	if dv != nil {
		managerEnv = dv.emu.Info.ManagerEnv()
		args = append(args, dv.managerArgs()...)
	}
	mgr, err := localcluster.StartManagerEnv(binary, cluster.Kubeconfig, filepath.Join(cfg.WorkDir, "manager.log"), managerEnv, args...)
	if err != nil {
		return res, err
	}
	defer mgr.Stop()
	clock := cpuClock{pids: map[string]int{"kube-apiserver": plane["kube-apiserver"], "etcd": plane["etcd"], "manager": mgr.PID(), "bench": os.Getpid()}}
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", mgr.MetricsPort)
	samples := startSampler(ctx, metricsURL, cfg.SampleInterval)

	watch, err := newWatcher(ctx, fast)
	if err != nil {
		return res, err
	}

	objs, expected := workload(namespace, cfg.Size)
	res.Objects = len(objs)
	if dv != nil {
		dv.target(objs)
		if s := dv.entraSeed; s != nil {
			res.Entra.SeededMembers, res.Entra.SeededLicensed, res.Entra.SeededSetupLicensed = len(s.member), len(s.licensed), s.setup
			say("seeding the tenant directory: %d people, %d groups, %d already direct members of their security group", len(s.seed.Users), len(s.seed.Groups), len(s.member))
		}
		say("seeding the emulator (people %s) and creating the credentials Secret", cfg.Dataverse.Users)
		if err := dv.seed(ctx, c); err != nil {
			return res, err
		}
	}
	watch.track.expect(len(objs) + 3*cfg.Environments) // and each environment's built-in roles
	before, err := scrape(metricsURL)
	if err != nil {
		return res, err
	}
	var prof *profiler
	if pprofBase != "" {
		if prof, err = startProfiler(ctx, pprofBase, cfg.WorkDir, 3*time.Second); err != nil {
			return res, fmt.Errorf("profiling the manager: %w", err)
		}
	}
	say("creating %d objects (%d environments x %d users, %d application users, %d roles, %d teams)",
		len(objs), cfg.Environments, cfg.UsersPerEnvironment, cfg.ApplicationUsers, cfg.Roles, cfg.Teams)
	start, cpuBefore := time.Now(), clock.sample()
	samples.record(start)
	if err := createAll(ctx, c, objs); err != nil {
		return res, err
	}
	res.CreateSeconds = time.Since(start).Seconds()
	say("created in %.1fs; waiting for every object to settle", res.CreateSeconds)
	stalled, settledAt, err := watch.waitSettled(ctx, cfg.Timeout, func(s, t int) { say("settled %d/%d", s, t) })
	if err != nil {
		return res, err
	}
	// From the first create to the watch event after which every object was settled.
	res.ConvergenceSeconds = settledAt.Sub(start).Seconds()
	res.ConvergenceCPU = clock.since(cpuBefore, time.Since(start).Seconds())
	res.Stalled = Expected{LimitReached: stalled[accessv1alpha1.ReasonNonInteractiveLimitReached], SeatsExhausted: stalled[accessv1alpha1.ReasonSeatsExhausted]}
	if res.Stalled != expected || len(stalled) > 2 {
		return res, fmt.Errorf("unexpected Stalled objects after convergence: got %v, want %+v; the first of the others:\n%s", stalled, expected,
			strings.Join(unexpectedStalled(watch.objects(ctx), 10), "\n"))
	}
	converged, err := scrape(metricsURL)
	if err != nil {
		return res, err
	}
	watched := watch.track.writeCounts()
	final, err := snapshot(watch.objects(ctx), objs)
	if err != nil {
		return res, err
	}
	reads, writes := converged.requests(false)-before.requests(false), converged.requests(true)-before.requests(true)
	res.ManagerWrites = int(writes)
	res.RequestsPerObject = (reads + writes) / float64(len(objs))
	res.ReadsPerObject = reads / float64(len(objs))
	res.WritesPerObject = writes / float64(len(objs))
	say("converged in %.1fs with %d writes and %d reads", res.ConvergenceSeconds, int(writes), int(reads))
	var dvConverged int
	if dv != nil {
		log, truncated, err := dv.requests(ctx)
		if err != nil {
			return res, fmt.Errorf("reading the emulator's request log: %w", err)
		}
		dvConverged = len(log)
		dv.saveLog(filepath.Join(cfg.WorkDir, "dataverse-requests-converge.json"), log)
		dvLog, grLog := graphLog(log)
		res.Dataverse.LogTruncated = truncated
		res.Dataverse.convergence(dvLog, len(objs), res.ConvergenceSeconds, dv.envNames())
		res.Dataverse.synced(watch.objects(ctx))
		say("Dataverse: %d requests (%d writes) to converge", res.Dataverse.Requests, res.Dataverse.Writes)
		if res.Entra != nil {
			dir, err := dv.directory(ctx)
			if err != nil {
				return res, fmt.Errorf("reading the tenant directory: %w", err)
			}
			res.Entra.LogTruncated = truncated
			res.Entra.convergence(grLog, dv.entraSeed, dir, res.ConvergenceSeconds)
			res.Entra.ManagerRequests = graphManager(before, converged)
			say("Graph: %d requests (%d writes, %d $batch holding %d) to converge", res.Entra.Requests, res.Entra.Writes, res.Entra.Batches, res.Entra.SubRequests)
		}
	}

	note := res.Breakdown.ProfileNote
	res.Breakdown = breakdownFrom(before, converged, watched)
	res.Breakdown.ProfileNote = note
	timeline, maxDepth := samples.stop(5 * time.Second)
	res.Breakdown.QueueTimeline = timeline
	settle, last := watch.track.settleTimes(start)
	for k, kb := range res.Breakdown.PerKind {
		kb.QueueMaxDepth, kb.Settle, kb.LastSettled = maxDepth[k], settle[k], last[k]
	}
	res.Breakdown.GrantLatency, res.Breakdown.Awaiting = watch.track.grantLatency(settledAt)
	if prof != nil {
		if err := prof.finish(ctx, &res.Breakdown); err != nil {
			res.Breakdown.ProfileNote = err.Error()
		}
	}

	if err := waitQuiet(ctx, metricsURL, 3*time.Second, time.Minute); err != nil {
		return res, err
	}
	quiet, err := scrape(metricsURL)
	if err != nil {
		return res, err
	}
	say("quiet %d writes after every object settled; idle for %s", int(quiet.requests(true)-converged.requests(true)), cfg.Idle)
	if dv != nil {
		log, truncated, err := dv.requests(ctx)
		if err != nil {
			return res, err
		}
		if !truncated {
			dvTail, grTail := graphLog(log[min(dvConverged, len(log)):])
			for _, l := range dvTail {
				res.Dataverse.TailRequests++
				if isWrite(l) {
					res.Dataverse.TailWrites++
				}
			}
			if res.Entra != nil {
				c := countGraph(grTail)
				res.Entra.TailRequests, res.Entra.TailWrites = c.requests, c.writes
			}
		}
		if err := dv.clearRequests(ctx); err != nil {
			return res, err
		}
	}
	idleStart, watchedBefore := time.Now(), watch.track.writeCounts()
	time.Sleep(cfg.Idle)
	idle, err := scrape(metricsURL)
	if err != nil {
		return res, err
	}
	if dv != nil {
		log, truncated, err := dv.requests(ctx)
		if err != nil {
			return res, err
		}
		window := time.Since(idleStart)
		dvLog, grLog := graphLog(log)
		res.Dataverse.LogTruncated = res.Dataverse.LogTruncated || truncated
		res.Dataverse.idle(dvLog, len(objs), window)
		res.Dataverse.IdleObjectUpdates = map[string]int{}
		for k, w := range watch.track.writeCounts() {
			if n := w.Updates - watchedBefore[k].Updates; n > 0 {
				res.Dataverse.IdleObjectUpdates[k] = n
			}
		}
		dv.saveLog(filepath.Join(cfg.WorkDir, "dataverse-requests-idle.json"), log)
		end := watch.objects(ctx)
		res.Dataverse.finalSynced(end)
		if res.Entra != nil {
			dir, err := dv.directory(ctx)
			if err != nil {
				return res, fmt.Errorf("reading the tenant directory: %w", err)
			}
			res.Entra.LogTruncated = res.Entra.LogTruncated || truncated
			res.Entra.idle(grLog, window, dv.entraSeed, dir)
			res.Entra.IdleManagerRequests = graphManager(quiet, idle)
			res.Entra.endState(end, dv.entraSeed, dir)
		}
	}
	res.IdleSeconds = cfg.Idle.Seconds()
	res.IdleWrites = int(idle.requests(true) - quiet.requests(true))

	if err := roleChange(ctx, c, watch, metricsURL, &res); err != nil {
		return res, err
	}
	if res.ManagedFieldsBytes, res.ObjectBytes, err = managedFieldsShare(ctx, c); err != nil {
		return res, err
	}
	res.PeakHeapInuseBytes = samples.peakHeap.Load()
	res.PeakRSSBytes = peakRSS(mgr.PID())

	say("stopping the manager for the floor")
	if err := mgr.Stop(); err != nil {
		return res, fmt.Errorf("stopping the manager: %w", err)
	}
	for _, f := range []struct {
		ns   string
		qps  float64
		into *FloorRun
	}{{namespace + "-floor", cfg.QPS, &res.Floor}, {namespace + "-floor-unthrottled", -1, &res.UnthrottledFloor}} {
		limits := "unthrottled"
		if f.qps > 0 {
			limits = fmt.Sprintf("at %g QPS, burst %d", f.qps, cfg.Burst)
		}
		say("measuring the floor %s: the same creates, one status write per object by a bare client", limits)
		floorStart, floorBefore := time.Now(), clock.sample()
		if *f.into, err = measureFloor(ctx, cluster.Admin, c, f.ns, cfg.Size, final, f.qps, cfg.Burst); err != nil {
			return res, err
		}
		if f.qps <= 0 {
			res.FloorCPU = clock.since(floorBefore, time.Since(floorStart).Seconds())
		}
		if err := clearFloor(ctx, c, f.ns); err != nil {
			return res, err
		}
	}
	res.FloorSeconds, res.UnthrottledFloorSeconds = res.Floor.Seconds, res.UnthrottledFloor.Seconds
	res.ConvergenceToFloor = res.ConvergenceSeconds / res.FloorSeconds
	res.ConvergenceToUnthrottledFloor = res.ConvergenceSeconds / res.UnthrottledFloorSeconds
	return res, nil
}

// Print writes the figures for people, then the JSON line for machines.
func Print(out io.Writer, r Result) {
	fmt.Fprintf(out, "objects:                         %d\n", r.Objects)
	fmt.Fprintf(out, "convergence:                     %.1f s from the first create to the last object settled (Ready, or Stalled for its expected reason: %d NonInteractiveLimitReached, %d SeatsExhausted); the bench's creates took %.1f s of it\n", r.ConvergenceSeconds, r.Stalled.LimitReached, r.Stalled.SeatsExhausted, r.CreateSeconds)
	fmt.Fprintf(out, "floor at the manager's limits:   %.1f s (%g QPS, burst %d; manager stopped: the same creates, then %d status writes, one per object; creates done at %.1f s)\n", r.FloorSeconds, r.QPS, r.Burst, r.Floor.StatusWrites, r.Floor.CreatesSeconds)
	fmt.Fprintf(out, "floor unthrottled:               %.1f s (%d status writes; creates done at %.1f s)\n", r.UnthrottledFloorSeconds, r.UnthrottledFloor.StatusWrites, r.UnthrottledFloor.CreatesSeconds)
	fmt.Fprintf(out, "convergence / floor:             %.2f (unthrottled floor: %.2f)\n", r.ConvergenceToFloor, r.ConvergenceToUnthrottledFloor)
	fmt.Fprintf(out, "CPU layout:                      %s\n", r.CPULayout)
	fmt.Fprintf(out, "CPU converging:                  %s\n", r.ConvergenceCPU)
	fmt.Fprintf(out, "CPU in the unthrottled floor:    %s\n", r.FloorCPU)
	fmt.Fprintf(out, "manager writes per object:       %.2f (%d writes; the minimum is 1, one status write per object)\n", r.WritesPerObject, r.ManagerWrites)
	fmt.Fprintf(out, "API requests per object:         %.2f (%.2f reads, %.2f writes)\n", r.RequestsPerObject, r.ReadsPerObject, r.WritesPerObject)
	fmt.Fprintf(out, "writes while idle:               %d in %.0f s\n", r.IdleWrites, r.IdleSeconds)
	fmt.Fprintf(out, "one role changed:                %d reconciles for %d holders, settled in %.2f s\n", r.RoleChangeReconciles, r.RoleHolders, r.RoleChangeSettleSeconds)
	fmt.Fprintf(out, "manager peak RSS:                %.1f MiB; peak Go heap in use %.1f MiB\n", float64(r.PeakRSSBytes)/(1<<20), float64(r.PeakHeapInuseBytes)/(1<<20))
	share := 0.0
	if r.ObjectBytes > 0 {
		share = 100 * float64(r.ManagedFieldsBytes) / float64(r.ObjectBytes)
	}
	fmt.Fprintf(out, "managedFields stripped from cache: %.1f MiB of %.1f MiB served (%.0f%%)\n", float64(r.ManagedFieldsBytes)/(1<<20), float64(r.ObjectBytes)/(1<<20), share)
	if r.Dataverse != nil {
		printDataverse(out, r.Dataverse, r.ConvergenceSeconds, r.Objects)
	}
	if r.Entra != nil {
		printEntra(out, r.Entra)
	}
	printBreakdown(out, r.Breakdown)
	line, _ := json.Marshal(r)
	fmt.Fprintln(out, string(line))
}

func createAll(ctx context.Context, c client.Client, objs []client.Object) error {
	// Environments first, then the rest in parallel: the order a GitOps tool would use is not
	// guaranteed anyway, and the operator must not care.
	work := make(chan client.Object)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				if err := c.Create(ctx, o); err != nil && firstErr.Load() == nil {
					firstErr.Store(fmt.Errorf("creating %T %s: %w", o, o.GetName(), err))
				}
			}
		}()
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return nil
}

// watcher keeps the bench's own informer cache of the five kinds, and a tracker of every watch
// event.
type watcher struct {
	cache cache.Cache
	track *tracker
}

func newWatcher(ctx context.Context, cfg *rest.Config) (*watcher, error) {
	ca, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultNamespaces: map[string]cache.Config{namespace: {}},
		DefaultTransform: cache.TransformStripManagedFields()})
	if err != nil {
		return nil, err
	}
	w := &watcher{cache: ca, track: newTracker()}
	for _, o := range []client.Object{&accessv1alpha1.Environment{}, &accessv1alpha1.PlatformUser{}, &accessv1alpha1.ApplicationUser{}, &accessv1alpha1.SecurityRole{}, &accessv1alpha1.Team{}} {
		inf, err := ca.GetInformer(ctx, o)
		if err != nil {
			return nil, err
		}
		if _, err := inf.AddEventHandler(w.track.handler()); err != nil {
			return nil, err
		}
	}
	go func() { _ = ca.Start(ctx) }()
	if !ca.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("the bench's cache did not sync")
	}
	return w, nil
}

func (w *watcher) objects(ctx context.Context) []client.Object {
	var out []client.Object
	lists := []client.ObjectList{&accessv1alpha1.EnvironmentList{}, &accessv1alpha1.PlatformUserList{}, &accessv1alpha1.ApplicationUserList{}, &accessv1alpha1.SecurityRoleList{}, &accessv1alpha1.TeamList{}}
	for _, l := range lists {
		if err := w.cache.List(ctx, l, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
			continue
		}
		items, _ := meta.ExtractList(l)
		for _, it := range items {
			out = append(out, it.(client.Object))
		}
	}
	return out
}

// waitSettled waits until the tracker has seen every object of the fleet settle (Ready, or
// Stalled for a reason a person must act on, and each Environment's user counts caught up), checks
// that against the cache, and returns the Stalled reasons counted and the moment of the watch
// event after which every object was settled.
func (w *watcher) waitSettled(ctx context.Context, timeout time.Duration, progress func(settled, total int)) (map[string]int, time.Time, error) {
	deadline := time.Now().Add(timeout)
	lastReport := time.Now()
	for {
		all, at, settled, total := w.track.settledNow()
		if all {
			if stalled, ok := w.settledInCache(ctx); ok {
				return stalled, at, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, time.Time{}, fmt.Errorf("%d of %d objects settled after %s", settled, total, timeout)
		}
		if time.Since(lastReport) > 10*time.Second {
			progress(settled, total)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, time.Time{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// settledInCache checks every object in the cache the way the tracker does, and counts the
// Stalled reasons.
func (w *watcher) settledInCache(ctx context.Context) (map[string]int, bool) {
	objs := w.objects(ctx)
	counts := userCounts(objs)
	stalled := map[string]int{}
	for _, o := range objs {
		if e, isEnv := o.(*accessv1alpha1.Environment); isEnv && !countsMatch(e, counts[e.Name]) {
			return nil, false
		}
		ok, reason := settledObject(o)
		if !ok {
			return nil, false
		}
		if reason != "" {
			stalled[reason]++
		}
	}
	return stalled, true
}

// userCounts counts, per environment, the users and application users and how many are enabled:
// what each Environment's status.users must say once it has caught up.
func userCounts(objs []client.Object) map[string][2]int32 {
	out := map[string][2]int32{}
	add := func(env string, enabled bool) {
		c := out[env]
		c[0]++
		if enabled {
			c[1]++
		}
		out[env] = c
	}
	for _, o := range objs {
		switch t := o.(type) {
		case *accessv1alpha1.PlatformUser:
			add(t.Spec.EnvironmentName, t.Status.Enabled)
		case *accessv1alpha1.ApplicationUser:
			add(t.Spec.EnvironmentName, t.Status.Enabled)
		}
	}
	return out
}

func countsMatch(e *accessv1alpha1.Environment, want [2]int32) bool {
	u := e.Status.Users
	return u != nil && u.Total == want[0] && u.Enabled == want[1]
}

// waitQuiet waits until the manager's write counter has not moved for quiet, so that the idle
// window measures idleness, not the tail of convergence (events are posted asynchronously).
func waitQuiet(ctx context.Context, url string, quiet, limit time.Duration) error {
	last, err := scrape(url)
	if err != nil {
		return err
	}
	since, deadline := time.Now(), time.Now().Add(limit)
	for time.Since(since) < quiet {
		if time.Now().After(deadline) {
			return fmt.Errorf("the manager kept writing for %s after every object settled", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		m, err := scrape(url)
		if err != nil {
			return err
		}
		if m.requests(true) != last.requests(true) {
			last, since = m, time.Now()
		}
	}
	return nil
}

// unexpectedStalled names up to n objects Stalled for a reason the workload does not provoke,
// with the message, so a failed run says what to look at.
func unexpectedStalled(objs []client.Object, n int) []string {
	var out []string
	for _, o := range objs {
		st := meta.FindStatusCondition(conditionsOf(o), accessv1alpha1.ConditionStalled)
		if st == nil || st.Status != metav1.ConditionTrue || st.Reason == accessv1alpha1.ReasonNonInteractiveLimitReached || st.Reason == accessv1alpha1.ReasonSeatsExhausted {
			continue
		}
		if out = append(out, fmt.Sprintf("  %s %s: %s: %s", kindOf(o), o.GetName(), st.Reason, st.Message)); len(out) == n {
			break
		}
	}
	return out
}

func conditionsOf(o client.Object) []metav1.Condition {
	return o.(accessv1alpha1.ConditionsGetter).GetConditions()
}

// settledObject: Ready True for the current generation, or Stalled True (with its reason).
func settledObject(o client.Object) (bool, string) {
	conds := conditionsOf(o)
	ready := meta.FindStatusCondition(conds, accessv1alpha1.ConditionReady)
	if ready == nil || ready.ObservedGeneration != o.GetGeneration() {
		return false, ""
	}
	if ready.Status == metav1.ConditionTrue {
		return true, ""
	}
	if st := meta.FindStatusCondition(conds, accessv1alpha1.ConditionStalled); st != nil && st.Status == metav1.ConditionTrue {
		return true, st.Reason
	}
	return false, ""
}

// roleChange renames one role and measures what that reconciles and how long its holders take.
func roleChange(ctx context.Context, c client.Client, w *watcher, metricsURL string, res *Result) error {
	const roleName = "env-00-role-00"
	holders := map[types.NamespacedName]bool{}
	for _, o := range w.objects(ctx) {
		var roles []accessv1alpha1.EffectiveRole
		switch t := o.(type) {
		case *accessv1alpha1.PlatformUser:
			roles = t.Status.EffectiveRoles
		case *accessv1alpha1.ApplicationUser:
			roles = t.Status.EffectiveRoles
		}
		for _, r := range roles {
			if r.Name == roleName {
				holders[client.ObjectKeyFromObject(o)] = true
			}
		}
	}
	res.RoleHolders = len(holders)
	before, err := scrape(metricsURL)
	if err != nil {
		return err
	}
	const renamed = "Role 0 (renamed)"
	patch := []byte(fmt.Sprintf(`{"spec":{"roleName":%q}}`, renamed))
	start := time.Now()
	if err := c.Patch(ctx, &accessv1alpha1.SecurityRole{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: roleName}}, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return err
	}
	for {
		done := 0
		for _, o := range w.objects(ctx) {
			if !holders[client.ObjectKeyFromObject(o)] {
				continue
			}
			var roles []accessv1alpha1.EffectiveRole
			switch t := o.(type) {
			case *accessv1alpha1.PlatformUser:
				roles = t.Status.EffectiveRoles
			case *accessv1alpha1.ApplicationUser:
				roles = t.Status.EffectiveRoles
			}
			for _, r := range roles {
				if r.Name == roleName && r.RoleName == renamed {
					done++
					break
				}
			}
		}
		if done == len(holders) {
			break
		}
		if time.Since(start) > 2*time.Minute {
			return fmt.Errorf("after a role change %d of %d holders reflected it within 2 minutes", done, len(holders))
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.RoleChangeSettleSeconds = time.Since(start).Seconds()
	// Let queued reconciles finish before counting them.
	time.Sleep(2 * time.Second)
	after, err := scrape(metricsURL)
	if err != nil {
		return err
	}
	res.RoleChangeReconciles = int(after.reconciles() - before.reconciles())
	return nil
}

// managedFieldsShare sums, over every PlatformUser as the API server serves it, the bytes of
// managedFields and of the whole object: what the manager's cache transform does not keep.
func managedFieldsShare(ctx context.Context, c client.Client) (int64, int64, error) {
	var l unstructured.UnstructuredList
	l.SetGroupVersionKind(accessv1alpha1.GroupVersion.WithKind("PlatformUserList"))
	if err := c.List(ctx, &l, client.InNamespace(namespace)); err != nil {
		return 0, 0, err
	}
	var mf, total int64
	for _, it := range l.Items {
		all, _ := json.Marshal(it.Object)
		fields, _ := json.Marshal(it.GetManagedFields())
		total += int64(len(all))
		mf += int64(len(fields))
	}
	return mf, total, nil
}

// metrics is one scrape of the manager's /metrics.
type metrics map[string]*dto.MetricFamily

func scrape(url string) (metrics, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// Uncompressed: gzip would cost the manager more CPU than the scrape itself, on loopback.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	return metrics(fams), err
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// requests sums the manager's client requests: writes (POST, PUT, PATCH, DELETE) or reads.
func (m metrics) requests(writes bool) float64 {
	total := 0.0
	f := m["rest_client_requests_total"]
	if f == nil {
		return 0
	}
	for _, s := range f.GetMetric() {
		switch label(s, "method") {
		case "POST", "PUT", "PATCH", "DELETE":
			if writes {
				total += s.GetCounter().GetValue()
			}
		default:
			if !writes {
				total += s.GetCounter().GetValue()
			}
		}
	}
	return total
}

func (m metrics) reconciles() float64 {
	total := 0.0
	if f := m["controller_runtime_reconcile_total"]; f != nil {
		for _, s := range f.GetMetric() {
			total += s.GetCounter().GetValue()
		}
	}
	return total
}

// peakRSS is the process's high-water resident set (VmHWM), from /proc.
func peakRSS(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb * 1024
		}
	}
	return 0
}
