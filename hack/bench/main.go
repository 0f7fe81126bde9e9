// Command bench runs the scale benchmark (make bench): the real manager, out of process, against a
// local control plane, with the fleet size and the manager's client limits as flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/accessplane/dataverse-access-operator/test/bench"
)

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
	flag.DurationVar(&cfg.Idle, "idle", time.Minute, "How long to count writes after convergence.")
	flag.DurationVar(&cfg.Timeout, "timeout", 30*time.Minute, "How long convergence may take.")
	flag.StringVar(&cfg.WorkDir, "workdir", "bin/bench", "Where the kubeconfig, manager binary and log go.")
	flag.Parse()
	log.SetLogger(logr.Discard()) // the bench's own clients have nothing to say

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	res, err := bench.Run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	bench.Print(os.Stdout, res)
}
