package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

var _ = Describe("The install bundle and the image", func() {
	It("runs the manager hardened: non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp, resource requests, leader election", func() {
		var deployment *unstructured.Unstructured
		for _, d := range bundleDocs() {
			if d.GetKind() == "Deployment" {
				Expect(deployment).To(BeNil(), "one Deployment")
				deployment = d
			}
		}
		Expect(deployment).NotTo(BeNil())
		pod, _, _ := unstructured.NestedMap(deployment.Object, "spec", "template", "spec")
		Expect(pod).To(HaveKeyWithValue("securityContext", And(
			HaveKeyWithValue("runAsNonRoot", true),
			HaveKeyWithValue("seccompProfile", HaveKeyWithValue("type", "RuntimeDefault")))))
		containers, _, _ := unstructured.NestedSlice(pod, "containers")
		Expect(containers).To(HaveLen(1))
		c := containers[0].(map[string]interface{})
		Expect(c).To(HaveKeyWithValue("securityContext", And(
			HaveKeyWithValue("allowPrivilegeEscalation", false),
			HaveKeyWithValue("readOnlyRootFilesystem", true),
			HaveKeyWithValue("capabilities", HaveKeyWithValue("drop", ConsistOf("ALL"))))))
		Expect(c).To(HaveKeyWithValue("resources", HaveKeyWithValue("requests", And(HaveKey("cpu"), HaveKey("memory")))))
		Expect(c).To(HaveKeyWithValue("resources", HaveKeyWithValue("limits", HaveKey("memory"))))
		Expect(c).To(HaveKeyWithValue("args", ContainElements("--leader-elect=true", "--metrics-bind-address=:8443")))
		Expect(c).To(HaveKey("livenessProbe"))
		Expect(c).To(HaveKey("readinessProbe"))
		Expect(c).To(HaveKeyWithValue("command", ConsistOf("/manager")), "the Dockerfile puts the binary at /manager")
		Expect(c["image"]).NotTo(HavePrefix("controller"), "make build-installer sets the image (IMG)")
	})

	It("has a Dockerfile that builds every package of the manager into make image's file tree on scratch, user 65532", func() {
		dockerfile := readFile("Dockerfile")
		stages := regexp.MustCompile(`(?m)^FROM .*$`).FindAllString(dockerfile, -1)
		Expect(stages).To(HaveLen(2), "a build stage and the final stage")
		Expect(stages[1]).To(Equal("FROM scratch"), "no base image to pull: the tree is make image's")
		Expect(dockerfile).To(MatchRegexp(`(?m)^COPY hack/image/ hack/image/$`))
		Expect(dockerfile).To(ContainSubstring("go run ./hack/image rootfs -binary /out/manager -out /rootfs"), "the tree hack/image lays out for make image")
		Expect(dockerfile).To(MatchRegexp(`(?m)^COPY --from=builder /rootfs/ /$`))
		Expect(readFile(".dockerignore")).To(MatchRegexp(`(?m)^!hack/image/$`))
		Expect(dockerfile).To(MatchRegexp(`(?m)^USER 65532:65532$`))
		Expect(dockerfile).To(MatchRegexp(`(?m)^ENTRYPOINT \["/manager"\]$`))
		Expect(dockerfile).To(ContainSubstring("CGO_ENABLED=0"), "a static binary for distroless/static")

		goDirective := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(readFile("go.mod"))
		Expect(goDirective).To(HaveLen(2))
		Expect(dockerfile).To(MatchRegexp(`(?m)^ARG GO_VERSION=`+regexp.QuoteMeta(goDirective[1])+`$`), "the builder's Go is go.mod's")

		By("every directory of the manager's packages is copied into the build and not ignored")
		list := exec.CommandContext(suiteCtx, "go", "list", "-deps", "-f",
			`{{if .Module}}{{if eq .Module.Path "github.com/accessplane/dataverse-access-operator"}}{{.Dir}}{{end}}{{end}}`, ".")
		list.Dir = root
		out, err := list.Output()
		Expect(err).NotTo(HaveOccurred())
		ignore := readFile(".dockerignore")
		for _, dir := range strings.Fields(string(out)) {
			rel, err := filepath.Rel(root, dir)
			Expect(err).NotTo(HaveOccurred())
			top := strings.Split(rel, string(os.PathSeparator))[0]
			if top == "." {
				Expect(dockerfile).To(MatchRegexp(`(?m)^COPY \*\.go \./$`), "the main package")
				Expect(ignore).To(MatchRegexp(`(?m)^!\*\.go$`))
				continue
			}
			Expect(dockerfile).To(MatchRegexp(`(?m)^COPY `+top+`/ `+top+`/$`), "package %s", rel)
			Expect(ignore).To(MatchRegexp(`(?m)^!`+top+`/$`), "package %s", rel)
		}
	})
})

