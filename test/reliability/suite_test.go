// Package reliability kills and doubles the real manager binary while it converges, and checks
// the operator's invariants at every moment a watcher can observe (EV1).
package reliability

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

var (
	cluster *localcluster.Cluster
	binary  string
	workDir string
	k8s     client.WithWatch
	scheme  = runtime.NewScheme()
)

func TestReliability(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set: run through make test")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "Reliability Suite")
}

var _ = BeforeSuite(func(ctx context.Context) {
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(accessv1alpha1.AddToScheme(scheme)).To(Succeed())
	root, err := localcluster.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	workDir = GinkgoT().TempDir()
	binary = filepath.Join(workDir, "manager")
	Expect(localcluster.BuildManager(ctx, root, binary)).To(Succeed())
	cluster, err = localcluster.Start(os.Getenv("KUBEBUILDER_ASSETS"), filepath.Join(workDir, "kubeconfig"), "")
	Expect(err).NotTo(HaveOccurred())
	Expect(cluster.InstallCRDs(ctx, root)).To(Succeed())
	k8s, err = client.NewWithWatch(cluster.Admin, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(5*60e9))

var _ = AfterSuite(func() {
	if cluster != nil {
		Expect(cluster.Stop()).To(Succeed())
	}
})
