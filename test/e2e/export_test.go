package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

// Adopting an existing environment (docs/design.md, "Export"): a live environment — the one
// config/samples-entra makes, with its objects then deleted and their records orphaned — is
// exported by the manager binary out of process against the emulator binary (Dataverse and
// Microsoft Graph), applied with kubectl, and converges in Observe with nothing Drifted; switched
// to Manage, the emulator logs no write.
var _ = Describe("manager export: adopting an existing environment, out of process against the emulator", Ordered, func() {
	const (
		src          = "adopt-source"
		dst          = "adopt"
		tenantID     = "8c2f6a1d-3e4b-4f5a-9b6c-7d8e9f0a1b2c"
		clientSecret = "e2e-export-client-secret"
		organization = "Contoso"
	)
	var (
		mgr    *localcluster.Manager
		emu    *localcluster.Emulator
		sgID   string
		envID  string
		outDir string
	)
	dumpOnFailure(dst, &mgr)
	JustAfterEach(func() {
		if CurrentSpecReport().Failed() && emu != nil {
			fmt.Fprintf(GinkgoWriter, "emulator log %s (last lines):\n%s\n", emu.LogPath, emu.LogTail(30))
		}
	})

	BeforeAll(func() {
		var err error
		envID, sgID, err = localcluster.EntraSamples(root)
		Expect(err).NotTo(HaveOccurred())
		emu, err = localcluster.StartEmulator(emulatorBin, tmp, filepath.Join(tmp, "export-emulator.log"),
			localcluster.EntraEmulatorArgs(root, envID, sgID, organization, clientSecret, 2*time.Second, 5*time.Second)...)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(emu.Stop()).To(Succeed()) })
		kubectl("create", "namespace", src)
		kubectl("create", "namespace", dst)
		mgr, err = localcluster.StartManagerEnv(managerBin, cluster.Kubeconfig, filepath.Join(tmp, "manager-export.log"), emu.Info.ManagerEnv(), emu.Info.ManagerArgs()...)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			if mgr.Running() {
				Expect(mgr.Stop()).To(Succeed(), "the manager exits cleanly on SIGTERM; its log:\n%s", mgr.LogTail(20))
			}
		})
		outDir = filepath.Join(tmp, "export")
	})

	// runExport runs manager export out of process with the emulator's CA and login host and the
	// app registration in azidentity's environment variables.
	runExport := func(args ...string) (*bytes.Buffer, *bytes.Buffer, error) {
		cmd := exec.CommandContext(suiteCtx, managerBin, append([]string{"export",
			"--url", emu.Info.EnvironmentURL(localcluster.DataverseSamplesEnvironment), "--environment-id", envID,
			"-n", dst, "--name", environmentName,
			"--power-platform-api-url=" + emu.Info.PowerPlatformAPIURL, "--graph-url=" + emu.Info.GraphURL}, args...)...)
		cmd.Env = append(os.Environ(), emu.Info.ManagerEnv()...)
		cmd.Env = append(cmd.Env, "AZURE_TENANT_ID="+tenantID, "AZURE_CLIENT_ID="+emu.Info.OperatorClientID, "AZURE_CLIENT_SECRET="+clientSecret)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		return &stdout, &stderr, cmd.Run()
	}

	AfterAll(func() {
		if mgr != nil && mgr.Running() {
			kubectl("delete", "-n", dst, "accessplane", "--all", "--timeout=120s")
		}
	})

	It("a live environment to adopt: config/samples-entra made it (Manage), then its objects were deleted and their records orphaned", func() {
		_, err := cluster.ApplyEntraSamples(suiteCtx, root, src, emu.Info, tenantID, clientSecret)
		Expect(err).NotTo(HaveOccurred())
		expect := expectSamplesSettled(src)
		var names []string
		for _, o := range readBack(src) {
			names = append(names, strings.ToLower(o.GetKind())+"/"+o.GetName())
		}
		kubectl(append([]string{"wait", "-n", src, "--for=condition=Synced", "--timeout=240s"}, names...)...)

		// The samples have nine NonInteractive people for seven slots (AM6), which no set of
		// objects can express (export lists it): an administrator made the two waiting ones
		// Read-Write first.
		dv, err := emu.Environment(suiteCtx, localcluster.DataverseSamplesEnvironment)
		Expect(err).NotTo(HaveOccurred())
		for _, name := range expect.slotWaiting {
			upn := jsonpath(src, "puser/"+name, ".spec.userName")
			rec := dumpRecord(dv.Users, "domainname", upn)
			Expect(rec).NotTo(BeNil(), upn)
			Expect(emu.Control(suiteCtx, http.MethodPatch, "environments/"+localcluster.DataverseSamplesEnvironment+"/systemusers/"+fmt.Sprint(rec["systemuserid"]),
				map[string]any{"accessmode": 0}, nil)).To(Succeed())
		}
		// A Global or Service administrator holds System Administrator in Dataverse because the
		// service assigns it (AM9), which the emulator leaves to the test.
		for _, name := range []string{"henry", "grace"} {
			Expect(jsonpath(src, "puser/"+name, ".spec.administratorRoles")).To(Or(ContainSubstring("GlobalAdministrator"), ContainSubstring("ServiceAdministrator")))
			rec := dumpRecord(dv.Users, "domainname", jsonpath(src, "puser/"+name, ".spec.userName"))
			Expect(emu.Control(suiteCtx, http.MethodPost, "environments/"+localcluster.DataverseSamplesEnvironment+"/systemusers/"+fmt.Sprint(rec["systemuserid"])+"/system-administrator", nil, nil)).To(Succeed())
		}
		kubectl("delete", "-n", src, "accessplane", "--all", "--timeout=120s")
		Expect(readBack(src)).To(BeEmpty(), "deletionPolicy Orphan: the objects go, the records stay")
	})

	It("manager export writes the folder: one file per kind and a kustomization, and a summary of what it skipped and why", func() {
		stdout, stderr, err := runExport("-o", outDir)
		Expect(err).NotTo(HaveOccurred(), "stderr:\n%s", stderr.String())
		Expect(stdout.String()).To(BeEmpty(), "the summary goes to stderr; stdout is for --dry-run")
		fmt.Fprintf(GinkgoWriter, "manager export:\n%s\n", stderr.String())
		Expect(stderr.String()).To(ContainSubstring("the application user this export signs in as"))
		Expect(stderr.String()).To(ContainSubstring("the admin API reports security group " + sgID))
		Expect(stderr.String()).To(MatchRegexp(`requests: dataverse \d+, graph \d+`))
		for _, f := range []string{"environment.yaml", "securityroles.yaml", "platformusers.yaml", "applicationusers.yaml", "teams.yaml", "kustomization.yaml"} {
			Expect(filepath.Join(outDir, f)).To(BeAnExistingFile())
		}
	})

	It("--dry-run prints the summary on stdout and writes nothing", func() {
		dir := filepath.Join(tmp, "export-dry-run")
		stdout, stderr, err := runExport("--dry-run", "-o", dir)
		Expect(err).NotTo(HaveOccurred(), "stderr:\n%s", stderr.String())
		Expect(stdout.String()).To(ContainSubstring("export: 1 Environment, "))
		Expect(stdout.String()).To(ContainSubstring("skipped ("))
		Expect(dir).NotTo(BeAnExistingFile())
	})

	It("manager plan -f on the folder exits 0: nothing refused or Stalled", func() {
		out, errOut, code := runPlan("-f", outDir)
		Expect(code).To(Equal(0), "stdout:\n%s\nstderr:\n%s", out, errOut)
	})

	It("kubectl apply -k: every object Synced with managementPolicy Observe, nothing Drifted", func() {
		kubectl("create", "secret", "generic", environmentName+"-dataverse", "-n", dst,
			"--from-literal=tenantId="+tenantID, "--from-literal=clientId="+emu.Info.OperatorClientID, "--from-literal=clientSecret="+clientSecret)
		kubectl("apply", "-k", outDir)
		Expect(jsonpath(dst, "ppenv/"+environmentName, ".spec.dataverse.managementPolicy")).To(Equal("Observe"))
		var names []string
		Eventually(func() int {
			names = names[:0]
			for _, o := range readBack(dst) {
				names = append(names, strings.ToLower(o.GetKind())+"/"+o.GetName())
			}
			return len(names)
		}, "60s").Should(BeNumerically(">", 10))
		kubectl(append([]string{"wait", "-n", dst, "--for=condition=Synced", "--timeout=240s"}, names...)...)
		for _, name := range names {
			Expect(kubectl("get", "-n", dst, name, "-o", `jsonpath={.status.conditions[?(@.type=="Synced")].status}/{.status.conditions[?(@.type=="Synced")].reason}: {.status.conditions[?(@.type=="Synced")].message}`)).
				To(HavePrefix("True/"+accessv1alpha1.ReasonSynced+": "), "%s: in Observe nothing differs (no Drifted)", name)
		}
	})

	It("switched to Manage (Dataverse and Entra ID), the emulator logs no write", func() {
		Expect(emu.Control(suiteCtx, http.MethodDelete, "requests", nil, nil)).To(Succeed())
		kubectl("patch", "-n", dst, "ppenv/"+environmentName, "--type=merge", "-p",
			`{"spec":{"dataverse":{"managementPolicy":"Manage"},"entra":{"managementPolicy":"Manage"}}}`)
		gen := jsonpath(dst, "ppenv/"+environmentName, ".metadata.generation")
		Eventually(func() string {
			return jsonpath(dst, "ppenv/"+environmentName, `.status.conditions[?(@.type=="Synced")].observedGeneration`)
		}, "60s").Should(Equal(gen))
		writes := func() []string {
			log, err := emu.Requests(suiteCtx)
			Expect(err).NotTo(HaveOccurred())
			var out []string
			for _, r := range emulator.Writes(log) {
				out = append(out, fmt.Sprintf("%s %s %d", r.Method, r.Path, r.Status))
			}
			return out
		}
		Consistently(writes, "15s", "1s").Should(BeEmpty(), "Manage finds nothing to change in what the export wrote")
		log, err := emu.Requests(suiteCtx)
		Expect(err).NotTo(HaveOccurred())
		Expect(len(log)).To(BeNumerically(">", 0), "the objects were compared again under Manage (reads)")
	})
})
