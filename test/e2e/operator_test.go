package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/checkaccess"
	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

const (
	environmentName = "contoso-sales"
	// samplesObjects is what config/samples holds; the Environment adds its three built-in roles.
	samplesObjects = 29
	settledObjects = samplesObjects + 3
)

// sampleFiles are config/samples' files in the order its kustomization lists them.
func sampleFiles() []string {
	GinkgoHelper()
	var k struct {
		Resources []string `json:"resources"`
	}
	Expect(yaml.Unmarshal([]byte(readFile("config/samples/kustomization.yaml")), &k)).To(Succeed())
	Expect(k.Resources).NotTo(BeEmpty())
	return k.Resources
}

// applySamplesInReverse applies config/samples one file at a time, last file first, as a GitOps
// tool may: users, teams and roles reach the cluster before the Environment they name.
func applySamplesInReverse(namespace string) {
	GinkgoHelper()
	files := sampleFiles()
	Expect(files[0]).To(Equal("environment.yaml"), "the environment comes first in config/samples, so reversing puts it last")
	created := 0
	for i := len(files) - 1; i >= 0; i-- {
		out := kubectl("apply", "-n", namespace, "-f", filepath.Join(root, "config", "samples", files[i]))
		created += strings.Count(out, " created\n")
	}
	Expect(created).To(Equal(samplesObjects), "kubectl apply created every sample")
}

// expectation is what the rules say of the samples once the operator is done: which users wait
// for a non-interactive slot (AM6) or a seat (LI1), in the order they began waiting (EV1: creation
// time, name as tie-break), and that everything else is Ready.
type expectation struct {
	slotHolders, slotWaiting []string
	seatHolders, seatWaiting map[string][]string
	ready                    []string // kind/name for kubectl wait
}

func expectFromObjects(objs []unstructured.Unstructured) expectation {
	GinkgoHelper()
	var env *accessv1alpha1.Environment
	var users []accessv1alpha1.PlatformUser
	for i := range objs {
		switch objs[i].GetKind() {
		case "Environment":
			env = &accessv1alpha1.Environment{}
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(objs[i].Object, env)).To(Succeed())
		case "PlatformUser":
			var u accessv1alpha1.PlatformUser
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(objs[i].Object, &u)).To(Succeed())
			users = append(users, u)
		}
	}
	Expect(env).NotTo(BeNil())
	sort.Slice(users, func(i, j int) bool {
		ti, tj := users[i].CreationTimestamp.Time, users[j].CreationTimestamp.Time
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return users[i].Name < users[j].Name
	})
	e := expectation{seatHolders: map[string][]string{}, seatWaiting: map[string][]string{}}
	seats := map[string]int{}
	for _, l := range env.Spec.Licenses {
		seats[l.SKU] = int(l.Seats)
	}
	waiting := map[string]bool{}
	for _, u := range users {
		if u.NeedsSlot() {
			if len(e.slotHolders) < accessv1alpha1.NonInteractiveSlotLimit {
				e.slotHolders = append(e.slotHolders, u.Name)
			} else {
				e.slotWaiting = append(e.slotWaiting, u.Name)
				waiting[u.Name] = true
			}
		}
		if u.NeedsLicense() {
			if len(e.seatHolders[u.Spec.License]) < seats[u.Spec.License] {
				e.seatHolders[u.Spec.License] = append(e.seatHolders[u.Spec.License], u.Name)
			} else {
				e.seatWaiting[u.Spec.License] = append(e.seatWaiting[u.Spec.License], u.Name)
				waiting[u.Name] = true
			}
		}
	}
	for i := range objs {
		if !(objs[i].GetKind() == "PlatformUser" && waiting[objs[i].GetName()]) {
			e.ready = append(e.ready, strings.ToLower(objs[i].GetKind())+"/"+objs[i].GetName())
		}
	}
	return e
}

