package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/accessplane/dataverse-access-operator/internal/plan"
	"github.com/accessplane/dataverse-access-operator/internal/plan/plantest"
	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

// runPlan runs `manager plan` from the binary under test and returns its stdout, stderr and
// exit code.
func runPlan(args ...string) (string, string, int) {
	GinkgoHelper()
	cmd := exec.CommandContext(suiteCtx, managerBin, append([]string{"plan"}, args...)...)
	cmd.Dir = root
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		Expect(err).NotTo(HaveOccurred())
	}
	return stdout.String(), stderr.String(), code
}

func planReport(args ...string) (*plan.Report, int) {
	GinkgoHelper()
	stdout, stderr, code := runPlan(append(args, "-o", "json")...)
	Expect(code).To(BeNumerically("<", 2), "plan failed on its input:\n%s", stderr)
	var rep plan.Report
	Expect(json.Unmarshal([]byte(stdout), &rep)).To(Succeed(), stdout)
	return &rep, code
}

// verdict is what kstatus and kubectl wait read of an object: Ready's status and reason, Stalled.
type verdict struct {
	Ready, Reason string
	Stalled       bool
}

var _ = Describe("manager plan: the samples planned offline and the live cluster agree", Ordered, func() {
	const ns = "plan-samples"
	var mgr *localcluster.Manager
	dumpOnFailure(ns, &mgr)

	BeforeAll(func() {
		kubectl("create", "namespace", ns)
		mgr = startManager("manager-plan", cluster.Kubeconfig)
		applySamplesInReverse(ns)
		expectSamplesSettled(ns)
	})

	It("gives every object the Ready and Stalled reasons the operator wrote (one fixture, two paths)", func() {
		live := map[string]verdict{}
		for _, o := range readBack(ns) {
			v := verdict{Ready: "Unknown"}
			if c := localcluster.Condition(&o, "Ready"); c != nil {
				v.Ready, v.Reason = c["status"].(string), c["reason"].(string)
			}
			if c := localcluster.Condition(&o, "Stalled"); c != nil {
				v.Stalled = c["status"] == "True"
			}
			live[o.GetKind()+"/"+o.GetName()] = v
		}

		rep, code := planReport("-f", "config/samples", "-n", ns)
		Expect(code).To(Equal(1), "the samples hold users beyond the limits on purpose: exit code 1")
		Expect(rep.Refused).To(BeEmpty())
		offline := map[string]verdict{}
		for _, o := range rep.Objects {
			offline[o.Kind+"/"+o.Name] = verdict{Ready: o.Ready, Reason: o.Reason, Stalled: o.Stalled}
		}
		Expect(offline).To(Equal(live))
	})

	It("--cluster: the samples against the cluster that runs them change nothing", func() {
		rep, _ := planReport("-f", "config/samples", "--cluster", "-n", ns, "--kubeconfig", cluster.Kubeconfig)
		Expect(rep.Diff).NotTo(BeNil())
		Expect(rep.Diff.Access).To(BeEmpty())
		Expect(rep.Diff.Allocation).To(BeEmpty())
		Expect(rep.Diff.Ready).To(BeEmpty())
	})

	It("--cluster: a tenth NonInteractive user would wait third in line, and plan says so before it is applied", func() {
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, "svc-new.yaml"), []byte(`apiVersion: access.accessplane.io/v1alpha1
kind: PlatformUser
metadata:
  name: svc-new
spec:
  environmentName: contoso-sales
  userName: svc-new@contoso.com
  accessMode: NonInteractive
  securityGroups: [contoso-sales-users]
  securityRoles: [contoso-sales-basic-user]
`), 0o644)).To(Succeed())
		rep, code := planReport("-f", "config/samples", "-f", dir, "--cluster", "-n", ns, "--kubeconfig", cluster.Kubeconfig)
		Expect(code).To(Equal(1))
		Expect(rep.Diff.Allocation).To(Equal([]plan.AllocationChange{{Namespace: ns, Environment: environmentName,
			Resource: "non-interactive slot", Name: "svc-new", From: "none", To: "waiting 3rd of 3"}}))
		Expect(rep.Diff.Ready).To(HaveLen(1))
		Expect(rep.Diff.Ready[0].To).To(Equal("NonInteractiveLimitReached, Stalled"))
		Expect(kubectl("get", "-n", ns, "platformusers", "-o", "name")).NotTo(ContainSubstring("svc-new"), "plan changes nothing")
	})

	It("exits 2 and names the file and line of a document of an unknown kind", func() {
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, "typo.yaml"), []byte("# a typo\napiVersion: access.accessplane.io/v1alpha1\nkind: PlatformUsr\nmetadata:\n  name: x\n"), 0o644)).To(Succeed())
		_, stderr, code := runPlan("-f", dir)
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring(filepath.Join(dir, "typo.yaml") + ":2: unknown kind PlatformUsr"))
	})
})

