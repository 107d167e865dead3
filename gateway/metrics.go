package gateway

import (
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are registered on the injected registerer; label values are
// route names, methods, status codes, decisions, reasons and issuer URLs
// from the config: never raw paths, subjects or kids.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	refusals  *prometheus.CounterVec
	inFlight  prometheus.Gauge
	upstream  *prometheus.CounterVec
	upLatency *prometheus.HistogramVec
	// exemplars: tracing is on, so a request's trace-id is the gateway's
	// own and is attached to its duration observation.
	exemplars bool
	wouldDeny *prometheus.CounterVec
	refreshes *prometheus.CounterVec
	reloads   *prometheus.CounterVec
	config    *prometheus.GaugeVec

	auditDropped *prometheus.CounterVec
	children     sync.Map // obsKey -> *obsChildren
}

// latencyBuckets span a cached answer to a long model generation.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

func newMetrics(reg prometheus.Registerer, g *Gateway) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopegate_requests_total",
			Help: "Requests decided, by route, method, status code and decision (allow, deny, would_deny, error).",
		}, []string{"route", "method", "code", "decision"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scopegate_request_duration_seconds",
			Help:    "Time from request to the end of the response (streams included), by route and decision.",
			Buckets: latencyBuckets,
		}, []string{"route", "decision"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopegate_refusals_total",
			Help: "Requests refused or failed, by route and reason code.",
		}, []string{"route", "reason"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scopegate_in_flight_requests",
			Help: "Requests being served now.",
		}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopegate_upstream_errors_total",
			Help: "Upstream failures by upstream and kind (error, timeout).",
		}, []string{"upstream", "kind"}),
		upLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scopegate_upstream_duration_seconds",
			Help:    "Time from sending a request upstream to its response headers, by upstream (failed requests are in scopegate_upstream_errors_total).",
			Buckets: latencyBuckets,
		}, []string{"upstream"}),
		wouldDeny: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopegate_would_deny_total",
			Help: "Requests a shadow route let through that it would have refused, by route and reason code.",
		}, []string{"route", "reason"}),
		auditDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopegate_audit_dropped_total",
			Help: "Audit records of refused requests dropped by the audit rate cap, by decision (deny, error).",
		}, []string{"decision"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopegate_jwks_refresh_total",
			Help: "JWKS fetch attempts by issuer, trigger (scheduled, unknown_kid) and result (success, failure).",
		}, []string{"issuer", "trigger", "result"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopegate_config_reloads_total",
			Help: "Config reloads by result (success, failure).",
		}, []string{"result"}),
		config: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scopegate_config_info",
			Help: "The loaded config's hash (value 1).",
		}, []string{"hash"}),
	}
	version, commit := g.deps.Version, g.deps.Commit
	if version == "" {
		version = "dev"
	}
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scopegate_build_info",
		Help: "Build information (value 1).",
	}, []string{"version", "commit", "goversion"})
	build.WithLabelValues(version, commit, goVersion).Set(1)
	cs := []prometheus.Collector{m.requests, m.duration, m.refusals, m.inFlight, m.upstream, m.upLatency,
		m.wouldDeny, m.auditDropped, m.refreshes, m.reloads, m.config, build, &keyCollector{g: g}}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	m.auditDropped.WithLabelValues(decisionDeny)
	m.auditDropped.WithLabelValues(decisionError)
	return m, nil
}

// RegisterRuntime adds the Go runtime and process collectors to reg.
func RegisterRuntime(reg prometheus.Registerer) error {
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return err
	}
	return reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

var knownMethods = map[string]string{"GET": "GET", "HEAD": "HEAD", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH",
	"DELETE": "DELETE", "OPTIONS": "OPTIONS", "CONNECT": "CONNECT", "TRACE": "TRACE"}

func (m *metrics) observe(st *reqState, method string, dur time.Duration) {
	k := obsKey{route: "none", status: st.status, decision: st.decision, reason: st.reason}
	if st.route != nil {
		k.route, k.upstream = st.route.Name, st.route.Upstream
	}
	var ok bool
	if k.method, ok = knownMethods[method]; !ok {
		k.method = "OTHER"
	}
	c := m.childrenFor(k)
	c.requests.Inc()
	if m.exemplars && st.traceID != "" {
		// The trace of this very request, one click from the latency
		// panel (OpenMetrics exposition only).
		c.duration.(prometheus.ExemplarObserver).ObserveWithExemplar(dur.Seconds(), prometheus.Labels{"trace_id": st.traceID})
	} else {
		c.duration.Observe(dur.Seconds())
	}
	if c.refusal != nil {
		c.refusal.Inc()
	}
	if c.upstream != nil {
		c.upstream.Inc()
	}
}

