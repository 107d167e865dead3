package gateway

import (
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
)

// auditor writes one JSON record per request decision. A token, or any
// part of one, is never among its fields: only claims that name who and
// what (sub, client_id, scopes, iss, jti).
type auditor struct {
	log *zap.Logger
}

func newAuditor(l *zap.Logger) *auditor { return &auditor{log: l.Named("audit")} }

// AuditSchemaVersion is the version of the audit record's fields; it is
// written in every record as "audit_v".
const AuditSchemaVersion = 1

func (a *auditor) record(st *reqState, r *http.Request, dur time.Duration) {
	route, tmpl, upstream := "", "", ""
	var required []string
	if st.route != nil {
		route, tmpl, upstream, required = st.route.Name, st.route.Pattern, st.route.Upstream, st.route.Scopes
	}
	fields := make([]zap.Field, 0, 24)
	fields = append(fields,
		zap.Int("audit_v", AuditSchemaVersion),
		zap.String("request_id", st.requestID),
		zap.String("route", route),
		zap.String("method", r.Method),
		zap.String("path_template", tmpl),
		zap.String("decision", st.decision),
		zap.String("reason", st.reason),
		zap.Int("status", st.status),
		zap.Float64("duration_ms", float64(dur.Microseconds())/1000),
		zap.String("remote_addr", r.RemoteAddr),
	)
	if upstream != "" && st.decision == decisionAllow {
		fields = append(fields, zap.String("upstream", upstream))
	}
	if st.detail != "" && st.decision != decisionAllow {
		fields = append(fields, zap.String("detail", st.detail))
	}
	if c := st.claims; c != nil {
		fields = append(fields,
			zap.String("iss", c.Issuer),
			zap.String("sub", c.Subject),
			zap.String("client_id", c.ClientID),
			zap.String("scopes", strings.Join(c.Scopes, " ")),
		)
		if c.ID != "" {
			fields = append(fields, zap.String("jti", c.ID))
		}
	}
	if len(required) > 0 {
		fields = append(fields, zap.String("required_scopes", strings.Join(required, " ")))
	}
	fields = append(fields, zap.Int64("bytes_in", st.bytesIn), zap.Int64("bytes_out", st.bytesOut))
	if tp := r.Header.Get("Traceparent"); len(tp) == 55 {
		fields = append(fields, zap.String("trace_id", tp[3:35]))
	}
	if st.upstreamErr != nil {
		fields = append(fields, zap.String("upstream_error", st.upstreamErr.Error()))
	}
	a.log.Info("decision", fields...)
}

// finish writes the audit record and the metrics of one request.
func (g *Gateway) finish(rt *runtime, st *reqState, r *http.Request) {
	dur := g.now().Sub(st.start)
	if st.decision == "" {
		st.decision = decisionError
	}
	g.audit.record(st, r, dur)
	g.metrics.observe(st, r.Method, dur)
}