// warningLines are the lines kubectl prints for the API server's warnings: "Warning: " and, for a
// ValidatingAdmissionPolicy, which policy and binding said it, then the message.
func warningLines(stderr string) []string {
	var out []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "Warning: Validation failed for ValidatingAdmissionPolicy 'access-warnings' with binding 'access-warnings': ") {
			out = append(out, line)
		}
	}
	return out
}

var _ = Describe("Warnings at kubectl apply: the ValidatingAdmissionPolicy of config/admission", Ordered, func() {
	const ns = "plan-warnings"

	// apply applies manifest with the real kubectl and returns what it printed on stderr; it
	// fails the spec if kubectl fails, so a warning that blocked would show here.
	apply := func(manifest string, extra ...string) string {
		GinkgoHelper()
		_, stderr, err := cluster.KubectlWith(suiteCtx, cluster.Kubeconfig, strings.NewReader(manifest), append([]string{"apply", "-n", ns, "-f", "-"}, extra...)...)
		Expect(err).NotTo(HaveOccurred(), "a warning never blocks")
		return stderr
	}
	const roleWithoutWebResource = `apiVersion: access.accessplane.io/v1alpha1
kind: SecurityRole
metadata:
  name: no-forms
spec:
  environmentName: contoso-sales
  tables:
  - table: account
    permissionSetting: Reference
`

	BeforeAll(func() {
		kubectl("create", "namespace", ns)
		By("kubectl apply -k config/admission")
		kubectl("apply", "-k", filepath.Join(root, "config", "admission"))
		By("waiting until the API server enforces the policy (it compiles it after the binding lands)")
		Eventually(func() string {
			return apply(roleWithoutWebResource, "--dry-run=server")
		}).Should(ContainSubstring("Warning:"))
	})

	DescribeTable("kubectl prints a Warning line and applies the object",
		func(manifest, object, warning string) {
			stderr := apply(manifest)
			Expect(warningLines(stderr)).To(ContainElement(ContainSubstring(warning)), "kubectl's stderr:\n%s", stderr)
			Expect(kubectl("get", "-n", ns, object, "-o", "name")).To(Equal(object+"\n"), "the warning did not block")
		},
		Entry("SR8: a role without Read on webresource", roleWithoutWebResource, "securityrole.access.accessplane.io/no-forms",
			`SecurityRole no-forms gives no Read on table webresource: forms that use web resources fail with "Missing prvReadWebResource privilege" (SR8)`),
		Entry("AM6: a NonInteractive user is reminded of the seven slots", `apiVersion: access.accessplane.io/v1alpha1
kind: PlatformUser
metadata:
  name: robot
spec:
  environmentName: contoso-sales
  userName: robot@contoso.com
  accessMode: NonInteractive
`, "platformuser.access.accessplane.io/robot", "PlatformUser robot is NonInteractive: only seven NonInteractive users per environment hold a slot (AM6)"),
		Entry("LI1, EN4: a disabled user keeps its license and its seat", `apiVersion: access.accessplane.io/v1alpha1
kind: PlatformUser
metadata:
  name: leaver
spec:
  environmentName: contoso-sales
  userName: leaver@contoso.com
  enabled: false
  license: DYN365_ENTERPRISE_SALES
`, "platformuser.access.accessplane.io/leaver", "PlatformUser leaver is disabled (spec.enabled: false) but keeps license DYN365_ENTERPRISE_SALES: it still holds a seat (LI1, EN4)"),
		Entry("EN6: roles given to a disabled user", `apiVersion: access.accessplane.io/v1alpha1
kind: PlatformUser
metadata:
  name: dormant
spec:
  environmentName: contoso-sales
  userName: dormant@contoso.com
  enabled: false
  securityRoles: [no-forms]
`, "platformuser.access.accessplane.io/dormant", "PlatformUser dormant is disabled and is given security roles: roles can be assigned only to enabled users (EN6)"),
		Entry("EN1: enabled but sign-in blocked", `apiVersion: access.accessplane.io/v1alpha1
kind: PlatformUser
metadata:
  name: blocked
spec:
  environmentName: contoso-sales
  userName: blocked@contoso.com
  signInBlocked: true
`, "platformuser.access.accessplane.io/blocked", "PlatformUser blocked asks to be enabled but its sign-in is blocked: it will not be enabled (EN1)"),
		Entry("AM7: a disabled application user", `apiVersion: access.accessplane.io/v1alpha1
kind: ApplicationUser
metadata:
  name: old-integration
spec:
  environmentName: contoso-sales
  applicationId: 6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab
  enabled: false
`, "applicationuser.access.accessplane.io/old-integration", "ApplicationUser old-integration is disabled: every integration that uses application 6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab stops working (AM7)"),
	)

	It("EN5: removing every role of an enabled user warns to use the security group instead", func() {
		user := `apiVersion: access.accessplane.io/v1alpha1
kind: PlatformUser
metadata:
  name: mover
spec:
  environmentName: contoso-sales
  userName: mover@contoso.com
  securityRoles: %s
`
		Expect(apply(strings.Replace(user, "%s", "[no-forms]", 1))).NotTo(ContainSubstring("Warning:"))
		stderr := apply(strings.Replace(user, "%s", "[]", 1))
		Expect(warningLines(stderr)).To(ContainElement(ContainSubstring("PlatformUser mover loses all its direct security roles while enabled")))
	})

	It("prints nothing for an object with nothing to remind", func() {
		stderr := apply(`apiVersion: access.accessplane.io/v1alpha1
kind: SecurityRole
metadata:
  name: with-forms
spec:
  environmentName: contoso-sales
  tables:
  - table: webresource
    permissionSetting: Reference
  - table: account
    privileges: {read: User}
`)
		Expect(stderr).NotTo(ContainSubstring("Warning:"))
	})
})

