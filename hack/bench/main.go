// Command bench runs the scale benchmark (make bench): the real manager, out of process, against a
// local control plane, with the fleet size and the manager's client limits as flags. With -sweep it
// runs the bench once per --max-concurrent-reconciles and client limit and prints a table.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/accessplane/dataverse-access-operator/test/bench"
)

// unlimited is what the sweep passes for "no client-side limit": a bucket no run can drain. The
// manager shares one token bucket built from --kube-api-qps whatever its sign, so a negative
// value is not "off" there.
const unlimitedQPS, unlimitedBurst = 1e6, 1_000_000

func main() {
	var cfg bench.Config
	flag.IntVar(&cfg.Environments, "environments", 20, "Environments to create.")
	flag.IntVar(&cfg.UsersPerEnvironment, "users-per-environment", 250, "PlatformUsers per environment (mixed access modes).")
	flag.IntVar(&cfg.NonInteractivePerEnv, "noninteractive-per-environment", 10, "NonInteractive users per environment (more than 7 makes the limit bite).")
	flag.IntVar(&cfg.ApplicationUsers, "application-users", 500, "ApplicationUsers in all.")
	flag.IntVar(&cfg.Roles, "roles", 200, "Custom SecurityRoles in all.")
	flag.IntVar(&cfg.Teams, "teams", 100, "Group teams in all.")
	flag.Float64Var(&cfg.QPS, "kube-api-qps", 100, "The manager's --kube-api-qps.")
	flag.IntVar(&cfg.Burst, "kube-api-burst", 200, "The manager's --kube-api-burst.")
	flag.IntVar(&cfg.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "The manager's --max-concurrent-reconciles.")
	flag.DurationVar(&cfg.Idle, "idle", time.Minute, "How long to count writes after convergence (-sweep: 10s unless set).")
	flag.DurationVar(&cfg.Timeout, "timeout", 30*time.Minute, "How long convergence may take.")
	flag.StringVar(&cfg.WorkDir, "workdir", "bin/bench", "Where the kubeconfig, manager binary, its log and the profiles go (-sweep: one directory per run inside).")
	flag.DurationVar(&cfg.SampleInterval, "sample-interval", 500*time.Millisecond, "How often to scrape the manager's work-queue depths.")
	flag.BoolVar(&cfg.Dataverse.Enabled, "dataverse", false, "Give every Environment a Dataverse target: the emulator runs as its own process with one environment per Environment (managementPolicy Manage), and the figures add Dataverse requests per object, the service-protection floor and Dataverse writes while idle.")
	flag.DurationVar(&cfg.Dataverse.SyncInterval, "dataverse-sync-interval", 10*time.Minute, "-dataverse: every Environment's spec.dataverse.syncInterval (requests per idle interval are measured when -idle is at least 1.1 times it).")
	flag.IntVar(&cfg.Dataverse.RequestsPerMinute, "dataverse-requests-per-minute", 60000, "-dataverse: the manager's --dataverse-requests-per-minute (per environment); high by default so the client limiter is not the bottleneck.")
	flag.StringVar(&cfg.Dataverse.Users, "dataverse-users", bench.UsersFromEntra, "-dataverse: where the people come from: \"entra\" (in the emulated Entra ID only; PlatformUsers have entraObjectId, the operator adds them with addUser and waits for the sync) or \"present\" (already in Dataverse, no entraObjectId: found by user name).")
	dvLimits := flag.Bool("dataverse-limits", true, "-dataverse: the emulator enforces the service-protection limits (6,000 requests per 5 minutes and 52 in flight per environment, 429 with Retry-After, x-ms-ratelimit-* headers); false turns them off.")
	flag.DurationVar(&cfg.Dataverse.Latency, "dataverse-latency", 0, "-dataverse: latency the emulator adds to every request (the service answers in tens to hundreds of milliseconds).")
	flag.DurationVar(&cfg.Dataverse.EntraSyncDelay, "dataverse-entra-sync-delay", 5*time.Second, "-dataverse: the emulator's delay between addUser and the person's arrival in Dataverse.")
	flag.BoolVar(&cfg.Dataverse.Entra.Enabled, "entra", true, "-dataverse: also give every Environment an Entra ID target (spec.entra, managementPolicy Manage) over the emulator's Microsoft Graph (--graph-url): every person in one tenant directory, one security group per environment gating its Dataverse environment, some people already members; the figures add Graph requests per person to converge, per environment per idle interval, and Graph writes per person. false: Dataverse only, people given to each environment as an outcome (as before Entra ID was a target).")
	flag.DurationVar(&cfg.Dataverse.Entra.SyncInterval, "entra-sync-interval", 15*time.Second, "-dataverse -entra: every Environment's spec.entra.syncInterval; short, so the idle window spans several re-reads.")
	entraManage := flag.String("entra-manage", "", "-dataverse -entra: spec.entra.manage, comma-separated (SecurityGroupMembership, GroupTeamMembership, Licenses); empty: the API's default. Facts not listed are seeded as decided; listed ones partly, like the security group.")
	flag.Float64Var(&cfg.Dataverse.Entra.MembersAlready, "entra-members-already", 0.5, "-dataverse -entra: share of the people seeded as direct members of their security group (a stable choice by name).")
	setupLicenses := flag.Bool("entra-setup-licenses", true, "-dataverse -entra: Administrative and NonInteractive people (no spec.license) hold the SKU in the directory too, as a person must to be set up; false leaves them unlicensed, and they arrive in Dataverse disabled.")
	flag.IntVar(&cfg.Dataverse.Entra.RequestsPerMinute, "graph-requests-per-minute", 60000, "-dataverse -entra: the manager's --graph-requests-per-minute (per tenant; one tenant here); high by default so the client limiter is not the bottleneck (the manager's default is 600).")
	isolateControlPlane := flag.Bool("isolate-control-plane", true, "Give kube-apiserver and etcd half of the CPUs and the bench's clients and the manager the other half, in the converged run and the floor alike, as a cluster keeps an operator off its API server's cores; false shares every CPU, so the manager's own CPU slows the API server it is measured against.")
	profile := flag.Bool("profile", true, "Profile the manager's CPU and blocking during convergence (if it has --pprof-bind-address); the profiles cost it a little.")
	sweep := flag.Bool("sweep", false, "Run once per -sweep-concurrency and -sweep-limits value and print one table row per run. Unless the size flags are set, a smaller fleet: 5 environments x 100 users, 100 application users, 50 roles, 25 teams.")
	sweepConcurrency := flag.String("sweep-concurrency", "1,2,4,8", "-sweep: --max-concurrent-reconciles values.")
	sweepLimits := flag.String("sweep-limits", "50/100,100/200,200/400,unlimited", "-sweep: --kube-api-qps/--kube-api-burst pairs; \"unlimited\" is a bucket no run drains.")
	sweepCross := flag.Bool("sweep-cross", false, "-sweep: every combination (16 runs by default). Without it, each concurrency at -kube-api-qps/-kube-api-burst, then each limit at -max-concurrent-reconciles (7 runs by default).")
	flag.Parse()
	cfg.Dataverse.NoLimits = !*dvLimits
	for _, m := range strings.Split(*entraManage, ",") {
		if m = strings.TrimSpace(m); m != "" {
			cfg.Dataverse.Entra.Manage = append(cfg.Dataverse.Entra.Manage, m)
		}
	}
	cfg.Dataverse.Entra.Enabled = cfg.Dataverse.Entra.Enabled && cfg.Dataverse.Enabled
	cfg.Dataverse.Entra.NoSetupLicenses = !*setupLicenses
	cfg.NoProfile = !*profile
	cfg.SharedCPUs = !*isolateControlPlane
	log.SetLogger(logr.Discard()) // the bench's own clients have nothing to say

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if *sweep {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if err := runSweep(ctx, cfg, set, *sweepConcurrency, *sweepLimits, *sweepCross, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	res, err := bench.Run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	bench.Print(os.Stdout, res)
}

type limit struct {
	qps   float64
	burst int
	label string
}

func parseSweep(concurrency, limits string) ([]int, []limit, error) {
	var cs []int
	for _, f := range strings.Split(concurrency, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, nil, fmt.Errorf("-sweep-concurrency: %q is not a positive number", f)
		}
		cs = append(cs, n)
	}
	var ls []limit
	for _, f := range strings.Split(limits, ",") {
		f = strings.TrimSpace(f)
		if f == "unlimited" {
			ls = append(ls, limit{unlimitedQPS, unlimitedBurst, f})
			continue
		}
		q, b, ok := strings.Cut(f, "/")
		qps, err1 := strconv.ParseFloat(q, 64)
		burst, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || qps <= 0 || burst < 1 {
			return nil, nil, fmt.Errorf("-sweep-limits: %q is not QPS/burst or unlimited", f)
		}
		ls = append(ls, limit{qps, burst, f})
	}
	return cs, ls, nil
}

// runSweep runs the bench per setting; rows go to out as each run ends, progress to progress.
func runSweep(ctx context.Context, base bench.Config, set map[string]bool, concurrency, limits string, cross bool, out, progress io.Writer) error {
	cs, ls, err := parseSweep(concurrency, limits)
	if err != nil {
		return err
	}
	// Unless the size flags are set, a smaller fleet than a single run's.
	for name, v := range map[string]struct {
		p     *int
		small int
	}{
		"environments": {&base.Environments, 5}, "users-per-environment": {&base.UsersPerEnvironment, 100},
		"noninteractive-per-environment": {&base.NonInteractivePerEnv, 10}, "application-users": {&base.ApplicationUsers, 100},
		"roles": {&base.Roles, 50}, "teams": {&base.Teams, 25},
	} {
		if !set[name] {
			*v.p = v.small
		}
	}
	if !set["idle"] {
		base.Idle = 10 * time.Second
	}
	baseLimit := limit{base.QPS, base.Burst, fmt.Sprintf("%g/%d", base.QPS, base.Burst)}
	var runs []bench.Config
	add := func(c int, l limit) {
		r := base
		r.MaxConcurrentReconciles, r.QPS, r.Burst = c, l.qps, l.burst
		for _, have := range runs {
			if have.MaxConcurrentReconciles == c && have.QPS == l.qps && have.Burst == l.burst {
				return
			}
		}
		runs = append(runs, r)
	}
	if cross {
		for _, c := range cs {
			for _, l := range ls {
				add(c, l)
			}
		}
	} else {
		for _, c := range cs {
			add(c, baseLimit)
		}
		for _, l := range ls {
			add(base.MaxConcurrentReconciles, l)
		}
	}
	fmt.Fprintf(progress, "bench: sweep of %d runs, %d environments x %d users, %d application users, %d roles, %d teams each\n",
		len(runs), base.Environments, base.UsersPerEnvironment, base.ApplicationUsers, base.Roles, base.Teams)
	fmt.Fprintf(out, "| concurrency | QPS / burst | objects | convergence | floor | unthrottled floor | conv/floor | conv/unthrottled | writes/object | idle writes | peak RSS |\n")
	fmt.Fprintf(out, "|---|---|---|---|---|---|---|---|---|---|---|\n")
	var results []bench.Result
	for i, r := range runs {
		label := fmt.Sprintf("%g/%d", r.QPS, r.Burst)
		if r.QPS >= unlimitedQPS {
			label = "unlimited"
		}
		r.WorkDir = filepath.Join(base.WorkDir, fmt.Sprintf("sweep-%02d-c%d-q%s", i+1, r.MaxConcurrentReconciles, strings.ReplaceAll(label, "/", "-")))
		fmt.Fprintf(progress, "bench: sweep run %d/%d: --max-concurrent-reconciles=%d, limits %s\n", i+1, len(runs), r.MaxConcurrentReconciles, label)
		res, err := bench.Run(ctx, r, progress)
		if err != nil {
			return fmt.Errorf("sweep run %d (concurrency %d, %s): %w", i+1, r.MaxConcurrentReconciles, label, err)
		}
		bench.Print(progress, res) // the whole report of each run, breakdown included, for the log
		results = append(results, res)
		fmt.Fprintf(out, "| %d | %s | %d | %.1f s | %.1f s | %.1f s | %s | %s | %.2f | %d | %.0f MiB |\n", r.MaxConcurrentReconciles, label, res.Objects,
			res.ConvergenceSeconds, res.FloorSeconds, res.UnthrottledFloorSeconds, ratio(res.ConvergenceToFloor), ratio(res.ConvergenceToUnthrottledFloor),
			res.WritesPerObject, res.IdleWrites, float64(res.PeakRSSBytes)/(1<<20))
	}
	line, _ := json.Marshal(results)
	fmt.Fprintln(out, string(line))
	return nil
}

func ratio(r float64) string {
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return "-"
	}
	return fmt.Sprintf("%.2f", r)
}
