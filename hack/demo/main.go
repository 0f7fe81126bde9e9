// Command demo is `make demo`: the operator on one machine, the way a user runs it. It starts a
// kube-apiserver and etcd built from source (hack/envtest-assets.sh), installs the CRDs with
// kubectl, runs the Dataverse emulator (bin/dataverse-emulator) and bin/manager as separate
// processes, the manager reaching the emulator as it reaches the real service (SSL_CERT_FILE,
// AZURE_AUTHORITY_HOST, --power-platform-api-url, --graph-url), applies config/samples-entra (the
// samples with a Dataverse target and an Entra ID target under Manage), waits until every object
// has settled and is synced, and prints what the operator decided: access modes, the seven
// non-interactive slots, license seats, effective roles, what Dataverse holds next to it, what
// Entra ID holds (the security group's members, licenses) as the operator made it, then disables
// one person with kubectl patch and shows it taken out of the security group with its license
// kept and disabled in Dataverse, a check-access report and the metrics.
// It then keeps running, with a kubeconfig in bin/demo.kubeconfig, until Ctrl-C; with DEMO_EXIT=1
// (or -exit) it stops after printing.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr/funcr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

const namespace = "contoso"

// disabledPerson is the PlatformUser the demo disables with kubectl patch.
const disabledPerson = "erin"

