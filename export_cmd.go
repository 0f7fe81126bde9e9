package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/export"
	"github.com/accessplane/dataverse-access-operator/internal/graph"
	"github.com/accessplane/dataverse-access-operator/internal/webapi"
)

// runExport is `manager export --url URL --namespace NS --name NAME -o DIR`: the users, roles and
// teams of a live environment as the YAML that, applied, changes nothing (docs/design.md,
// "Export"). Exit codes: 0 written (or printed with --dry-run), 1 reading or writing failed, 2
// usage errors.
func runExport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ro export.ReadOptions
	var opt export.Options
	var out, kubeconfig string
	var entra, dryRun bool
	var timeout time.Duration
	fs.StringVar(&ro.URL, "url", "", "URL of the environment, e.g. https://contoso.crm4.dynamics.com (required).")
	fs.StringVar(&ro.EnvironmentID, "environment-id", "", "Power Platform environment id, written to spec.dataverse.environmentId (addUser needs it under Manage).")
	fs.StringVar(&ro.SecurityGroup, "security-group", "", "The environment's Entra security group, an object id or a display name (default: the one the admin API reports for --environment-id): written to spec.securityGroup, and its direct members to the people's spec.securityGroups.")
	fs.StringVar(&opt.Namespace, "namespace", "", "Namespace the objects are to live in (required).")
	fs.StringVar(&opt.Namespace, "n", "", "Same as --namespace.")
	fs.StringVar(&opt.Name, "name", "", "Name of the Environment object (required).")
	fs.StringVar(&opt.CredentialsSecret, "credentials-secret", "", "Secret in --namespace with tenantId, clientId and clientSecret or federatedTokenFile, read with the kubeconfig and named in spec.dataverse.credentialsSecretRef; absent: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE, and the Secret is named <name>-dataverse.")
	fs.StringVar(&out, "o", "", "Directory to write (created; files of the same names are replaced). Required unless --dry-run.")
	fs.BoolVar(&entra, "entra", true, "Read licenses, sign-in and group memberships from Entra ID (Microsoft Graph); false: licenses are unknown and said so.")
	fs.BoolVar(&dryRun, "dry-run", false, "Print the summary (counts per kind, what is skipped and why) and write nothing.")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "Path to a kubeconfig for --credentials-secret (default: $KUBECONFIG, then ~/.kube/config).")
	fs.DurationVar(&timeout, "timeout", 30*time.Minute, "Deadline of the whole export.")
	dvOpts := dataverse.DefaultOptions()
	dvOpts.MaxWait = 0 // a command waits out a Retry-After instead of giving up
	dvOpts.PageSize = export.PageSize
	dvOpts.BindFlags(fs)
	graphOpts := graph.DefaultOptions()
	graphOpts.MaxWait = 0
	graphOpts.BindFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: manager export --url URL [--environment-id ID] [--security-group ID|NAME] --namespace NS --name NAME [--credentials-secret NAME] [--entra=false] (-o DIR | --dry-run)")
		fmt.Fprintln(stderr, "Exit codes: 0 written, 1 reading or writing failed, 2 usage errors.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "export: %s\n", msg)
		fs.Usage()
		return 2
	}
	switch {
	case ro.URL == "":
		return usage("--url is required: the environment's URL, e.g. https://contoso.crm4.dynamics.com")
	case !strings.HasPrefix(ro.URL, "https://"):
		return usage("--url " + ro.URL + ": only https URLs are read")
	case opt.Namespace == "":
		return usage("--namespace is required: the namespace the objects are to live in")
	case opt.Name == "":
		return usage("--name is required: the Environment object's name")
	case out == "" && !dryRun:
		return usage("-o is required: the directory to write (or --dry-run)")
	case fs.NArg() > 0:
		return usage("unexpected arguments: " + strings.Join(fs.Args(), " "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	data, err := exportCredentials(ctx, kubeconfig, opt.Namespace, opt.CredentialsSecret)
	if err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return 1
	}
	cred, err := webapi.CredentialFromSecret(data, webapi.CredentialOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return 1
	}
	reg := prometheus.NewRegistry()
	conn, err := dataverse.NewConnector(dvOpts, dataverse.NewHTTPClient(), reg)
	if err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return 2
	}
	dv, err := conn.Environment(ro.URL, cred)
	if err != nil {
		fmt.Fprintf(stderr, "export: --url %s: %v\n", ro.URL, err)
		return 2
	}
	if ro.EnvironmentID != "" && ro.SecurityGroup == "" {
		if ro.Admin, err = conn.Admin(cred); err != nil {
			fmt.Fprintf(stderr, "export: %v\n", err)
			return 2
		}
	}
	var g export.Graph
	if entra {
		gconn, err := graph.NewConnector(graphOpts, nil, reg)
		if err != nil {
			fmt.Fprintf(stderr, "export: %v\n", err)
			return 2
		}
		gc, err := gconn.Tenant(strings.TrimSpace(string(data[webapi.SecretTenantID])), cred)
		if err != nil {
			fmt.Fprintf(stderr, "export: %v\n", err)
			return 2
		}
		g = gc
	}
	ro.Progress = stderr
	src, err := export.Read(ctx, dv, g, ro)
	if err != nil {
		fmt.Fprintf(stderr, "export: reading %s: %v\n", ro.URL, err)
		return 1
	}
	objs, sum, err := export.Build(src, opt)
	if err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return 2
	}
	files, err := export.Render(src, opt, objs, sum)
	if err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return 1
	}
	report := stderr
	if dryRun {
		report = stdout
	}
	fmt.Fprint(report, sum.Text())
	fmt.Fprintf(report, "requests: %s\n", requestCounts(reg))
	if dryRun {
		return 0
	}
	if err := writeFiles(out, files); err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "export: wrote %d files to %s: kubectl create namespace %s; kubectl apply -k %s\n", len(files), out, opt.Namespace, out)
	return 0
}