// cause is one cause of a refusal: the field and the message kubectl shows.
type cause struct{ Field, Message string }

func causesOf(err error) []cause {
	GinkgoHelper()
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
	var status apierrors.APIStatus
	Expect(errors.As(err, &status)).To(BeTrue())
	var out []cause
	for _, c := range status.Status().Details.Causes {
		out = append(out, cause{c.Field, c.Message})
	}
	return out
}

func offlineCauses(errs field.ErrorList) []cause {
	var out []cause
	for _, e := range errs {
		out = append(out, cause{e.Field, e.ErrorBody()})
	}
	return out
}

var _ = Describe("manager plan's offline admission and the API server refuse the API suite's corpus alike", Ordered, func() {
	const ns = "plan-corpus"
	var (
		c      client.Client
		adm    *plan.Admission
		corpus map[string][]plantest.Entry
	)
	BeforeAll(func() {
		kubectl("create", "namespace", ns)
		var err error
		c, err = client.New(cluster.Admin, client.Options{})
		Expect(err).NotTo(HaveOccurred())
		adm, err = plan.NewAdmission(plan.EmbeddedCRDs())
		Expect(err).NotTo(HaveOccurred())
		corpus, err = plantest.Read(filepath.Join(root, plantest.CorpusFile))
		Expect(err).NotTo(HaveOccurred())
		Expect(corpus[plantest.Refused]).NotTo(BeEmpty())
	})

	It("gives every refusal the same causes, field and whole message, in the same order", func() {
		for _, e := range corpus[plantest.Refused] {
			obj, err := plantest.Object(e.Args[1].(string), ns, fmt.Sprintf("corpus-%d", e.Line), e.Args[2].(string))
			Expect(err).NotTo(HaveOccurred())
			_, offline := adm.Admit(suiteCtx, obj, nil)
			live := c.Create(suiteCtx, obj.DeepCopy())
			Expect(offlineCauses(offline)).To(Equal(causesOf(live)), "%s:%d %s", plantest.CorpusFile, e.Line, e.Args[0])
		}
	})

	It("refuses every immutable-field update with the same causes", func() {
		for _, e := range corpus[plantest.Immutable] {
			obj, err := plantest.Object(e.Args[1].(string), ns, fmt.Sprintf("immutable-%d", e.Line), e.Args[2].(string))
			Expect(err).NotTo(HaveOccurred())
			Expect(c.Create(suiteCtx, obj)).To(Succeed())
			next := obj.DeepCopy()
			Expect(unstructured.SetNestedField(next.Object, e.Args[3], strings.Split(e.Args[4].(string), ".")...)).To(Succeed())
			_, offline := adm.Admit(suiteCtx, next, obj)
			live := c.Update(suiteCtx, next.DeepCopy())
			Expect(offlineCauses(offline)).To(Equal(causesOf(live)), "%s:%d %s", plantest.CorpusFile, e.Line, e.Args[0])
		}
	})
})
