package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

// shardObjects is an Environment and a PlatformUser; every shard namespace gets the same names,
// so that a manager reconciling the wrong namespace would find objects it could mistake for its
// own. The Environment creates three built-in roles (PowerApps: System Administrator, Basic User
// and Common Data Service User).
const shardObjects = `apiVersion: access.accessplane.io/v1alpha1
kind: Environment
metadata:
  name: sales
spec:
  displayName: Sales
  type: Sandbox
  product: PowerApps
  securityGroup: sales-users
  licenses:
  - sku: POWERAPPS_PER_USER
    seats: 5
---
apiVersion: access.accessplane.io/v1alpha1
kind: PlatformUser
metadata:
  name: alice
spec:
  environmentName: sales
  userName: alice@contoso.com
  license: POWERAPPS_PER_USER
  securityGroups: [sales-users]
  securityRoles: [sales-basic-user]
`

// reconciledNamespaces are the namespaces of the requests a manager's controllers reconciled,
// from controller-runtime's "Reconciling" line (logged at --zap-log-level=5), and how many lines
// there were.
func reconciledNamespaces(m *localcluster.Manager) ([]string, int) {
	GinkgoHelper()
	seen := map[string]bool{}
	n := 0
	for _, line := range m.LogLines(`"msg":"Reconciling"`) {
		var entry struct {
			Msg       string `json:"msg"`
			Namespace string `json:"namespace"`
		}
		Expect(json.Unmarshal([]byte(line), &entry)).To(Succeed(), line)
		if entry.Msg != "Reconciling" {
			continue
		}
		n++
		seen[entry.Namespace] = true
	}
	var out []string
	for ns := range seen {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out, n
}

// metricNamespaces are the values of the namespace label of a manager's dataverse_access_ series
// (plain HTTP: the shard managers run with --metrics-secure=false).
func metricNamespaces(m *localcluster.Manager) []string {
	GinkgoHelper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", m.MetricsPort))
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	seen := map[string]bool{}
	for key := range series(string(body)) {
		_, rest, ok := strings.Cut(key, `namespace="`)
		if !ok {
			continue
		}
		ns, _, _ := strings.Cut(rest, `"`)
		seen[ns] = true
	}
	var out []string
	for ns := range seen {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// startedLease is the leader-election lease the manager said it competes for.
func startedLease(m *localcluster.Manager) string {
	GinkgoHelper()
	lines := m.LogLines(`"msg":"starting manager"`)
	Expect(lines).To(HaveLen(1), m.LogTail(20))
	var entry struct {
		LeaderElectionID string   `json:"leaderElectionID"`
		WatchNamespaces  []string `json:"watchNamespaces"`
	}
	Expect(json.Unmarshal([]byte(lines[0]), &entry)).To(Succeed(), lines[0])
	Expect(entry.LeaderElectionID).NotTo(BeEmpty())
	return entry.LeaderElectionID
}

var _ = Describe("Sharding: two managers on disjoint namespaces, each with its own lease", Ordered, func() {
	const (
		leaseNS    = "shard-system"
		unwatched  = "shard-c"
		leaseValid = 15 * time.Second // controller-runtime's default LeaseDuration
	)
	shards := []struct {
		name       string
		namespaces []string
		flag       string
	}{
		{"a", []string{"shard-a"}, "shard-a"},
		// Two namespaces, given unsorted and with a duplicate: the flag's parsing, and a cache of
		// several namespaces (the metrics list every namespace of it).
		{"b", []string{"shard-b", "shard-b2"}, "shard-b2,shard-b,shard-b2"},
	}
	var mgrs []*localcluster.Manager
	var mgrA, mgrB *localcluster.Manager
	dumpOnFailure("shard-a", &mgrA)
	dumpOnFailure("shard-b", &mgrB)

	BeforeAll(func() {
		for _, ns := range []string{leaseNS, "shard-a", "shard-b", "shard-b2", unwatched} {
			kubectl("create", "namespace", ns)
		}
		// The unwatched namespace's objects exist before either manager starts, so that a manager
		// watching it would have had every chance to reconcile them.
		kubectlStdin(shardObjects, "apply", "-n", unwatched, "-f", "-")
		for _, s := range shards {
			By("starting shard " + s.name + ": --watch-namespaces=" + s.flag + ", leader election on, leases in " + leaseNS)
			mgrs = append(mgrs, startManager("manager-shard-"+s.name, cluster.Kubeconfig,
				"--leader-elect=true", "--leader-election-namespace="+leaseNS,
				"--watch-namespaces="+s.flag,
				"--metrics-secure=false", "--zap-log-level=5"))
		}
		mgrA, mgrB = mgrs[0], mgrs[1]
	})

	It("refuses a --watch-namespaces that is not a list of namespace names, naming the flag", func() {
		_, err := localcluster.StartManager(managerBin, cluster.Kubeconfig, filepath.Join(tmp, "manager-shard-invalid.log"), "--watch-namespaces=shard-a,Shard_B")
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(`--watch-namespaces=\"shard-a,Shard_B\": \"Shard_B\" is not a namespace name`))
	})

	It("both managers hold a lease of their own at the same time", func() {
		leaseA, leaseB := startedLease(mgrA), startedLease(mgrB)
		Expect(leaseA).NotTo(Equal(leaseB), "each shard competes for its own lease")
		Expect(leaseA).NotTo(Equal("dataverse-access-operator.access.accessplane.io"), "a shard does not take the unsharded lease")
		Eventually(func(g Gomega) {
			out, err := cluster.Kubectl(suiteCtx, "get", "lease", "-n", leaseNS, "-o", "json")
			g.Expect(err).NotTo(HaveOccurred())
			leases, err := localcluster.DecodeList([]byte(out))
			g.Expect(err).NotTo(HaveOccurred())
			holders := map[string]string{}
			for i := range leases {
				holder, _, _ := unstructured.NestedString(leases[i].Object, "spec", "holderIdentity")
				renew, _, _ := unstructured.NestedString(leases[i].Object, "spec", "renewTime")
				g.Expect(holder).NotTo(BeEmpty(), "lease %s is held", leases[i].GetName())
				renewed, err := time.Parse(time.RFC3339Nano, renew)
				g.Expect(err).NotTo(HaveOccurred(), "lease %s renewTime %q", leases[i].GetName(), renew)
				g.Expect(time.Since(renewed)).To(BeNumerically("<", leaseValid), "lease %s is current", leases[i].GetName())
				holders[leases[i].GetName()] = holder
			}
			g.Expect(holders).To(HaveLen(2))
			g.Expect(holders).To(HaveKey(leaseA))
			g.Expect(holders).To(HaveKey(leaseB))
			g.Expect(holders[leaseA]).NotTo(Equal(holders[leaseB]), "two managers, two holders")
		}).Should(Succeed())
	})

	It("each shard reconciles the Environment and PlatformUser of its own namespaces: Ready", func() {
		for _, s := range shards {
			for _, ns := range s.namespaces {
				kubectlStdin(shardObjects, "apply", "-n", ns, "-f", "-")
			}
		}
		for _, s := range shards {
			for _, ns := range s.namespaces {
				objs, err := cluster.WaitSettled(suiteCtx, ns, 5, 2*time.Minute, nil)
				Expect(err).NotTo(HaveOccurred(), "shard %s, namespace %s", s.name, ns)
				Expect(objs).To(HaveLen(5), "the Environment, its three built-in roles and the user")
				kubectl("wait", "-n", ns, "--for=condition=Ready", "--timeout=60s", "environment/sales", "platformuser/alice",
					"securityrole/sales-basic-user", "securityrole/sales-system-administrator", "securityrole/sales-common-data-service-user")
			}
		}
	})

	It("the namespace neither shard watches stays unreconciled", func() {
		Consistently(func(g Gomega) {
			for _, obj := range []string{"environment/sales", "platformuser/alice"} {
				o := readOne(unwatched, obj)
				observed, found, _ := unstructured.NestedInt64(o.Object, "status", "observedGeneration")
				g.Expect(found).To(BeTrue(), "%s: the CRD defaults status.observedGeneration", obj)
				g.Expect(observed).To(BeZero(), "%s was never observed", obj)
				g.Expect(unstructured.NestedSlice(o.Object, "status", "conditions")).To(BeEmpty(), obj)
			}
			g.Expect(kubectl("get", "securityroles", "-n", unwatched, "-o", "name")).To(BeEmpty(), "no built-in roles were created")
		}, 5*time.Second, time.Second).Should(Succeed())
	})

	It("each manager reconciled and reports only its own namespaces", func() {
		for i, s := range shards {
			m := mgrs[i]
			got, n := reconciledNamespaces(m)
			Expect(n).To(BeNumerically(">", 0), "shard %s logs its reconciles at --zap-log-level=5", s.name)
			Expect(got).To(Equal(s.namespaces), "shard %s reconciled requests of these namespaces only", s.name)
			Eventually(func() []string { return metricNamespaces(m) }).Should(Equal(s.namespaces),
				"shard %s's dataverse_access_ gauges name only its namespaces", s.name)
		}
	})

	It("deleting the objects: each shard removes its Environment's finalizer", func() {
		for _, s := range shards {
			for _, ns := range s.namespaces {
				kubectl("delete", "-n", ns, "platformuser/alice", "environment/sales", "--timeout=60s")
			}
		}
		kubectl("delete", "-n", unwatched, "platformuser/alice", "environment/sales", "--timeout=60s")
	})

	It("logged nothing its namespaces forbid and kept running", func() {
		for i, m := range mgrs {
			Expect(m.LogLines("unknown namespace for the cache")).To(BeEmpty(), "shard %s asked its cache for another namespace", shards[i].name)
			Expect(m.LogLines(`"level":"error"`)).To(BeEmpty(), "shard %s", shards[i].name)
			Expect(m.Running()).To(BeTrue())
		}
	})
})
