package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

// The Entra ID target end to end (docs/design.md, "Entra ID target (Microsoft Graph)"): the
// manager binary reaches the emulator binary's Microsoft Graph at --graph-url, trusting it through
// SSL_CERT_FILE and signing in at AZURE_AUTHORITY_HOST, exactly as it reaches
// https://graph.microsoft.com/v1.0 — no test-only code path.

// graphWrite is one Graph write of the request log: its method and path after /graph/v1.0/ (a
// request inside a $batch on its own).
type graphWrite struct {
	method, path string
	status       int
}

// graphWritesOf are the Graph writes of a request log, in the order they were logged.
func graphWritesOf(log []emulator.LoggedRequest) []graphWrite {
	var out []graphWrite
	for _, r := range emulator.Writes(emulator.GraphRequests(log)) {
		p, _, _ := strings.Cut(r.Path, "?")
		out = append(out, graphWrite{method: r.Method, path: strings.TrimPrefix(p, "/graph/v1.0/"), status: r.Status})
	}
	return out
}

// countWrites counts the writes of method whose path is path.
func countWrites(ws []graphWrite, method, path string) int {
	n := 0
	for _, w := range ws {
		if w.method == method && strings.EqualFold(w.path, path) {
			n++
		}
	}
	return n
}

// directoryUser finds a person of the directory dump by user principal name (nil if none).
func directoryUser(d emulator.DirectoryDump, upn string) *emulator.DirectoryUserDump {
	for i := range d.Users {
		if strings.EqualFold(d.Users[i].UserPrincipalName, upn) {
			return &d.Users[i]
		}
	}
	return nil
}

// directoryGroupMembers are the direct members (object ids, lower-case, sorted) of a group.
func directoryGroupMembers(d emulator.DirectoryDump, groupID string) []string {
	for _, g := range d.Groups {
		if strings.EqualFold(g.ID, groupID) {
			out := make([]string, 0, len(g.Members))
			for _, m := range g.Members {
				out = append(out, strings.ToLower(m))
			}
			sort.Strings(out)
			return out
		}
	}
	return nil
}

// directLicenses are the SKU part numbers assigned to a person directly, sorted.
func directLicenses(d emulator.DirectoryDump, u *emulator.DirectoryUserDump) []string {
	parts := map[string]string{}
	for _, s := range d.SubscribedSkus {
		parts[strings.ToLower(s.SkuID)] = s.SkuPartNumber
	}
	out := []string{}
	for _, st := range u.LicenseAssignmentStates {
		if st.AssignedByGroup == nil {
			out = append(out, parts[strings.ToLower(st.SkuID)])
		}
	}
	sort.Strings(out)
	return out
}

