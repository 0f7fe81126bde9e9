package controllers

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// Gauges of each environment's allocation, set by the Environment's reconcile (the one place that
// decides them) and served on the manager's authenticated metrics endpoint.
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
)

func init() {
	metrics.Registry.MustRegister(slotsUsed, slotsWaiting, seatsUsed, seatsTotal)
}

// observeEnvironment publishes the environment's ledger.
func observeEnvironment(env *accessv1alpha1.Environment) {
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
}

// forgetEnvironment drops every series of a deleted or re-observed environment.
func forgetEnvironment(namespace, name string) {
	labels := prometheus.Labels{"namespace": namespace, "environment": name}
	for _, v := range []*prometheus.GaugeVec{slotsUsed, slotsWaiting, seatsUsed, seatsTotal} {
		v.DeletePartialMatch(labels)
	}
}

// usersCollector counts users by access mode and Ready at scrape time from the informer cache,
// so the gauge follows every Ready change without any reconcile having to republish it.
type usersCollector struct {
	reader client.Reader
	desc   *prometheus.Desc
}

func newUsersCollector(r client.Reader) *usersCollector {
	return &usersCollector{reader: r, desc: prometheus.NewDesc("dataverse_access_users",
		"Users of an environment by access mode (ReadWrite, Administrative, NonInteractive, Stub, Application) and Ready status.",
		[]string{"namespace", "environment", "access_mode", "ready"}, nil)}
}

func (c *usersCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *usersCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type bucket struct{ namespace, env, mode, ready string }
	counts := map[bucket]int{}
	var users accessv1alpha1.PlatformUserList
	if err := c.reader.List(ctx, &users, shared); err != nil {
		ctrl.Log.Error(err, "counting users for metrics")
		return
	}
	for i := range users.Items {
		u := &users.Items[i]
		mode := string(u.Spec.AccessMode)
		if u.Spec.Stub {
			mode = "Stub"
		}
		counts[bucket{u.Namespace, u.Spec.EnvironmentName, mode, readyLabel(u.Status.Conditions)}]++
	}
	var apps accessv1alpha1.ApplicationUserList
	if err := c.reader.List(ctx, &apps, shared); err != nil {
		ctrl.Log.Error(err, "counting application users for metrics")
		return
	}
	for i := range apps.Items {
		a := &apps.Items[i]
		counts[bucket{a.Namespace, a.Spec.EnvironmentName, "Application", readyLabel(a.Status.Conditions)}]++
	}
	for b, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), b.namespace, b.env, b.mode, b.ready)
	}
}

func readyLabel(conds []metav1.Condition) string {
	if c := meta.FindStatusCondition(conds, accessv1alpha1.ConditionReady); c != nil {
		return string(c.Status)
	}
	return "Unknown"
}
