package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// Gauges of each environment's allocation and users, set by the Environment's reconcile (the
// one place that sees them all) and served on the manager's authenticated metrics endpoint.
var (
	slotsUsed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dataverse_access_noninteractive_slots_used",
		Help: "Non-interactive slots held in an environment (limit 7).",
	}, []string{"namespace", "environment"})
	slotsWaiting = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dataverse_access_noninteractive_slots_waiting",
		Help: "NonInteractive users waiting for a slot in an environment.",
	}, []string{"namespace", "environment"})
	seatsUsed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dataverse_access_license_seats_used",
		Help: "License seats held per SKU in an environment.",
	}, []string{"namespace", "environment", "sku"})
	seatsTotal = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dataverse_access_license_seats",
		Help: "License seats offered per SKU in an environment.",
	}, []string{"namespace", "environment", "sku"})
	usersByMode = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dataverse_access_users",
		Help: "Users of an environment by access mode (ReadWrite, Administrative, NonInteractive, Stub, Application) and Ready status.",
	}, []string{"namespace", "environment", "access_mode", "ready"})
)

func init() {
	metrics.Registry.MustRegister(slotsUsed, slotsWaiting, seatsUsed, seatsTotal, usersByMode)
}

// observeEnvironment publishes the environment's ledger and user counts.
func observeEnvironment(env *accessv1alpha1.Environment, users []accessv1alpha1.PlatformUser, apps []accessv1alpha1.ApplicationUser) {
	forgetEnvironment(env.Namespace, env.Name)
	labels := prometheus.Labels{"namespace": env.Namespace, "environment": env.Name}
	if l := env.Status.NonInteractive; l != nil {
		slotsUsed.With(labels).Set(float64(l.Used))
		slotsWaiting.With(labels).Set(float64(len(l.Waiting)))
	}
	for _, s := range env.Status.Seats {
		sl := prometheus.Labels{"namespace": env.Namespace, "environment": env.Name, "sku": s.SKU}
		seatsUsed.With(sl).Set(float64(s.Used))
		seatsTotal.With(sl).Set(float64(s.Seats))
	}
	type bucket struct{ mode, ready string }
	counts := map[bucket]int{}
	for i := range users {
		u := &users[i]
		mode := string(u.Spec.AccessMode)
		if u.Spec.Stub {
			mode = "Stub"
		}
		counts[bucket{mode, readyLabel(u.Status.Conditions)}]++
	}
	for i := range apps {
		counts[bucket{"Application", readyLabel(apps[i].Status.Conditions)}]++
	}
	for b, n := range counts {
		usersByMode.With(prometheus.Labels{"namespace": env.Namespace, "environment": env.Name, "access_mode": b.mode, "ready": b.ready}).Set(float64(n))
	}
}

// forgetEnvironment drops every series of a deleted or re-observed environment.
func forgetEnvironment(namespace, name string) {
	labels := prometheus.Labels{"namespace": namespace, "environment": name}
	for _, v := range []*prometheus.GaugeVec{slotsUsed, slotsWaiting, seatsUsed, seatsTotal, usersByMode} {
		v.DeletePartialMatch(labels)
	}
}

func readyLabel(conds []metav1.Condition) string {
	if c := meta.FindStatusCondition(conds, accessv1alpha1.ConditionReady); c != nil {
		return string(c.Status)
	}
	return "Unknown"
}
