// Package bench measures the operator at scale, out of process: it starts a control plane and the
// real manager binary, creates a fleet of environments, users, roles and teams, and reports how
// long convergence takes against a floor measured in the same run, what it costs in API requests,
// what it writes while idle, what one role change reconciles, and the manager's memory.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
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
	// WorkDir holds the kubeconfig, the manager binary and its log.
	WorkDir string
}

// Result is every figure of a run; the last line the bench prints is this as JSON.
type Result struct {
	Objects                 int      `json:"objects"`
	ConvergenceSeconds      float64  `json:"convergenceSeconds"`
	ManagerWrites           int      `json:"managerWrites"`
	FloorSeconds            float64  `json:"floorSeconds"`
	ConvergenceToFloor      float64  `json:"convergenceToFloor"`
	RequestsPerObject       float64  `json:"requestsPerObject"`
	ReadsPerObject          float64  `json:"readsPerObject"`
	WritesPerObject         float64  `json:"writesPerObject"`
	IdleSeconds             float64  `json:"idleSeconds"`
	IdleWrites              int      `json:"idleWrites"`
	RoleHolders             int      `json:"roleHolders"`
	RoleChangeReconciles    int      `json:"roleChangeReconciles"`
	RoleChangeSettleSeconds float64  `json:"roleChangeSettleSeconds"`
	PeakRSSBytes            int64    `json:"peakRSSBytes"`
	PeakHeapInuseBytes      int64    `json:"peakHeapInuseBytes"`
	ManagedFieldsBytes      int64    `json:"managedFieldsBytes"`
	ObjectBytes             int64    `json:"objectBytes"`
	Stalled                 Expected `json:"stalled"`
	QPS                     float64  `json:"qps"`
	Burst                   int      `json:"burst"`
	MaxConcurrentReconciles int      `json:"maxConcurrentReconciles"`
}

const namespace = "bench"

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = accessv1alpha1.AddToScheme(s)
	return s
}()

