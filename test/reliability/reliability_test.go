package reliability

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

const (
	environments   = 3
	nonInteractive = 14
	licensed       = 12
	seats          = 8
)

// fleet creates, per environment, more NonInteractive users than slots and more licensed users
// than seats, all at once, so that allocation is busy when the manager dies.
func fleet(ctx context.Context, ns string) {
	var objs []client.Object
	for e := 0; e < environments; e++ {
		env := fmt.Sprintf("env-%d", e)
		objs = append(objs,
			&accessv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: env},
				Spec: accessv1alpha1.EnvironmentSpec{Licenses: []accessv1alpha1.LicenseSeats{{SKU: "PLAN1", Seats: seats}}}},
			&accessv1alpha1.SecurityRole{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: env + "-worker"},
				Spec: accessv1alpha1.SecurityRoleSpec{EnvironmentName: env, Tables: []accessv1alpha1.TablePermission{{Table: "webresource", PermissionSetting: accessv1alpha1.PermissionReference}}}})
		for i := 0; i < nonInteractive+licensed; i++ {
			spec := accessv1alpha1.PlatformUserSpec{EnvironmentName: env, UserName: fmt.Sprintf("u%02d@%s.example.com", i, env), Enabled: true,
				AccessMode: accessv1alpha1.AccessModeNonInteractive, SecurityRoles: []string{env + "-worker"}}
			if i >= nonInteractive {
				spec.AccessMode, spec.License = accessv1alpha1.AccessModeReadWrite, "PLAN1"
			}
			objs = append(objs, &accessv1alpha1.PlatformUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-u%02d", env, i)}, Spec: spec})
		}
	}
	var wg sync.WaitGroup
	for _, o := range objs {
		wg.Add(1)
		go func(o client.Object) {
			defer GinkgoRecover()
			defer wg.Done()
			Expect(k8s.Create(ctx, o)).To(Succeed())
		}(o)
	}
	wg.Wait()
}

// ledgers is what one observation of an Environment says.
type ledgers struct {
	slots, slotWaiting, seats, seatWaiting []string
}

func ledgerOf(e *accessv1alpha1.Environment) ledgers {
	names := func(es []accessv1alpha1.LedgerEntry) []string {
		var out []string
		for _, x := range es {
			out = append(out, x.Name)
		}
		return out
	}
	var l ledgers
	if e.Status.NonInteractive != nil {
		l.slots, l.slotWaiting = names(e.Status.NonInteractive.Holders), names(e.Status.NonInteractive.Waiting)
	}
	for _, s := range e.Status.Seats {
		l.seats, l.seatWaiting = names(s.Holders), names(s.Waiting)
	}
	return l
}

// invariantWatcher watches every Environment and records any observation that breaks EV1: more
// than seven slot holders, more seat holders than seats, or a holder that lost its grant while it
// still exists and still claims.
type invariantWatcher struct {
	mu          sync.Mutex
	violations  []string
	observed    int
	everHolding map[string]map[string]bool // env -> holders ever seen
	last        map[string]ledgers
}

func watchInvariants(ctx context.Context, ns string) *invariantWatcher {
	w := &invariantWatcher{everHolding: map[string]map[string]bool{}, last: map[string]ledgers{}}
	watch, err := k8s.Watch(ctx, &accessv1alpha1.EnvironmentList{}, client.InNamespace(ns))
	Expect(err).NotTo(HaveOccurred())
	go func() {
		defer watch.Stop()
		for ev := range watch.ResultChan() {
			e, ok := ev.Object.(*accessv1alpha1.Environment)
			if !ok {
				continue
			}
			l := ledgerOf(e)
			w.mu.Lock()
			w.observed++
			if len(l.slots) > accessv1alpha1.NonInteractiveSlotLimit {
				w.violations = append(w.violations, fmt.Sprintf("%s: %d slot holders %v", e.Name, len(l.slots), l.slots))
			}
			if len(l.seats) > seats {
				w.violations = append(w.violations, fmt.Sprintf("%s: %d seat holders for %d seats", e.Name, len(l.seats), seats))
			}
			held := map[string]bool{}
			for _, n := range append(append([]string{}, l.slots...), l.seats...) {
				held[n] = true
			}
			if w.everHolding[e.Name] == nil {
				w.everHolding[e.Name] = map[string]bool{}
			}
			// No user is deleted or changed in these tests, so a grant once seen must stay.
			for n := range w.everHolding[e.Name] {
				if !held[n] {
					w.violations = append(w.violations, fmt.Sprintf("%s: %s lost its grant (reshuffled)", e.Name, n))
				}
			}
			for n := range held {
				w.everHolding[e.Name][n] = true
			}
			w.last[e.Name] = l
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *invariantWatcher) report() (violations []string, observed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string{}, w.violations...), w.observed
}

func (w *invariantWatcher) holders() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, l := range w.last {
		n += len(l.slots) + len(l.seats)
	}
	return n
}

// settled reports whether every user is Ready or Stalled for its current generation, and every
// Environment Ready.
func settled(ctx context.Context, ns string) bool {
	var users accessv1alpha1.PlatformUserList
	var envs accessv1alpha1.EnvironmentList
	Expect(k8s.List(ctx, &users, client.InNamespace(ns))).To(Succeed())
	Expect(k8s.List(ctx, &envs, client.InNamespace(ns))).To(Succeed())
	if len(users.Items) != environments*(nonInteractive+licensed) || len(envs.Items) != environments {
		return false
	}
	for _, e := range envs.Items {
		if c := meta.FindStatusCondition(e.Status.Conditions, accessv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != e.Generation {
			return false
		}
	}
	for _, u := range users.Items {
		c := meta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionReady)
		if c == nil || c.ObservedGeneration != u.Generation {
			return false
		}
		if c.Status != metav1.ConditionTrue && !meta.IsStatusConditionTrue(u.Status.Conditions, accessv1alpha1.ConditionStalled) {
			return false
		}
	}
	return true
}

