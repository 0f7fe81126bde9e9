// Command dataverse-emulator serves the Dataverse Web API emulator over TLS for a manager running
// out of process (make emulator; see README "Running the emulator by hand").
//
//	bin/dataverse-emulator --addr 127.0.0.1:8443 --ca-file /tmp/dv-ca.pem --environments contoso,fabrikam
//	SSL_CERT_FILE=/tmp/dv-ca.pem AZURE_AUTHORITY_HOST=https://127.0.0.1:8443/ bin/manager \
//	  --power-platform-api-url=https://127.0.0.1:8443 …
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
	envs := flag.String("environments", "contoso", "Comma-separated environments, each name[=environmentId[=organizationName]]; served at https://<addr>/env/<name>.")
	syncDelay := flag.Duration("entra-sync-delay", 5*time.Second, "How long after addUser a user appears in systemusers.")
	latency := flag.Duration("latency", 0, "Delay added to every API request.")
	failRate := flag.Float64("fail-rate", 0, "Fraction of API requests answered 503.")
	throttleRate := flag.Float64("throttle-rate", 0, "Fraction of API requests answered 429 0x80072322 with Retry-After: 1.")
	dropRate := flag.Float64("drop-rate", 0, "Fraction of API requests whose connection is closed without an answer.")
	limits := flag.Bool("enforce-limits", false, "Enforce the service protection limits (429 with Retry-After and 0x80072322/0x80072326).")
	perWindow := flag.Int("limit-requests", 6000, "Requests per window per environment when --enforce-limits.")
	window := flag.Duration("limit-window", 5*time.Minute, "The limits' sliding window.")
	concurrent := flag.Int("limit-concurrent", 52, "Concurrent requests per environment when --enforce-limits.")
	execution := flag.Duration("limit-execution", 20*time.Minute, "Serving time per window per environment when --enforce-limits.")
	secrets := flag.String("client-secrets", "", "Comma-separated clientId=secret pairs the token endpoint accepts (empty: any secret).")
	tokens := flag.String("static-tokens", "", "Comma-separated bearer tokens accepted without the token endpoint.")
	if err := flag.Parse(args); err != nil {
		return err
	}

	cfg := emulator.Config{
		EntraSyncDelay: *syncDelay, Latency: *latency, FailRate: *failRate, ThrottleRate: *throttleRate, DropRate: *dropRate,
		Limits: emulator.Limits{Enforce: *limits, RequestsPerWindow: *perWindow, WindowSeconds: int(window.Seconds()), MaxConcurrent: *concurrent,
			ExecutionSeconds: execution.Seconds()},
	}
	for _, s := range splitList(*envs) {
		parts := strings.SplitN(s, "=", 3)
		ec := emulator.EnvironmentConfig{Name: parts[0]}
		if len(parts) > 1 {
			ec.EnvironmentID = parts[1]
		}
		if len(parts) > 2 {
			ec.OrganizationName = parts[2]
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
	info := map[string]any{"url": base, "caFile": *caFile, "authorityHost": base + "/", "powerPlatformApiUrl": base, "operatorClientId": emulator.OperatorApplicationID}
	var envInfo []map[string]string
	for _, ec := range cfg.Environments {
		envInfo = append(envInfo, map[string]string{"name": ec.Name, "url": base + "/env/" + ec.Name, "environmentId": emu.EnvironmentID(ec.Name)})
	}
	info["environments"] = envInfo
	line, _ := json.Marshal(info)
	fmt.Fprintln(stdout, string(line))
	fmt.Fprintf(stderr, "dataverse emulator listening on %s (CA in %s)\n", base, *caFile)
	for _, ei := range envInfo {
		fmt.Fprintf(stderr, "  environment %s: url %s, environment id %s\n", ei["name"], ei["url"], ei["environmentId"])
	}
	fmt.Fprintf(stderr, "  login host: AZURE_AUTHORITY_HOST=%s/  (client id with an application user: %s)\n", base, emulator.OperatorApplicationID)
	fmt.Fprintf(stderr, "  admin API: --power-platform-api-url=%s ; controls: %s/_emulator/state, /_emulator/requests, /_emulator/faults\n", base, base)

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