func main() {
	exitAfter := flag.Bool("exit", os.Getenv("DEMO_EXIT") == "1", "Stop after printing instead of running until Ctrl-C (also DEMO_EXIT=1).")
	manager := flag.String("manager", "bin/manager", "The manager binary (make build writes bin/manager).")
	emulatorBin := flag.String("emulator", "bin/dataverse-emulator", "The Dataverse emulator binary (make emulator writes bin/dataverse-emulator).")
	kubeconfig := flag.String("write-kubeconfig", "bin/demo.kubeconfig", "Where to write the demo cluster's kubeconfig.")
	flag.Parse()
	// localcluster.Start runs envtest, which logs through controller-runtime's logger. With none
	// set, controller-runtime prints a "log.SetLogger(...) was never called" stack trace at the
	// first log line of a process older than 30 seconds, which every first run is (the control
	// plane is built from source). Its errors and warnings (V(0)) are worth a user's eyes; its
	// V(1) progress lines are not: the demo prints its own steps.
	ctrllog.SetLogger(funcr.New(func(prefix, args string) {
		fmt.Fprintf(os.Stderr, "demo: %s: %s\n", prefix, args)
	}, funcr.Options{Verbosity: 0}))
	if err := run(*manager, *emulatorBin, *kubeconfig, *exitAfter); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo: %v\n", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run(managerBin, emulatorBin, kubeconfig string, exitAfter bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := localcluster.RepoRoot()
	if err != nil {
		return err
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	managerBin, emulatorBin, kubeconfig = abs(managerBin), abs(emulatorBin), abs(kubeconfig)
	if _, err := os.Stat(managerBin); err != nil {
		return fmt.Errorf("no manager binary at %s: run make build (make demo does)", managerBin)
	}

	step("Control plane: kube-apiserver, etcd and kubectl built from source (hack/envtest-assets.sh)")
	assets, err := localcluster.Assets(ctx, root, os.Stdout)
	if err != nil {
		return err
	}
	fmt.Printf("    binaries in %s\n", assets)
	cluster, err := localcluster.Start(assets, kubeconfig, namespace)
	if err != nil {
		return err
	}
	defer func() {
		_ = cluster.Stop()
		_ = os.Remove(kubeconfig)
	}()
	fmt.Printf("    kube-apiserver at %s; kubeconfig %s\n", cluster.Admin.Host, rel(root, kubeconfig))
	k := func(args ...string) (string, error) { return cluster.Kubectl(ctx, args...) }

	step("Installing the CRDs: kubectl apply -k config/crd")
	if err := cluster.InstallCRDs(ctx, root); err != nil {
		return err
	}

	step("Dataverse and Entra ID: %s as its own process (TLS with a CA it writes to a file, an Entra ID token endpoint, the admin API, Microsoft Graph)", rel(root, emulatorBin))
	emu, securityGroupID, err := startDataverse(root, emulatorBin, filepath.Dir(kubeconfig))
	if err != nil {
		return err
	}
	defer func() {
		if err := emu.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "demo: stopping the emulator: %v\n", err)
		}
	}()
	fmt.Printf("    environment %s at %s, letting in only the direct members of security group %s\n",
		localcluster.DataverseSamplesEnvironment, emu.Info.EnvironmentURL(localcluster.DataverseSamplesEnvironment), securityGroupID)
	fmt.Printf("    Microsoft Graph at %s over the tenant of %s: people with sign-in allowed and no license (log in %s)\n",
		emu.Info.GraphURL, localcluster.EntraSamplesDirectory, rel(root, emu.LogPath))

	logPath := filepath.Join(filepath.Dir(kubeconfig), "demo-manager.log")
	step("Starting the manager: %s %s --leader-elect=false %s (log in %s)", strings.Join(emu.Info.ManagerEnv(), " "), rel(root, managerBin),
		strings.Join(emu.Info.ManagerArgs(), " "), rel(root, logPath))
	mgr, err := localcluster.StartManagerEnv(managerBin, kubeconfig, logPath, emu.Info.ManagerEnv(), emu.Info.ManagerArgs()...)
	if err != nil {
		return err
	}
	defer func() {
		if err := mgr.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "demo: stopping the manager: %v\n", err)
		}
	}()
	fmt.Printf("    ready; metrics on https://127.0.0.1:%d/metrics, probes on http://127.0.0.1:%d\n", mgr.MetricsPort, mgr.ProbePort)

	step("Applying the samples with a Dataverse and an Entra ID target: kubectl create namespace %s, the credentials Secret (for both), and %s", namespace, localcluster.EntraSamplesDir)
	fmt.Printf("$ kubectl create secret generic %s --from-literal=tenantId=%s --from-literal=clientId=%s --from-literal=clientSecret=...\n",
		localcluster.DataverseSamplesSecret, demoTenantID, emu.Info.OperatorClientID)
	fmt.Printf("$ kubectl kustomize %s | sed 's#%s#%s#' | kubectl apply -f -     # spec.dataverse.url: the emulator's port\n",
		localcluster.EntraSamplesDir, localcluster.DataverseSamplesURL, emu.Info.URL)
	if _, err := k("create", "namespace", namespace); err != nil {
		return err
	}
	out, err := cluster.ApplyEntraSamples(ctx, root, namespace, emu.Info, demoTenantID, demoClientSecret)
	if err != nil {
		return err
	}
	fmt.Print(indent(out))

	step("Waiting until every object is Ready, or Stalled with a reason")
	// 5 sample roles + 3 built-in roles + 1 environment + 18 users + 2 application users + 3 teams.
	objs, err := cluster.WaitSettled(ctx, namespace, 32, 3*time.Minute, func(settled, total int) {
		fmt.Printf("    %d of %d objects settled\n", settled, total)
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "manager log (%s), last lines:\n%s\n", logPath, mgr.LogTail(30))
		return err
	}

	step("Waiting until every object is Synced: in place in Entra ID and Dataverse (people arrive from Entra ID through the admin API's addUser)")
	if objs, err = waitSynced(ctx, cluster, namespace, 3*time.Minute); err != nil {
		fmt.Fprintf(os.Stderr, "manager log (%s), last lines:\n%s\n", logPath, mgr.LogTail(30))
		return err
	}

	var stalledUsers []string
	for i := range objs {
		if c := localcluster.Condition(&objs[i], "Stalled"); objs[i].GetKind() == "PlatformUser" && c != nil && c["status"] == "True" {
			stalledUsers = append(stalledUsers, objs[i].GetName())
		}
	}
	if len(stalledUsers) == 0 {
		return fmt.Errorf("no PlatformUser is Stalled, but the samples have more NonInteractive users than slots and more licensed users than seats")
	}

	show := func(title string, args ...string) error {
		step("%s", title)
		fmt.Printf("$ kubectl %s\n", strings.Join(args, " "))
		out, err := k(args...)
		if err != nil {
			return err
		}
		fmt.Print(out)
		return nil
	}
	tour := []struct {
		title string
		args  []string
	}{
		{"Environments: non-interactive slots in use (limit 7), users, Ready",
			[]string{"get", "ppenv"}},
		{"The allocation ledger: who holds a non-interactive slot or a license seat, who waits (in order)",
			[]string{"get", "ppenv", "contoso-sales", "-o", `jsonpath=` +
				`{"non-interactive slots "}{.status.nonInteractive.usage}{"\n  holders: "}{.status.nonInteractive.holders[*].name}{"\n  waiting: "}{.status.nonInteractive.waiting[*].name}{"\n"}` +
				`{range .status.seats[*]}{"seats of "}{.sku}{": "}{.used}{"/"}{.seats}{"\n  holders: "}{.holders[*].name}{"\n  waiting: "}{.waiting[*].name}{"\n"}{end}`}},
		{"Security roles (the Environment created its three built-in roles)",
			[]string{"get", "secrole"}},
		{"Platform users: access mode, license, whether enabled, what they reach, the roles they end up with",
			[]string{"get", "puser", "-o", "custom-columns=" +
				"NAME:.metadata.name,MODE:.spec.accessMode,LICENSE:.spec.license,ENABLED:.status.enabled,ACCESS:.status.access," +
				"READY:.status.conditions[?(@.type==\"Ready\")].status,REASON:.status.conditions[?(@.type==\"Ready\")].reason," +
				"ROLES:.status.effectiveRoles[*].name,FROM:.status.effectiveRoles[*].source"}},
		{"Why the users that are not Ready wait: their Stalled condition (kstatus: Flux and Argo CD report these as failed)",
			append(append([]string{"get", "puser"}, stalledUsers...), "-o", "custom-columns="+
				"NAME:.metadata.name,STALLED:.status.conditions[?(@.type==\"Stalled\")].reason,MESSAGE:.status.conditions[?(@.type==\"Stalled\")].message")},
		{"Application users (not counted toward the seven, no license)",
			[]string{"get", "appuser", "-o", "custom-columns=" +
				"NAME:.metadata.name,APPLICATION-ID:.spec.applicationId,ENABLED:.status.enabled,ACCESS:.status.access," +
				"READY:.status.conditions[?(@.type==\"Ready\")].status,ROLES:.status.effectiveRoles[*].name"}},
		{"Teams",
			[]string{"get", "ppteam", "-o", "custom-columns=" +
				"NAME:.metadata.name,TYPE:.spec.type,GROUP:.spec.group,MEMBERS:.status.memberCount,ROLES:.spec.securityRoles," +
				"READY:.status.conditions[?(@.type==\"Ready\")].status"}},
		{"Platform users in Entra ID (status.entra): the object id found by spec.userName, sign-in, licenses, direct membership of the security group",
			[]string{"get", "puser", "-o", "custom-columns=" +
				"NAME:.metadata.name,ENABLED:.status.enabled,OBJECT-ID:.status.entra.objectId,SIGN-IN:.status.entra.accountEnabled," +
				"IN-SECURITY-GROUP:.status.entra.memberOfSecurityGroup,LICENSES:.status.entra.licenses[*].skuPartNumber,ASSIGNED-BY-OPERATOR:.status.entra.assignedByOperator"}},
		{"The Environment in Entra ID (status.entra): its security group resolved from the display name, the members no PlatformUser manages, the tenant's units",
			[]string{"get", "ppenv", "contoso-sales", "-o", `jsonpath=` +
				`{"security group "}{.status.entra.securityGroupName}{" = "}{.status.entra.securityGroupId}{"\n  unmanaged members: "}{.status.entra.unmanagedMembers.count}{" "}{.status.entra.unmanagedMembers.first}{"\n"}` +
				`{range .status.entra.skus[*]}{"  "}{.skuPartNumber}{": "}{.consumed}{" of "}{.enabled}{" units consumed\n"}{end}`}},
	}
	for _, t := range tour {
		if err := show(t.title, t.args...); err != nil {
			return err
		}
	}

	if err := show("Synced: every object is in place in Dataverse (Ready requires it; kubectl wait --for=condition=Synced works too)",
		"get", "accessplane", "-o", "custom-columns="+
			"KIND:.kind,NAME:.metadata.name,SYNCED:.status.conditions[?(@.type==\"Synced\")].status,REASON:.status.conditions[?(@.type==\"Synced\")].reason,"+
			"DATAVERSE-ID:.status.dataverse.id"); err != nil {
		return err
	}
	step("What Dataverse holds (the emulator's GET /_emulator/state) next to what the cluster decided")
	fmt.Printf("$ curl --cacert %s %s/_emulator/state\n", rel(root, emu.Info.CAFile), emu.Info.URL)
	dump, err := emu.Environment(ctx, localcluster.DataverseSamplesEnvironment)
	if err != nil {
		return err
	}
	if objs, err = cluster.Objects(ctx, namespace); err != nil {
		return err
	}
	if err := showDataverse(dump, objs); err != nil {
		return err
	}
	if err := showEntra(ctx, root, emu, objs, securityGroupID, rel(root, emu.Info.CAFile)); err != nil {
		return err
	}
	if err := disablePerson(ctx, cluster, emu, namespace, disabledPerson, securityGroupID); err != nil {
		fmt.Fprintf(os.Stderr, "manager log (%s), last lines:\n%s\n", logPath, mgr.LogTail(30))
		return err
	}

	checkArgs := []string{"check-access", "--kubeconfig", kubeconfig, "-n", namespace, "--user", "bob", "--table", "account"}
	step("Check Access: what bob can do on accounts, and which role and team grants it")
	fmt.Printf("$ %s %s\n", rel(root, managerBin), "check-access --user bob --table account")
	if out, err := runCommand(ctx, managerBin, checkArgs...); err != nil {
		return err
	} else {
		fmt.Print(out)
	}

	step("Metrics: the authenticated endpoint, scraped with a ServiceAccount token bound to the metrics-reader ClusterRole")
	if err := showMetrics(ctx, root, cluster, mgr.MetricsPort); err != nil {
		return err
	}

	kubectlPath := cluster.KubectlPath()
	step("The demo cluster is up")
	fmt.Printf(`    export KUBECONFIG=%s
    alias kubectl=%s     # or any kubectl
    kubectl get accessplane            # every object of the operator (namespace %s)
    kubectl describe puser dan         # its conditions say what to change
    kubectl patch ppenv contoso-sales --type=merge -p '{"spec":{"dataverse":{"managementPolicy":"Observe"}}}'  # report, write nothing
    kubectl patch puser %s --type=merge -p '{"spec":{"enabled":true}}'   # back into the security group, and enabled in Dataverse
    %s check-access --user alice       # the product's Check Access
    curl --cacert %s %s/_emulator/state   # what Dataverse holds
    curl --cacert %s %s/_emulator/directory   # what Entra ID holds
    curl --cacert %s -X PATCH -d '{"accessmode":1}' %s/_emulator/environments/%s/systemusers/$(kubectl get puser alice -o jsonpath={.status.dataverse.id})
                                       # another admin's edit: Drifted under Observe, corrected under Manage (at the next sync, every 10m, or at once on a spec change)
Manager log: %s, emulator log: %s. Ctrl-C stops the manager, the emulator and the control plane (nothing is kept).
`, kubeconfig, kubectlPath, namespace, disabledPerson, rel(root, managerBin), rel(root, emu.Info.CAFile), emu.Info.URL, rel(root, emu.Info.CAFile), emu.Info.URL, rel(root, emu.Info.CAFile), emu.Info.URL,
		localcluster.DataverseSamplesEnvironment, rel(root, logPath), rel(root, emu.LogPath))
	if exitAfter {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			fmt.Println("\nstopping")
			return nil
		case <-time.After(time.Second):
			if !mgr.Running() {
				return fmt.Errorf("the manager exited; its log:\n%s", mgr.LogTail(30))
			}
			if !emu.Running() {
				return fmt.Errorf("the Dataverse emulator exited; its log:\n%s", emu.LogTail(30))
			}
		}
	}
}