var _ = Describe("An Entra ID target: the manager binary reaching the emulator's Microsoft Graph at --graph-url as it reaches the real one", Ordered, func() {
	const (
		ns           = "contoso-entra"
		tenantID     = "8c2f6a1d-3e4b-4f5a-9b6c-7d8e9f0a1b2c"
		clientSecret = "e2e-entra-client-secret"
		organization = "Contoso"
		// teamGroupID is the Entra group of the group team sales-aad-group (config/samples-dataverse).
		teamGroupID = "9a1e6f3c-4b2d-4e8a-9c7f-2d5b8e1a3c40"
	)
	var (
		mgr    *localcluster.Manager
		emu    *localcluster.Emulator
		sgID   string
		seed   *emulator.DirectorySeed
		expect expectation
	)
	dumpOnFailure(ns, &mgr)
	JustAfterEach(func() {
		if CurrentSpecReport().Failed() && emu != nil {
			fmt.Fprintf(GinkgoWriter, "emulator log %s (last lines):\n%s\n", emu.LogPath, emu.LogTail(30))
		}
	})

	BeforeAll(func() {
		envID, group, err := localcluster.EntraSamples(root)
		Expect(err).NotTo(HaveOccurred())
		sgID = group
		seed, err = emulator.ReadDirectorySeed(filepath.Join(root, localcluster.EntraSamplesDirectory))
		Expect(err).NotTo(HaveOccurred())

		By("starting the emulator binary with the tenant of " + localcluster.EntraSamplesDirectory + " (--entra-directory) and contoso-sales gated by its security group")
		emu, err = localcluster.StartEmulator(emulatorBin, tmp, filepath.Join(tmp, "entra-emulator.log"),
			localcluster.EntraEmulatorArgs(root, envID, sgID, organization, clientSecret, 2*time.Second, 5*time.Second)...)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(emu.Stop()).To(Succeed()) })
		Expect(emu.Info.GraphURL).To(Equal(emu.Info.URL + "/graph/v1.0"))
		Expect(emu.Info.Environments).To(HaveLen(1))
		Expect(emu.Info.Environments[0].SecurityGroupID).To(Equal(sgID))

		kubectl("create", "namespace", ns)
		args := emu.Info.ManagerArgs()
		Expect(args).To(ContainElement("--graph-url="+emu.Info.GraphURL), "the manager is pointed at the emulator's Graph")
		By("starting the manager binary with SSL_CERT_FILE, AZURE_AUTHORITY_HOST, --power-platform-api-url and --graph-url")
		mgr, err = localcluster.StartManagerEnv(managerBin, cluster.Kubeconfig, filepath.Join(tmp, "manager-entra.log"), emu.Info.ManagerEnv(), args...)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			if mgr.Running() {
				Expect(mgr.Stop()).To(Succeed(), "the manager exits cleanly on SIGTERM; its log:\n%s", mgr.LogTail(20))
			}
		})
	})

	AfterAll(func() {
		// While this manager still runs: the suite's other managers know no emulator, and must
		// find no object with a target (they would reach the real services' hosts).
		if mgr != nil && mgr.Running() {
			kubectl("delete", "-n", ns, "accessplane", "--all", "--timeout=120s")
		}
	})

	It("kubectl creates the credentials Secret and applies config/samples-entra: config/samples-dataverse with spec.entra (Manage)", func() {
		out, err := cluster.ApplyEntraSamples(suiteCtx, root, ns, emu.Info, tenantID, clientSecret)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Count(out, " created\n")).To(Equal(samplesObjects), out)
		Expect(jsonpath(ns, "ppenv/"+environmentName, ".spec.entra.managementPolicy")).To(Equal("Manage"))
	})

	It("converges: Ready as without a target, and Synced True on every object (the Stalled users included)", func() {
		var objs []unstructured.Unstructured
		Eventually(func() []unstructured.Unstructured { objs = readBack(ns); return objs }).Should(HaveLen(settledObjects), "the samples and the Environment's three built-in roles")
		names := make([]string, 0, len(objs))
		for i := range objs {
			names = append(names, strings.ToLower(objs[i].GetKind())+"/"+objs[i].GetName())
		}
		By("kubectl wait --for=condition=Synced on every object: in place in Entra ID and in Dataverse, which follows Entra ID")
		kubectl(append([]string{"wait", "-n", ns, "--for=condition=Synced", "--timeout=240s"}, names...)...)
		expect = expectSamplesSettled(ns)
		for _, name := range names {
			Expect(kubectl("get", "-n", ns, name, "-o", `jsonpath={.status.conditions[?(@.type=="Synced")].status}/{.status.conditions[?(@.type=="Synced")].reason}: {.status.conditions[?(@.type=="Synced")].message}`)).
				To(HavePrefix("True/"+accessv1alpha1.ReasonSynced+": "), name)
		}
	})

	It("Entra ID holds what the operator decided — the security group's managed members exactly the people decided enabled (the waiting ones taken out), the group team's group its listers, each seat holder's license — and Dataverse follows", func() {
		waiting := map[string]bool{}
		for _, n := range expect.slotWaiting {
			waiting[n] = true
		}
		for _, names := range expect.seatWaiting {
			for _, n := range names {
				waiting[n] = true
			}
		}
		Expect(waiting).To(HaveLen(3), "dan waits for a seat, two service accounts for a slot")

		d, err := emu.Directory(suiteCtx)
		Expect(err).NotTo(HaveOccurred())
		dv, err := emu.Environment(suiteCtx, localcluster.DataverseSamplesEnvironment)
		Expect(err).NotTo(HaveOccurred())
		managed := map[string]bool{}
		var wantSG, wantTeam []string
		wantLicenses := 0
		for _, o := range readBack(ns) {
			if o.GetKind() != "PlatformUser" {
				continue
			}
			u := convert[accessv1alpha1.PlatformUser](&o)
			if u.Spec.Stub {
				Expect(u.Status.Entra).To(BeNil(), "a stub is not in Entra ID")
				continue
			}
			du := directoryUser(d, u.Spec.UserName)
			Expect(du).NotTo(BeNil(), "%s is in the tenant", u.Spec.UserName)
			id := strings.ToLower(du.ID)
			managed[id] = true
			member := u.Spec.Enabled && !waiting[u.Name]
			if member {
				wantSG = append(wantSG, id)
			}
			if slices.Contains(u.Spec.SecurityGroups, teamGroupID) {
				wantTeam = append(wantTeam, id)
			}
			By(fmt.Sprintf("%s: in the security group %t", u.Name, member))
			Expect(u.Status.Enabled).To(Equal(member), "%s is enabled exactly when it may be a member", u.Name)
			st := u.Status.Entra
			Expect(st).NotTo(BeNil(), "status.entra of %s", u.Name)
			Expect(st.ObjectID).To(Equal(id), "status.entra.objectId of %s", u.Name)
			Expect(st.AccountEnabled).To(HaveValue(BeTrue()))
			Expect(st.MemberOfSecurityGroup).To(HaveValue(Equal(member)), "status.entra.memberOfSecurityGroup of %s", u.Name)

			want := []string{}
			if u.NeedsLicense() && !waiting[u.Name] {
				want = []string{u.Spec.License}
				wantLicenses++
				Expect(st.Licenses).To(ConsistOf(accessv1alpha1.EntraLicense{SkuPartNumber: u.Spec.License, Direct: true}))
				Expect(st.AssignedByOperator).To(Equal([]string{u.Spec.License}), "%s: the license the operator assigned is recorded (the only kind it ever removes)", u.Name)
			} else {
				Expect(st.AssignedByOperator).To(BeEmpty(), "%s: no license assigned (none needed, or the seat is not held: LI1)", u.Name)
			}
			Expect(directLicenses(d, du)).To(Equal(want), "the direct licenses of %s in Entra ID", u.Name)

			rec := dumpRecord(dv.Users, "domainname", u.Spec.UserName)
			Expect(rec).NotTo(BeNil(), "%s is in Dataverse", u.Name)
			Expect(rec["isdisabled"]).To(Equal(!member), "Dataverse's isdisabled of %s follows Entra ID, which the operator made agree", u.Name)
		}
		sort.Strings(wantSG)
		sort.Strings(wantTeam)

		By("the security group: its managed members are exactly the decided ones; the member no PlatformUser manages is left alone")
		var unmanaged []string
		for _, g := range seed.Groups {
			if strings.EqualFold(g.ID, sgID) {
				for _, m := range g.Members {
					if u := directoryUser(d, m); u != nil && !managed[strings.ToLower(u.ID)] {
						unmanaged = append(unmanaged, strings.ToLower(u.ID))
					}
				}
			}
		}
		Expect(unmanaged).To(HaveLen(1), "the seed has one member no PlatformUser manages")
		Expect(directoryGroupMembers(d, sgID)).To(ConsistOf(append(slices.Clone(wantSG), unmanaged...)))
		By("the group team's group: exactly those listing it in spec.securityGroups (TM1)")
		Expect(directoryGroupMembers(d, teamGroupID)).To(Equal(wantTeam))

		By("the request log: each write once, no DELETE of a member without /$ref")
		log, err := emu.Requests(suiteCtx)
		Expect(err).NotTo(HaveOccurred())
		ws := graphWritesOf(log)
		initial := map[string]bool{}
		for _, g := range seed.Groups {
			if strings.EqualFold(g.ID, sgID) {
				for _, m := range g.Members {
					initial[strings.ToLower(directoryUser(d, m).ID)] = true
				}
			}
		}
		adds, removes := 0, 0
		for id := range managed {
			in := slices.Contains(wantSG, id)
			switch {
			case in && !initial[id]:
				adds++
			case !in && initial[id]:
				removes++
				Expect(countWrites(ws, http.MethodDelete, "groups/"+sgID+"/members/"+id+"/$ref")).To(Equal(1), "the waiting member %s removed once", id)
			}
		}
		Expect(removes).To(BeNumerically(">", 0), "the seed's security group holds people who wait: the operator takes them out")
		for _, w := range ws {
			Expect(w.status).To(BeNumerically("<", 300), "%s %s answered %d", w.method, w.path, w.status)
			if w.method == http.MethodDelete {
				Expect(w.path).To(HaveSuffix("/$ref"), "a member is removed by its reference only: without /$ref the call deletes the user")
			}
			Expect(w.method).NotTo(Equal(http.MethodPatch), "nothing of a person or a group is edited (sign-in, profile)")
		}
		Expect(countWrites(ws, http.MethodPost, "groups/"+sgID+"/members/$ref")).To(Equal(adds), "one add per person decided enabled and not yet a member")
		Expect(countWrites(ws, http.MethodPost, "groups/"+teamGroupID+"/members/$ref")).To(Equal(len(wantTeam)))
		assigns := 0
		for _, w := range ws {
			if w.method == http.MethodPost && strings.HasSuffix(w.path, "/assignLicense") {
				assigns++
			}
		}
		Expect(assigns).To(Equal(wantLicenses), "one assignLicense per seat holder")
	})

	It("the Environment's status.entra: the security group resolved from its display name, the member no PlatformUser manages, the tenant's units per SKU", func() {
		env := convert[accessv1alpha1.Environment](readOne(ns, "ppenv/"+environmentName))
		st := env.Status.Entra
		Expect(st).NotTo(BeNil())
		Expect(st.SecurityGroupID).To(Equal(sgID))
		Expect(st.SecurityGroupName).To(Equal(env.Spec.SecurityGroup))
		Expect(st.UnmanagedMembers).To(Equal(&accessv1alpha1.UnmanagedMembers{Count: 1, First: []string{"it-helpdesk@contoso.com"}}))
		consumed := map[string]int32{}
		for _, o := range readBack(ns) {
			if o.GetKind() == "PlatformUser" {
				if st := convert[accessv1alpha1.PlatformUser](&o).Status.Entra; st != nil {
					for _, l := range st.Licenses {
						consumed[l.SkuPartNumber]++
					}
				}
			}
		}
		d, err := emu.Directory(suiteCtx)
		Expect(err).NotTo(HaveOccurred())
		for _, s := range d.SubscribedSkus {
			Expect(s.ConsumedUnits).To(Equal(int(consumed[s.SkuPartNumber])), "Entra ID's consumed units of %s are the licenses the operator assigned", s.SkuPartNumber)
		}
		// The Environment is woken by every person's license write, so its units are Entra ID's.
		Eventually(func(g Gomega) {
			env := convert[accessv1alpha1.Environment](readOne(ns, "ppenv/"+environmentName))
			for _, s := range seed.SubscribedSkus {
				g.Expect(env.Status.Entra.Skus).To(ContainElement(accessv1alpha1.TenantSku{SkuPartNumber: s.SkuPartNumber,
					Enabled: int32(s.PrepaidUnits.Enabled), Consumed: consumed[s.SkuPartNumber]}), "units of %s", s.SkuPartNumber)
			}
		}, "30s", "1s").Should(Succeed())
	})

	It("is idle once converged: no write to Graph or Dataverse", func() {
		writes := func() int {
			log, err := emu.Requests(suiteCtx)
			Expect(err).NotTo(HaveOccurred())
			return len(emulator.Writes(log))
		}
		before := writes()
		Consistently(writes, "6s", "1s").Should(Equal(before))
	})
})

