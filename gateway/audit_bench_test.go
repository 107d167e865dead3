package gateway

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/policy"
)

// BenchmarkAuditRecord measures writing one record of an allowed request
// (claims, a delegation chain, a trace id), and of a refusal dropped by
// the rate cap.
func BenchmarkAuditRecord(b *testing.B) {
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "d"}, []string{"decision"})
	route := &policy.Route{Name: "chat", Pattern: "/v1/chat/completions", Upstream: "models", Scopes: []string{"chat:completions"}}
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	allowed := &reqState{requestID: "0123456789abcdef0123456789abcdef", traceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		route: route, decision: decisionAllow, reason: ReasonAllowed, status: 200, forwarded: true, upstreamTimed: true,
		claims: &token.Claims{Issuer: "https://idp.example.com", Subject: "alice", ClientID: "cli", ID: "jti-1",
			Scopes: []string{"chat:completions", "models:read"}, Act: &token.Actor{Subject: "agent", ClientID: "agent-app"}}}
	b.Run("allow", func(b *testing.B) {
		a := newAuditor(NewAuditLogger(zapcore.AddSync(discard{})), nil, time.Now, dropped)
		b.ReportAllocs()
		for b.Loop() {
			a.record(allowed, r, time.Millisecond)
		}
	})
	b.Run("deny_dropped", func(b *testing.B) {
		a := newAuditor(NewAuditLogger(zapcore.AddSync(discard{})), nil, time.Now, dropped)
		a.setLimits(config.AuditConfig{MaxRecordsPerSecond: 1, Burst: 1})
		st := &reqState{requestID: "x", route: route, decision: decisionDeny, reason: ReasonMissingToken, status: 401}
		b.ReportAllocs()
		for b.Loop() {
			a.record(st, r, time.Millisecond)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
