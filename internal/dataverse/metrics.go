package dataverse

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are shared by every environment's client; the environment is a label so a dashboard can
// tell which one is slow or throttled.
type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	throttled *prometheus.CounterVec
	retries   *prometheus.CounterVec
	wait      *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dataverse_requests_total",
			Help: "Dataverse Web API and admin API requests by environment, operation and HTTP status code (\"error\" when no answer came).",
		}, []string{"environment", "operation", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dataverse_request_duration_seconds",
			Help:    "Latency of one attempt of a Dataverse request, by environment and operation.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"environment", "operation"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dataverse_throttled_total",
			Help: "Answers 429 (service protection limits) by environment and service error code.",
		}, []string{"environment", "code"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dataverse_retries_total",
			Help: "Dataverse requests retried, by environment and operation.",
		}, []string{"environment", "operation"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dataverse_limiter_wait_seconds",
			Help:    "Time a request waited in the client-side rate limiter, by environment.",
			Buckets: []float64{.001, .01, .1, .5, 1, 5, 15, 60},
		}, []string{"environment"}),
	}
	if reg == nil {
		return m, nil
	}
	// A second connector on the same registry (tests, or a restart of the wiring) reuses the
	// collectors already there instead of failing.
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	if m.throttled, err = register(reg, m.throttled); err != nil {
		return nil, err
	}
	if m.retries, err = register(reg, m.retries); err != nil {
		return nil, err
	}
	if m.wait, err = register(reg, m.wait); err != nil {
		return nil, err
	}
	return m, nil
}

func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return c, err
		}
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing, nil
		}
		return c, err
	}
	return c, nil
}

// forget deletes an environment's series.
func (m *metrics) forget(environment string) {
	labels := prometheus.Labels{"environment": environment}
	m.requests.DeletePartialMatch(labels)
	m.latency.DeletePartialMatch(labels)
	m.throttled.DeletePartialMatch(labels)
	m.retries.DeletePartialMatch(labels)
	m.wait.DeletePartialMatch(labels)
}
