package reliability

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

const (
	dvRoles = 12
	dvApps  = 12
	dvTeams = 6
)

// serveEmulator serves a Dataverse emulator from the test process over TLS, as its binary does:
// the manager trusts its CA through SSL_CERT_FILE and gets tokens from it through
// AZURE_AUTHORITY_HOST, with no test-only code path.
func serveEmulator(cfg emulator.Config) (emu *emulator.Emulator, base, caFile string) {
	emu = emulator.New(cfg)
	cert, caPEM, err := emulator.NewTLS([]string{"127.0.0.1"})
	Expect(err).NotTo(HaveOccurred())
	caFile = filepath.Join(workDir, "dataverse-ca.pem")
	Expect(os.WriteFile(caFile, caPEM, 0o644)).To(Succeed())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	srv := &http.Server{Handler: emu, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	DeferCleanup(srv.Close)
	return emu, "https://" + ln.Addr().String(), caFile
}

// dataverseFleet is one Environment targeting the emulator, with custom roles, application users
// holding them and owner teams holding them: every one a record the manager creates.
func dataverseFleet(ns, url, envID string) []client.Object {
	objs := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dataverse"},
			StringData: map[string]string{"tenantId": "contoso-tenant", "clientId": emulator.OperatorApplicationID, "clientSecret": "s3cret"}},
		&accessv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dv"},
			Spec: accessv1alpha1.EnvironmentSpec{Product: accessv1alpha1.ProductPowerApps, Type: "Sandbox",
				Dataverse: &accessv1alpha1.DataverseTarget{URL: url, EnvironmentID: envID,
					CredentialsSecretRef: accessv1alpha1.SecretReference{Name: "dataverse"}, ManagementPolicy: accessv1alpha1.ManagementManage}}},
	}
	for i := 0; i < dvRoles; i++ {
		objs = append(objs, &accessv1alpha1.SecurityRole{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("r%02d", i)},
			Spec: accessv1alpha1.SecurityRoleSpec{EnvironmentName: "dv", RoleName: fmt.Sprintf("Role %02d", i),
				Tables: []accessv1alpha1.TablePermission{{Table: "account", PermissionSetting: accessv1alpha1.PermissionCollaborate}}}})
	}
	for i := 0; i < dvApps; i++ {
		objs = append(objs, &accessv1alpha1.ApplicationUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("app%02d", i)},
			Spec: accessv1alpha1.ApplicationUserSpec{EnvironmentName: "dv", Enabled: true, ApplicationID: fmt.Sprintf("a%07d-2222-4333-8444-555555555555", i),
				SecurityRoles: []string{fmt.Sprintf("r%02d", i)}}})
	}
	for i := 0; i < dvTeams; i++ {
		objs = append(objs, &accessv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("team%02d", i)},
			Spec: accessv1alpha1.TeamSpec{EnvironmentName: "dv", Type: accessv1alpha1.TeamOwner, SecurityRoles: []string{fmt.Sprintf("r%02d", i)}}})
	}
	return objs
}

// creates lists the logged requests that create a role, user or team.
func creates(emu *emulator.Emulator) []string {
	var out []string
	for _, r := range emu.Requests() {
		if r.Method != http.MethodPost {
			continue
		}
		for _, set := range []string{"/roles", "/systemusers", "/teams"} {
			if strings.HasSuffix(r.Path, set) {
				out = append(out, r.Path)
			}
		}
	}
	return out
}

// natural keys of the records the fleet creates, and how many records hold each.
func recordKeys(emu *emulator.Emulator) map[string]int {
	keys := map[string]int{}
	for _, e := range emu.Dump().Environments {
		for _, r := range e.Roles {
			if name := fmt.Sprint(r["name"]); strings.HasPrefix(name, "Role ") {
				keys[e.Name+": role "+name]++
			}
		}
		for _, u := range e.Users {
			if app, _ := u["applicationid"].(string); strings.HasSuffix(app, "-2222-4333-8444-555555555555") {
				keys[e.Name+": application user "+app]++
			}
		}
		for _, t := range e.Teams {
			if name := fmt.Sprint(t["name"]); strings.HasPrefix(name, "team") {
				keys[e.Name+": team "+name]++
			}
		}
	}
	return keys
}

// recordsInStatus counts the fleet's objects whose status holds their Dataverse record.
func recordsInStatus(ctx SpecContext, ns string) int {
	n := 0
	var roles accessv1alpha1.SecurityRoleList
	var apps accessv1alpha1.ApplicationUserList
	var teams accessv1alpha1.TeamList
	Expect(k8s.List(ctx, &roles, client.InNamespace(ns))).To(Succeed())
	Expect(k8s.List(ctx, &apps, client.InNamespace(ns))).To(Succeed())
	Expect(k8s.List(ctx, &teams, client.InNamespace(ns))).To(Succeed())
	for _, r := range roles.Items {
		if r.Spec.BuiltIn == "" && r.Status.Dataverse != nil && r.Status.Dataverse.ID != "" {
			n++
		}
	}
	for _, a := range apps.Items {
		if a.Status.Dataverse != nil && a.Status.Dataverse.ID != "" {
			n++
		}
	}
	for _, t := range teams.Items {
		if t.Status.Dataverse != nil && t.Status.Dataverse.ID != "" {
			n++
		}
	}
	return n
}