// exportCredentials are the Secret's data (read with the kubeconfig) or azidentity's environment
// variables in the Secret's keys.
func exportCredentials(ctx context.Context, kubeconfig, namespace, secret string) (map[string][]byte, error) {
	if secret == "" {
		data := map[string][]byte{}
		for key, env := range map[string]string{webapi.SecretTenantID: "AZURE_TENANT_ID", webapi.SecretClientID: "AZURE_CLIENT_ID",
			webapi.SecretClientSecret: "AZURE_CLIENT_SECRET", webapi.SecretFederatedTokenFile: "AZURE_FEDERATED_TOKEN_FILE"} {
			if v := os.Getenv(env); v != "" {
				data[key] = []byte(v)
			}
		}
		if len(data) == 0 {
			return nil, fmt.Errorf("no credentials: pass --credentials-secret, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_FEDERATED_TOKEN_FILE)")
		}
		return data, nil
	}
	c, _, err := kubeClient(kubeconfig, namespace)
	if err != nil {
		return nil, fmt.Errorf("--credentials-secret: %w", err)
	}
	var s corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: secret}, &s); err != nil {
		return nil, fmt.Errorf("--credentials-secret %s/%s: %w", namespace, secret, err)
	}
	return s.Data, nil
}

// writeFiles writes each file beside its final name and renames it into place, so an
// interrupted export leaves whole files only.
func writeFiles(dir string, files []export.File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("-o %s: %w", dir, err)
	}
	for _, f := range files {
		tmp, err := os.CreateTemp(dir, "."+f.Name+".*")
		if err != nil {
			return fmt.Errorf("-o %s: %w", dir, err)
		}
		_, werr := tmp.Write(f.Data)
		cerr := tmp.Close()
		if werr == nil {
			werr = cerr
		}
		if werr == nil {
			werr = os.Rename(tmp.Name(), filepath.Join(dir, f.Name))
		}
		if werr != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("-o %s: writing %s: %w", dir, f.Name, werr)
		}
	}
	return nil
}

// requestCounts sums the clients' request counters: what the export cost each service.
func requestCounts(reg *prometheus.Registry) string {
	mfs, err := reg.Gather()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	var parts []string
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasSuffix(name, "_requests_total") {
			continue
		}
		total := 0.0
		for _, m := range mf.GetMetric() {
			total += m.GetCounter().GetValue()
		}
		parts = append(parts, fmt.Sprintf("%s %.0f", strings.TrimSuffix(name, "_requests_total"), total))
	}
	if len(parts) == 0 {
		return "none counted"
	}
	return strings.Join(parts, ", ")
}
