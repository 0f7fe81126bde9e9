package webapi

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricNames name one service's metrics: <Prefix>_requests_total and so on, each by Label (the
// client's key: "environment", "tenant"), and their help texts.
type MetricNames struct {
	Prefix string // "dataverse", "graph"
	Label  string // "environment", "tenant"
	// Help texts of <Prefix>_requests_total, _request_duration_seconds, _throttled_total,
	// _retries_total and _limiter_wait_seconds.
	RequestsHelp, LatencyHelp, ThrottledHelp, RetriesHelp, WaitHelp string
}

// metrics are shared by every client of one service; the key is a label so a dashboard can tell
// which environment or tenant is slow or throttled.
type metrics struct {
	label     string
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	throttled *prometheus.CounterVec
	retries   *prometheus.CounterVec
	wait      *prometheus.HistogramVec
}

func newMetrics(n MetricNames, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		label: n.Label,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: n.Prefix + "_requests_total",
			Help: n.RequestsHelp,
		}, []string{n.Label, "operation", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    n.Prefix + "_request_duration_seconds",
			Help:    n.LatencyHelp,
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{n.Label, "operation"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: n.Prefix + "_throttled_total",
			Help: n.ThrottledHelp,
		}, []string{n.Label, "code"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: n.Prefix + "_retries_total",
			Help: n.RetriesHelp,
		}, []string{n.Label, "operation"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    n.Prefix + "_limiter_wait_seconds",
			Help:    n.WaitHelp,
			Buckets: []float64{.001, .01, .1, .5, 1, 5, 15, 60},
		}, []string{n.Label}),
	}
	if reg == nil {
		return m, nil
	}
	// A second engine on the same registry (tests, or a restart of the wiring) reuses the
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

// forget deletes one key's series.
func (m *metrics) forget(value string) {
	labels := prometheus.Labels{m.label: value}
	m.requests.DeletePartialMatch(labels)
	m.latency.DeletePartialMatch(labels)
	m.throttled.DeletePartialMatch(labels)
	m.retries.DeletePartialMatch(labels)
	m.wait.DeletePartialMatch(labels)
}
