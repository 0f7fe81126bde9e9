// Package e2e runs the operator the way its users do: the real manager binary as a separate
// process, driven with the real kubectl, against a kube-apiserver and etcd built from source.
// It installs the CRDs with kubectl, applies the samples in GitOps order, checks what kubectl,
// kstatus (Flux) and Argo CD's health checks report, proves that the install bundle's RBAC is
// enough by running the manager as its ServiceAccount, and scrapes the authenticated metrics.
//
//	make test-e2e            # or: go test ./test/e2e/ -count=1 -v
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

var (
	// root is the repository; tmp holds the manager binary, kubeconfigs and logs of this run.
	root, tmp string
	// managerBin is the manager, built from this tree for this run.
	managerBin string
	// emulatorBin is the Dataverse emulator (hack/dataverse-emulator), built from this tree.
	emulatorBin string
	cluster     *localcluster.Cluster
	// suiteCtx bounds every command of the suite.
	suiteCtx    context.Context
	suiteCancel context.CancelFunc
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(2 * time.Minute)
	SetDefaultEventuallyPollingInterval(500 * time.Millisecond)
	RunSpecs(t, "End-to-end Suite")
}

var _ = BeforeSuite(func() {
	suiteCtx, suiteCancel = context.WithTimeout(context.Background(), 25*time.Minute)
	var err error
	root, err = localcluster.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	tmp = GinkgoT().TempDir()

	By("building the control plane's binaries from source, or finding them in the cache")
	assets, err := localcluster.Assets(suiteCtx, root, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())

	By("building the manager binary from this tree")
	managerBin = filepath.Join(tmp, "manager")
	Expect(localcluster.BuildManager(suiteCtx, root, managerBin)).To(Succeed())

	By("building the Dataverse emulator binary from this tree")
	emulatorBin = filepath.Join(tmp, "dataverse-emulator")
	Expect(localcluster.BuildEmulator(suiteCtx, root, emulatorBin)).To(Succeed())

	By("rendering the install bundle: make build-installer writes dist/install.yaml")
	make := exec.CommandContext(suiteCtx, "make", "-s", "build-installer")
	make.Dir = root
	out, err := make.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "make build-installer:\n%s", out)

	By("starting kube-apiserver and etcd")
	cluster, err = localcluster.Start(assets, filepath.Join(tmp, "admin.kubeconfig"), "")
	Expect(err).NotTo(HaveOccurred())

	By("installing the CRDs: kubectl apply -k config/crd")
	Expect(cluster.InstallCRDs(suiteCtx, root)).To(Succeed())
})

var _ = AfterSuite(func() {
	if cluster != nil {
		Expect(cluster.Stop()).To(Succeed())
	}
	if suiteCancel != nil {
		suiteCancel()
	}
})

// kubectl runs kubectl as the cluster administrator and returns stdout; it fails the spec if
// kubectl fails.
func kubectl(args ...string) string {
	GinkgoHelper()
	out, err := cluster.Kubectl(suiteCtx, args...)
	Expect(err).NotTo(HaveOccurred())
	return out
}

// kubectlStdin is kubectl with input on stdin (for `-f -`).
func kubectlStdin(stdin string, args ...string) string {
	GinkgoHelper()
	out, _, err := cluster.KubectlWith(suiteCtx, cluster.Kubeconfig, strings.NewReader(stdin), args...)
	Expect(err).NotTo(HaveOccurred())
	return out
}

// jsonpath reads one field of an object with kubectl get -o jsonpath.
func jsonpath(namespace, object, path string) string {
	GinkgoHelper()
	return kubectl("get", "-n", namespace, object, "-o", "jsonpath={"+path+"}")
}

// readBack lists every object of the operator's kinds in namespace, as kubectl returns them.
func readBack(namespace string) []unstructured.Unstructured {
	GinkgoHelper()
	objs, err := cluster.Objects(suiteCtx, namespace)
	Expect(err).NotTo(HaveOccurred())
	return objs
}

// readOne reads one object back as kubectl returns it.
func readOne(namespace, object string) *unstructured.Unstructured {
	GinkgoHelper()
	objs, err := localcluster.DecodeList([]byte(kubectl("get", "-n", namespace, object, "-o", "json")))
	Expect(err).NotTo(HaveOccurred())
	Expect(objs).To(HaveLen(1))
	return &objs[0]
}

// startManager runs the manager binary with kubeconfig (and extraArgs after the local defaults)
// and stops it when the spec's container ends.
func startManager(name, kubeconfig string, extraArgs ...string) *localcluster.Manager {
	GinkgoHelper()
	m, err := localcluster.StartManager(managerBin, kubeconfig, filepath.Join(tmp, name+".log"), extraArgs...)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		if m.Running() {
			Expect(m.Stop()).To(Succeed(), "the manager exits cleanly on SIGTERM; its log:\n%s", m.LogTail(20))
		}
	})
	return m
}

// dumpOnFailure prints the objects of namespace and the manager's log when a spec fails.
func dumpOnFailure(namespace string, m **localcluster.Manager) {
	JustAfterEach(func() {
		if !CurrentSpecReport().Failed() {
			return
		}
		if out, err := cluster.Kubectl(suiteCtx, "get", "accessplane", "-n", namespace, "-o", "wide"); err == nil {
			fmt.Fprintf(GinkgoWriter, "kubectl get accessplane -n %s:\n%s\n", namespace, out)
		}
		if *m != nil {
			fmt.Fprintf(GinkgoWriter, "manager log %s (last lines):\n%s\n", (*m).LogPath, (*m).LogTail(60))
		}
	})
}

func readFile(rel string) string {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	Expect(err).NotTo(HaveOccurred())
	return string(data)
}
