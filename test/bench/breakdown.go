package bench

import (
	"context"
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

	"github.com/google/pprof/profile"
)

// Breakdown is where convergence's time and writes went, so the next person sees the bottleneck.
type Breakdown struct {
	// PerKind is keyed by kind (Environment, SecurityRole, ...).
	PerKind map[string]*KindBreakdown `json:"perKind"`
	// Requests counts the manager's API requests during convergence by "METHOD code".
	Requests map[string]int `json:"requests"`
	// RateLimiterWaitSeconds is the manager's total time waiting on its client-side limiter
	// (rest_client_rate_limiter_duration_seconds; absent unless the manager registers it: -1).
	RateLimiterWaitSeconds float64 `json:"rateLimiterWaitSeconds"`
	// GrantLatency: from the watch first seeing a user that needs a slot or seat to the watch first
	// seeing it among its Environment's holders.
	GrantLatency Latency `json:"grantLatencySeconds"`
	// Awaiting: each Environment's total time with Ready=False AwaitingAllocation.
	Awaiting Latency `json:"awaitingAllocationSeconds"`
	// QueueTimeline is the deepest each work queue was in each 5 s of convergence.
	QueueTimeline []QueueBucket `json:"-"`
	// CPUProfile and BlockProfile are the saved profiles ("" without a pprof endpoint).
	CPUProfile   string   `json:"cpuProfile,omitempty"`
	BlockProfile string   `json:"blockProfile,omitempty"`
	CPUTop       []string `json:"-"`
	CPUTopCum    []string `json:"-"`
	BlockTop     []string `json:"-"`
	BlockInside  []string `json:"-"`
	ProfileNote  string   `json:"profileNote,omitempty"`
}

// KindBreakdown is one kind's (one controller's) share of convergence.
type KindBreakdown struct {
	KindWrites
	// Reconciles by the kind's controller, and by result (success, error, requeue, requeue_after).
	Reconciles       int            `json:"reconciles"`
	ReconcileResults map[string]int `json:"reconcileResults,omitempty"`
	// ReconcileSeconds is the controller's summed reconcile time (workers overlap).
	ReconcileSeconds float64 `json:"reconcileSeconds"`
	// QueueAdds is how often an item was added to the controller's queue; QueueWaitMean the mean
	// seconds an item waited there before a worker took it.
	QueueAdds     int     `json:"queueAdds"`
	QueueWaitMean float64 `json:"queueWaitMeanSeconds"`
	QueueMaxDepth int     `json:"queueMaxDepth"`
	// Settle: from the watch first seeing an object to it being Ready or Stalled; LastSettled is
	// when the kind's last object settled, in seconds after the first create.
	Settle      Latency `json:"settleSeconds"`
	LastSettled float64 `json:"lastSettledSeconds"`
}

// QueueBucket is the deepest each queue was within one 5 s stretch.
type QueueBucket struct {
	From  time.Duration
	Depth map[string]int
}

// controllerKind maps a controller (and work queue) name to its kind.
func controllerKind(name string) string {
	for _, k := range kinds {
		if strings.EqualFold(name, k) {
			return k
		}
	}
	return name
}

// breakdownFrom fills the manager's side of the breakdown from two scrapes of its metrics.
func breakdownFrom(before, after metrics, watched map[string]KindWrites) Breakdown {
	b := Breakdown{PerKind: map[string]*KindBreakdown{}, Requests: map[string]int{}, RateLimiterWaitSeconds: -1}
	kind := func(name string) *KindBreakdown {
		k := controllerKind(name)
		if b.PerKind[k] == nil {
			b.PerKind[k] = &KindBreakdown{ReconcileResults: map[string]int{}}
		}
		return b.PerKind[k]
	}
	for _, k := range kinds {
		kind(k).KindWrites = watched[k]
	}
	for key, v := range delta(before.counters("controller_runtime_reconcile_total", "controller", "result"), after.counters("controller_runtime_reconcile_total", "controller", "result")) {
		parts := strings.SplitN(key, " ", 2)
		kb := kind(parts[0])
		kb.Reconciles += int(v)
		if len(parts) == 2 && v > 0 {
			kb.ReconcileResults[parts[1]] += int(v)
		}
	}
	sumB, _ := before.histograms("controller_runtime_reconcile_time_seconds", "controller")
	sumA, _ := after.histograms("controller_runtime_reconcile_time_seconds", "controller")
	for c, v := range delta(sumB, sumA) {
		kind(c).ReconcileSeconds = v
	}
	for q, v := range delta(before.counters("workqueue_adds_total", "name"), after.counters("workqueue_adds_total", "name")) {
		kind(q).QueueAdds = int(v)
	}
	wsB, wcB := before.histograms("workqueue_queue_duration_seconds", "name")
	wsA, wcA := after.histograms("workqueue_queue_duration_seconds", "name")
	counts := delta(wcB, wcA)
	for q, s := range delta(wsB, wsA) {
		if n := counts[q]; n > 0 {
			kind(q).QueueWaitMean = s / n
		}
	}
	for key, v := range delta(before.counters("rest_client_requests_total", "method", "code"), after.counters("rest_client_requests_total", "method", "code")) {
		if v > 0 {
			b.Requests[key] = int(v)
		}
	}
	if _, ok := after["rest_client_rate_limiter_duration_seconds"]; ok {
		lb, _ := before.histograms("rest_client_rate_limiter_duration_seconds")
		la, _ := after.histograms("rest_client_rate_limiter_duration_seconds")
		b.RateLimiterWaitSeconds = la[""] - lb[""]
	}
	return b
}

