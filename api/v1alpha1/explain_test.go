package v1alpha1_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The field descriptions are the documentation people read with kubectl explain: the markers'
// comments must reach the published OpenAPI schema.
var _ = Describe("kubectl explain", func() {
	It("AM1: shows the description and the values of puser.spec.accessMode", func() {
		assets := os.Getenv("KUBEBUILDER_ASSETS")
		Expect(assets).NotTo(BeEmpty(), "KUBEBUILDER_ASSETS must name the directory of kube-apiserver, etcd and kubectl")
		kubectl := filepath.Join(assets, "kubectl")
		Expect(kubectl).To(BeAnExistingFile())

		user, err := testEnv.AddUser(envtest.User{Name: "explain", Groups: []string{"system:masters"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		kubeconfig, err := user.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		dir := GinkgoT().TempDir()
		kubeconfigPath := filepath.Join(dir, "kubeconfig")
		Expect(os.WriteFile(kubeconfigPath, kubeconfig, 0o600)).To(Succeed())

		// The CRDs are established before the suite starts, but the aggregated OpenAPI document
		// that explain reads may publish them a moment later: poll, do not sleep.
		Eventually(func(g Gomega) string {
			cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfigPath, "--cache-dir", filepath.Join(dir, "cache"),
				"explain", "puser.spec.accessMode")
			out, err := cmd.CombinedOutput()
			g.Expect(err).NotTo(HaveOccurred(), "kubectl explain: %s", out)
			return strings.Join(strings.Fields(string(out)), " ")
		}).WithTimeout(60 * time.Second).WithPolling(250 * time.Millisecond).Should(SatisfyAll(
			ContainSubstring("GROUP: access.accessplane.io"),
			ContainSubstring("KIND: PlatformUser"),
			ContainSubstring("FIELD: accessMode <string>"),
			ContainSubstring("accessMode: ReadWrite (default; full access as the roles allow, needs a license), "+
				"Administrative (settings and administration only, no license), "+
				"NonInteractive (programmatic only, no license, at most seven per environment)."),
			ContainSubstring("ReadWrite Administrative NonInteractive"),
		))
	})
})
