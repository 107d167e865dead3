package gateway

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/time/rate"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/limits"
)

// AuditSchemaVersion is the version of the audit record's fields
// (docs/audit.md); it is written in every record as "audit_v". Adding a
// field keeps the version; renaming, removing or changing the meaning of
// one bumps it.
const AuditSchemaVersion = 1

// Audit record messages (the "msg" field).
const (
	auditMsgDecision = "decision"      // one request's decision
	auditMsgDropped  = "audit_dropped" // a summary of the records dropped by the rate cap
)

// auditSummaryInterval is the least time between two audit_dropped
// summaries while records are being dropped.
const auditSummaryInterval = 10 * time.Second

// maxActChain bounds the delegation chain written for one record.
const maxActChain = 16

// auditor writes one JSON record per request decision. A token, or any
// part of one, is never among its fields: only claims that name who and
// what (iss, sub, client_id, act, scopes, jti).
//
// Records of requests that reached an upstream are always written; those
// of refused requests pass a token bucket, so that a flood of refusals
// (which costs an attacker nothing) costs bounded log volume. Every
// dropped record is counted, and a summary record says how many were
// dropped since the last one.
type auditor struct {
	log     *zap.Logger
	sink    *auditSink // nil when the records go to an injected logger
	now     func() time.Time
	limiter atomic.Pointer[rate.Limiter] // nil: no cap
	dropped *prometheus.CounterVec

	pendingDeny, pendingError atomic.Uint64 // dropped since the last summary
	lastSummary               atomic.Int64  // unix nanoseconds
}

// clockFunc adapts a func() time.Time to zapcore.Clock, so that the "ts"
// of every record comes from the injected clock.
type clockFunc func() time.Time

func (c clockFunc) Now() time.Time { return c() }

func (c clockFunc) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

// NewAuditLogger returns the logger audit records are written with: JSON
// lines with "ts" (RFC 3339, UTC, nanoseconds), "logger" and "msg" keys and
// no level, written to w.
func NewAuditLogger(w zapcore.WriteSyncer) *zap.Logger {
	enc := zapcore.EncoderConfig{
		TimeKey:    "ts",
		NameKey:    "logger",
		MessageKey: "msg",
		LineEnding: zapcore.DefaultLineEnding,
		EncodeTime: func(t time.Time, e zapcore.PrimitiveArrayEncoder) {
			e.AppendString(t.UTC().Format(time.RFC3339Nano))
		},
		EncodeDuration: zapcore.StringDurationEncoder,
		EncodeName:     zapcore.FullNameEncoder,
	}
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), w, zap.InfoLevel))
}

func newAuditor(l *zap.Logger, sink *auditSink, now func() time.Time, dropped *prometheus.CounterVec) *auditor {
	a := &auditor{log: l.Named("audit").WithOptions(zap.WithClock(clockFunc(now))), sink: sink, now: now, dropped: dropped}
	a.lastSummary.Store(now().UnixNano())
	return a
}

// setLimits puts the rate cap of cfg in force.
func (a *auditor) setLimits(cfg config.AuditConfig) {
	if cfg.MaxRecordsPerSecond <= 0 {
		a.limiter.Store(nil)
		return
	}
	a.limiter.Store(rate.NewLimiter(rate.Limit(cfg.MaxRecordsPerSecond), cfg.Burst))
}

// admit reports whether the record of st may be written now, and counts
// it as dropped if not.
func (a *auditor) admit(st *reqState) bool {
	if st.forwarded {
		return true
	}
	lim := a.limiter.Load()
	if lim == nil || lim.AllowN(a.now(), 1) {
		return true
	}
	a.dropped.WithLabelValues(st.decision).Inc()
	if st.decision == decisionError {
		a.pendingError.Add(1)
	} else {
		a.pendingDeny.Add(1)
	}
	return false
}

// summarize writes an audit_dropped record when records were dropped and
// the last summary is older than auditSummaryInterval (or force is set).
func (a *auditor) summarize(force bool) {
	if a.pendingDeny.Load() == 0 && a.pendingError.Load() == 0 {
		return
	}
	now := a.now()
	last := a.lastSummary.Load()
	if !force && now.UnixNano()-last < int64(auditSummaryInterval) {
		return
	}
	if !a.lastSummary.CompareAndSwap(last, now.UnixNano()) {
		return // another request writes this summary
	}
	deny, errs := a.pendingDeny.Swap(0), a.pendingError.Swap(0)
	a.log.Info(auditMsgDropped,
		zap.Int("audit_v", AuditSchemaVersion),
		zap.Time("since", time.Unix(0, last).UTC()),
		zap.Dict("dropped", zap.Uint64("deny", deny), zap.Uint64("error", errs)),
	)
}

// close writes a last summary of dropped records and closes the sink.
func (a *auditor) close() {
	a.summarize(true)
	if a.sink != nil {
		_ = a.sink.Close()
	}
}

