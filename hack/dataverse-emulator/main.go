// Command dataverse-emulator serves the Dataverse Web API emulator, the admin API's addUser, an
// Entra ID token endpoint and Microsoft Graph over one emulated tenant, over TLS, for a manager
// running out of process (make emulator; see README.md here and the repository README "Running
// the emulator by hand").
//
//	bin/dataverse-emulator --addr 127.0.0.1:8443 --ca-file /tmp/dv-ca.pem --environments contoso,fabrikam \
//	  --entra-directory hack/dataverse-emulator/testdata/directory.json --entra-sync-interval 30s
//	SSL_CERT_FILE=/tmp/dv-ca.pem AZURE_AUTHORITY_HOST=https://127.0.0.1:8443/ bin/manager \
//	  --power-platform-api-url=https://127.0.0.1:8443 --graph-url=https://127.0.0.1:8443/graph/v1.0 …
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		log.Fatal(err)
	}
}

// run serves until ctx ends. The first line on stdout is JSON saying where everything is.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flag := flag.NewFlagSet("dataverse-emulator", flag.ContinueOnError)
	flag.SetOutput(stderr)
	addr := flag.String("addr", "127.0.0.1:8443", "Address to listen on (port 0 picks a free one).")
	caFile := flag.String("ca-file", "dataverse-emulator-ca.pem", "Where to write the CA certificate that signs the emulator's TLS certificate (give it to the manager as SSL_CERT_FILE).")
	hosts := flag.String("hosts", "127.0.0.1,localhost,::1", "Comma-separated names and IPs the TLS certificate covers.")
	envs := flag.String("environments", "contoso", "Comma-separated environments, each name[=environmentId[=organizationName[=securityGroupId]]]; served at https://<addr>/env/<name>. A security group (an object id of the tenant directory) lets only its direct members in.")
	syncDelay := flag.Duration("entra-sync-delay", 5*time.Second, "How long after addUser a user appears in systemusers.")
	syncInterval := flag.Duration("entra-sync-interval", 0, "Period of Dataverse's background sync from Entra ID (each person's isdisabled, islicensed and profile follow the tenant directory); 0: only at addUser and POST /_emulator/entra-sync.")
	directory := flag.String("entra-directory", "", "JSON file seeding the tenant directory served by Graph at https://<addr>/graph/v1.0: {\"subscribedSkus\":[…],\"users\":[…],\"groups\":[…],\"appPermissions\":{…}} (README.md here).")
	graphLimits := flag.Bool("enforce-graph-limits", false, "Enforce Graph's write limit per app registration (429 with Retry-After).")
	graphWrites := flag.Int("graph-limit-writes", 3000, "Graph writes per window per app registration when --enforce-graph-limits.")
	graphWindow := flag.Duration("graph-limit-window", 150*time.Second, "The Graph write limit's sliding window.")
	latency := flag.Duration("latency", 0, "Delay added to every API request (Dataverse, admin API, Graph).")
	failRate := flag.Float64("fail-rate", 0, "Fraction of API requests answered 503 (Graph: each request inside a $batch on its own).")
	throttleRate := flag.Float64("throttle-rate", 0, "Fraction of API requests answered 429 with Retry-After: 1 (Dataverse 0x80072322; Graph TooManyRequests).")
	dropRate := flag.Float64("drop-rate", 0, "Fraction of API requests whose connection is closed without an answer.")
	limits := flag.Bool("enforce-limits", false, "Enforce the service protection limits (429 with Retry-After and 0x80072322/0x80072326).")
	perWindow := flag.Int("limit-requests", 6000, "Requests per window per environment when --enforce-limits.")
	window := flag.Duration("limit-window", 5*time.Minute, "The limits' sliding window.")
	concurrent := flag.Int("limit-concurrent", 52, "Concurrent requests per environment when --enforce-limits.")
	execution := flag.Duration("limit-execution", 20*time.Minute, "Serving time per window per environment when --enforce-limits.")
	dopHint := flag.Int("dop-hint", 0, "x-ms-dop-hint (recommended requests in flight) sent on every answer when --enforce-limits; 0: not sent.")
	secrets := flag.String("client-secrets", "", "Comma-separated clientId=secret pairs the token endpoint accepts (empty: any secret).")
	tokens := flag.String("static-tokens", "", "Comma-separated bearer tokens accepted without the token endpoint.")
	maxLog := flag.Int("max-log", 100000, "Requests the log at /_emulator/requests keeps (the latest; Graph's inside a $batch count one each).")
	if err := flag.Parse(args); err != nil {
		return err
	}

	cfg := emulator.Config{
		EntraSyncDelay: *syncDelay, EntraSyncInterval: *syncInterval,
		Latency: *latency, FailRate: *failRate, ThrottleRate: *throttleRate, DropRate: *dropRate,
		Limits: emulator.Limits{Enforce: *limits, RequestsPerWindow: *perWindow, WindowSeconds: int(window.Seconds()), MaxConcurrent: *concurrent,
			ExecutionSeconds: execution.Seconds(), DopHint: *dopHint},
		GraphLimits: emulator.GraphLimits{Enforce: *graphLimits, WritesPerWindow: *graphWrites, WindowSeconds: int(graphWindow.Seconds())},
		MaxLog:      *maxLog,
	}
	for _, s := range splitList(*envs) {
		parts := strings.SplitN(s, "=", 4)
		ec := emulator.EnvironmentConfig{Name: parts[0]}
		if len(parts) > 1 {
			ec.EnvironmentID = parts[1]
		}
		if len(parts) > 2 {
			ec.OrganizationName = parts[2]
		}
		if len(parts) > 3 {
			ec.SecurityGroupID = parts[3]
		}
		cfg.Environments = append(cfg.Environments, ec)
	}
	if *secrets != "" {
		cfg.ClientSecrets = map[string]string{}
		for _, p := range splitList(*secrets) {
			id, secret, _ := strings.Cut(p, "=")
			cfg.ClientSecrets[id] = secret
		}
	}
	cfg.StaticTokens = splitList(*tokens)
	emu := emulator.New(cfg)
	if *directory != "" {
		seed, err := emulator.ReadDirectorySeed(*directory)
		if err != nil {
			return fmt.Errorf("reading the Entra directory: %w", err)
		}
		if err := emu.SeedDirectory(*seed); err != nil {
			return fmt.Errorf("seeding the Entra directory from %s: %w", *directory, err)
		}
	}
	for _, ec := range cfg.Environments {
		if ec.SecurityGroupID != "" {
			if err := emu.SetSecurityGroup(ec.Name, ec.SecurityGroupID); err != nil {
				return fmt.Errorf("environment %s: %w", ec.Name, err)
			}
		}
	}

	cert, caPEM, err := emulator.NewTLS(splitList(*hosts))
	if err != nil {
		return fmt.Errorf("making the TLS certificate: %w", err)
	}
	if err := os.WriteFile(*caFile, caPEM, 0o644); err != nil {
		return fmt.Errorf("writing the CA file: %w", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: emu, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ReadHeaderTimeout: 10 * time.Second}

	base := "https://" + ln.Addr().String()
	// One JSON line first, for scripts; then the same for people.
	info := map[string]any{"url": base, "caFile": *caFile, "authorityHost": base + "/", "powerPlatformApiUrl": base,
		"graphUrl": base + "/graph/v1.0", "operatorClientId": emulator.OperatorApplicationID}
	var envInfo []map[string]string
	for _, ec := range cfg.Environments {
		envInfo = append(envInfo, map[string]string{"name": ec.Name, "url": base + "/env/" + ec.Name, "environmentId": emu.EnvironmentID(ec.Name),
			"securityGroupId": strings.ToLower(ec.SecurityGroupID)})
	}
	info["environments"] = envInfo
	line, _ := json.Marshal(info)
	fmt.Fprintln(stdout, string(line))
	fmt.Fprintf(stderr, "dataverse emulator listening on %s (CA in %s)\n", base, *caFile)
	for _, ei := range envInfo {
		fmt.Fprintf(stderr, "  environment %s: url %s, environment id %s", ei["name"], ei["url"], ei["environmentId"])
		if sg := ei["securityGroupId"]; sg != "" {
			fmt.Fprintf(stderr, ", security group %s", sg)
		}
		fmt.Fprintln(stderr)
	}
	fmt.Fprintf(stderr, "  login host: AZURE_AUTHORITY_HOST=%s/  (client id with an application user: %s)\n", base, emulator.OperatorApplicationID)
	fmt.Fprintf(stderr, "  admin API: --power-platform-api-url=%s ; controls: %s/_emulator/state, /_emulator/requests, /_emulator/faults\n", base, base)
	d := emu.Directory()
	fmt.Fprintf(stderr, "  Graph: --graph-url=%s/graph/v1.0 (scope %s); tenant directory: %d users, %d groups, %d SKUs (%s/_emulator/directory)\n",
		base, emulator.GraphScope, len(d.Users), len(d.Groups), len(d.SubscribedSkus), base)

	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ServeTLS(ln, "", ""); err != nil && err != http.ErrServerClosed {
		return err
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
