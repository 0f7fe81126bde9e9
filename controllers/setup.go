// Package controllers holds one reconciler per kind and the status, index and watch helpers they
// share.
package controllers

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/accessplane/dataverse-access-operator/internal/dvsync"
	"github.com/accessplane/dataverse-access-operator/internal/entrasync"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller"
)

// CacheOptions are the informer cache settings every manager of this operator uses: managed
// fields are stripped before objects enter the cache, since no reconciler reads them and they are
// often the largest part of an object.
func CacheOptions() cache.Options {
	return cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
}

// Options tune the controllers.
type Options struct {
	// MaxConcurrentReconciles per kind; 0 means controller-runtime's default of 1.
	MaxConcurrentReconciles int
	// Dataverse applies the decided state to the Environments that name a target; nil decides
	// and reports only.
	Dataverse *dvsync.Pool
	// Entra applies the Entra ID facts of people to the Environments that name spec.entra; nil
	// leaves spec.entra unapplied (the spec's claims decide EN1).
	Entra *entrasync.Pool
	// Now is the clock; nil is the wall clock.
	Now func() time.Time
	// ReconcileTimeout bounds every reconcile (zero: DefaultReconcileTimeout): a Dataverse that
	// does not answer cannot hold a worker that serves every environment.
	ReconcileTimeout time.Duration
}

// DefaultReconcileTimeout is the deadline of one reconcile: a few Dataverse round trips with
// their retries (each waiting at most the client's MaxWait) fit in it many times over.
const DefaultReconcileTimeout = 2 * time.Minute

// +kubebuilder:rbac:groups=access.accessplane.io,resources=environments;securityroles;platformusers;applicationusers;teams,verbs=get;list;watch
// +kubebuilder:rbac:groups=access.accessplane.io,resources=securityroles,verbs=create;update;patch;delete
// +kubebuilder:rbac:groups=access.accessplane.io,resources=environments,verbs=update;patch
// +kubebuilder:rbac:groups=access.accessplane.io,resources=environments/status;securityroles/status;platformusers/status;applicationusers/status;teams/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=access.accessplane.io,resources=environments/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the field indexes and one reconciler per kind.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	_, err := Setup(mgr, opts)
	return err
}

// Controllers is what Setup registered, for what the manager keeps in memory.
type Controllers struct {
	sync  *syncStep
	teams *TeamReconciler
	entra *entraStep
}

// StateSizes reports how many entries each in-memory map of the controllers holds: the sync's
// outcomes and connections, the connector's limiters, the people asked from Entra ID, the group
// teams' recount debounce and the wake-ups waiting for the Environment controller to start.
// Every one returns to its size once the objects and environments it was about are gone.
func (c *Controllers) StateSizes() map[string]int {
	out := map[string]int{"teamRecounts": c.teams.recount.size(), "pendingWakeups": c.sync.wake.size(), "tombstones": c.sync.tombs.size()}
	if c.entra.pool != nil {
		for k, v := range c.entra.pool.Sizes() {
			out[k] = v
		}
	}
	if c.sync.pool != nil {
		for k, v := range c.sync.pool.Sizes() {
			out[k] = v
		}
	}
	return out
}

// Setup is SetupWithManager returning the controllers it registered.
func Setup(mgr ctrl.Manager, opts Options) (*Controllers, error) {
	if err := registerIndexes(context.Background(), mgr); err != nil {
		return nil, err
	}
	if err := registerUsersCollector(mgr.GetCache()); err != nil {
		return nil, err
	}
	timeout := opts.ReconcileTimeout
	if timeout <= 0 {
		timeout = DefaultReconcileTimeout
	}
	copts := controller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles, ReconciliationTimeout: timeout}
	c := mgr.GetClient()
	sync := &syncStep{pool: opts.Dataverse, now: opts.Now, wake: &wakeups{}}
	entra := &entraStep{pool: opts.Entra, now: opts.Now, users: &wakeups{}, envs: sync.wake}
	teams := &TeamReconciler{Client: c, Recorder: mgr.GetEventRecorder("team-controller"), sync: sync, entra: entra}
	for _, r := range []interface {
		SetupWithManager(ctrl.Manager, controller.Options) error
	}{
		&EnvironmentReconciler{Client: c, Recorder: mgr.GetEventRecorder("environment-controller"), Now: opts.Now, sync: sync, entra: entra},
		&SecurityRoleReconciler{Client: c, Recorder: mgr.GetEventRecorder("securityrole-controller"), sync: sync},
		&PlatformUserReconciler{Client: c, Recorder: mgr.GetEventRecorder("platformuser-controller"), Now: opts.Now, sync: sync, entra: entra},
		&ApplicationUserReconciler{Client: c, Recorder: mgr.GetEventRecorder("applicationuser-controller"), sync: sync},
		teams,
	} {
		if err := r.SetupWithManager(mgr, copts); err != nil {
			return nil, err
		}
	}
	return &Controllers{sync: sync, teams: teams, entra: entra}, nil
}

// registerUsersCollector registers the users gauge once per process: envtest suites start several
// managers in one process, and the registry is global.
func registerUsersCollector(r client.Reader) error {
	err := metrics.Registry.Register(newUsersCollector(r))
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		return nil
	}
	return err
}