// Run performs one measured run and writes its progress and figures to out.
func Run(ctx context.Context, cfg Config, out io.Writer) (Result, error) {
	res := Result{QPS: cfg.QPS, Burst: cfg.Burst, MaxConcurrentReconciles: cfg.MaxConcurrentReconciles}
	say := func(format string, args ...any) { fmt.Fprintf(out, "bench: "+format+"\n", args...) }

	root, err := localcluster.RepoRoot()
	if err != nil {
		return res, err
	}
	assets, err := localcluster.Assets(ctx, root, out)
	if err != nil {
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

	mgr, err := localcluster.StartManager(binary, cluster.Kubeconfig, filepath.Join(cfg.WorkDir, "manager.log"),
		"--metrics-secure=false", // the bench scrapes over plain HTTP on loopback
		fmt.Sprintf("--kube-api-qps=%g", cfg.QPS), fmt.Sprintf("--kube-api-burst=%d", cfg.Burst),
		fmt.Sprintf("--max-concurrent-reconciles=%d", cfg.MaxConcurrentReconciles))
	if err != nil {
		return res, err
	}
	defer mgr.Stop()
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", mgr.MetricsPort)
	peakHeap := sampleHeap(ctx, metricsURL)

	watch, err := newWatcher(ctx, fast)
	if err != nil {
		return res, err
	}

	objs, expected := workload(namespace, cfg.Size)
	res.Objects = len(objs)
	before, err := scrape(metricsURL)
	if err != nil {
		return res, err
	}
	say("creating %d objects (%d environments x %d users, %d application users, %d roles, %d teams)",
		len(objs), cfg.Environments, cfg.UsersPerEnvironment, cfg.ApplicationUsers, cfg.Roles, cfg.Teams)
	start := time.Now()
	if err := createAll(ctx, c, objs); err != nil {
		return res, err
	}
	say("created in %.1fs; waiting for every object to settle", time.Since(start).Seconds())
	stalled, err := watch.waitSettled(ctx, len(objs)+3*cfg.Environments, cfg.Timeout, func(s, t int) { say("settled %d/%d", s, t) })
	if err != nil {
		return res, err
	}
	res.ConvergenceSeconds = time.Since(start).Seconds()
	res.Stalled = Expected{LimitReached: stalled[accessv1alpha1.ReasonNonInteractiveLimitReached], SeatsExhausted: stalled[accessv1alpha1.ReasonSeatsExhausted]}
	if res.Stalled != expected || len(stalled) > 2 {
		return res, fmt.Errorf("unexpected Stalled objects after convergence: got %v, want %+v", stalled, expected)
	}
	converged, err := scrape(metricsURL)
	if err != nil {
		return res, err
	}
	reads, writes := converged.requests(false)-before.requests(false), converged.requests(true)-before.requests(true)
	res.ManagerWrites = int(writes)
	res.RequestsPerObject = (reads + writes) / float64(len(objs))
	res.ReadsPerObject = reads / float64(len(objs))
	res.WritesPerObject = writes / float64(len(objs))
	say("converged in %.1fs with %d writes and %d reads", res.ConvergenceSeconds, int(writes), int(reads))

	if err := waitQuiet(ctx, metricsURL, 3*time.Second, time.Minute); err != nil {
		return res, err
	}
	quiet, err := scrape(metricsURL)
	if err != nil {
		return res, err
	}
	say("quiet %d writes after every object settled; idle for %s", int(quiet.requests(true)-converged.requests(true)), cfg.Idle)
	time.Sleep(cfg.Idle)
	idle, err := scrape(metricsURL)
	if err != nil {
		return res, err
	}
	res.IdleSeconds = cfg.Idle.Seconds()
	res.IdleWrites = int(idle.requests(true) - quiet.requests(true))

	if err := roleChange(ctx, c, watch, metricsURL, &res); err != nil {
		return res, err
	}
	if res.ManagedFieldsBytes, res.ObjectBytes, err = managedFieldsShare(ctx, c); err != nil {
		return res, err
	}
	res.PeakHeapInuseBytes = peakHeap.Load()
	res.PeakRSSBytes = peakRSS(mgr.PID())

	say("measuring the floor: %d status writes by a bare client at %g QPS, burst %d", res.ManagerWrites, cfg.QPS, cfg.Burst)
	floor, err := measureFloor(ctx, cluster.Admin, cfg.QPS, cfg.Burst, res.ManagerWrites, watch.userNames())
	if err != nil {
		return res, err
	}
	res.FloorSeconds = floor.Seconds()
	res.ConvergenceToFloor = res.ConvergenceSeconds / res.FloorSeconds
	return res, nil
}

// Print writes the figures for people, then the JSON line for machines.
func Print(out io.Writer, r Result) {
	fmt.Fprintf(out, "objects:                         %d\n", r.Objects)
	fmt.Fprintf(out, "convergence:                     %.1f s (every object Ready, or Stalled for its expected reason: %d NonInteractiveLimitReached, %d SeatsExhausted)\n", r.ConvergenceSeconds, r.Stalled.LimitReached, r.Stalled.SeatsExhausted)
	fmt.Fprintf(out, "floor (%d writes, bare client):  %.1f s at %g QPS, burst %d\n", r.ManagerWrites, r.FloorSeconds, r.QPS, r.Burst)
	fmt.Fprintf(out, "convergence / floor:             %.2f\n", r.ConvergenceToFloor)
	fmt.Fprintf(out, "API requests per object:         %.2f (%.2f reads, %.2f writes)\n", r.RequestsPerObject, r.ReadsPerObject, r.WritesPerObject)
	fmt.Fprintf(out, "writes while idle:               %d in %.0f s\n", r.IdleWrites, r.IdleSeconds)
	fmt.Fprintf(out, "one role changed:                %d reconciles for %d holders, settled in %.2f s\n", r.RoleChangeReconciles, r.RoleHolders, r.RoleChangeSettleSeconds)
	fmt.Fprintf(out, "manager peak RSS:                %.1f MiB; peak Go heap in use %.1f MiB\n", float64(r.PeakRSSBytes)/(1<<20), float64(r.PeakHeapInuseBytes)/(1<<20))
	share := 0.0
	if r.ObjectBytes > 0 {
		share = 100 * float64(r.ManagedFieldsBytes) / float64(r.ObjectBytes)
	}
	fmt.Fprintf(out, "managedFields stripped from cache: %.1f MiB of %.1f MiB served (%.0f%%)\n", float64(r.ManagedFieldsBytes)/(1<<20), float64(r.ObjectBytes)/(1<<20), share)
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

// watcher keeps the bench's own informer cache of the five kinds.
type watcher struct {
	cache cache.Cache
}

func newWatcher(ctx context.Context, cfg *rest.Config) (*watcher, error) {
	ca, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultNamespaces: map[string]cache.Config{namespace: {}},
		DefaultTransform: cache.TransformStripManagedFields()})
	if err != nil {
		return nil, err
	}
	for _, o := range []client.Object{&accessv1alpha1.Environment{}, &accessv1alpha1.PlatformUser{}, &accessv1alpha1.ApplicationUser{}, &accessv1alpha1.SecurityRole{}, &accessv1alpha1.Team{}} {
		if _, err := ca.GetInformer(ctx, o); err != nil {
			return nil, err
		}
	}
	go func() { _ = ca.Start(ctx) }()
	if !ca.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("the bench's cache did not sync")
	}
	return &watcher{cache: ca}, nil
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

