package e2e

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

const (
	chartDir        = "charts/dataverse-access-operator"
	nondefaultChart = "hack/chart/testdata/values-nondefault.yaml"
)

// helmBin is bin/helm, which make helm installs (make test-e2e depends on it).
func helmBin() string {
	GinkgoHelper()
	path := filepath.Join(root, "bin", "helm")
	if _, err := os.Stat(path); err != nil {
		cmd := exec.CommandContext(suiteCtx, "make", "-s", "helm")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "make helm:\n%s", out)
	}
	return path
}

// helm runs bin/helm in the repository and returns stdout; it fails the spec if helm fails.
func helm(args ...string) string {
	GinkgoHelper()
	cmd := exec.CommandContext(suiteCtx, helmBin(), args...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	Expect(cmd.Run()).To(Succeed(), "helm %s:\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
	return stdout.String()
}

// splitDocs decodes a multi-document YAML stream into its objects.
func splitDocs(text string) []*unstructured.Unstructured {
	GinkgoHelper()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(text)))
	var out []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			break
		}
		Expect(err).NotTo(HaveOccurred())
		var m map[string]interface{}
		Expect(yaml.Unmarshal(doc, &m)).To(Succeed())
		if len(m) > 0 {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
	return out
}

func byKindName(docs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, d := range docs {
		out[d.GetKind()+"/"+d.GetName()] = d
	}
	return out
}

func toYAML(docs []*unstructured.Unstructured, skipKinds ...string) string {
	GinkgoHelper()
	var parts []string
	for _, d := range docs {
		skip := false
		for _, k := range skipKinds {
			skip = skip || d.GetKind() == k
		}
		if skip {
			continue
		}
		b, err := yaml.Marshal(d.Object)
		Expect(err).NotTo(HaveOccurred())
		parts = append(parts, string(b))
	}
	return strings.Join(parts, "---\n")
}

// withoutPresentation drops what the chart legitimately renders differently from the kustomize
// bundle: labels and annotations (Helm's own), the image (a value), and the Deployment's
// selector, whose labels add the release's instance so that two releases never select each
// other's pods.
func withoutPresentation(obj *unstructured.Unstructured) map[string]interface{} {
	o := obj.DeepCopy().Object
	unstructured.RemoveNestedField(o, "metadata", "labels")
	unstructured.RemoveNestedField(o, "metadata", "annotations")
	if obj.GetKind() == "Deployment" {
		unstructured.RemoveNestedField(o, "spec", "selector")
		unstructured.RemoveNestedField(o, "spec", "template", "metadata")
		containers, _, _ := unstructured.NestedSlice(o, "spec", "template", "spec", "containers")
		for _, c := range containers {
			delete(c.(map[string]interface{}), "image")
			delete(c.(map[string]interface{}), "imagePullPolicy")
		}
		Expect(unstructured.SetNestedSlice(o, containers, "spec", "template", "spec", "containers")).To(Succeed())
	}
	switch obj.GetKind() {
	case "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
		// Cluster-scoped; kustomize's namespace transformer sets a namespace on them anyway, which
		// the API server ignores and the chart leaves out.
		unstructured.RemoveNestedField(o, "metadata", "namespace")
	}
	if obj.GetKind() == "Service" {
		unstructured.RemoveNestedField(o, "spec", "selector")
	}
	return o
}

func deploymentOf(docs []*unstructured.Unstructured) (*unstructured.Unstructured, map[string]interface{}) {
	GinkgoHelper()
	var d *unstructured.Unstructured
	for _, doc := range docs {
		if doc.GetKind() == "Deployment" {
			Expect(d).To(BeNil(), "one Deployment")
			d = doc
		}
	}
	Expect(d).NotTo(BeNil())
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	Expect(containers).To(HaveLen(1))
	return d, containers[0].(map[string]interface{})
}