func delta(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		out[k] = v - before[k]
	}
	return out
}

// counters sums a counter or gauge family by the values of labels, joined with spaces.
func (m metrics) counters(family string, labels ...string) map[string]float64 {
	out := map[string]float64{}
	f := m[family]
	if f == nil {
		return out
	}
	for _, s := range f.GetMetric() {
		var key []string
		for _, l := range labels {
			key = append(key, label(s, l))
		}
		v := s.GetCounter().GetValue()
		if s.GetGauge() != nil {
			v = s.GetGauge().GetValue()
		}
		out[strings.Join(key, " ")] += v
	}
	return out
}

// histograms sums a histogram family's sample sums and counts by the values of labels.
func (m metrics) histograms(family string, labels ...string) (map[string]float64, map[string]float64) {
	sums, counts := map[string]float64{}, map[string]float64{}
	f := m[family]
	if f == nil {
		return sums, counts
	}
	for _, s := range f.GetMetric() {
		var key []string
		for _, l := range labels {
			key = append(key, label(s, l))
		}
		k := strings.Join(key, " ")
		sums[k] += s.GetHistogram().GetSampleSum()
		counts[k] += float64(s.GetHistogram().GetSampleCount())
	}
	return sums, counts
}

// sampler scrapes the manager's metrics every interval: the peak Go heap for the whole run, and
// while recording, the depth of every work queue.
type sampler struct {
	peakHeap  atomic.Int64
	mu        sync.Mutex
	recording bool
	start     time.Time
	samples   []queueSample
}

type queueSample struct {
	at    time.Duration
	depth map[string]float64
}

func startSampler(ctx context.Context, url string, interval time.Duration) *sampler {
	s := &sampler{}
	go func() {
		for ctx.Err() == nil {
			if m, err := scrape(url); err == nil {
				if f := m["go_memstats_heap_inuse_bytes"]; f != nil && len(f.GetMetric()) > 0 {
					if v := int64(f.GetMetric()[0].GetGauge().GetValue()); v > s.peakHeap.Load() {
						s.peakHeap.Store(v)
					}
				}
				s.mu.Lock()
				if s.recording {
					s.samples = append(s.samples, queueSample{at: time.Since(s.start), depth: m.counters("workqueue_depth", "name")})
				}
				s.mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
	}()
	return s
}

func (s *sampler) record(start time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recording, s.start = true, start
}

// stop ends recording and returns the timeline in buckets of width, and each queue's maximum.
func (s *sampler) stop(width time.Duration) ([]QueueBucket, map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recording = false
	var out []QueueBucket
	maxes := map[string]int{}
	for _, q := range s.samples {
		from := q.at.Truncate(width)
		if len(out) == 0 || out[len(out)-1].From != from {
			out = append(out, QueueBucket{From: from, Depth: map[string]int{}})
		}
		b := out[len(out)-1]
		for name, d := range q.depth {
			k := controllerKind(name)
			if int(d) > b.Depth[k] {
				b.Depth[k] = int(d)
			}
			if int(d) > maxes[k] {
				maxes[k] = int(d)
			}
		}
	}
	return out, maxes
}

// profiler takes the manager's CPU profile in consecutive chunks for as long as convergence runs
// (the length is not known in advance) and its block profile as the difference of two snapshots.
type profiler struct {
	base   string
	dir    string
	chunk  time.Duration
	stopCh chan struct{}
	done   chan struct{}
	cpu    []*profile.Profile
	err    error
	block0 *profile.Profile
}

func fetchProfile(ctx context.Context, url string) (*profile.Profile, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return profile.Parse(resp.Body)
}

// startProfiler snapshots the block profile and starts the CPU profile.
func startProfiler(ctx context.Context, base, dir string, chunk time.Duration) (*profiler, error) {
	p := &profiler{base: base, dir: dir, chunk: chunk, stopCh: make(chan struct{}), done: make(chan struct{})}
	var err error
	if p.block0, err = fetchProfile(ctx, base+"/debug/pprof/block"); err != nil {
		return nil, err
	}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stopCh:
				return
			default:
			}
			cp, err := fetchProfile(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.base, int(p.chunk.Seconds())))
			if err != nil {
				p.err = err
				return
			}
			p.cpu = append(p.cpu, cp)
		}
	}()
	return p, nil
}