// creationOrder is EV1's order of the users of env that claim a slot (or a seat): creation time,
// name as tie-break.
func creationOrder(ctx context.Context, ns, env string, slot bool) []string {
	var users accessv1alpha1.PlatformUserList
	Expect(k8s.List(ctx, &users, client.InNamespace(ns))).To(Succeed())
	var mine []accessv1alpha1.PlatformUser
	for _, u := range users.Items {
		if u.Spec.EnvironmentName == env && (u.Spec.AccessMode == accessv1alpha1.AccessModeNonInteractive) == slot {
			mine = append(mine, u)
		}
	}
	sort.Slice(mine, func(i, j int) bool {
		a, b := mine[i], mine[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
	var out []string
	for _, u := range mine {
		out = append(out, u.Name)
	}
	return out
}

func newNamespace(ctx context.Context) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "rel-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

var _ = Describe("Reliability", Ordered, func() {
	It("EV1: after SIGKILL in the middle of convergence and a restart, everything converges, no slot or seat was reshuffled and no limit was ever exceeded", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		watcher := watchInvariants(ctx, ns)
		// Only this spec's namespace: other specs' Dataverse environments point at emulators that
		// are gone, and their retries would hold the workers this spec measures.
		mgr, err := localcluster.StartManager(binary, cluster.Kubeconfig, filepath.Join(workDir, "killed.log"), "--watch-namespaces="+ns)
		Expect(err).NotTo(HaveOccurred())
		fleet(ctx, ns)

		By("killing the manager once some, not all, grants are written")
		Eventually(watcher.holders, "60s", "2ms").Should(BeNumerically(">=", 3))
		Expect(mgr.Kill()).To(Succeed())
		_, observedAtKill := watcher.report()
		Expect(settled(ctx, ns)).To(BeFalse(), "the kill must land before convergence, or it proves nothing")

		By("restarting it")
		restarted, err := localcluster.StartManager(binary, cluster.Kubeconfig, filepath.Join(workDir, "restarted.log"), "--watch-namespaces="+ns)
		Expect(err).NotTo(HaveOccurred())
		defer restarted.Stop()
		Eventually(func() bool { return settled(ctx, ns) }, "120s", "250ms").Should(BeTrue())

		violations, observed := watcher.report()
		Expect(violations).To(BeEmpty())
		Expect(observed).To(BeNumerically(">", observedAtKill), "the watcher saw the restarted manager's writes")
		for e := 0; e < environments; e++ {
			env := fmt.Sprintf("env-%d", e)
			var got accessv1alpha1.Environment
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: env}, &got)).To(Succeed())
			l := ledgerOf(&got)
			slots, seatsOrder := creationOrder(ctx, ns, env, true), creationOrder(ctx, ns, env, false)
			Expect(l.slots).To(ConsistOf(slots[:accessv1alpha1.NonInteractiveSlotLimit]), "EV1: the slots go to the first seven by creation")
			Expect(l.slotWaiting).To(Equal(slots[accessv1alpha1.NonInteractiveSlotLimit:]), "EV1: the rest wait in creation order")
			Expect(l.seats).To(ConsistOf(seatsOrder[:seats]))
			Expect(l.seatWaiting).To(Equal(seatsOrder[seats:]))
		}
	})

	It("EV1: with two managers electing a leader, only the leader reconciles and writes", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		watcher := watchInvariants(ctx, ns)
		start := func(name string) *localcluster.Manager {
			m, err := localcluster.StartManager(binary, cluster.Kubeconfig, filepath.Join(workDir, name+".log"),
				"--leader-elect=true", "--leader-election-namespace=default", "--metrics-secure=false", "--watch-namespaces="+ns)
			Expect(err).NotTo(HaveOccurred())
			return m
		}
		first := start("first")
		defer first.Stop()
		Eventually(func() []string { return first.LogLines("successfully acquired lease") }, "60s").ShouldNot(BeEmpty())
		second := start("second")
		defer second.Stop()
		fleet(ctx, ns)
		Eventually(func() bool { return settled(ctx, ns) }, "120s", "250ms").Should(BeTrue())

		Expect(second.LogLines("successfully acquired lease")).To(BeEmpty(), "the second manager never led")
		Expect(reconciles(first)).To(BeNumerically(">", 0))
		Expect(reconciles(second)).To(BeZero(), "a follower does not reconcile")
		Expect(writes(second)).To(BeNumerically("<=", 1), "a follower writes nothing (at most one attempt to create the lease)")
		violations, _ := watcher.report()
		Expect(violations).To(BeEmpty())
	})
})

func scrape(m *localcluster.Manager) string {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", m.MetricsPort))
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return string(body)
}

// sum adds the samples of a counter whose label set contains every filter.
func sum(metrics, name string, filters ...string) float64 {
	total := 0.0
	for _, line := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, f := range filters {
			ok = ok && strings.Contains(line, f)
		}
		if !ok {
			continue
		}
		var v float64
		fields := strings.Fields(line)
		fmt.Sscanf(fields[len(fields)-1], "%g", &v)
		total += v
	}
	return total
}

func reconciles(m *localcluster.Manager) float64 {
	return sum(scrape(m), "controller_runtime_reconcile_total")
}

func writes(m *localcluster.Manager) float64 {
	body := scrape(m)
	total := 0.0
	for _, verb := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		total += sum(body, "rest_client_requests_total", `method="`+verb+`"`)
	}
	return total
}
