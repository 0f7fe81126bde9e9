// Package localcluster runs the operator the way a user does, on one machine: a kube-apiserver and
// etcd built from source (hack/envtest-assets.sh), the real kubectl of that build, and the real
// manager binary as a separate process. `make demo` (hack/demo) and the end-to-end tests
// (test/e2e) share it.
package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Kinds are the operator's kinds as kubectl names them (short names), in the order a person
// reads them: the environment, then roles, users and teams.
var Kinds = []string{"ppenv", "secrole", "puser", "appuser", "ppteam"}

// RepoRoot finds the module root (the directory of go.mod) from the working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/accessplane/dataverse-access-operator\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of github.com/accessplane/dataverse-access-operator above the working directory")
		}
		dir = parent
	}
}

// Assets returns the directory holding kube-apiserver, etcd and kubectl: $KUBEBUILDER_ASSETS if it
// holds them, otherwise whatever hack/envtest-assets.sh prints, building them from source on the
// first run (about ten minutes on two cores). The script's log and a heartbeat go to progress.
func Assets(ctx context.Context, root string, progress io.Writer) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		if haveBinaries(dir) {
			return dir, nil
		}
		fmt.Fprintf(progress, "KUBEBUILDER_ASSETS=%s lacks kube-apiserver, etcd or kubectl; using hack/envtest-assets.sh\n", dir)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "envtest-assets.sh"))
	cmd.Dir = root
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = progress
	start := time.Now()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(progress, "    ... still building the control plane from source (%s elapsed; the first build takes about ten minutes on two cores, later runs reuse it)\n",
					time.Since(start).Round(time.Second))
			}
		}
	}()
	err := cmd.Run()
	close(done)
	if err != nil {
		return "", fmt.Errorf("hack/envtest-assets.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if !haveBinaries(dir) {
		return "", fmt.Errorf("hack/envtest-assets.sh printed %q, which lacks kube-apiserver, etcd or kubectl", dir)
	}
	return dir, nil
}

func haveBinaries(dir string) bool {
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// BuildManager compiles the manager binary (the module's main package) to out.
func BuildManager(ctx context.Context, root, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build -o %s .: %w\n%s", out, err, b)
	}
	return nil
}

// Cluster is a running kube-apiserver and etcd, with an administrator's kubeconfig on disk.
type Cluster struct {
	Env *envtest.Environment
	// Assets holds kube-apiserver, etcd and kubectl.
	Assets string
	// Kubeconfig is the path of the administrator's kubeconfig (group system:masters).
	Kubeconfig string
	// Admin is the administrator's client configuration.
	Admin *rest.Config
}

// Start starts a control plane from assets and writes an administrator's kubeconfig to
// kubeconfig, whose context uses namespace (if not empty).
func Start(assets, kubeconfig, namespace string) (*Cluster, error) {
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	if _, err := env.Start(); err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", assets, err)
	}
	user, err := env.AddUser(envtest.User{Name: "local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("adding the administrator: %w", err)
	}
	c := &Cluster{Env: env, Assets: assets, Kubeconfig: kubeconfig, Admin: user.Config()}
	if err := c.WriteKubeconfig(kubeconfig, namespace, ""); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return c, nil
}

// Stop stops the control plane; its data is discarded.
func (c *Cluster) Stop() error { return c.Env.Stop() }

// KubectlPath is the kubectl built with the control plane.
func (c *Cluster) KubectlPath() string { return filepath.Join(c.Assets, "kubectl") }

// WriteKubeconfig writes a kubeconfig with the administrator's credentials to path. A non-empty
// impersonate makes every request act as that user (kubeconfig `as:`), for example
// system:serviceaccount:NS:NAME, which the API server gives that ServiceAccount's groups.
func (c *Cluster) WriteKubeconfig(path, namespace, impersonate string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: c.Admin.Host, CertificateAuthorityData: c.Admin.CAData}
	cfg.AuthInfos["local"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: c.Admin.CertData,
		ClientKeyData:         c.Admin.KeyData,
		Impersonate:           impersonate,
	}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "local", Namespace: namespace}
	cfg.CurrentContext = "local"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

// Kubectl runs kubectl with the administrator's kubeconfig and returns its stdout; on failure the
// error holds stderr. Use KubectlWith for another kubeconfig or stdin.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	stdout, _, err := c.KubectlWith(ctx, c.Kubeconfig, nil, args...)
	return stdout, err
}

