package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

// The Dataverse emulator's access modes (systemusers.accessmode).
var accessModeCodes = map[string]float64{"ReadWrite": 0, "Administrative": 1, "NonInteractive": 4}

// dumpRecord finds the record of records whose field is value (case-insensitive); nil if none.
func dumpRecord(records []map[string]any, field, value string) map[string]any {
	var found map[string]any
	for _, r := range records {
		if strings.EqualFold(fmt.Sprint(r[field]), value) {
			Expect(found).To(BeNil(), "one record with %s %s, not two", field, value)
			found = r
		}
	}
	return found
}

func convert[T any](o *unstructured.Unstructured) *T {
	GinkgoHelper()
	out := new(T)
	Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out)).To(Succeed(), "%s %s", o.GetKind(), o.GetName())
	return out
}

var _ = Describe("A Dataverse target: the manager binary reaching the emulator binary as it reaches the real service", Ordered, func() {
	const (
		ns = "contoso-dataverse"
		// tenantID and clientSecret are the credentials Secret's; the emulator's token endpoint
		// accepts only that secret for the operator's client id.
		tenantID     = "8c2f6a1d-3e4b-4f5a-9b6c-7d8e9f0a1b2c"
		clientSecret = "e2e-client-secret"
		organization = "Contoso"
	)
	var (
		mgr  *localcluster.Manager
		emu  *localcluster.Emulator
		objs []unstructured.Unstructured
	)
	dumpOnFailure(ns, &mgr)
	JustAfterEach(func() {
		if CurrentSpecReport().Failed() && emu != nil {
			fmt.Fprintf(GinkgoWriter, "emulator log %s (last lines):\n%s\n", emu.LogPath, emu.LogTail(30))
		}
	})

	BeforeAll(func() {
		envID, people, err := localcluster.DataverseSamples(root)
		Expect(err).NotTo(HaveOccurred())
		By("starting the emulator binary as its own process: TLS with a CA it writes to a file, a token endpoint, the admin API")
		emu, err = localcluster.StartEmulator(emulatorBin, tmp, filepath.Join(tmp, "dataverse-emulator.log"),
			localcluster.EmulatorArgs(envID, organization, clientSecret, 5*time.Second)...)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(emu.Stop()).To(Succeed()) })
		Expect(emu.Info.Environments).To(HaveLen(1))
		Expect(emu.Info.Environments[0].EnvironmentID).To(Equal(envID))
		Expect(emu.Info.OperatorClientID).To(Equal(emulator.OperatorApplicationID))
		By("the people of config/samples-dataverse/entra-users.yaml in the emulated Entra ID tenant")
		Expect(emu.AddEntraUsers(suiteCtx, localcluster.DataverseSamplesEnvironment, people)).To(Succeed())

		kubectl("create", "namespace", ns)
		By("starting the manager binary with SSL_CERT_FILE, AZURE_AUTHORITY_HOST and --power-platform-api-url: nothing else tells it about the emulator")
		m, err := localcluster.StartManagerEnv(managerBin, cluster.Kubeconfig, filepath.Join(tmp, "manager-dataverse.log"),
			emu.Info.ManagerEnv(), emu.Info.ManagerArgs()...)
		Expect(err).NotTo(HaveOccurred())
		mgr = m
		DeferCleanup(func() {
			if mgr.Running() {
				Expect(mgr.Stop()).To(Succeed(), "the manager exits cleanly on SIGTERM; its log:\n%s", mgr.LogTail(20))
			}
		})
	})

	AfterAll(func() {
		// While the manager still runs (DeferCleanup of BeforeAll comes after this): the other
		// managers of the suite do not trust the emulator and must find nothing with a target.
		// (The namespace stays: without kube-controller-manager nothing would finalize it.)
		if mgr != nil && mgr.Running() {
			kubectl("delete", "-n", ns, "accessplane", "--all", "--timeout=120s")
		}
	})

	It("kubectl creates the credentials Secret and applies config/samples-dataverse with the emulator's URL", func() {
		out, err := cluster.ApplyDataverseSamples(suiteCtx, root, ns, emu.Info, tenantID, clientSecret)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Count(out, " created\n")).To(Equal(samplesObjects), out)
		Expect(jsonpath(ns, "ppenv/"+environmentName, ".spec.dataverse.url")).To(Equal(emu.Info.EnvironmentURL(localcluster.DataverseSamplesEnvironment)))
	})

	It("AwaitingEntraSync while people arrive from Entra ID: Ready False with the Synced reason, kstatus InProgress, Argo CD Progressing", func() {
		var waiting *unstructured.Unstructured
		Eventually(func(g Gomega) {
			for _, o := range readBack(ns) {
				if c := localcluster.Condition(&o, "Synced"); o.GetKind() == "PlatformUser" && c != nil && c["reason"] == accessv1alpha1.ReasonAwaitingEntraSync &&
					localcluster.Condition(&o, "Ready")["reason"] == accessv1alpha1.ReasonAwaitingEntraSync {
					waiting = o.DeepCopy()
					return
				}
			}
			g.Expect(waiting).NotTo(BeNil(), "a user the rules let be Ready waits for Entra ID's sync")
		}).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
		Expect(localcluster.Condition(waiting, "Ready")["status"]).To(Equal("False"), "Ready requires Synced")
		res, err := kstatus(waiting)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Status).To(Equal(status.InProgressStatus), "%s: %s", waiting.GetName(), res.Message)
		health, message, err := argoHealth(readFile("config/argocd/health.lua"), waiting)
		Expect(err).NotTo(HaveOccurred())
		Expect(health).To(Equal("Progressing"))
		Expect(message).To(ContainSubstring(accessv1alpha1.ReasonAwaitingEntraSync))
	})

	It("converges: kubectl wait --for=condition=Ready as without a target, and Synced True on every object", func() {
		expectSamplesSettled(ns)
		objs = readBack(ns)
		Expect(objs).To(HaveLen(settledObjects))
		names := make([]string, 0, len(objs))
		for i := range objs {
			names = append(names, strings.ToLower(objs[i].GetKind())+"/"+objs[i].GetName())
		}
		By("kubectl wait --for=condition=Synced on every object: a Stalled user settles at once, and is synced when Entra ID brings it")
		kubectl(append([]string{"wait", "-n", ns, "--for=condition=Synced", "--timeout=120s"}, names...)...)
		objs = readBack(ns) // with every record id
		By("kubectl get -o jsonpath: Synced True on every object, the Stalled users included (they are written as decided: ReadWrite, not licensed)")
		for _, name := range names {
			Expect(kubectl("get", "-n", ns, name, "-o", `jsonpath={.status.conditions[?(@.type=="Synced")].status}/{.status.conditions[?(@.type=="Synced")].reason}: {.status.conditions[?(@.type=="Synced")].message}`)).
				To(HavePrefix("True/"+accessv1alpha1.ReasonSynced+": "), name)
		}
	})

	It("the emulator's dump (/_emulator/state) holds what the cluster decided: units, users with access mode, unit and roles, roles, teams with members and roles", func() {
		d, err := emu.Environment(suiteCtx, localcluster.DataverseSamplesEnvironment)
		Expect(err).NotTo(HaveOccurred())
		var env *accessv1alpha1.Environment
		roleNames := map[string]string{} // SecurityRole object -> its name in Dataverse
		for i := range objs {
			switch objs[i].GetKind() {
			case "Environment":
				env = convert[accessv1alpha1.Environment](&objs[i])
			case "SecurityRole":
				r := convert[accessv1alpha1.SecurityRole](&objs[i])
				roleNames[r.Name] = r.DisplayRoleName()
			}
		}
		Expect(env).NotTo(BeNil())
		Expect(env.Status.Dataverse).NotTo(BeNil())

		By("the people were added through the admin API at --power-platform-api-url")
		log, err := emu.Requests(suiteCtx)
		Expect(err).NotTo(HaveOccurred())
		addUser := 0
		for _, r := range log {
			if r.Method == http.MethodPost && strings.Contains(r.Path, "/addUser") {
				addUser++
			}
		}
		Expect(addUser).To(BeNumerically(">=", 17), "one addUser per person (the stub is not added)")

		By("business units: the organization's root adopted as contoso, the others created under their parents")
		unitIDs := map[string]string{}
		for _, b := range env.Status.Dataverse.BusinessUnits {
			unitIDs[b.Name] = b.ID
		}
		root := dumpRecord(d.BusinessUnits, "name", organization)
		Expect(root).NotTo(BeNil())
		Expect(unitIDs).To(HaveKeyWithValue("contoso", root["businessunitid"]))
		for _, b := range env.Spec.BusinessUnits {
			if b.Parent == "" {
				continue
			}
			rec := dumpRecord(d.BusinessUnits, "name", b.Name)
			Expect(rec).NotTo(BeNil(), "unit %s", b.Name)
			Expect(rec["businessunitid"]).To(Equal(unitIDs[b.Name]))
			Expect(rec["_parentbusinessunitid_value"]).To(Equal(unitIDs[b.Parent]), "unit %s under %s", b.Name, b.Parent)
		}
		Expect(d.BusinessUnits).To(HaveLen(len(env.Spec.BusinessUnits)), "no unit twice")

		By("roles: each found or created under its unit, with its privileges; the built-in ones adopted")
		for i := range objs {
			if objs[i].GetKind() != "SecurityRole" {
				continue
			}
			r := convert[accessv1alpha1.SecurityRole](&objs[i])
			var rec map[string]any
			for _, candidate := range d.Roles {
				if candidate["name"] == r.DisplayRoleName() && candidate["_businessunitid_value"] == unitIDs[r.Status.BusinessUnit] {
					Expect(rec).To(BeNil(), "role %s once in its unit", r.DisplayRoleName())
					rec = candidate
				}
			}
			Expect(rec).NotTo(BeNil(), "role %s in unit %s", r.DisplayRoleName(), r.Status.BusinessUnit)
			Expect(r.Status.Dataverse).NotTo(BeNil())
			Expect(r.Status.Dataverse.ID).To(Equal(rec["roleid"]), "status.dataverse.id of %s", r.Name)
			if privs, ok := rec["privileges"].(map[string]any); ok {
				Expect(privs).NotTo(BeEmpty(), "role %s holds privileges", r.DisplayRoleName())
			}
		}

		By("users: each person once, with the decided access mode, unit and direct roles; application users created, enabled as decided")
		for i := range objs {
			switch objs[i].GetKind() {
			case "PlatformUser":
				u := convert[accessv1alpha1.PlatformUser](&objs[i])
				if u.Spec.Stub {
					continue // created by a data import, not by the operator
				}
				rec := dumpRecord(d.Users, "domainname", u.Spec.UserName)
				Expect(rec).NotTo(BeNil(), "%s was added from Entra ID", u.Spec.UserName)
				Expect(u.Status.Dataverse).NotTo(BeNil())
				Expect(u.Status.Dataverse.ID).To(Equal(rec["systemuserid"]), "status.dataverse.id of %s", u.Name)
				mode := string(u.Spec.AccessMode)
				if mode == "" {
					mode = "ReadWrite"
				}
				if mode == "NonInteractive" && !holdsSlot(u) {
					mode = "ReadWrite" // a user waiting for a slot is not written as NonInteractive
				}
				Expect(rec["accessmode"]).To(Equal(accessModeCodes[mode]), "accessmode of %s", u.Name)
				Expect(rec["_businessunitid_value"]).To(Equal(unitIDs[u.Status.BusinessUnit]), "unit of %s", u.Name)
				Expect(rec["isdisabled"]).To(Equal(!u.Status.Enabled), "isdisabled of %s follows Entra ID, which agrees with the decision", u.Name)
				roles := emulator.DumpStrings(rec["roles"])
				want := accessv1alpha1.DirectRoleNames(u.Status.EffectiveRoles)
				Expect(roles).To(Equal(want), "the roles of %s are exactly its decided direct roles", u.Name)
			case "ApplicationUser":
				a := convert[accessv1alpha1.ApplicationUser](&objs[i])
				rec := dumpRecord(d.Users, "applicationid", a.Spec.ApplicationID)
				Expect(rec).NotTo(BeNil(), "application user %s created with the Web API", a.Name)
				Expect(rec["isdisabled"]).To(Equal(!a.Spec.Enabled), "isdisabled of %s", a.Name)
				Expect(rec["_businessunitid_value"]).To(Equal(unitIDs[a.Status.BusinessUnit]), "unit of %s", a.Name)
				Expect(emulator.DumpStrings(rec["roles"])).To(Equal(accessv1alpha1.DirectRoleNames(a.Status.EffectiveRoles)), "roles of %s", a.Name)
			}
		}

		By("teams: each with its type; an owner or access team's members exactly the decided ones; roles exact")
		userNames := map[string]string{}
		for i := range objs {
			if objs[i].GetKind() == "PlatformUser" {
				u := convert[accessv1alpha1.PlatformUser](&objs[i])
				userNames[u.Name] = strings.ToLower(u.Spec.UserName)
			}
		}
		teamTypes := map[accessv1alpha1.TeamType]float64{accessv1alpha1.TeamOwner: 0, accessv1alpha1.TeamAccess: 1, accessv1alpha1.TeamAADSecurityGroup: 2, accessv1alpha1.TeamAADOfficeGroup: 3}
		for i := range objs {
			if objs[i].GetKind() != "Team" {
				continue
			}
			t := convert[accessv1alpha1.Team](&objs[i])
			rec := dumpRecord(d.Teams, "name", t.DisplayTeamName())
			Expect(rec).NotTo(BeNil(), "team %s", t.DisplayTeamName())
			Expect(rec["teamtype"]).To(Equal(teamTypes[t.Spec.Type]), "type of %s", t.Name)
			Expect(t.Status.Dataverse).NotTo(BeNil())
			Expect(t.Status.Dataverse.ID).To(Equal(rec["teamid"]))
			if t.Spec.Type.IsGroupTeam() {
				Expect(rec["azureactivedirectoryobjectid"]).To(Equal(t.Spec.Group))
			} else {
				want := []string{}
				for _, m := range t.Spec.Members {
					want = append(want, userNames[m])
				}
				sort.Strings(want)
				Expect(emulator.DumpStrings(rec["members"])).To(Equal(want), "members of %s", t.Name)
			}
			wantRoles := []string{}
			if t.Spec.Type != accessv1alpha1.TeamAccess {
				for _, r := range t.Spec.SecurityRoles {
					wantRoles = append(wantRoles, roleNames[r])
				}
			}
			sort.Strings(wantRoles)
			Expect(emulator.DumpStrings(rec["roles"])).To(Equal(wantRoles), "roles of %s", t.Name)
		}
	})

	// status.dataverse is what Dataverse holds after the operator's writes, not the record as read
	// before them (frank: Administrative once the sync wrote it).
	It("status.dataverse.accessMode of each user is what Dataverse holds", func() {
		d, err := emu.Environment(suiteCtx, localcluster.DataverseSamplesEnvironment)
		Expect(err).NotTo(HaveOccurred())
		for _, o := range readBack(ns) {
			if o.GetKind() != "PlatformUser" {
				continue
			}
			u := convert[accessv1alpha1.PlatformUser](&o)
			if u.Spec.Stub {
				continue
			}
			rec := dumpRecord(d.Users, "domainname", u.Spec.UserName)
			Expect(rec).NotTo(BeNil())
			Expect(accessModeCodes[u.Status.Dataverse.AccessMode]).To(Equal(rec["accessmode"]), "status.dataverse.accessMode of %s", u.Name)
		}
	})

	It("is idle once converged: the emulator's request log shows no write", func() {
		writes := func() int {
			log, err := emu.Requests(suiteCtx)
			Expect(err).NotTo(HaveOccurred())
			return len(emulator.Writes(log))
		}
		before := writes()
		Consistently(writes, "5s", "1s").Should(Equal(before))
	})

	It("kstatus and Argo CD on the converged objects: Ready ones Current and Healthy, saying they are synced", func() {
		current := readBack(ns)
		for i := range current {
			o := &current[i]
			if stalled := localcluster.Condition(o, "Stalled"); stalled != nil && stalled["status"] == "True" {
				continue // waiting for a slot or a seat, as without a target
			}
			res, err := kstatus(o)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Status).To(Equal(status.CurrentStatus), "%s %s", o.GetKind(), o.GetName())
			health, message, err := argoHealth(readFile("config/argocd/health.lua"), o)
			Expect(err).NotTo(HaveOccurred())
			Expect(health).To(Equal("Healthy"), "%s %s: %s", o.GetKind(), o.GetName(), message)
			Expect(message).To(ContainSubstring("Synced"))
		}
	})

	Context("an access mode changed behind the operator's back", func() {
		var aliceID string

		It("Observe reports it as Drifted without writing: Ready and Stalled False/True Drifted, kstatus Failed, Argo CD Degraded", func() {
			aliceID = jsonpath(ns, "puser/alice", ".status.dataverse.id")
			Expect(aliceID).NotTo(BeEmpty())
			Expect(emu.Control(suiteCtx, http.MethodPatch, "environments/"+localcluster.DataverseSamplesEnvironment+"/systemusers/"+aliceID,
				map[string]any{"accessmode": 1}, nil)).To(Succeed())
			Expect(emu.Control(suiteCtx, http.MethodDelete, "requests", nil, nil)).To(Succeed())
			kubectl("patch", "-n", ns, "ppenv/"+environmentName, "--type=merge", "-p", `{"spec":{"dataverse":{"managementPolicy":"Observe"}}}`)

			Eventually(func() string {
				return jsonpath(ns, "puser/alice", `.status.conditions[?(@.type=="Synced")].reason`)
			}).Should(Equal(accessv1alpha1.ReasonDrifted))
			Expect(jsonpath(ns, "puser/alice", `.status.conditions[?(@.type=="Synced")].status`)).To(Equal("False"))
			Expect(jsonpath(ns, "puser/alice", `.status.conditions[?(@.type=="Synced")].message`)).To(ContainSubstring("accessmode"), "the message names the difference")
			Eventually(func() string {
				return jsonpath(ns, "puser/alice", `.status.conditions[?(@.type=="Ready")].reason`)
			}).Should(Equal(accessv1alpha1.ReasonDrifted), "Ready requires Synced")
			Expect(jsonpath(ns, "puser/alice", `.status.conditions[?(@.type=="Stalled")].status`)).To(Equal("True"), "only a person clears Drifted")

			alice := readOne(ns, "puser/alice")
			res, err := kstatus(alice)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Status).To(Equal(status.FailedStatus), res.Message)
			health, message, err := argoHealth(readFile("config/argocd/health.lua"), alice)
			Expect(err).NotTo(HaveOccurred())
			Expect(health).To(Equal("Degraded"))
			Expect(message).To(ContainSubstring("Drifted"))

			d, err := emu.Environment(suiteCtx, localcluster.DataverseSamplesEnvironment)
			Expect(err).NotTo(HaveOccurred())
			Expect(dumpRecord(d.Users, "systemuserid", aliceID)["accessmode"]).To(Equal(1.0), "Observe left it")
			log, err := emu.Requests(suiteCtx)
			Expect(err).NotTo(HaveOccurred())
			Expect(emulator.Writes(log)).To(BeEmpty(), "Observe writes nothing")
		})

		It("Manage corrects it, and alice is Ready and Synced again", func() {
			kubectl("patch", "-n", ns, "ppenv/"+environmentName, "--type=merge", "-p", `{"spec":{"dataverse":{"managementPolicy":"Manage"}}}`)
			Eventually(func() string {
				return jsonpath(ns, "puser/alice", `.status.conditions[?(@.type=="Synced")].reason`)
			}).Should(Equal(accessv1alpha1.ReasonSynced))
			kubectl("wait", "-n", ns, "--for=condition=Ready", "--timeout=60s", "puser/alice")
			d, err := emu.Environment(suiteCtx, localcluster.DataverseSamplesEnvironment)
			Expect(err).NotTo(HaveOccurred())
			Expect(dumpRecord(d.Users, "systemuserid", aliceID)["accessmode"]).To(Equal(0.0), "corrected to ReadWrite")
			res, err := kstatus(readOne(ns, "puser/alice"))
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Status).To(Equal(status.CurrentStatus))
		})
	})
})

// holdsSlot says whether a NonInteractive user holds one of the seven slots.
func holdsSlot(u *accessv1alpha1.PlatformUser) bool {
	for _, c := range u.Status.Conditions {
		if c.Type == accessv1alpha1.ConditionNonInteractiveSlot && c.Reason == accessv1alpha1.ReasonSlotGranted {
			return true
		}
	}
	return false
}