func (w *watcher) userNames() []string {
	var l accessv1alpha1.PlatformUserList
	_ = w.cache.List(context.Background(), &l, client.InNamespace(namespace), client.UnsafeDisableDeepCopy)
	var out []string
	for _, u := range l.Items {
		out = append(out, u.Name)
	}
	sort.Strings(out)
	return out
}

// waitSettled waits until at least want objects exist and each is Ready, or Stalled for a reason
// a person must act on; it returns the Stalled reasons counted.
func (w *watcher) waitSettled(ctx context.Context, want int, timeout time.Duration, progress func(settled, total int)) (map[string]int, error) {
	deadline := time.Now().Add(timeout)
	lastReport := time.Now()
	for {
		objs := w.objects(ctx)
		counts := userCounts(objs)
		settled, stalled := 0, map[string]int{}
		for _, o := range objs {
			if e, isEnv := o.(*accessv1alpha1.Environment); isEnv && !countsMatch(e, counts[e.Name]) {
				continue // its last writes, the user counts, are still to come
			}
			if ok, reason := settledObject(o); ok {
				settled++
				if reason != "" {
					stalled[reason]++
				}
			}
		}
		if len(objs) >= want && settled == len(objs) {
			return stalled, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d objects settled after %s", settled, len(objs), timeout)
		}
		if time.Since(lastReport) > 10*time.Second {
			progress(settled, len(objs))
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
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

// measureFloor performs n status writes with a bare client limited like the manager's: the
// least time any controller with that client could take to write n statuses.
func measureFloor(ctx context.Context, admin *rest.Config, qps float64, burst, n int, users []string) (time.Duration, error) {
	cfg := rest.CopyConfig(admin)
	cfg.QPS, cfg.Burst = float32(qps), burst
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return 0, err
	}
	if len(users) == 0 {
		return 0, fmt.Errorf("no users to write the floor's statuses to")
	}
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				u := &accessv1alpha1.PlatformUser{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: users[int(i)%len(users)]}}
				patch := []byte(fmt.Sprintf(`{"status":{"fullName":"floor %d"}}`, i))
				if err := c.Status().Patch(ctx, u, client.RawPatch(types.MergePatchType, patch)); err != nil && firstErr.Load() == nil {
					firstErr.Store(err)
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return time.Since(start), nil
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
	resp, err := http.Get(url)
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

// sampleHeap polls the manager's heap in use every second and keeps the peak.
func sampleHeap(ctx context.Context, url string) *atomic.Int64 {
	var peak atomic.Int64
	go func() {
		for ctx.Err() == nil {
			if m, err := scrape(url); err == nil {
				if f := m["go_memstats_heap_inuse_bytes"]; f != nil && len(f.GetMetric()) > 0 {
					if v := int64(f.GetMetric()[0].GetGauge().GetValue()); v > peak.Load() {
						peak.Store(v)
					}
				}
			}
			time.Sleep(time.Second)
		}
	}()
	return &peak
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