// record writes the audit record of one request, unless the rate cap
// drops it.
// auditFieldsPool lends the field slices of audit records: zap encodes
// the fields before Info returns and keeps none of them.
var auditFieldsPool = sync.Pool{New: func() any {
	f := make([]zap.Field, 0, 32)
	return &f
}}

func (a *auditor) record(st *reqState, r *http.Request, dur time.Duration) {
	defer a.summarize(false)
	if !a.admit(st) {
		return
	}
	route, tmpl := "", ""
	var required []string
	if st.route != nil {
		route, tmpl, required = st.route.Name, st.route.Pattern, st.route.Scopes
	}
	fp := auditFieldsPool.Get().(*[]zap.Field)
	fields := (*fp)[:0]
	defer func() {
		clear(fields) // drop the references to this request's strings
		*fp = fields[:0]
		auditFieldsPool.Put(fp)
	}()
	fields = append(fields,
		zap.Int("audit_v", AuditSchemaVersion),
		zap.String("request_id", st.requestID),
	)
	if st.traceID != "" {
		fields = append(fields, zap.String("trace_id", st.traceID))
	}
	fields = append(fields,
		zap.String("route", route),
		zap.String("method", r.Method),
		zap.String("path_template", tmpl),
		zap.String("decision", st.decision),
		zap.String("reason", string(st.reason)),
		zap.Int("status", st.status),
		zap.Float64("duration_ms", ms(dur)),
		zap.String("remote_addr", r.RemoteAddr),
	)
	if st.forwarded && st.route != nil {
		fields = append(fields, zap.String("upstream", st.route.Upstream))
		if st.upstreamTimed {
			fields = append(fields, zap.Float64("upstream_duration_ms", ms(st.upstreamDur)))
		}
	}
	if l := st.lim; l != nil && l.billedSource != "" {
		fields = append(fields, zap.String("limit_billed", l.billedSource), zap.Int64("limit_tokens", l.billed))
		if l.drain != "" {
			fields = append(fields, zap.String("limit_drain", l.drain))
		}
		if l.hasCost {
			fields = append(fields, zap.String("limit_cost", limits.FormatMoney(l.billedCost)))
		}
	}
	if st.detail != "" && st.decision != decisionAllow {
		fields = append(fields, zap.String("detail", st.detail))
	}
	if c := st.claims; c != nil {
		fields = append(fields,
			zap.String("iss", c.Issuer),
			zap.String("sub", c.Subject),
			zap.String("client_id", c.ClientID),
		)
		if c.Act != nil {
			fields = append(fields, zap.Array("act", actChain{c.Act}))
		}
		fields = append(fields, zap.String("scopes", st.scopes))
		if c.ID != "" {
			fields = append(fields, zap.String("jti", c.ID))
		}
		if st.principal != "" {
			fields = append(fields, zap.String("principal", st.principal), zap.Int("delegation_depth", st.delegationDepth))
		}
	}
	if st.binding != "" {
		fields = append(fields, zap.String("binding", st.binding))
		if st.jkt != "" {
			fields = append(fields, zap.String("dpop_jkt", st.jkt))
		}
	}
	if ms := st.mcp; ms != nil && ms.method != "" {
		fields = append(fields, zap.String("mcp_method", ms.method))
		if ms.tool != "" {
			fields = append(fields, zap.String("mcp_tool", ms.tool))
		}
	}
	if st.model != "" {
		fields = append(fields, zap.String("model", st.model))
	}
	if len(required) > 0 {
		fields = append(fields, zap.String("required_scopes", strings.Join(required, " ")))
	}
	fields = append(fields, zap.Int64("bytes_in", st.bytesIn), zap.Int64("bytes_out", st.bytesOut))
	if st.configHash != "" {
		fields = append(fields, zap.String("config_hash", st.configHash))
	}
	if st.upstreamErr != nil {
		fields = append(fields, zap.String("upstream_error", upstreamErrorText(st.upstreamErr)))
	}
	a.log.Info(auditMsgDecision, fields...)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// upstreamErrorText describes an upstream failure without the URL that
// *url.Error carries: the outbound query is client data and is not
// written to the audit trail.
func upstreamErrorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// actChain writes an RFC 8693 delegation chain as an array of
// {"sub","client_id"} objects, from the outermost (current) actor inward
// to the earliest one.
type actChain struct{ a *token.Actor }

func (c actChain) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	n := 0
	for a := c.a; a != nil && n < maxActChain; a, n = a.Act, n+1 {
		err := enc.AppendObject(zapcore.ObjectMarshalerFunc(func(o zapcore.ObjectEncoder) error {
			o.AddString("sub", a.Subject)
			o.AddString("client_id", a.ClientID)
			return nil
		}))
		if err != nil {
			return err
		}
	}
	return nil
}

// finish writes the audit record and the metrics of one request.
func (g *Gateway) finish(rt *runtime, st *reqState, r *http.Request) {
	dur := g.now().Sub(st.start)
	if st.decision == "" {
		st.decision = decisionError
	}
	g.audit.record(st, r, dur)
	g.metrics.observe(st, r.Method, dur)
	g.metrics.observeForwarded(st)
}