var _ = Describe("Reliability of the Entra ID target: the manager SIGKILLed between a security-group add and its status write", func() {
	const (
		ns           = "entra-crash"
		envName      = "fabrikam-crash"
		clientSecret = "e2e-crash-client-secret"
		sgID         = "6b1f0c2e-3d4a-4b5c-9e8f-7a6b5c4d3e2f"
		sgName       = "fabrikam-crash-users"
		sku          = "FABRIKAM_CRASH_PLAN1"
		upn          = "kim.tanaka@fabrikam-crash.example"
	)
	var mgr *localcluster.Manager
	dumpOnFailure(ns, &mgr)

	It("restarted, the manager finds the membership made, sends no second add, and the person ends a member, enabled in Dataverse, Ready and Synced", func() {
		seedFile := filepath.Join(tmp, "entra-crash-directory.json")
		seed := emulator.DirectorySeed{
			SubscribedSkus: []emulator.SubscribedSku{{SkuPartNumber: sku, PrepaidUnits: emulator.PrepaidUnits{Enabled: 5}}},
			Users: []emulator.DirectoryUser{{UserPrincipalName: upn, GivenName: "Kim", Surname: "Tanaka", UsageLocation: "JP",
				AssignedLicenses: []emulator.AssignedLicense{{SkuPartNumber: sku}}}},
			Groups: []emulator.DirectoryGroup{{ID: sgID, DisplayName: sgName}},
		}
		data, err := json.Marshal(seed)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(seedFile, data, 0o600)).To(Succeed())
		envID := "0c4e2a6b-1d3f-4a5b-8c7d-9e0f1a2b3c4d"
		emu, err := localcluster.StartEmulator(emulatorBin, tmp, filepath.Join(tmp, "entra-crash-emulator.log"),
			"--environments", envName+"="+envID+"=Fabrikam="+sgID, "--entra-directory", seedFile, "--entra-sync-delay", "1s",
			"--client-secrets", emulator.OperatorApplicationID+"="+clientSecret)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			if CurrentSpecReport().Failed() {
				fmt.Fprintf(GinkgoWriter, "emulator log %s (last lines):\n%s\n", emu.LogPath, emu.LogTail(30))
			}
			Expect(emu.Stop()).To(Succeed())
		})
		start := func(name string) *localcluster.Manager {
			m, err := localcluster.StartManagerEnv(managerBin, cluster.Kubeconfig, filepath.Join(tmp, name+".log"), emu.Info.ManagerEnv(), emu.Info.ManagerArgs()...)
			Expect(err).NotTo(HaveOccurred())
			return m
		}
		mgr = start("manager-entra-crash")
		DeferCleanup(func() {
			// The suite's other managers know no emulator: nothing with a target may be left,
			// and only a manager that reaches the emulator can let the objects go.
			if !mgr.Running() {
				mgr = start("manager-entra-crash-cleanup")
			}
			kubectl("delete", "-n", ns, "accessplane", "--all", "--timeout=120s")
			Expect(mgr.Stop()).To(Succeed(), "the manager exits cleanly on SIGTERM; its log:\n%s", mgr.LogTail(20))
		})

		kubectl("create", "namespace", ns)
		kubectl("create", "secret", "generic", envName+"-dataverse", "-n", ns, "--from-literal=tenantId=0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
			"--from-literal=clientId="+emu.Info.OperatorClientID, "--from-literal=clientSecret="+clientSecret)
		kubectlStdin(fmt.Sprintf(`apiVersion: access.accessplane.io/v1alpha1
kind: Environment
metadata:
  name: %[1]s
spec:
  type: Sandbox
  product: Dynamics365
  securityGroup: %[2]s
  licenses:
    - sku: %[3]s
      seats: 5
  dataverse:
    url: %[4]s
    environmentId: %[5]s
    credentialsSecretRef:
      name: %[1]s-dataverse
    managementPolicy: Manage
  entra:
    managementPolicy: Manage
`, envName, sgName, sku, emu.Info.EnvironmentURL(envName), envID), "apply", "-n", ns, "-f", "-")
		kubectl("wait", "-n", ns, "--for=condition=Ready", "--timeout=120s", "ppenv/"+envName)

		By("holding the emulator's answer to the security group's member add for 10 seconds")
		Expect(emu.Control(suiteCtx, http.MethodPost, "faults", emulator.Fault{Environment: emulator.GraphEnvironment, Method: http.MethodPost,
			PathContains: "groups/" + sgID + "/members/$ref", Latency: 10 * time.Second}, nil)).To(Succeed())
		kubectlStdin(fmt.Sprintf(`apiVersion: access.accessplane.io/v1alpha1
kind: PlatformUser
metadata:
  name: kim
spec:
  environmentName: %s
  userName: %s
  license: %s
  securityRoles:
    - %s-basic-user
`, envName, upn, sku, envName), "apply", "-n", ns, "-f", "-")

		adds := func() []emulator.LoggedRequest {
			log, err := emu.Requests(suiteCtx)
			Expect(err).NotTo(HaveOccurred())
			var out []emulator.LoggedRequest
			for _, r := range emulator.Writes(emulator.GraphRequests(log)) {
				if r.Method == http.MethodPost && strings.Contains(r.Path, "groups/"+sgID+"/members/$ref") {
					out = append(out, r)
				}
			}
			return out
		}
		Eventually(adds, "60s", "100ms").Should(HaveLen(1), func() string { return mgr.LogTail(30) })
		Expect(adds()[0].Status).To(Equal(0), "the add is in flight: its answer is held")
		By("SIGKILL while the add is in flight, before its answer and the status write that would record it")
		Expect(mgr.Kill()).To(Succeed())
		kim := convert[accessv1alpha1.PlatformUser](readOne(ns, "puser/kim"))
		if st := kim.Status.Entra; st != nil {
			Expect(st.MemberOfSecurityGroup).NotTo(HaveValue(BeTrue()), "the kill landed before the status recorded the membership, or it proves nothing")
			Expect(st.LastCorrection).To(BeEmpty())
		}

		By("the emulator completes the add after its latency, with nobody left to hear the answer")
		Eventually(func(g Gomega) {
			a := adds()
			g.Expect(a).To(HaveLen(1))
			g.Expect(a[0].Status).To(Equal(http.StatusNoContent))
			d, err := emu.Directory(suiteCtx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(directoryUser(d, upn).MemberOf).To(ContainElement(sgID))
		}, "30s", "250ms").Should(Succeed())

		By("restarting the manager")
		mgr = start("manager-entra-crash-restarted")
		Eventually(func() string {
			return kubectl("get", "-n", ns, "puser/kim", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Synced")].reason}`)
		}, "120s", "500ms").Should(Equal("True/"+accessv1alpha1.ReasonSynced), func() string { return mgr.LogTail(30) })
		kim = convert[accessv1alpha1.PlatformUser](readOne(ns, "puser/kim"))
		Expect(kim.Status.Enabled).To(BeTrue())
		Expect(kim.Status.Entra).NotTo(BeNil())
		Expect(kim.Status.Entra.MemberOfSecurityGroup).To(HaveValue(BeTrue()), "status.entra records the membership found")

		Expect(adds()).To(HaveLen(1), "exactly one add of the membership: the restarted manager observed it made and did not send it again")
		log, err := emu.Requests(suiteCtx)
		Expect(err).NotTo(HaveOccurred())
		for _, w := range graphWritesOf(log) {
			Expect(w.method).NotTo(Equal(http.MethodDelete), "nothing was removed")
		}
		dv, err := emu.Environment(suiteCtx, envName)
		Expect(err).NotTo(HaveOccurred())
		rec := dumpRecord(dv.Users, "domainname", upn)
		Expect(rec).NotTo(BeNil(), "kim is in Dataverse")
		Expect(rec["isdisabled"]).To(Equal(false), "Dataverse follows the membership: kim is enabled")
	})
})