var _ = Describe("make demo", func() {
	It("starts a control plane, runs the emulator and the manager, applies the samples with a Dataverse and an Entra ID target, prints what the operator decided and what Dataverse and Entra ID hold, and disables one person (DEMO_EXIT=1)", func() {
		demo := filepath.Join(tmp, "demo-bin")
		build := exec.CommandContext(suiteCtx, "go", "build", "-o", demo, "./hack/demo")
		build.Dir = root
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)

		kubeconfig := filepath.Join(tmp, "demo", "demo.kubeconfig")
		cmd := exec.CommandContext(suiteCtx, demo, "-manager", managerBin, "-emulator", emulatorBin, "-write-kubeconfig", kubeconfig)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "DEMO_EXIT=1", "KUBEBUILDER_ASSETS="+cluster.Assets)
		out, err = cmd.CombinedOutput()
		GinkgoWriter.Printf("%s", out)
		Expect(err).NotTo(HaveOccurred(), "the demo exits 0 with DEMO_EXIT=1:\n%s", out)
		text := string(out)
		for _, want := range []string{
			"kubectl get ppenv", "kubectl get secrole", "kubectl get puser", "kubectl get appuser", "kubectl get ppteam",
			"non-interactive slots 7/7",
			"NonInteractiveLimitReached", "SeatsExhausted",
			"AdministratorRole/GlobalAdministrator", "StubDefault", "SettingsOnly", "Programmatic",
			"check-access --user bob", "TABLE    PRIVILEGE",
			"dataverse_access_noninteractive_slots_used{environment=\"contoso-sales\",namespace=\"contoso\"} 7",
			"dataverse_access_noninteractive_slots_waiting{environment=\"contoso-sales\",namespace=\"contoso\"} 2",
			"export KUBECONFIG=" + kubeconfig,
			"--power-platform-api-url=https://127.0.0.1:", "32 of 32 objects Synced",
			"What Dataverse holds", "ROLES IN DATAVERSE", "PRIVILEGES IN DATAVERSE", "MEMBERS IN DATAVERSE",
			// The Entra ID target (config/samples-entra): the waiting users kept out of the
			// security group, then one person disabled with kubectl patch.
			"--graph-url=https://127.0.0.1:", "What Entra ID holds", "IN contoso-sales-users",
			"remove dan.wilson@contoso.com from contoso-sales-users (the reference only)",
			"managed by no PlatformUser (left alone, listed in the Environment's status.entra.unmanagedMembers): it-helpdesk@contoso.com",
			`kubectl patch platformuser erin --type merge -p '{"spec":{"enabled":false}}'`,
			"Entra ID: no longer a direct member of contoso-sales-users",
			"Dataverse: isdisabled true",
			"members/e0a1b2c3-0000-4000-8000-000000000005/$ref  → 204",
			"licenses: POWERAPPS_PER_USER (direct) — kept",
		} {
			Expect(text).To(ContainSubstring(want))
		}
		Expect(text).NotTo(ContainSubstring("DIFFERS"), "Dataverse holds what the cluster decided")
		Expect(text).NotTo(ContainSubstring("not in Dataverse"))
		Expect(text).NotTo(ContainSubstring("not in Entra ID"))
		Expect(text).To(MatchRegexp(`\n(dan)\s+waits \(SeatsExhausted\)\s+no\s`), "dan, waiting for a seat, is kept out of the security group")
		Expect(text).To(MatchRegexp(`\nsvc-teams-bot\s+waits \(NonInteractiveLimitReached\)\s+no\s`), "so is a user waiting for a slot")
		Expect(kubeconfig).NotTo(BeAnExistingFile(), "the demo removes its kubeconfig when it stops")
	})
})