// nonNil makes an empty list compare equal to strings.Fields of an empty string.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// expectSamplesSettled waits until the samples in namespace settle and checks each object with
// kubectl: Ready ones with kubectl wait, the others' Stalled reason with jsonpath.
func expectSamplesSettled(namespace string) expectation {
	GinkgoHelper()
	objs, err := cluster.WaitSettled(suiteCtx, namespace, settledObjects, 3*time.Minute, nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(objs).To(HaveLen(settledObjects), "the samples and the Environment's three built-in roles")
	e := expectFromObjects(objs)
	Expect(e.slotWaiting).To(HaveLen(2), "AM6 nine NonInteractive users, seven slots")
	Expect(e.seatWaiting["DYN365_ENTERPRISE_SALES"]).To(HaveLen(1), "LI1 four users, three seats")

	By("kubectl wait --for=condition=Ready on every object the rules let be Ready")
	for _, builtIn := range []string{"system-administrator", "basic-user", "salesperson"} {
		Expect(e.ready).To(ContainElement("securityrole/"+environmentName+"-"+builtIn), "the Environment creates its built-in roles")
	}
	kubectl(append([]string{"wait", "-n", namespace, "--for=condition=Ready", "--timeout=60s"}, e.ready...)...)

	By("kubectl get -o jsonpath: the users beyond the limits are Stalled, and say why")
	stalled := map[string]string{}
	for _, name := range e.slotWaiting {
		stalled[name] = accessv1alpha1.ReasonNonInteractiveLimitReached
	}
	for _, names := range e.seatWaiting {
		for _, name := range names {
			stalled[name] = accessv1alpha1.ReasonSeatsExhausted
		}
	}
	for name, reason := range stalled {
		obj := "platformuser/" + name
		Expect(jsonpath(namespace, obj, `.status.conditions[?(@.type=="Stalled")].status`)).To(Equal("True"), "%s is Stalled", name)
		Expect(jsonpath(namespace, obj, `.status.conditions[?(@.type=="Stalled")].reason`)).To(Equal(reason), "%s is Stalled", name)
		Expect(jsonpath(namespace, obj, `.status.conditions[?(@.type=="Ready")].status`)).To(Equal("False"), "%s is not Ready", name)
		Expect(jsonpath(namespace, obj, `.status.conditions[?(@.type=="Ready")].reason`)).To(Equal(reason), "Ready and Stalled give the same reason for %s", name)
		msg := jsonpath(namespace, obj, `.status.conditions[?(@.type=="Stalled")].message`)
		Expect(msg).To(ContainSubstring(environmentName), "the message of %s names the environment", name)
	}

	By("the Environment's ledger: who holds a slot or a seat and who waits, in order (EV1)")
	env := "environment/" + environmentName
	Expect(jsonpath(namespace, env, ".status.nonInteractive.usage")).To(Equal("7/7"))
	Expect(strings.Fields(jsonpath(namespace, env, ".status.nonInteractive.holders[*].name"))).To(ConsistOf(e.slotHolders))
	Expect(strings.Fields(jsonpath(namespace, env, ".status.nonInteractive.waiting[*].name"))).To(Equal(nonNil(e.slotWaiting)))
	for sku, holders := range e.seatHolders {
		Expect(strings.Fields(jsonpath(namespace, env, `.status.seats[?(@.sku=="`+sku+`")].holders[*].name`))).To(ConsistOf(holders), "holders of %s", sku)
		Expect(strings.Fields(jsonpath(namespace, env, `.status.seats[?(@.sku=="`+sku+`")].waiting[*].name`))).To(Equal(nonNil(e.seatWaiting[sku])), "waiting for %s", sku)
	}
	return e
}

// scrape GETs the manager's metrics endpoint with token (none if empty).
func scrape(port int, token string) (int, string) {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(suiteCtx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/metrics", port), nil)
	Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the manager's self-signed serving certificate
	}}
	resp, err := client.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return resp.StatusCode, string(body)
}

// series parses the dataverse_access_ series of a Prometheus text exposition into
// `name{label="value",...}` (labels sorted, as the exposition writes them) to value.
func series(body string) map[string]float64 {
	GinkgoHelper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "dataverse_access_") {
			continue
		}
		i := strings.LastIndex(line, " ")
		v, err := strconv.ParseFloat(line[i+1:], 64)
		Expect(err).NotTo(HaveOccurred(), line)
		out[line[:i]] = v
	}
	return out
}