// KubectlWith runs kubectl with kubeconfig and stdin (may be nil) and returns stdout and stderr.
func (c *Cluster) KubectlWith(ctx context.Context, kubeconfig string, stdin io.Reader, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, c.KubectlPath(), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), stderr.String(), err
}

// InstallCRDs applies config/crd as a user does (kubectl apply -k config/crd) and waits until
// every CRD is established.
func (c *Cluster) InstallCRDs(ctx context.Context, root string) error {
	out, err := c.Kubectl(ctx, "apply", "-k", filepath.Join(root, "config", "crd"))
	if err != nil {
		return err
	}
	var crds []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "customresourcedefinition") {
			crds = append(crds, f[0])
		}
	}
	if len(crds) != len(Kinds) {
		return fmt.Errorf("kubectl apply -k config/crd applied %d CRDs, want %d:\n%s", len(crds), len(Kinds), out)
	}
	_, err = c.Kubectl(ctx, append([]string{"wait", "--for=condition=Established", "--timeout=60s"}, crds...)...)
	return err
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on (from net.Listen(":0")).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Manager is the manager binary running as a separate process.
type Manager struct {
	cmd         *exec.Cmd
	done        chan struct{}
	err         error
	log         *os.File
	LogPath     string
	MetricsPort int
	ProbePort   int
}

// StartManager runs binary against the cluster of kubeconfig, with leader election off, the
// metrics endpoint (HTTPS, authenticated) and the probes on free ports of 127.0.0.1, and its log
// in logPath; it returns once /readyz answers. extraArgs are appended to the flags.
func StartManager(binary, kubeconfig, logPath string, extraArgs ...string) (*Manager, error) {
	return StartManagerEnv(binary, kubeconfig, logPath, nil, extraArgs...)
}

