package inject

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"

	"github.com/chaosgen/chaosgen/guard"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are an injector's Prometheus metrics, in a registry of its own so
// that several injectors (tests, or a Handler and a Transport in one
// process) do not collide.
type metrics struct {
	reg            *prometheus.Registry
	injections     *prometheus.CounterVec
	suppressed     *prometheus.CounterVec
	guardTrips     *prometheus.CounterVec
	reloads        *prometheus.CounterVec
	internalErrors prometheus.Counter
	corruptPassed  prometheus.Counter
	decision       prometheus.Histogram
	duration       prometheus.Histogram
	statuses       *statusCounter
}

func newMetrics(inj *Injector) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.injections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chaosgen_inject_injections_total", Help: "Faults injected, by profile and fault type."},
		[]string{"profile", "type"})
	m.suppressed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chaosgen_inject_suppressed_total", Help: "Faults that fired but were not injected, by reason (kill, breaker, expired, perSecond, maxGlobalRate, maxActiveFaults)."},
		[]string{"reason"})
	m.guardTrips = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chaosgen_inject_guard_trips_total", Help: "Times an abortIf guard tripped the breaker, by guard."},
		[]string{"guard"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chaosgen_inject_bundle_reloads_total", Help: "Bundle reloads, by result (ok, rejected)."},
		[]string{"result"})
	m.internalErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "chaosgen_inject_internal_errors_total", Help: "Internal errors of the injector; each request affected passed through unchanged (fail-open)."})
	m.corruptPassed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "chaosgen_inject_corrupt_passed_total", Help: "Corrupt faults whose response body exceeded the corrupt buffer limit and passed through unchanged."})
	m.decision = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "chaosgen_inject_decision_seconds",
		Help:    "Time to decide whether a request gets a fault.",
		Buckets: []float64{50e-9, 100e-9, 250e-9, 500e-9, 1e-6, 2.5e-6, 5e-6, 10e-6, 25e-6, 100e-6, 1e-3},
	})
	m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "chaosgen_inject_request_duration_seconds",
		Help:    "Time from a request's arrival to the end of its response, faults included.",
		Buckets: []float64{250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10, 30},
	})
	m.statuses = &statusCounter{desc: prometheus.NewDesc("chaosgen_inject_responses_total",
		"Responses by status: the HTTP status, the gRPC status code for gRPC, 0 for a drop, 499 for a client that went away during a delay.",
		[]string{"code"}, nil)}
	for _, g := range []string{guard.RootErrorRate, guard.RootP99Ms, guard.ErrorRate, guard.P99Ms} {
		m.guardTrips.WithLabelValues(g)
	}
	for _, r := range []string{reasonKill, guard.Breaker, reasonExpired, guard.PerSecond, guard.MaxGlobalRate, guard.MaxActiveFaults} {
		m.suppressed.WithLabelValues(r)
	}
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("rejected")
	for _, c := range []prometheus.Collector{m.injections, m.suppressed, m.guardTrips, m.reloads, m.internalErrors, m.corruptPassed, m.decision, m.duration, m.statuses} {
		f(c)
	}
	f(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "chaosgen_inject_requests_total", Help: "Requests seen by the injector."},
		func() float64 { return float64(inj.requests.Load()) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chaosgen_inject_active_faults", Help: "Faults in progress (bounded by guards.maxActiveFaults)."},
		func() float64 { return float64(inj.guard.Active()) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chaosgen_inject_killed", Help: "1 while the kill switch is on."},
		func() float64 { return b2f(inj.killed.Load()) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chaosgen_inject_breaker_open", Help: "1 while a tripped guard stops injection."},
		func() float64 { return b2f(inj.guard.Tripped() != nil) }))
	f(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "chaosgen_inject_records_dropped_total", Help: "Span records dropped because the record writer's buffer was full."},
		func() float64 {
			if inj.opts.Records == nil {
				return 0
			}
			return float64(inj.opts.Records.Dropped())
		}))
	f(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "chaosgen_inject_records_written_total", Help: "Span records written to files."},
		func() float64 {
			if inj.opts.Records == nil {
				return 0
			}
			return float64(inj.opts.Records.Written())
		}))
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) injection(profile, faultType string) prometheus.Counter {
	return m.injections.WithLabelValues(profile, faultType)
}

// statusCounter counts responses by status code (0-999) without a label
// lookup per request.
type statusCounter struct {
	desc  *prometheus.Desc
	codes [1000]atomic.Int64
}

func (c *statusCounter) add(code int) {
	if code < 0 || code >= len(c.codes) {
		code = 0
	}
	c.codes[code].Add(1)
}

func (c *statusCounter) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *statusCounter) Collect(ch chan<- prometheus.Metric) {
	for code := range c.codes {
		if n := c.codes[code].Load(); n > 0 {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), strconv.Itoa(code))
		}
	}
}

// buildInfo is chaosgen_build_info: 1, labelled with the version, the VCS
// revision and the Go version.
func buildInfo(version string) prometheus.Collector {
	revision, goVersion := "unknown", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
		if version == "" {
			version = bi.Main.Version
		}
	}
	if version == "" {
		version = "unknown"
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "chaosgen_build_info",
		Help:        "1, labelled with the build's version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion},
	}, func() float64 { return 1 })
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// MetricsHandler serves the injector's metrics in the Prometheus text
// format.
func (inj *Injector) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(inj.metrics.reg, promhttp.HandlerOpts{})
}
