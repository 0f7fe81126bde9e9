package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
)

// BuildEmulator compiles the Dataverse emulator binary (hack/dataverse-emulator) to out.
func BuildEmulator(ctx context.Context, root, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./hack/dataverse-emulator")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build -o %s ./hack/dataverse-emulator: %w\n%s", out, err, b)
	}
	return nil
}

// EmulatorInfo is the JSON line the emulator prints first: where everything is.
type EmulatorInfo struct {
	URL                 string `json:"url"`
	CAFile              string `json:"caFile"`
	AuthorityHost       string `json:"authorityHost"`
	PowerPlatformAPIURL string `json:"powerPlatformApiUrl"`
	// GraphURL is Microsoft Graph v1.0's base URL on the emulator (https://<addr>/graph/v1.0).
	GraphURL         string `json:"graphUrl"`
	OperatorClientID string `json:"operatorClientId"`
	Environments     []struct {
		Name          string `json:"name"`
		URL           string `json:"url"`
		EnvironmentID string `json:"environmentId"`
		// SecurityGroupID is the group of the tenant directory whose direct members alone
		// Dataverse lets in ("" none).
		SecurityGroupID string `json:"securityGroupId"`
	} `json:"environments"`
}

// EnvironmentURL is the URL of the emulated environment name ("" if it does not serve it).
func (i EmulatorInfo) EnvironmentURL(name string) string {
	for _, e := range i.Environments {
		if e.Name == name {
			return e.URL
		}
	}
	return ""
}

// ManagerEnv is what a manager process needs to reach this emulator exactly as it would reach the
// real service (docs/design.md "Sync target"): trust its CA through Go's SSL_CERT_FILE and sign in
// at its token endpoint through azidentity's AZURE_AUTHORITY_HOST.
func (i EmulatorInfo) ManagerEnv() []string {
	return []string{"SSL_CERT_FILE=" + i.CAFile, "AZURE_AUTHORITY_HOST=" + i.AuthorityHost}
}

// ManagerArgs are the manager flags for this emulator: the admin API's and Microsoft Graph's base
// URLs. Graph's is given to every manager pointed at an emulator, so an Environment with
// spec.entra never reaches the real graph.microsoft.com from a test or the demo.
func (i EmulatorInfo) ManagerArgs() []string {
	args := []string{"--power-platform-api-url=" + i.PowerPlatformAPIURL}
	if i.GraphURL != "" {
		args = append(args, "--graph-url="+i.GraphURL)
	}
	return args
}

// Emulator is the Dataverse emulator binary running as a separate process.
type Emulator struct {
	Info    EmulatorInfo
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	log     *os.File
	client  *http.Client
}

// StartEmulator runs binary listening on a free port of 127.0.0.1, with its CA written into dir
// and its log (stderr) in logPath, and returns once it printed where it is. args are appended
// (e.g. --environments, --entra-sync-delay, --client-secrets).
func StartEmulator(binary, dir, logPath string, args ...string) (*Emulator, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "dataverse-emulator-ca.pem")
	cmd := exec.Command(binary, append([]string{"--addr", "127.0.0.1:0", "--ca-file", caFile}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // as StartManager: Ctrl-C reaches only its parent
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	e := &Emulator{LogPath: logPath, cmd: cmd, done: make(chan struct{}), log: logFile}
	firstLine := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		firstLine <- line
		_, _ = io.Copy(logFile, r)
		e.err = cmd.Wait() // after the last read from the pipe, as os/exec wants
		close(e.done)
	}()
	var line string
	select {
	case line = <-firstLine:
	case <-time.After(30 * time.Second):
		_ = e.Stop()
		return nil, fmt.Errorf("the emulator printed nothing within 30s; its log:\n%s", e.LogTail(20))
	}
	if err := json.Unmarshal([]byte(line), &e.Info); err != nil || e.Info.URL == "" {
		_ = e.Stop()
		return nil, fmt.Errorf("the emulator's first line is not where it is (%q: %v); its log:\n%s", line, err, e.LogTail(20))
	}
	pem, err := os.ReadFile(e.Info.CAFile)
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		_ = e.Stop()
		return nil, fmt.Errorf("no certificate in the emulator's CA file %s", e.Info.CAFile)
	}
	// The controls are read over the same TLS the manager trusts, with the emulator's CA only.
	e.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	return e, nil
}