// StartManagerEnv is StartManager with env added to the manager's environment (for example
// EmulatorInfo.ManagerEnv: SSL_CERT_FILE and AZURE_AUTHORITY_HOST).
func StartManagerEnv(binary, kubeconfig, logPath string, env []string, extraArgs ...string) (*Manager, error) {
	metricsPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	probePort, err := FreePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := append([]string{
		"--leader-elect=false",
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
	}, extraArgs...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+kubeconfig), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A process group of its own, as envtest gives kube-apiserver and etcd: Ctrl-C in a terminal
	// reaches only the program that started it, which stops it with one SIGTERM (a second signal
	// makes controller-runtime exit at once, with status 1).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	m := &Manager{cmd: cmd, done: make(chan struct{}), log: logFile, LogPath: logPath, MetricsPort: metricsPort, ProbePort: probePort}
	go func() {
		m.err = cmd.Wait()
		close(m.done)
	}()
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-m.done:
			return nil, fmt.Errorf("the manager exited before it was ready (%v); its log:\n%s", m.err, m.LogTail(40))
		default:
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m, nil
			}
		}
		if time.Now().After(deadline) {
			_ = m.Stop()
			return nil, fmt.Errorf("the manager was not ready within 90s; its log:\n%s", m.LogTail(40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// PID is the manager process's id.
func (m *Manager) PID() int { return m.cmd.Process.Pid }

// Running says whether the process is still running.
func (m *Manager) Running() bool {
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM, as Kubernetes does, and waits for the manager to exit (killing it after
// 20 seconds). It returns an error if the manager did not exit cleanly.
func (m *Manager) Stop() error {
	defer m.log.Close()
	if !m.Running() {
		return m.err
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
		return m.err
	case <-time.After(20 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
		return fmt.Errorf("the manager did not stop within 20s of SIGTERM")
	}
}

// Kill sends SIGKILL, as a crash or an OOM kill would, and waits until the process is gone. It
// returns an error only if the signal could not be sent.
func (m *Manager) Kill() error {
	defer m.log.Close()
	if !m.Running() {
		return nil
	}
	if err := m.cmd.Process.Kill(); err != nil {
		return err
	}
	<-m.done
	return nil
}

// LogTail returns the last n lines of the manager's log.
func (m *Manager) LogTail(n int) string {
	data, _ := os.ReadFile(m.LogPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// LogLines returns the lines of the manager's log that contain substr (case-insensitive).
func (m *Manager) LogLines(substr string) []string {
	data, _ := os.ReadFile(m.LogPath)
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1024*1024), 1024*1024)
	for sc.Scan() {
		if strings.Contains(strings.ToLower(sc.Text()), strings.ToLower(substr)) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// Objects lists every object of the operator's kinds in namespace (kubectl get accessplane, the
// category every kind is in), sorted by kind and name.
func (c *Cluster) Objects(ctx context.Context, namespace string) ([]unstructured.Unstructured, error) {
	out, err := c.Kubectl(ctx, "get", "accessplane", "-n", namespace, "-o", "json")
	if err != nil {
		return nil, err
	}
	objs, err := DecodeList([]byte(out))
	if err != nil {
		return nil, err
	}
	sort.Slice(objs, func(i, j int) bool {
		if objs[i].GetKind() != objs[j].GetKind() {
			return objs[i].GetKind() < objs[j].GetKind()
		}
		return objs[i].GetName() < objs[j].GetName()
	})
	return objs, nil
}

// DecodeList decodes the JSON of a kubectl list (kubectl get -o json), with integers as int64.
func DecodeList(data []byte) ([]unstructured.Unstructured, error) {
	obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, data)
	if err != nil {
		return nil, fmt.Errorf("decoding kubectl output: %w", err)
	}
	switch o := obj.(type) {
	case *unstructured.UnstructuredList:
		return o.Items, nil
	case *unstructured.Unstructured:
		return []unstructured.Unstructured{*o}, nil
	}
	return nil, fmt.Errorf("decoding kubectl output: unexpected %T", obj)
}

// Condition returns the condition of type t of obj, or nil.
func Condition(obj *unstructured.Unstructured, t string) map[string]interface{} {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]interface{}); ok && m["type"] == t {
			return m
		}
	}
	return nil
}

// Settled says whether the operator is done with obj: it observed the current generation and
// the object is Ready, or Stalled with a reason (it waits for a person or another object).
// The string says what it is still waiting for, or how it settled.
func Settled(obj *unstructured.Unstructured) (bool, string) {
	observed, found, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	if !found || observed != obj.GetGeneration() {
		return false, fmt.Sprintf("observedGeneration %d, generation %d", observed, obj.GetGeneration())
	}
	ready := Condition(obj, "Ready")
	if ready == nil {
		return false, "no Ready condition"
	}
	if g, ok := ready["observedGeneration"].(int64); ok && g != obj.GetGeneration() {
		return false, fmt.Sprintf("Ready describes generation %d, not %d", g, obj.GetGeneration())
	}
	if ready["status"] == "True" {
		return true, "Ready"
	}
	if stalled := Condition(obj, "Stalled"); stalled != nil && stalled["status"] == "True" && stalled["reason"] != "" {
		return true, fmt.Sprintf("Stalled: %v", stalled["reason"])
	}
	return false, fmt.Sprintf("Ready %v (%v), not Stalled", ready["status"], ready["reason"])
}

// WaitSettled waits until every object of namespace is settled, at least minObjects exist, and
// two reads a second apart see the same objects at the same resource versions (nothing is
// still being written). progress, if not nil, is told how many objects have settled whenever
// that changes.
func (c *Cluster) WaitSettled(ctx context.Context, namespace string, minObjects int, timeout time.Duration, progress func(settled, total int)) ([]unstructured.Unstructured, error) {
	deadline := time.Now().Add(timeout)
	lastVersions, lastSettled, lastTotal := "", -1, -1
	var pending []string
	for {
		objs, err := c.Objects(ctx, namespace)
		if err != nil {
			return nil, err
		}
		settled := 0
		pending = pending[:0]
		var versions strings.Builder
		for i := range objs {
			ok, why := Settled(&objs[i])
			if ok {
				settled++
			} else {
				pending = append(pending, fmt.Sprintf("%s/%s: %s", objs[i].GetKind(), objs[i].GetName(), why))
			}
			fmt.Fprintf(&versions, "%s/%s@%s ", objs[i].GetKind(), objs[i].GetName(), objs[i].GetResourceVersion())
		}
		if progress != nil && (settled != lastSettled || len(objs) != lastTotal) {
			progress(settled, len(objs))
		}
		lastSettled, lastTotal = settled, len(objs)
		if settled == len(objs) && len(objs) >= minObjects && versions.String() == lastVersions {
			return objs, nil
		}
		lastVersions = versions.String()
		if time.Now().After(deadline) {
			return objs, fmt.Errorf("%d of %d objects in %s settled after %s (want at least %d objects); still waiting: %s",
				settled, len(objs), namespace, timeout, minObjects, strings.Join(pending, "; "))
		}
		select {
		case <-ctx.Done():
			return objs, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