// expectedSeries is what controllers/metrics.go should publish for the objects of namespace.
func expectedSeries(namespace string, objs []unstructured.Unstructured) map[string]float64 {
	GinkgoHelper()
	out := map[string]float64{}
	key := func(name string, labels ...string) string {
		return name + "{" + strings.Join(labels, ",") + "}"
	}
	envLabels := []string{`environment="` + environmentName + `"`, `namespace="` + namespace + `"`}
	users := map[[2]string]float64{}
	for i := range objs {
		o := &objs[i]
		ready := "Unknown"
		if c := localcluster.Condition(o, "Ready"); c != nil {
			ready = c["status"].(string)
		}
		switch o.GetKind() {
		case "Environment":
			var env accessv1alpha1.Environment
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &env)).To(Succeed())
			Expect(env.Status.NonInteractive).NotTo(BeNil())
			out[key("dataverse_access_noninteractive_slots_used", envLabels...)] = float64(env.Status.NonInteractive.Used)
			out[key("dataverse_access_noninteractive_slots_waiting", envLabels...)] = float64(len(env.Status.NonInteractive.Waiting))
			for _, s := range env.Status.Seats {
				l := append(append([]string(nil), envLabels...), `sku="`+s.SKU+`"`)
				out[key("dataverse_access_license_seats_used", l...)] = float64(s.Used)
				out[key("dataverse_access_license_seats", l...)] = float64(s.Seats)
			}
		case "PlatformUser":
			mode, _, _ := unstructured.NestedString(o.Object, "spec", "accessMode")
			if stub, _, _ := unstructured.NestedBool(o.Object, "spec", "stub"); stub {
				mode = "Stub"
			}
			users[[2]string{mode, ready}]++
		case "ApplicationUser":
			users[[2]string{"Application", ready}]++
		}
	}
	for b, n := range users {
		out[key("dataverse_access_users", `access_mode="`+b[0]+`"`, envLabels[0], envLabels[1], `ready="`+b[1]+`"`)] = n
	}
	return out
}

func onlyNamespace(all map[string]float64, namespace string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range all {
		if strings.Contains(k, `namespace="`+namespace+`"`) {
			out[k] = v
		}
	}
	return out
}

// bundleDocs splits dist/install.yaml into its objects.
func bundleDocs() []*unstructured.Unstructured {
	GinkgoHelper()
	return splitDocs(readFile("dist/install.yaml"))
}

const newcomer = `apiVersion: access.accessplane.io/v1alpha1
kind: PlatformUser
metadata:
  name: newcomer
spec:
  environmentName: contoso-sales
  userName: newcomer@contoso.com
  license: POWERAPPS_PER_USER
  securityGroups: [contoso-sales-users]
  securityRoles: [contoso-sales-basic-user]
`