// Running says whether the process is still running.
func (e *Emulator) Running() bool {
	select {
	case <-e.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits for the emulator to exit (killing it after 10 seconds).
func (e *Emulator) Stop() error {
	defer e.log.Close()
	if !e.Running() {
		return nil
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
		return nil
	case <-time.After(10 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
		return fmt.Errorf("the emulator did not stop within 10s of SIGTERM")
	}
}

// LogTail returns the last n lines of the emulator's log.
func (e *Emulator) LogTail(n int) string {
	data, _ := os.ReadFile(e.LogPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Control calls the emulator's own API (/_emulator/<path>) with body as JSON (none if nil) and
// decodes the answer into out (if not nil).
func (e *Emulator) Control(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.Info.URL+"/_emulator/"+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s /_emulator/%s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// State is what the emulator holds (GET /_emulator/state), environment by environment.
func (e *Emulator) State(ctx context.Context) (emulator.Dump, error) {
	var d emulator.Dump
	err := e.Control(ctx, http.MethodGet, "state", nil, &d)
	return d, err
}

// Environment is one emulated environment's content.
func (e *Emulator) Environment(ctx context.Context, name string) (emulator.EnvironmentDump, error) {
	d, err := e.State(ctx)
	if err != nil {
		return emulator.EnvironmentDump{}, err
	}
	for _, env := range d.Environments {
		if env.Name == name {
			return env, nil
		}
	}
	return emulator.EnvironmentDump{}, fmt.Errorf("the emulator holds no environment %s", name)
}

// Requests is the emulator's request log (GET /_emulator/requests).
func (e *Emulator) Requests(ctx context.Context) ([]emulator.LoggedRequest, error) {
	var l []emulator.LoggedRequest
	err := e.Control(ctx, http.MethodGet, "requests", nil, &l)
	return l, err
}

// AddEntraUsers puts people into the emulated Entra ID tenant of environment env, from where the
// admin API's addUser brings them into Dataverse.
func (e *Emulator) AddEntraUsers(ctx context.Context, env string, users []emulator.EntraUser) error {
	for _, u := range users {
		if err := e.Control(ctx, http.MethodPost, "environments/"+env+"/entra-users", u, nil); err != nil {
			return err
		}
	}
	return nil
}

// config/samples-dataverse is config/samples with a Dataverse target: the Environment's
// spec.dataverse, each person's Entra object id, and the people of the tenant in entra-users.yaml.
const (
	// DataverseSamplesDir is the overlay, relative to the repository.
	DataverseSamplesDir = "config/samples-dataverse"
	// DataverseSamplesURL is the emulator address the overlay's spec.dataverse.url names (the
	// emulator's default --addr); ApplyDataverseSamples puts the running emulator's in its place.
	DataverseSamplesURL = "https://127.0.0.1:8443"
	// DataverseSamplesEnvironment is the emulated environment the overlay's URL names.
	DataverseSamplesEnvironment = "contoso-sales"
	// DataverseSamplesSecret is the credentials Secret the overlay's Environment names.
	DataverseSamplesSecret = "contoso-sales-dataverse"
)

// DataverseSamples reads what the emulator must know for the overlay: the environment id its
// Environment names and the people of its Entra ID tenant.
func DataverseSamples(root string) (environmentID string, people []emulator.EntraUser, err error) {
	var env struct {
		Spec struct {
			Dataverse struct {
				EnvironmentID string `json:"environmentId"`
			} `json:"dataverse"`
		} `json:"spec"`
	}
	if err := readYAML(filepath.Join(root, DataverseSamplesDir, "environment.yaml"), &env); err != nil {
		return "", nil, err
	}
	var tenant struct {
		Users []emulator.EntraUser `json:"users"`
	}
	if err := readYAML(filepath.Join(root, DataverseSamplesDir, "entra-users.yaml"), &tenant); err != nil {
		return "", nil, err
	}
	if env.Spec.Dataverse.EnvironmentID == "" || len(tenant.Users) == 0 {
		return "", nil, fmt.Errorf("%s names no environmentId or no Entra users", DataverseSamplesDir)
	}
	return env.Spec.Dataverse.EnvironmentID, tenant.Users, nil
}

func readYAML(path string, out any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// EmulatorArgs are the emulator flags for the overlay: its environment under the id the
// Environment names (the root business unit named organization), people arriving from Entra ID
// after entraSyncDelay, and the token endpoint accepting only the operator's client id with
// clientSecret.
func EmulatorArgs(environmentID, organization, clientSecret string, entraSyncDelay time.Duration) []string {
	return []string{
		"--environments", DataverseSamplesEnvironment + "=" + environmentID + "=" + organization,
		"--entra-sync-delay", entraSyncDelay.String(),
		"--client-secrets", emulator.OperatorApplicationID + "=" + clientSecret,
	}
}

// ApplyDataverseSamples does what a user of the overlay does, with kubectl: creates the
// credentials Secret (tenantId, clientId: the emulator's operator application, clientSecret) and
// applies `kubectl kustomize config/samples-dataverse` with spec.dataverse.url pointing at the
// running emulator. It returns kubectl apply's output.
func (c *Cluster) ApplyDataverseSamples(ctx context.Context, root, namespace string, info EmulatorInfo, tenantID, clientSecret string) (string, error) {
	return c.applySamples(ctx, root, DataverseSamplesDir, namespace, info, tenantID, clientSecret)
}

// ApplyEntraSamples is ApplyDataverseSamples for config/samples-entra: the same Secret (Graph is
// reached with the Dataverse target's app registration) and the overlay with spec.entra.
func (c *Cluster) ApplyEntraSamples(ctx context.Context, root, namespace string, info EmulatorInfo, tenantID, clientSecret string) (string, error) {
	return c.applySamples(ctx, root, EntraSamplesDir, namespace, info, tenantID, clientSecret)
}

func (c *Cluster) applySamples(ctx context.Context, root, dir, namespace string, info EmulatorInfo, tenantID, clientSecret string) (string, error) {
	if _, err := c.Kubectl(ctx, "create", "secret", "generic", DataverseSamplesSecret, "-n", namespace,
		"--from-literal=tenantId="+tenantID, "--from-literal=clientId="+info.OperatorClientID, "--from-literal=clientSecret="+clientSecret); err != nil {
		return "", err
	}
	rendered, err := c.Kubectl(ctx, "kustomize", filepath.Join(root, dir))
	if err != nil {
		return "", err
	}
	if !strings.Contains(rendered, DataverseSamplesURL+"/env/"+DataverseSamplesEnvironment) || !strings.Contains(rendered, DataverseSamplesSecret) {
		return "", fmt.Errorf("%s no longer names %s/env/%s and the Secret %s", dir, DataverseSamplesURL, DataverseSamplesEnvironment, DataverseSamplesSecret)
	}
	if info.EnvironmentURL(DataverseSamplesEnvironment) == "" {
		return "", fmt.Errorf("the emulator does not serve environment %s", DataverseSamplesEnvironment)
	}
	rendered = strings.ReplaceAll(rendered, DataverseSamplesURL+"/env/", info.URL+"/env/")
	out, _, err := c.KubectlWith(ctx, c.Kubeconfig, strings.NewReader(rendered), "apply", "-n", namespace, "-f", "-")
	return out, err
}

// config/samples-entra is config/samples-dataverse with an Entra ID target (spec.entra, Manage)
// and the tenant directory the emulator serves through Microsoft Graph: people with sign-in
// allowed and a usage location, no license, the security group and the group team's group. What
// Entra ID must hold for the operator's decision is made by the operator, not by the seed.
const (
	// EntraSamplesDir is the overlay, relative to the repository.
	EntraSamplesDir = "config/samples-entra"
	// EntraSamplesDirectory is the tenant directory (emulator.DirectorySeed, --entra-directory).
	EntraSamplesDirectory = EntraSamplesDir + "/entra-directory.json"
)

// EntraSamples reads what the emulator must know for config/samples-entra: the environment id
// the Environment names, and the object id of its security group (config/samples names it by
// display name; the directory gives the group that name).
func EntraSamples(root string) (environmentID, securityGroupID string, err error) {
	environmentID, _, err = DataverseSamples(root)
	if err != nil {
		return "", "", err
	}
	var env struct {
		Spec struct {
			SecurityGroup string `json:"securityGroup"`
		} `json:"spec"`
	}
	if err := readYAML(filepath.Join(root, "config/samples/environment.yaml"), &env); err != nil {
		return "", "", err
	}
	seed, err := emulator.ReadDirectorySeed(filepath.Join(root, EntraSamplesDirectory))
	if err != nil {
		return "", "", err
	}
	for _, g := range seed.Groups {
		if env.Spec.SecurityGroup != "" && (strings.EqualFold(g.DisplayName, env.Spec.SecurityGroup) || strings.EqualFold(g.ID, env.Spec.SecurityGroup)) {
			if securityGroupID != "" {
				return "", "", fmt.Errorf("%s: two groups are named %s", EntraSamplesDirectory, env.Spec.SecurityGroup)
			}
			securityGroupID = strings.ToLower(g.ID)
		}
	}
	if securityGroupID == "" {
		return "", "", fmt.Errorf("%s has no group with an id named %q (config/samples' spec.securityGroup)", EntraSamplesDirectory, env.Spec.SecurityGroup)
	}
	return environmentID, securityGroupID, nil
}

// EntraEmulatorArgs are the emulator flags for config/samples-entra: EmulatorArgs with the
// environment gated by its security group, the tenant directory seeded from the overlay and
// Dataverse's background sync from Entra ID every entraSyncInterval (0: only at addUser).
func EntraEmulatorArgs(root, environmentID, securityGroupID, organization, clientSecret string, entraSyncDelay, entraSyncInterval time.Duration) []string {
	return []string{
		"--environments", DataverseSamplesEnvironment + "=" + environmentID + "=" + organization + "=" + securityGroupID,
		"--entra-directory", filepath.Join(root, EntraSamplesDirectory),
		"--entra-sync-delay", entraSyncDelay.String(),
		"--entra-sync-interval", entraSyncInterval.String(),
		"--client-secrets", emulator.OperatorApplicationID + "=" + clientSecret,
	}
}

// Directory is the emulated tenant directory with what is computed (GET /_emulator/directory).
func (e *Emulator) Directory(ctx context.Context) (emulator.DirectoryDump, error) {
	var d emulator.DirectoryDump
	err := e.Control(ctx, http.MethodGet, "directory", nil, &d)
	return d, err
}