// finish waits for the CPU chunk in flight, saves both profiles under dir and fills b with their
// top functions.
func (p *profiler) finish(ctx context.Context, b *Breakdown) error {
	close(p.stopCh)
	<-p.done
	if p.err != nil {
		return fmt.Errorf("cpu profile: %w", p.err)
	}
	block1, err := fetchProfile(ctx, p.base+"/debug/pprof/block")
	if err != nil {
		return fmt.Errorf("block profile: %w", err)
	}
	cpu, err := profile.Merge(p.cpu)
	if err != nil {
		return fmt.Errorf("merging cpu profiles: %w", err)
	}
	p.block0.Scale(-1)
	block, err := profile.Merge([]*profile.Profile{block1, p.block0})
	if err != nil {
		return fmt.Errorf("block profile difference: %w", err)
	}
	b.CPUProfile, b.BlockProfile = filepath.Join(p.dir, "cpu.pb.gz"), filepath.Join(p.dir, "block.pb.gz")
	for path, pr := range map[string]*profile.Profile{b.CPUProfile: cpu, b.BlockProfile: block} {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pr.Write(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	b.CPUTop = topFunctions(cpu, "cpu", 10, leaf, time.Duration(cpu.DurationNanos))
	b.CPUTopCum = topFunctions(cpu, "cpu", 10, nil, time.Duration(cpu.DurationNanos))
	b.BlockTop = topFunctions(block, "delay", 10, blockedAt, 0)
	// Inside reconciles only: what the workers waited on while they had work (the rate limiter,
	// the API server's answers, locks), rather than idle goroutines waiting for events.
	inside := block.Copy()
	kept := inside.Sample[:0]
	for _, s := range inside.Sample {
		if inReconcile(s) {
			kept = append(kept, s)
		}
	}
	inside.Sample = kept
	b.BlockInside = topFunctions(inside, "delay", 10, blockedInReconcile, 0)
	return nil
}

const modulePrefix = "github.com/accessplane/dataverse-access-operator/"

// leaf attributes a sample to its innermost function.
func leaf(s *profile.Sample) []string {
	for _, loc := range s.Location {
		for _, l := range loc.Line {
			if l.Function != nil {
				return []string{l.Function.Name}
			}
		}
	}
	return nil
}

// blockedAt attributes a blocking event to the innermost function outside the runtime and sync:
// the call that waited (a work queue's Get, the rate limiter, a channel receive in an informer).
func blockedAt(s *profile.Sample) []string {
	for _, loc := range s.Location {
		for _, l := range loc.Line {
			if l.Function == nil {
				continue
			}
			n := l.Function.Name
			if strings.HasPrefix(n, "runtime.") || strings.HasPrefix(n, "sync.") || strings.HasPrefix(n, "internal/") {
				continue
			}
			return []string{n}
		}
	}
	return leaf(s)
}

func inReconcile(s *profile.Sample) bool {
	for _, loc := range s.Location {
		for _, l := range loc.Line {
			if l.Function != nil && strings.Contains(l.Function.Name, "reconcileHandler") {
				return true
			}
		}
	}
	return false
}

// blockedInReconcile names the waiting call and the operator's function that made it.
func blockedInReconcile(s *profile.Sample) []string {
	site := blockedAt(s)
	for _, loc := range s.Location {
		for _, l := range loc.Line {
			if l.Function != nil && strings.HasPrefix(l.Function.Name, modulePrefix) && len(site) == 1 && site[0] != l.Function.Name {
				return []string{site[0] + " <- " + l.Function.Name}
			}
		}
	}
	return site
}

// shortName drops the module path, and the type arguments of a generic function but the kind
// it is instantiated for (scaffold[PlatformUser].writeStatus).
func shortName(f string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(f, '[')
		if open < 0 {
			b.WriteString(f)
			break
		}
		depth, end := 0, len(f)
		for i := open; i < len(f); i++ {
			if f[i] == '[' {
				depth++
			} else if f[i] == ']' {
				if depth--; depth == 0 {
					end = i
					break
				}
			}
		}
		args := f[open:min(end+1, len(f))]
		b.WriteString(f[:open])
		if i := strings.LastIndex(args, "v1alpha1."); i >= 0 {
			kind := args[i+len("v1alpha1."):]
			if j := strings.IndexFunc(kind, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') }); j >= 0 {
				kind = kind[:j]
			}
			b.WriteString("[" + kind + "]")
		} else {
			b.WriteString("[...]")
		}
		f = f[min(end+1, len(f)):]
	}
	return strings.ReplaceAll(b.String(), modulePrefix, "")
}

// topFunctions lists the n functions with the most of the sample type (flat by attribute, or
// cumulative when attribute is nil), as "share value function" lines.
func topFunctions(p *profile.Profile, sampleType string, n int, attribute func(*profile.Sample) []string, wall time.Duration) []string {
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == sampleType {
			idx = i
		}
	}
	if idx < 0 {
		return []string{fmt.Sprintf("(no %s samples)", sampleType)}
	}
	per := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[idx]
		total += v
		var fns []string
		if attribute != nil {
			fns = attribute(s)
		} else {
			seen := map[string]bool{}
			for _, loc := range s.Location {
				for _, l := range loc.Line {
					// The controller's own work loop is in every reconcile's stack: leave it out.
					if l.Function != nil && !seen[l.Function.Name] && l.Function.Name != "runtime.goexit" &&
						!strings.HasPrefix(l.Function.Name, "sigs.k8s.io/controller-runtime/pkg/internal/controller.") {
						seen[l.Function.Name] = true
						fns = append(fns, l.Function.Name)
					}
				}
			}
		}
		seen := map[string]bool{}
		for _, f := range fns {
			if f = shortName(f); !seen[f] {
				seen[f] = true
				per[f] += v
			}
		}
	}
	names := make([]string, 0, len(per))
	for f := range per {
		names = append(names, f)
	}
	sort.Slice(names, func(i, j int) bool {
		if per[names[i]] != per[names[j]] {
			return per[names[i]] > per[names[j]]
		}
		return names[i] < names[j]
	})
	var out []string
	head := fmt.Sprintf("total %s", time.Duration(total).Round(time.Millisecond))
	if wall > 0 {
		head += fmt.Sprintf(" in %s (%.0f%% of one core)", wall.Round(time.Second), 100*float64(total)/float64(wall))
	}
	out = append(out, head)
	for i, f := range names {
		if i == n {
			break
		}
		share := 0.0
		if total > 0 {
			share = 100 * float64(per[f]) / float64(total)
		}
		out = append(out, fmt.Sprintf("%5.1f%% %10s  %s", share, time.Duration(per[f]).Round(time.Millisecond), f))
	}
	return out
}