var _ = Describe("The operator, run as its users run it: the manager binary and kubectl", Ordered, func() {
	const ns = "contoso"
	var (
		mgr        *localcluster.Manager
		expected   expectation
		objs       []unstructured.Unstructured
		argoScript = map[string]string{}
	)
	dumpOnFailure(ns, &mgr)

	BeforeAll(func() {
		kubectl("create", "namespace", ns)
		By("starting the manager binary (cluster administrator's kubeconfig, --leader-elect=false)")
		mgr = startManager("manager-admin", cluster.Kubeconfig)
	})

	It("installed the five kinds with kubectl apply -k config/crd, all in the category accessplane", func() {
		out := kubectl("api-resources", "--api-group=access.accessplane.io", "-o", "name")
		Expect(strings.Fields(out)).To(ConsistOf(
			"applicationusers.access.accessplane.io", "environments.access.accessplane.io", "platformusers.access.accessplane.io",
			"securityroles.access.accessplane.io", "teams.access.accessplane.io"))
		Expect(kubectl("get", "accessplane", "-n", ns, "-o", "name")).To(BeEmpty())
	})

	It("EV3 accepts the samples in reverse order, users before the roles, teams and Environment they name", func() {
		applySamplesInReverse(ns)
	})

	It("AM6 LI1 EV1 settles every sample: Ready, or Stalled with the reason of the limit it waits for", func() {
		expected = expectSamplesSettled(ns)
		objs = readBack(ns)
		Expect(objs).To(HaveLen(settledObjects))
	})

	It("AM4 AM8 AM9 TM1 TM2 gives each user the access and roles the rules say", func() {
		Expect(jsonpath(ns, "puser/frank", ".status.access")).To(Equal("SettingsOnly"), "AM4 Administrative")
		Expect(jsonpath(ns, "puser/"+expected.slotHolders[0], ".status.access")).To(Equal("Programmatic"), "AM4 NonInteractive")
		Expect(jsonpath(ns, "puser/alice", ".status.access")).To(Equal("Full"), "AM1 ReadWrite")
		Expect(jsonpath(ns, "puser/henry", `.status.effectiveRoles[?(@.name=="contoso-sales-system-administrator")].source`)).
			To(Equal("AdministratorRole/GlobalAdministrator"), "AM9")
		Expect(jsonpath(ns, "puser/legacy-import-owner", `.status.effectiveRoles[?(@.name=="contoso-sales-salesperson")].source`)).
			To(Equal("StubDefault"), "AM8 Dynamics365's stub role")
		Expect(jsonpath(ns, "puser/bob", `.status.effectiveRoles[?(@.name=="sales-representative")].source`)).
			To(Equal("Team/sales-aad-group"), "TM1 through the group team")
		Expect(jsonpath(ns, "puser/bob", `.status.effectiveRoles[?(@.name=="territory-team-role")].source`)).
			To(Equal("Team/emea-territory"), "TM2 through the owner team")
		Expect(jsonpath(ns, "ppteam/sales-aad-group", ".status.memberCount")).To(Equal("3"), "TM1 alice, bob and dan list the group")
		Expect(jsonpath(ns, "secrole/report-viewer", `.status.conditions[?(@.type=="WebResourceReadable")].status`)).To(Equal("False"), "SR8")
		Expect(jsonpath(ns, "secrole/report-viewer", `.status.conditions[?(@.type=="Ready")].status`)).To(Equal("True"), "SR8 the role stays usable")
	})

	It("SR6 TM2 TM3 check-access, the manager binary's subcommand, reports bob's access from the cluster", func() {
		cmd := exec.CommandContext(suiteCtx, managerBin, "check-access", "--kubeconfig", cluster.Kubeconfig, "-n", ns, "--user", "bob", "-o", "json")
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		var rep checkaccess.Report
		Expect(json.Unmarshal(out, &rep)).To(Succeed(), "%s", out)
		Expect(rep.Kind).To(Equal("PlatformUser"))
		Expect(rep.Environment).To(Equal(environmentName))
		Expect(rep.Access).To(Equal(accessv1alpha1.AccessFull))
		account, ok := rep.Lookup("account")
		Expect(ok).To(BeTrue())
		read := account.Privilege(access.Read)
		Expect(read.Level).To(Equal(accessv1alpha1.AccessOrganization), "SR4 sales-representative's Collaborate reads accounts at Organization")
		Expect(read.Grants).To(ContainElement(And(HaveField("Role", "territory-team-role"), HaveField("Via", access.ViaTeam))), "TM2")
		Expect(read.Grants).To(ContainElement(And(HaveField("Role", "sales-representative"), HaveField("Via", access.ViaUser))), "TM3")
		Expect(account.Privilege(access.Write).Level).To(Equal(accessv1alpha1.AccessBusinessUnit), "SR6 the highest grant: territory-team-role through the team")
	})

	It("kstatus (Flux): Ready objects are Current, Stalled ones Failed with the condition's message", func() {
		current, failed := 0, 0
		for i := range objs {
			o := &objs[i]
			res, err := kstatus(o)
			Expect(err).NotTo(HaveOccurred())
			if stalled := localcluster.Condition(o, "Stalled"); stalled != nil && stalled["status"] == "True" {
				Expect(res.Status).To(Equal(status.FailedStatus), "%s %s is Stalled", o.GetKind(), o.GetName())
				Expect(res.Message).To(Equal(stalled["message"]))
				failed++
				continue
			}
			Expect(localcluster.Condition(o, "Ready")).To(HaveKeyWithValue("status", "True"), "%s %s", o.GetKind(), o.GetName())
			Expect(res.Status).To(Equal(status.CurrentStatus), "%s %s is Ready: %s", o.GetKind(), o.GetName(), res.Message)
			current++
		}
		Expect(failed).To(Equal(3), "two users wait for a slot, one for a seat")
		Expect(current).To(Equal(settledObjects - 3))
	})

	It("Argo CD: config/argocd's patch merges into argocd-cm, and its health checks say Healthy for Ready, Degraded for Stalled", func() {
		kubectl("create", "namespace", "argocd")
		kubectl("create", "configmap", "argocd-cm", "-n", "argocd", "--from-literal=url=https://argocd.example.com")
		kubectl("patch", "configmap", "argocd-cm", "-n", "argocd", "--patch-file", filepath.Join(root, "config", "argocd", "argocd-cm-patch.yaml"))
		var data map[string]string
		Expect(json.Unmarshal([]byte(kubectl("get", "configmap", "argocd-cm", "-n", "argocd", "-o", "jsonpath={.data}")), &data)).To(Succeed())
		Expect(data).To(HaveKeyWithValue("url", "https://argocd.example.com"), "the patch keeps Argo CD's own settings")
		Expect(data).To(HaveLen(1 + len(argoHealthFiles)))
		for kind, file := range argoHealthFiles {
			Expect(data).To(HaveKeyWithValue(argoHealthKey(kind), readFile(file)),
				"argocd-cm-patch.yaml embeds %s verbatim (make argocd-cm regenerates it)", file)
			argoScript[kind] = data[argoHealthKey(kind)]
		}

		seen := map[string]bool{}
		for i := range objs {
			o := &objs[i]
			health, message, err := argoHealth(argoScript[o.GetKind()], o)
			Expect(err).NotTo(HaveOccurred())
			seen[o.GetKind()] = true
			if stalled := localcluster.Condition(o, "Stalled"); stalled != nil && stalled["status"] == "True" {
				Expect(health).To(Equal("Degraded"), "%s %s is Stalled", o.GetKind(), o.GetName())
				Expect(message).To(ContainSubstring(stalled["reason"].(string)))
				Expect(message).To(ContainSubstring(stalled["message"].(string)))
				continue
			}
			ready := localcluster.Condition(o, "Ready")
			Expect(health).To(Equal("Healthy"), "%s %s is Ready: %s", o.GetKind(), o.GetName(), message)
			Expect(message).To(ContainSubstring(ready["message"].(string)))
		}
		Expect(seen).To(HaveLen(len(argoHealthFiles)), "every kind's health check ran")
		_, message, err := argoHealth(argoScript["Environment"], readOne(ns, "ppenv/"+environmentName))
		Expect(err).NotTo(HaveOccurred())
		Expect(message).To(ContainSubstring("non-interactive slots 7/7"))
	})

	Context("with the manager stopped", func() {
		BeforeAll(func() {
			Expect(mgr.Stop()).To(Succeed(), "the manager exits cleanly on SIGTERM; its log:\n%s", mgr.LogTail(20))
		})

		It("kstatus and Argo CD: an object edited since the operator last saw it is InProgress / Progressing", func() {
			kubectl("patch", "-n", ns, "puser/alice", "--type=merge", "-p", `{"spec":{"profile":{"title":"Head of Sales"}}}`)
			alice := readOne(ns, "puser/alice")
			Expect(alice.GetGeneration()).To(BeNumerically(">", 1))
			res, err := kstatus(alice)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Status).To(Equal(status.InProgressStatus), res.Message)
			health, message, err := argoHealth(argoScript["PlatformUser"], alice)
			Expect(err).NotTo(HaveOccurred())
			Expect(health).To(Equal("Progressing"))
			Expect(message).To(ContainSubstring("generation"))
		})

		It("Argo CD: a new object the operator has not seen yet is Progressing", func() {
			kubectlStdin(newcomer, "apply", "-n", ns, "-f", "-")
			obj := readOne(ns, "puser/newcomer")
			health, _, err := argoHealth(argoScript["PlatformUser"], obj)
			Expect(err).NotTo(HaveOccurred())
			Expect(health).To(Equal("Progressing"))
		})

		// The CRDs default status.observedGeneration to 0, so an object nobody has looked at yet
		// reads as InProgress to kstatus instead of Current.
		It("kstatus: a new object the operator has not seen yet is InProgress", func() {
			obj := readOne(ns, "puser/newcomer")
			observed, found, err := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
			Expect(err).NotTo(HaveOccurred())
			Expect(found).To(BeTrue(), "the API server serves the defaulted status")
			Expect(observed).To(BeZero(), "the manager is stopped: nobody has observed it")
			Expect(unstructured.NestedSlice(obj.Object, "status", "conditions")).To(BeEmpty())
			res, err := kstatus(obj)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Status).To(Equal(status.InProgressStatus), res.Message)
		})
	})

	Context("as the ServiceAccount of the install bundle, with only the bundle's RBAC", func() {
		const nsB = "contoso-b"
		var (
			docs       []*unstructured.Unstructured
			saName     string
			saNS       string
			saUser     string
			impersonal string
		)

		It("dist/install.yaml (make build-installer) holds the Namespace, ServiceAccount and RBAC the Deployment runs with", func() {
			docs = bundleDocs()
			var rbac []string
			var deploymentSA string
			for _, d := range docs {
				switch d.GetKind() {
				case "ServiceAccount":
					Expect(saName).To(BeEmpty(), "one ServiceAccount")
					saName, saNS = d.GetName(), d.GetNamespace()
				case "Deployment":
					deploymentSA, _, _ = unstructured.NestedString(d.Object, "spec", "template", "spec", "serviceAccountName")
				}
				switch d.GetKind() {
				case "Namespace", "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
					b, err := yaml.Marshal(d.Object)
					Expect(err).NotTo(HaveOccurred())
					rbac = append(rbac, string(b))
				}
			}
			Expect(saName).NotTo(BeEmpty())
			Expect(deploymentSA).To(Equal(saName), "the Deployment runs as the bundle's ServiceAccount")
			saUser = "system:serviceaccount:" + saNS + ":" + saName
			By("kubectl apply -f - with the bundle's Namespace, ServiceAccount, Roles, ClusterRoles and bindings")
			kubectlStdin(strings.Join(rbac, "---\n"), "apply", "-f", "-")
		})

		It("kubectl apply --dry-run=server -f dist/install.yaml accepts the whole bundle, without PodSecurity warnings", func() {
			stdout, stderr, err := cluster.KubectlWith(suiteCtx, cluster.Kubeconfig, nil, "apply", "--dry-run=server", "-f", filepath.Join(root, "dist", "install.yaml"))
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.Count(stdout, "(server dry run)")).To(Equal(len(docs)), stdout)
			Expect(stderr).NotTo(ContainSubstring("PodSecurity"), "the Deployment meets the namespace's restricted Pod Security level")
		})

		It("a kubeconfig that impersonates the ServiceAccount gets exactly the bundle's permissions", func() {
			impersonal = filepath.Join(tmp, "serviceaccount.kubeconfig")
			Expect(cluster.WriteKubeconfig(impersonal, "", saUser)).To(Succeed())
			who, _, err := cluster.KubectlWith(suiteCtx, impersonal, nil, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
			Expect(err).NotTo(HaveOccurred())
			Expect(who).To(Equal(saUser))
			can := func(args ...string) string {
				out, stderr, _ := cluster.KubectlWith(suiteCtx, impersonal, nil, append([]string{"auth", "can-i"}, args...)...)
				return strings.TrimSpace(out + stderr)
			}
			Expect(can("update", "platformusers.access.accessplane.io", "--subresource=status", "-n", ns)).To(Equal("yes"))
			Expect(can("create", "securityroles.access.accessplane.io", "-n", ns)).To(Equal("yes"), "the Environment creates its built-in roles")
			Expect(can("update", "platformusers.access.accessplane.io", "-n", ns)).To(Equal("no"), "least privilege: the manager never edits a user's spec")
			Expect(can("list", "secrets", "-n", ns)).To(Equal("no"), "least privilege")
		})

		Context("the manager running as that ServiceAccount", func() {
			var mgrB *localcluster.Manager
			dumpOnFailure(nsB, &mgrB)
			BeforeAll(func() {
				By("starting the manager binary with the impersonating kubeconfig, --leader-elect=false")
				mgrB = startManager("manager-serviceaccount", impersonal)
			})

			It("picks up what changed while no manager ran", func() {
				Eventually(func(g Gomega) {
					for _, name := range []string{"alice", "newcomer"} {
						ok, why := localcluster.Settled(readOne(ns, "puser/"+name))
						g.Expect(ok).To(BeTrue(), "%s: %s", name, why)
					}
				}).Should(Succeed())
				kubectl("wait", "-n", ns, "--for=condition=Ready", "--timeout=60s", "puser/alice", "puser/newcomer")
				res, err := kstatus(readOne(ns, "puser/newcomer"))
				Expect(err).NotTo(HaveOccurred())
				Expect(res.Status).To(Equal(status.CurrentStatus))
			})

			It("settles the samples applied in reverse order in a second namespace", func() {
				kubectl("create", "namespace", nsB)
				applySamplesInReverse(nsB)
				expectSamplesSettled(nsB)
			})

			It("metrics: refused without a token or without the metrics-reader role; with it, the dataverse_access_ gauges match the objects", func() {
				code, _ := scrape(mgrB.MetricsPort, "")
				Expect(code).To(Equal(http.StatusUnauthorized), "no token")

				kubectl("create", "namespace", "monitoring")
				kubectl("create", "serviceaccount", "nobody", "-n", "monitoring")
				nobody := strings.TrimSpace(kubectl("create", "token", "nobody", "-n", "monitoring"))
				code, _ = scrape(mgrB.MetricsPort, nobody)
				Expect(code).To(Equal(http.StatusForbidden), "a valid token without the metrics-reader role")

				var reader string
				for _, d := range docs {
					if d.GetKind() == "ClusterRole" && strings.HasSuffix(d.GetName(), "metrics-reader") {
						reader = d.GetName()
					}
				}
				Expect(reader).NotTo(BeEmpty(), "the bundle has a metrics-reader ClusterRole")
				kubectl("create", "serviceaccount", "prometheus", "-n", "monitoring")
				kubectl("create", "clusterrolebinding", "prometheus-metrics-reader", "--clusterrole="+reader, "--serviceaccount=monitoring:prometheus")
				token := strings.TrimSpace(kubectl("create", "token", "prometheus", "-n", "monitoring"))

				var got map[string]float64
				Eventually(func(g Gomega) {
					code, body := scrape(mgrB.MetricsPort, token)
					g.Expect(code).To(Equal(http.StatusOK), body)
					got = series(body)
					for _, namespace := range []string{ns, nsB} {
						g.Expect(onlyNamespace(got, namespace)).To(Equal(expectedSeries(namespace, readBack(namespace))), "the gauges of %s", namespace)
					}
				}).Should(Succeed())
				envB := `{environment="` + environmentName + `",namespace="` + nsB + `"}`
				Expect(got).To(HaveKeyWithValue("dataverse_access_noninteractive_slots_used"+envB, 7.0))
				Expect(got).To(HaveKeyWithValue("dataverse_access_noninteractive_slots_waiting"+envB, 2.0))
				dyn := `{environment="` + environmentName + `",namespace="` + nsB + `",sku="DYN365_ENTERPRISE_SALES"}`
				Expect(got).To(HaveKeyWithValue("dataverse_access_license_seats_used"+dyn, 3.0))
				Expect(got).To(HaveKeyWithValue("dataverse_access_license_seats"+dyn, 3.0))
			})

			It("AM7 the ServiceAccount may record events: disabling an application user records a Warning", func() {
				kubectl("patch", "-n", nsB, "appuser/erp-integration", "--type=merge", "-p", `{"spec":{"enabled":false}}`)
				Eventually(func() string {
					return kubectl("get", "events", "-n", nsB, "--field-selector", "involvedObject.name=erp-integration,type=Warning", "-o", "name")
				}).ShouldNot(BeEmpty())
			})

			It("logged no request its RBAC forbade", func() {
				Expect(mgrB.LogLines("forbidden")).To(BeEmpty())
				Expect(mgrB.Running()).To(BeTrue())
			})
		})
	})
})