// showMetrics binds a ServiceAccount to config/rbac's metrics-reader ClusterRole, takes a token
// for it and prints the operator's gauges.
func showMetrics(ctx context.Context, root string, cluster *localcluster.Cluster, port int) error {
	for _, args := range [][]string{
		{"apply", "-f", filepath.Join(root, "config", "rbac", "metrics_reader_role.yaml")},
		{"create", "serviceaccount", "metrics-reader", "-n", namespace},
		{"create", "clusterrolebinding", "demo-metrics-reader", "--clusterrole=metrics-reader", "--serviceaccount=" + namespace + ":metrics-reader"},
	} {
		if _, err := cluster.Kubectl(ctx, args...); err != nil {
			return err
		}
	}
	token, err := cluster.Kubectl(ctx, "create", "token", "metrics-reader", "-n", namespace)
	if err != nil {
		return err
	}
	fmt.Printf("$ curl -k -H \"Authorization: Bearer $(kubectl create token metrics-reader)\" https://127.0.0.1:%d/metrics | grep ^dataverse_access_\n", port)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/metrics", port), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(token))
	// The manager serves a self-signed certificate that controller-runtime generates at start;
	// the token, not the certificate, is what this shows.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	var body []byte
	for attempt := 0; ; attempt++ {
		resp, err := client.Do(req)
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("GET /metrics: %s: %s", resp.Status, body)
			}
		}
		if err == nil {
			break
		}
		if attempt == 20 { // RBAC of a new binding takes a moment to reach the authorizer's cache
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	gauges := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "dataverse_access_") {
			fmt.Println(sc.Text())
			gauges++
		}
	}
	if gauges == 0 {
		return fmt.Errorf("the metrics endpoint serves no dataverse_access_ gauges: is %s older than controllers/metrics.go? make build rebuilds it", "the manager binary")
	}
	return nil
}

func runCommand(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", bin, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
