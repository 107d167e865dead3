package introspect

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are introspection's Prometheus metrics. Make them once per
// registry with NewMetrics and pass them to every Introspector (a reload
// builds a new Introspector; the counters go on). A nil *Metrics counts
// nothing.
type Metrics struct {
	calls       *prometheus.CounterVec
	dur         *prometheus.HistogramVec
	cacheLookup *prometheus.CounterVec
	coalesce    *prometheus.CounterVec
	storeErrs   prometheus.Counter
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopegate_introspection_requests_total",
			Help: "Calls to introspection endpoints, by issuer and result: active, inactive, refused (active but not acceptable: another issuer, a refresh token, a bad claim), error (timeout, 5xx, garbage, redirect, no free slot).",
		}, []string{"issuer", "result"}),
		dur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scopegate_introspection_duration_seconds",
			Help:    "Duration of calls to introspection endpoints, by issuer.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"issuer"}),
		cacheLookup: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopegate_introspection_cache_total",
			Help: "Introspection cache lookups by result: local_hit (this replica), store_hit (the shared state store), miss.",
		}, []string{"result"}),
		coalesce: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopegate_introspection_coalesced_total",
			Help: "Requests that shared another request's introspection call for the same token, by issuer.",
		}, []string{"issuer"}),
		storeErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scopegate_introspection_cache_errors_total",
			Help: "Failed reads and writes of introspection answers in the state store (each a cache miss, not a failure).",
		}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.dur, m.cacheLookup, m.coalesce, m.storeErrs} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering introspection metrics: %w", err)
		}
	}
	for _, r := range []string{"local_hit", "store_hit", "miss"} {
		m.cacheLookup.WithLabelValues(r)
	}
	return m, nil
}

func (m *Metrics) initIssuer(iss string) {
	if m == nil {
		return
	}
	for _, r := range []string{"active", "inactive", "refused", "error"} {
		m.calls.WithLabelValues(iss, r)
	}
	m.coalesce.WithLabelValues(iss)
}

func (m *Metrics) result(iss, r string) {
	if m != nil {
		m.calls.WithLabelValues(iss, r).Inc()
	}
}

func (m *Metrics) duration(iss string, d time.Duration) {
	if m != nil {
		m.dur.WithLabelValues(iss).Observe(d.Seconds())
	}
}

func (m *Metrics) cache(r string) {
	if m != nil {
		m.cacheLookup.WithLabelValues(r).Inc()
	}
}

func (m *Metrics) coalesced(iss string) {
	if m != nil {
		m.coalesce.WithLabelValues(iss).Inc()
	}
}

func (m *Metrics) storeError() {
	if m != nil {
		m.storeErrs.Inc()
	}
}