// allSynced reports whether every object of the fleet is Ready for its generation.
func allSynced(ctx SpecContext, ns string) bool {
	var envs accessv1alpha1.EnvironmentList
	var roles accessv1alpha1.SecurityRoleList
	var apps accessv1alpha1.ApplicationUserList
	var teams accessv1alpha1.TeamList
	var objs []client.Object
	for _, l := range []client.ObjectList{&envs, &roles, &apps, &teams} {
		Expect(k8s.List(ctx, l, client.InNamespace(ns))).To(Succeed())
	}
	for i := range envs.Items {
		objs = append(objs, &envs.Items[i])
	}
	for i := range roles.Items {
		objs = append(objs, &roles.Items[i])
	}
	for i := range apps.Items {
		objs = append(objs, &apps.Items[i])
	}
	for i := range teams.Items {
		objs = append(objs, &teams.Items[i])
	}
	if len(apps.Items) != dvApps || len(teams.Items) != dvTeams || len(roles.Items) < dvRoles {
		return false
	}
	for _, o := range objs {
		c := meta.FindStatusCondition(o.(accessv1alpha1.ConditionsGetter).GetConditions(), accessv1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != o.GetGeneration() {
			return false
		}
	}
	return true
}

var _ = Describe("Reliability of the sync target", func() {
	It("after SIGKILL while Dataverse records are being created and a restart, the manager converges and Dataverse holds no duplicate record", func(ctx SpecContext) {
		// Latency widens the window between a create and the status write that records it.
		emu, base, caFile := serveEmulator(emulator.Config{Environments: []emulator.EnvironmentConfig{{Name: "contoso"}}, Latency: 15 * time.Millisecond})
		GinkgoT().Setenv("SSL_CERT_FILE", caFile)
		GinkgoT().Setenv("AZURE_AUTHORITY_HOST", base+"/")
		ns := newNamespace(ctx)
		// Only this spec's namespace: the other specs' environments point at emulators that are
		// gone, and their retries would hold the workers this spec measures.
		args := []string{"--power-platform-api-url=" + base, "--watch-namespaces=" + ns}

		// A create is made at once and its answer held for seconds, so the kill below lands after
		// creates whose answers (and so status writes) have not come yet, every time — whatever
		// the manager reads or skips after a create.
		for _, set := range []string{"roles", "teams", "systemusers"} {
			emu.AddFault(emulator.Fault{Environment: "contoso", Method: "POST", PathContains: set, After: true, Latency: 3 * time.Second, Count: 50})
		}

		mgr, err := localcluster.StartManager(binary, cluster.Kubeconfig, filepath.Join(workDir, "dv-killed.log"), args...)
		Expect(err).NotTo(HaveOccurred())
		for _, o := range dataverseFleet(ns, base+"/env/contoso", emu.EnvironmentID("contoso")) {
			Expect(k8s.Create(ctx, o)).To(Succeed())
		}

		By("killing the manager once some, not all, records are created")
		Eventually(func() int { return len(creates(emu)) }, "60s", "5ms").Should(BeNumerically(">=", 6), func() string { return mgr.LogTail(30) })
		time.Sleep(200 * time.Millisecond) // the creates logged on arrival are made; their answers are held
		Expect(mgr.Kill()).To(Succeed())
		createdAtKill := len(creates(emu))
		Expect(createdAtKill).To(BeNumerically("<", dvRoles+dvApps+dvTeams), "the kill must land before every record is created, or it proves nothing")
		inDataverse := 0
		for _, n := range recordKeys(emu) {
			inDataverse += n
		}
		inStatus := recordsInStatus(ctx, ns)
		Expect(inDataverse).To(BeNumerically(">", inStatus), "the kill must land between a create and the status write that records it, or it proves nothing")
		fmt.Fprintf(GinkgoWriter, "at the kill: %d creates sent, %d records in Dataverse, %d in status\n", createdAtKill, inDataverse, inStatus)

		By("restarting it")
		emu.ClearFaults()
		restarted, err := localcluster.StartManager(binary, cluster.Kubeconfig, filepath.Join(workDir, "dv-restarted.log"), args...)
		Expect(err).NotTo(HaveOccurred())
		defer restarted.Stop()
		Eventually(func() bool { return allSynced(ctx, ns) }, "120s", "250ms").Should(BeTrue(), func() string { return restarted.LogTail(30) })

		keys := recordKeys(emu)
		Expect(keys).To(HaveLen(dvRoles+dvApps+dvTeams), "every object has its record")
		for k, n := range keys {
			Expect(n).To(Equal(1), "%s is held by %d records", k, n)
		}
	})
})

// throttledAnswers counts the emulator's 429s per environment.
func throttledAnswers(emu *emulator.Emulator) map[string]int {
	n := map[string]int{}
	for _, r := range emu.Requests() {
		if r.Status == http.StatusTooManyRequests {
			n[r.Environment]++
		}
	}
	return n
}

var _ = Describe("The service-protection budget", func() {
	It("an environment whose window another client nearly spent converges without a 429 storm, and another environment is not slowed", func(ctx SpecContext) {
		// The service's limits, scaled down so the flood ages out within the test: 300 requests
		// per 60 s window per environment. The manager is told the same limit (it cannot learn it),
		// keeps to its 80% share, and learns what others spent from x-ms-ratelimit-* headers.
		const window = 60 * time.Second
		emu, base, caFile := serveEmulator(emulator.Config{
			Environments: []emulator.EnvironmentConfig{{Name: "baseline"}, {Name: "flooded"}, {Name: "calm"}},
			Limits:       emulator.Limits{Enforce: true, RequestsPerWindow: 300, WindowSeconds: int(window.Seconds()), DopHint: 8},
			Latency:      5 * time.Millisecond,
		})
		GinkgoT().Setenv("SSL_CERT_FILE", caFile)
		GinkgoT().Setenv("AZURE_AUTHORITY_HOST", base+"/")

		baseline, flooded, calm := newNamespace(ctx), newNamespace(ctx), newNamespace(ctx)
		mgr, err := localcluster.StartManager(binary, cluster.Kubeconfig, filepath.Join(workDir, "dv-budget.log"),
			"--power-platform-api-url="+base, "--watch-namespaces="+baseline+","+flooded+","+calm,
			"--dataverse-service-limit=300", "--dataverse-budget-window="+window.String())
		Expect(err).NotTo(HaveOccurred())
		defer mgr.Stop()
		create := func(ns, env string) {
			for _, o := range dataverseFleet(ns, base+"/env/"+env, emu.EnvironmentID(env)) {
				Expect(k8s.Create(ctx, o)).To(Succeed())
			}
		}

		By("measuring how long the fleet takes alone, with nothing throttled (the baseline)")
		start := time.Now()
		create(baseline, "baseline")
		Eventually(func() bool { return allSynced(ctx, baseline) }, "120s", "250ms").Should(BeTrue(), func() string { return mgr.LogTail(30) })
		alone := time.Since(start)

		// Another tool signing in as the same app registration spent all but 10 of the window.
		Expect(emu.Spend("flooded", 290)).To(Succeed())
		floodedAt := time.Now()
		create(flooded, "flooded")
		create(calm, "calm")

		By("the calm environment converging at its own pace, before the flood ages out")
		Eventually(func() bool { return allSynced(ctx, calm) }, "120s", "250ms").Should(BeTrue(), func() string { return mgr.LogTail(30) })
		calmTook := time.Since(floodedAt)
		// Workers held waiting for the flooded environment's window would queue the calm one's
		// objects behind them (measured: 3x the baseline before the budget refused at once).
		Expect(calmTook).To(BeNumerically("<", 2*alone+5*time.Second), "the calm environment took %s, alone the fleet takes %s: the flooded one slowed it", calmTook, alone)
		Expect(allSynced(ctx, flooded)).To(BeFalse(), "the flooded environment converged within its spent window: the flood proved nothing")

		By("the flooded environment converging once the other client's requests age out")
		Eventually(func() bool { return allSynced(ctx, flooded) }, "240s", "250ms").Should(BeTrue(), func() string { return mgr.LogTail(30) })
		floodedTook := time.Since(floodedAt)
		throttled := throttledAnswers(emu)
		perEnv := map[string]int{}
		for _, r := range emu.Requests() {
			perEnv[r.Environment]++
		}
		fmt.Fprintf(GinkgoWriter, "alone the fleet converged in %s; beside the flooded one, calm in %s, flooded in %s; requests %v; 429s: %v\n",
			alone.Round(time.Second), calmTook.Round(time.Second), floodedTook.Round(time.Second), perEnv, throttled)
		Expect(throttled["calm"]).To(BeZero(), "the calm environment was throttled")
		Expect(throttled["flooded"]).To(BeNumerically("<=", 2), "a 429 storm: the manager kept sending into a window the service said was spent")
		keys := recordKeys(emu)
		Expect(keys).To(HaveLen(3*(dvRoles+dvApps+dvTeams)), "every object of the three fleets has its record")
		for k, n := range keys {
			Expect(n).To(Equal(1), "%s is held by %d records", k, n)
		}
	})
})
