package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/accessplane/dataverse-access-operator/internal/checkaccess"
)

// runCheckAccess is `manager check-access -n NS --user NAME [--table T] [-o json]`: the product's
// "Check Access" from the command line, evaluated from what the cluster holds.
func runCheckAccess(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-access", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts checkaccess.Options
	var kubeconfig string
	fs.StringVar(&opts.Namespace, "n", "", "Namespace of the user (default: the kubeconfig's namespace).")
	fs.StringVar(&opts.Namespace, "namespace", "", "Namespace of the user (same as -n).")
	fs.StringVar(&opts.User, "user", "", "PlatformUser or ApplicationUser object name (required).")
	fs.StringVar(&opts.Table, "table", "", "Show only this table's privileges.")
	fs.StringVar(&opts.Output, "o", checkaccess.OutputTable, "Output format: table or json.")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "Path to a kubeconfig (default: $KUBECONFIG, then ~/.kube/config).")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: manager check-access -n NAMESPACE --user NAME [--table TABLE] [-o table|json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if opts.User == "" {
		fmt.Fprintln(stderr, "check-access: --user is required: name a PlatformUser or ApplicationUser")
		fs.Usage()
		return 2
	}
	c, ns, err := kubeClient(kubeconfig, opts.Namespace)
	if err != nil {
		fmt.Fprintf(stderr, "check-access: %v\n", err)
		return 1
	}
	opts.Namespace = ns
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := checkaccess.Run(ctx, c, opts, stdout); err != nil {
		fmt.Fprintf(stderr, "check-access: %v\n", err)
		return 1
	}
	return 0
}