// printBreakdown writes the breakdown for people.
func printBreakdown(out io.Writer, b Breakdown) {
	fmt.Fprintf(out, "breakdown of convergence (where the time and the writes went):\n")
	fmt.Fprintf(out, "  %-16s %7s %10s %9s %8s %8s %9s %10s %9s %9s %11s %9s\n", "kind", "objects", "reconciles", "rec. time", "updates", "status", "no-status", "queue adds", "wait/add", "max depth", "settle mean", "last at")
	for _, k := range kinds {
		kb := b.PerKind[k]
		if kb == nil {
			continue
		}
		fmt.Fprintf(out, "  %-16s %7d %10d %8.1fs %8d %8d %9d %10d %8.2fs %9d %10.2fs %8.1fs\n", k, kb.Objects, kb.Reconciles, kb.ReconcileSeconds,
			kb.Updates, kb.StatusChanges, kb.SpecChanges+kb.MetadataOnly, kb.QueueAdds, kb.QueueWaitMean, kb.QueueMaxDepth, kb.Settle.Mean, kb.LastSettled)
	}
	fmt.Fprintf(out, "  (updates: every change the bench's watch saw after the create; status: those that changed the status; a status write\n")
	fmt.Fprintf(out, "   that changes nothing is a PATCH below but no update here)\n")
	var results []string
	for _, k := range kinds {
		if kb := b.PerKind[k]; kb != nil {
			var rs []string
			for r, n := range kb.ReconcileResults {
				rs = append(rs, fmt.Sprintf("%s %d", r, n))
			}
			sort.Strings(rs)
			results = append(results, fmt.Sprintf("%s: %s", k, strings.Join(rs, ", ")))
		}
	}
	fmt.Fprintf(out, "  reconcile results: %s\n", strings.Join(results, "; "))
	var tto []string
	for _, k := range kinds {
		if kb := b.PerKind[k]; kb != nil && kb.TransitionTimeOnly > 0 {
			tto = append(tto, fmt.Sprintf("%s %d of %d", k, kb.TransitionTimeOnly, kb.StatusChanges))
		}
	}
	if len(tto) > 0 {
		fmt.Fprintf(out, "  status changes that only moved a condition's lastTransitionTime: %s\n", strings.Join(tto, ", "))
	}
	for _, k := range kinds {
		kb := b.PerKind[k]
		if kb == nil || len(kb.StatusWhy) == 0 {
			continue
		}
		type why struct {
			what string
			n    int
		}
		var ws []why
		for w, n := range kb.StatusWhy {
			ws = append(ws, why{w, n})
		}
		sort.Slice(ws, func(i, j int) bool { return ws[i].n > ws[j].n || ws[i].n == ws[j].n && ws[i].what < ws[j].what })
		fmt.Fprintf(out, "  %s status changes by what moved (per object):", k)
		for i, w := range ws {
			if i == 8 {
				fmt.Fprintf(out, "; %d more kinds of change", len(ws)-i)
				break
			}
			fmt.Fprintf(out, "%s %s %.2f", map[bool]string{true: "", false: ";"}[i == 0], w.what, float64(w.n)/float64(max(1, kb.Objects)))
		}
		fmt.Fprintln(out)
	}
	var reqs []string
	for k, n := range b.Requests {
		reqs = append(reqs, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(reqs)
	fmt.Fprintf(out, "  manager requests (method code): %s\n", strings.Join(reqs, ", "))
	if b.RateLimiterWaitSeconds >= 0 {
		fmt.Fprintf(out, "  time waiting on the client-side limiter (summed over requests): %.1f s\n", b.RateLimiterWaitSeconds)
	}
	fmt.Fprintf(out, "  grant latency (user seen -> among its Environment's holders): %d grants, mean %.2f s, p50 %.2f s, max %.2f s\n",
		b.GrantLatency.Count, b.GrantLatency.Mean, b.GrantLatency.P50, b.GrantLatency.Max)
	fmt.Fprintf(out, "  Environments AwaitingAllocation (total per environment): mean %.2f s, max %.2f s over %d environments\n",
		b.Awaiting.Mean, b.Awaiting.Max, b.Awaiting.Count)
	if len(b.QueueTimeline) > 0 {
		fmt.Fprintf(out, "  work-queue depth, deepest in each 5 s:\n  %7s", "t")
		for _, k := range kinds {
			fmt.Fprintf(out, " %15s", k)
		}
		fmt.Fprintln(out)
		for _, q := range b.QueueTimeline {
			fmt.Fprintf(out, "  %6.0fs", q.From.Seconds())
			for _, k := range kinds {
				fmt.Fprintf(out, " %15d", q.Depth[k])
			}
			fmt.Fprintln(out)
		}
	}
	if b.ProfileNote != "" {
		fmt.Fprintf(out, "  profiles: %s\n", b.ProfileNote)
	}
	if b.CPUProfile != "" {
		fmt.Fprintf(out, "  manager CPU during convergence, top 10 by own time (%s; go tool pprof -top <manager binary> %s):\n", b.CPUTop[0], b.CPUProfile)
		for _, l := range b.CPUTop[1:] {
			fmt.Fprintf(out, "    %s\n", l)
		}
		fmt.Fprintf(out, "  manager CPU, top 10 cumulative:\n")
		for _, l := range b.CPUTopCum[1:] {
			fmt.Fprintf(out, "    %s\n", l)
		}
		fmt.Fprintf(out, "  manager blocking inside reconciles, top 10 waits (%s of blocking; <- the operator's caller):\n", b.BlockInside[0])
		for _, l := range b.BlockInside[1:] {
			fmt.Fprintf(out, "    %s\n", l)
		}
		fmt.Fprintf(out, "  manager blocking, all goroutines (idle informers and workers included), top 10 call sites (%s; %s):\n", b.BlockTop[0], b.BlockProfile)
		for _, l := range b.BlockTop[1:] {
			fmt.Fprintf(out, "    %s\n", l)
		}
	}
}