var _ = Describe("The Helm chart (charts/dataverse-access-operator)", Ordered, func() {
	const (
		release   = "dvao-e2e"
		releaseNS = "dvao-chart"
		samplesNS = "contoso-chart"
	)

	It("is what make chart renders from config/ (hack/chart), file for file", func() {
		out := filepath.Join(tmp, "chart")
		cmd := exec.CommandContext(suiteCtx, "go", "run", "./hack/chart", "-kustomize", filepath.Join(root, "bin", "kustomize"), "-out", out)
		cmd.Dir = root
		b, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", b)
		generated := map[string]bool{}
		Expect(filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(out, path)
			generated[rel] = true
			want, err := os.ReadFile(path)
			Expect(err).NotTo(HaveOccurred())
			Expect(readFile(filepath.Join(chartDir, rel))).To(Equal(string(want)), "%s differs from what make chart renders: run make chart", rel)
			return nil
		})).To(Succeed())
		for _, sub := range []string{"templates", "crds"} {
			entries, err := os.ReadDir(filepath.Join(root, chartDir, sub))
			Expect(err).NotTo(HaveOccurred())
			for _, e := range entries {
				Expect(generated).To(HaveKey(filepath.Join(sub, e.Name())), "%s/%s is not generated: make chart would delete it", sub, e.Name())
			}
		}
		Expect(generated).To(HaveKey("values.yaml"))
	})

	It("passes helm lint --strict with its defaults and with every value set", func() {
		helm("lint", "--strict", chartDir)
		helm("lint", "--strict", chartDir, "-f", nondefaultChart)
	})

	It("helm template with the defaults renders what make build-installer renders (dist/install.yaml), less the Namespace", func() {
		chart := byKindName(splitDocs(helm("template", "dataverse-access-operator", chartDir,
			"-n", "dataverse-access-operator-system", "--include-crds")))
		bundle := bundleDocs()
		count := 0
		for _, d := range bundle {
			if d.GetKind() == "Namespace" {
				continue
			}
			count++
			key := d.GetKind() + "/" + d.GetName()
			Expect(chart).To(HaveKey(key), "the chart renders %s", key)
			Expect(withoutPresentation(chart[key])).To(Equal(withoutPresentation(d)), "%s", key)
		}
		Expect(chart).To(HaveLen(count), "the chart renders nothing the bundle lacks")
		_, c := deploymentOf(splitDocs(helm("template", "dataverse-access-operator", chartDir)))
		Expect(c["image"]).To(Equal("dataverse-access-operator:dev"), "image.repository, and the chart's appVersion as the tag")
	})

	It("helm template with every value set puts each where it belongs", func() {
		docs := splitDocs(helm("template", release, chartDir, "-n", releaseNS, "-f", nondefaultChart))
		for _, d := range docs {
			if d.GetKind() != "ServiceAccount" { // serviceAccount.name names it
				Expect(d.GetName()).To(HavePrefix("dvao-"), "fullnameOverride names %s %s", d.GetKind(), d.GetName())
			}
			Expect(d.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/instance", release))
			if d.GetNamespace() != "" {
				Expect(d.GetNamespace()).To(Equal(releaseNS))
			}
		}
		objs := byKindName(docs)
		Expect(objs).To(HaveKey("ServiceMonitor/dvao-controller-manager-metrics"))
		sm := objs["ServiceMonitor/dvao-controller-manager-metrics"]
		Expect(sm.GetLabels()).To(HaveKeyWithValue("release", "prometheus"))
		endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		Expect(endpoints).To(ContainElement(HaveKeyWithValue("interval", "15s")))
		Expect(objs).To(HaveKey("ServiceAccount/dataverse-operator"))
		Expect(objs["ServiceAccount/dataverse-operator"].GetAnnotations()).To(HaveKeyWithValue("azure.workload.identity/client-id", "00000000-0000-0000-0000-000000000001"))
		for _, binding := range []string{"ClusterRoleBinding/dvao-manager-rolebinding", "ClusterRoleBinding/dvao-metrics-auth-rolebinding", "RoleBinding/dvao-leader-election-rolebinding"} {
			Expect(objs).To(HaveKey(binding))
			subjects, _, _ := unstructured.NestedSlice(objs[binding].Object, "subjects")
			Expect(subjects).To(ConsistOf(And(
				HaveKeyWithValue("name", "dataverse-operator"), HaveKeyWithValue("namespace", releaseNS))), binding)
		}

		d, c := deploymentOf(docs)
		replicas, _, _ := unstructured.NestedFieldNoCopy(d.Object, "spec", "replicas")
		Expect(replicas).To(BeEquivalentTo(3))
		pod, _, _ := unstructured.NestedMap(d.Object, "spec", "template", "spec")
		Expect(pod).To(HaveKeyWithValue("serviceAccountName", "dataverse-operator"))
		Expect(pod).To(HaveKeyWithValue("imagePullSecrets", ConsistOf(HaveKeyWithValue("name", "registry-credentials"))))
		Expect(pod).To(HaveKeyWithValue("nodeSelector", HaveKeyWithValue("kubernetes.io/os", "linux")))
		Expect(pod).To(HaveKeyWithValue("tolerations", ConsistOf(HaveKeyWithValue("value", "platform"))))
		Expect(pod).To(HaveKeyWithValue("affinity", HaveKey("podAntiAffinity")))
		Expect(pod).To(HaveKeyWithValue("priorityClassName", "system-cluster-critical"))
		Expect(pod).To(HaveKeyWithValue("securityContext", HaveKeyWithValue("runAsUser", BeEquivalentTo(10001))))
		Expect(d.Object).To(HaveKeyWithValue("spec", HaveKeyWithValue("template", HaveKeyWithValue("metadata", And(
			HaveKeyWithValue("labels", HaveKeyWithValue("azure.workload.identity/use", "true")),
			HaveKeyWithValue("annotations", HaveKeyWithValue("example.com/owner", "platform-team")))))))
		Expect(c["image"]).To(Equal("registry.example.com/platform/dataverse-access-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
			"a digest wins over the tag")
		Expect(c["imagePullPolicy"]).To(Equal("Always"))
		Expect(c["args"]).To(ConsistOf(
			"--leader-elect=true", "--metrics-bind-address=:8443", "--health-probe-bind-address=:8081",
			"--kube-api-qps=50", "--kube-api-burst=80", "--max-concurrent-reconciles=8",
			"--dataverse-requests-per-minute=3000", "--dataverse-max-concurrent=26", "--dataverse-budget-share=0.5",
			"--watch-namespaces=contoso,fabrikam", "--zap-log-level=debug"))
		Expect(c["env"]).To(ContainElements(
			HaveKeyWithValue("name", "AZURE_CLIENT_ID"),
			And(HaveKeyWithValue("name", "AZURE_TENANT_ID"), HaveKey("valueFrom"))))
		Expect(c["envFrom"]).To(ConsistOf(HaveKeyWithValue("secretRef", HaveKeyWithValue("name", "dataverse-client"))))
		Expect(c["resources"]).To(HaveKeyWithValue("limits", HaveKeyWithValue("memory", "1Gi")))
		Expect(c["volumeMounts"]).To(ConsistOf(HaveKeyWithValue("mountPath", "/var/run/secrets/azure/tokens")))
		Expect(pod).To(HaveKeyWithValue("volumes", ConsistOf(HaveKeyWithValue("name", "azure-identity-token"))))

		By("metrics.enabled=false: no metrics endpoint, no Service, no ServiceMonitor")
		off := byKindName(splitDocs(helm("template", release, chartDir, "-f", nondefaultChart, "--set", "metrics.enabled=false")))
		for key := range off {
			Expect(key).NotTo(HavePrefix("Service/"))
			Expect(key).NotTo(HavePrefix("ServiceMonitor/"))
		}
		_, c = deploymentOf(splitDocs(helm("template", release, chartDir, "--set", "metrics.enabled=false,leaderElection.enabled=false,replicaCount=1")))
		Expect(c["args"]).To(ContainElements("--metrics-bind-address=0", "--leader-elect=false"))
		Expect(c["args"]).NotTo(ContainElement(HavePrefix("--kube-api-qps")), "an unset limit leaves the manager's default")
	})

	It("kubectl apply --dry-run=server accepts the render, CRDs included, without Pod Security warnings in a restricted namespace", func() {
		kubectl("create", "namespace", releaseNS)
		kubectl("label", "namespace", releaseNS, "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted")
		dryRun := func(render string) (string, string) {
			stdout, stderr, err := cluster.KubectlWith(suiteCtx, cluster.Kubeconfig, strings.NewReader(render), "apply", "--dry-run=server", "-n", releaseNS, "-f", "-")
			Expect(err).NotTo(HaveOccurred())
			return stdout, stderr
		}
		for _, values := range [][]string{nil, {"-f", nondefaultChart}} {
			docs := splitDocs(helm(append([]string{"template", release, chartDir, "-n", releaseNS, "--include-crds"}, values...)...))
			// No ServiceMonitor: its CRD (prometheus-operator's) is not in this cluster.
			stdout, stderr := dryRun(toYAML(docs, "ServiceMonitor"))
			want := 0
			for _, d := range docs {
				if d.GetKind() != "ServiceMonitor" {
					want++
				}
			}
			Expect(strings.Count(stdout, "(server dry run)")).To(Equal(want), "%v:\n%s", values, stdout)
			Expect(stderr).NotTo(ContainSubstring("PodSecurity"), "%v", values)
		}

		By("the check itself: a container allowed to escalate privileges draws the warning")
		_, stderr := dryRun(helm("template", release, chartDir, "-n", releaseNS, "--set", "securityContext.allowPrivilegeEscalation=true"))
		Expect(stderr).To(ContainSubstring("would violate PodSecurity"))
	})

	Context("the manager as the chart's ServiceAccount, with only the chart's RBAC", func() {
		var mgr *localcluster.Manager
		var saUser, impersonal string
		dumpOnFailure(samplesNS, &mgr)

		BeforeAll(func() {
			docs := splitDocs(helm("template", release, chartDir, "-n", releaseNS))
			var rbac []*unstructured.Unstructured
			var deploymentSA, saName string
			for _, d := range docs {
				switch d.GetKind() {
				case "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
					rbac = append(rbac, d)
				case "Deployment":
					deploymentSA, _, _ = unstructured.NestedString(d.Object, "spec", "template", "spec", "serviceAccountName")
				}
				if d.GetKind() == "ServiceAccount" {
					saName = d.GetName()
				}
			}
			Expect(saName).NotTo(BeEmpty())
			Expect(deploymentSA).To(Equal(saName), "the Deployment runs as the chart's ServiceAccount")
			By("kubectl apply of the chart's ServiceAccount, Roles, ClusterRoles and bindings")
			kubectlStdin(toYAML(rbac), "apply", "-n", releaseNS, "-f", "-")
			saUser = "system:serviceaccount:" + releaseNS + ":" + saName
			impersonal = filepath.Join(tmp, "chart-serviceaccount.kubeconfig")
			Expect(cluster.WriteKubeconfig(impersonal, "", saUser)).To(Succeed())
			By("starting the manager as that ServiceAccount, with leader election in the release's namespace (the chart's Role)")
			mgr = startManager("manager-chart", impersonal, "--leader-elect=true", "--leader-election-namespace="+releaseNS)
		})

		It("has exactly the permissions the manager needs", func() {
			can := func(args ...string) string {
				out, stderr, _ := cluster.KubectlWith(suiteCtx, impersonal, nil, append([]string{"auth", "can-i"}, args...)...)
				return strings.TrimSpace(out + stderr)
			}
			Expect(can("update", "platformusers.access.accessplane.io", "--subresource=status", "-n", samplesNS)).To(Equal("yes"))
			Expect(can("create", "securityroles.access.accessplane.io", "-n", samplesNS)).To(Equal("yes"))
			Expect(can("update", "leases.coordination.k8s.io", "-n", releaseNS)).To(Equal("yes"))
			Expect(can("update", "leases.coordination.k8s.io", "-n", samplesNS)).To(Equal("no"), "leader election only in the release's namespace")
			Expect(can("update", "platformusers.access.accessplane.io", "-n", samplesNS)).To(Equal("no"))
			Expect(can("list", "secrets", "-n", samplesNS)).To(Equal("no"))
		})

		It("becomes the leader and settles the samples applied in reverse order", func() {
			Eventually(func() string {
				out, _ := cluster.Kubectl(suiteCtx, "get", "lease", "-n", releaseNS, "dataverse-access-operator.access.accessplane.io", "-o", "jsonpath={.spec.holderIdentity}")
				return out
			}).ShouldNot(BeEmpty())
			kubectl("create", "namespace", samplesNS)
			applySamplesInReverse(samplesNS)
			expectSamplesSettled(samplesNS)
		})

		It("logged no request its RBAC forbade", func() {
			Expect(mgr.LogLines("forbidden")).To(BeEmpty())
			Expect(mgr.Running()).To(BeTrue())
		})
	})
})
