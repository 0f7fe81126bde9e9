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

// limiterState is one key's limiter at a scrape.
type limiterState struct {
	label    string
	inFlight int     // the cap of requests in flight in effect
	budget   bool    // a budget is kept
	used     float64 // share of the budget used in the window
	left     int     // what the service last said is left; -1: not said
}

// limiterCollector reports each key's budget and parallelism at scrape time, from the limiters
// themselves: <Prefix>_budget_used_ratio, <Prefix>_service_requests_remaining and
// <Prefix>_max_in_flight.
type limiterCollector struct {
	state                func() []limiterState
	used, left, inFlight *prometheus.Desc
}

func (c *limiterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.used
	ch <- c.left
	ch <- c.inFlight
}

func (c *limiterCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.state() {
		ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(s.inFlight), s.label)
		if !s.budget {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, s.used, s.label)
		if s.left >= 0 {
			ch <- prometheus.MustNewConstMetric(c.left, prometheus.GaugeValue, float64(s.left), s.label)
		}
	}
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

func newMetrics(n MetricNames, reg prometheus.Registerer, state func() []limiterState) (*metrics, error) {
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
	lc := &limiterCollector{state: state,
		used: prometheus.NewDesc(n.Prefix+"_budget_used_ratio",
			"Share of the operator's request budget per "+n.Label+" used in the service's sliding window (1: spent; reads stop short of it, leaving the rest to writes).", []string{n.Label}, nil),
		left: prometheus.NewDesc(n.Prefix+"_service_requests_remaining",
			"Requests the service last said it still admits in its window for the app registration (x-ms-ratelimit-burst-remaining-xrm-requests), less those sent since.", []string{n.Label}, nil),
		inFlight: prometheus.NewDesc(n.Prefix+"_max_in_flight",
			"Requests the operator lets be in flight at once per "+n.Label+": the max-concurrent flag, narrowed to the service's recommended parallelism (x-ms-dop-hint).", []string{n.Label}, nil),
	}
	if err := reg.Register(lc); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		// A second engine on the same registry: the first one's collector stays.
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