// obsKey is every label value observe needs; its children are resolved
// once (WithLabelValues hashes and validates each label value and takes
// the vector's lock on every call) and then found with one map lookup.
// The key space is that of the series themselves: bounded by the config.
type obsKey struct {
	route, upstream, method, decision string
	reason                            Reason
	status                            int
}

type obsChildren struct {
	requests prometheus.Counter
	duration prometheus.Observer
	refusal  prometheus.Counter // nil: not a refusal
	upstream prometheus.Counter // nil: not an upstream failure
}

func (m *metrics) childrenFor(k obsKey) *obsChildren {
	if c, ok := m.children.Load(k); ok {
		return c.(*obsChildren)
	}
	c := &obsChildren{
		requests: m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(k.status), k.decision),
		duration: m.duration.WithLabelValues(k.route, k.decision),
	}
	if k.decision != decisionAllow && k.decision != decisionWouldDeny || k.reason == ReasonUpstreamError || k.reason == ReasonUpstreamTimeout {
		c.refusal = m.refusals.WithLabelValues(k.route, string(k.reason))
	}
	if k.route != "none" {
		switch k.reason {
		case ReasonUpstreamError:
			c.upstream = m.upstream.WithLabelValues(k.upstream, "error")
		case ReasonUpstreamTimeout:
			c.upstream = m.upstream.WithLabelValues(k.upstream, "timeout")
		}
	}
	actual, _ := m.children.LoadOrStore(k, c)
	return actual.(*obsChildren)
}

// observeForwarded counts what only forwarded requests have: the
// upstream's latency, and a shadow route's would_deny.
func (m *metrics) observeForwarded(st *reqState) {
	if st.route == nil || !st.forwarded {
		return
	}
	if st.upstreamTimed {
		m.upLatency.WithLabelValues(st.route.Upstream).Observe(st.upstreamDur.Seconds())
	}
	if st.decision == decisionWouldDeny {
		m.wouldDeny.WithLabelValues(st.route.Name, string(st.reason)).Inc()
	}
}

// keyRefresh is the token package's hook after every JWKS fetch.
func (m *metrics) keyRefresh(issuer string, unknownKID bool, err error) {
	trigger, result := "scheduled", "success"
	if unknownKID {
		trigger = "unknown_kid"
	}
	if err != nil {
		result = "failure"
	}
	m.refreshes.WithLabelValues(issuer, trigger, result).Inc()
}

// initIssuer creates the refresh series of an issuer at zero, so that
// rate() and increase() see its first failure.
func (m *metrics) initIssuer(issuer string) {
	for _, trigger := range []string{"scheduled", "unknown_kid"} {
		for _, result := range []string{"success", "failure"} {
			m.refreshes.WithLabelValues(issuer, trigger, result)
		}
	}
}

func (m *metrics) configLoaded(hash string) {
	m.config.Reset()
	m.config.WithLabelValues(hash).Set(1)
}

// keyCollector reads each issuer's key state at scrape time.
type keyCollector struct{ g *Gateway }

var (
	descKeys = prometheus.NewDesc("scopegate_jwks_keys", "Usable signing keys held, by issuer.", []string{"issuer"}, nil)
	descLast = prometheus.NewDesc("scopegate_jwks_last_success_timestamp_seconds",
		"Unix time of the last successful JWKS fetch, by issuer (0: never).", []string{"issuer"}, nil)
	descReady = prometheus.NewDesc("scopegate_issuer_ready", "1 when the issuer's keys are in hand.", []string{"issuer"}, nil)
)

func (k *keyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descKeys
	ch <- descLast
	ch <- descReady
}

func (k *keyCollector) Collect(ch chan<- prometheus.Metric) {
	rt := k.g.runtime.Load()
	if rt == nil {
		return
	}
	for _, s := range rt.verifierStatus() {
		ch <- prometheus.MustNewConstMetric(descKeys, prometheus.GaugeValue, float64(s.Keys), s.Issuer)
		last := 0.0
		if !s.LastRefresh.IsZero() {
			last = float64(s.LastRefresh.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(descLast, prometheus.GaugeValue, last, s.Issuer)
		ready := 0.0
		if s.Ready {
			ready = 1
		}
		ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready, s.Issuer)
	}
}
