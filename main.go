// Command manager runs the dataverse-access-operator's controllers.
package main

import (
	"crypto/tls"
	"flag"
	"os"
	goruntime "runtime"
	"time"

	_ "golang.org/x/crypto/x509roots/fallback" // CA roots compiled in: the image has no CA bundle for TLS to Microsoft's endpoints
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/client-go/util/flowcontrol"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/controllers"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/dvsync"
	"github.com/accessplane/dataverse-access-operator/internal/graph"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(accessv1alpha1.AddToScheme(scheme))
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "check-access" {
		os.Exit(runCheckAccess(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "plan" {
		os.Exit(runPlan(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "export" {
		os.Exit(runExport(os.Args[2:], os.Stdout, os.Stderr))
	}
	var (
		metricsAddr, probeAddr string
		secureMetrics          bool
		enableHTTP2            bool
		leaderElect            bool
		leaderElectionNS       string
		leaderElectionIDFlag   string
		watchNamespacesFlag    string
		opts                   controllers.Options
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "Address of the metrics endpoint (HTTPS, authenticated). \"0\" disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the health and readiness probes.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with authentication and authorization.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false, "Allow HTTP/2 on the metrics server (off: CVE-2023-44487, CVE-2023-39325).")
	flag.BoolVar(&leaderElect, "leader-elect", true, "Elect a leader so that only one manager writes.")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader-election lease (default: the pod's own namespace; required out of cluster).")
	flag.StringVar(&watchNamespacesFlag, "watch-namespaces", "", "Comma-separated namespaces whose objects this manager reconciles (a shard); empty: every namespace.")
	flag.StringVar(&leaderElectionIDFlag, "leader-election-id", "", "Name of the leader-election lease (default: "+defaultLeaderElectionID+", or with --watch-namespaces one derived from the namespaces, so that each shard has its own).")
	flag.IntVar(&opts.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "Reconciles that may run at once per kind.")
	flag.DurationVar(&opts.ReconcileTimeout, "reconcile-timeout", controllers.DefaultReconcileTimeout, "Deadline of one reconcile, Dataverse requests included.")
	// Defaults from make bench (README): at 100/200 convergence matches the floor a bare client
	// with the same limits sets; above it the API server, not the client, is the bound.
	kubeQPS := flag.Float64("kube-api-qps", 100, "Queries per second to the API server, for all of the manager's clients together; 0 or less: unlimited.")
	kubeBurst := flag.Int("kube-api-burst", 200, "Burst of queries to the API server, for all of the manager's clients together.")
	pprofAddr := flag.String("pprof-bind-address", "0", "Address of the pprof endpoint, for profiling (make bench); \"0\" disables it. Also turns on block profiling.")
	dvOpts := dataverse.DefaultOptions()
	dvOpts.BindFlags(flag.CommandLine)
	graphOpts := graph.DefaultOptions()
	graphOpts.BindFlags(flag.CommandLine)
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	setupLog := ctrl.Log.WithName("setup")
	watchNamespaces, err := parseWatchNamespaces(watchNamespacesFlag)
	if err != nil {
		setupLog.Error(err, "invalid flag")
		os.Exit(1)
	}
	// One lease per shard, named after its namespaces (leaderElectionID in shard.go says why).
	leaseID, err := leaderElectionID(leaderElectionIDFlag, watchNamespaces)
	if err != nil {
		setupLog.Error(err, "invalid flag")
		os.Exit(1)
	}

	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{BindAddress: metricsAddr, SecureServing: secureMetrics, TLSOpts: tlsOpts}
	if secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	if *pprofAddr != "0" && *pprofAddr != "" {
		// Block profiles show where reconciles wait (client limiter, workqueue); they cost a little
		// on every blocking event, so only when profiling was asked for.
		goruntime.SetBlockProfileRate(int((10 * time.Microsecond).Nanoseconds()))
	}

	cfg := ctrl.GetConfigOrDie()
	cfg.QPS = float32(*kubeQPS)
	cfg.Burst = *kubeBurst
	// controller-runtime builds one REST client per resource kind, each with a limiter of its own
	// unless the config carries one: share a single token bucket so that --kube-api-qps is the
	// manager's total rate, as an operator of the cluster would read it.
	// A rate of zero or less means unlimited: client-go reads a negative QPS so (and zero as its
	// default of 5), while a token bucket with a negative rate lets one burst through and then
	// blocks forever.
	if cfg.QPS > 0 {
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	} else {
		cfg.QPS = -1
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   watchNamespacesCache(controllers.CacheOptions(), watchNamespaces),
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        leaseID,
		LeaderElectionNamespace: leaderElectionNS,
		// The lease is released on a clean stop, so a rolling update hands over at once.
		LeaderElectionReleaseOnCancel: true,
		PprofBindAddress:              *pprofAddr,
	})
	if err != nil {
		setupLog.Error(err, "unable to create manager")
		os.Exit(1)
	}
	if err := dvOpts.Validate(); err != nil {
		setupLog.Error(err, "invalid Dataverse client flags")
		os.Exit(1)
	}
	conn, err := dataverse.NewConnector(dvOpts, dataverse.NewHTTPClient(), metrics.Registry)
	if err != nil {
		setupLog.Error(err, "unable to set up the Dataverse client")
		os.Exit(1)
	}
	// Credentials Secrets are read one by one, uncached, when an Environment syncs: the manager
	// never lists or watches Secrets, and its objects share the Environment's connection.
	opts.Dataverse = dvsync.NewPool(conn, controllers.SecretsFrom(mgr.GetAPIReader()))
	// dataverse_snapshot_age_seconds per environment, read at scrape time.
	metrics.Registry.MustRegister(opts.Dataverse)
	graphConn, err := graph.NewConnector(graphOpts, nil, metrics.Registry)
	if err != nil {
		setupLog.Error(err, "unable to set up the Microsoft Graph client")
		os.Exit(1)
	}
	opts.Entra = controllers.NewEntraPool(graphConn, mgr.GetAPIReader())
	if err := controllers.SetupWithManager(mgr, opts); err != nil {
		setupLog.Error(err, "unable to set up controllers")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up ready check")
		os.Exit(1)
	}
	setupLog.Info("starting manager", "watchNamespaces", watchNamespaces, "leaderElectionID", leaseID)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "manager stopped")
		os.Exit(1)
	}
}
