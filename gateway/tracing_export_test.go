package gateway

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/scopegate/scopegate/config"
)

// collector is an in-process OTLP/HTTP endpoint that counts trace exports.
func collector(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" {
			n.Add(1)
		}
		// No keep-alive: the rig's leak check runs before this server closes.
		w.Header().Set("Connection", "close")
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestTracingOTLPExport: tracing.otlp_endpoint sends the spans to an
// OTLP/HTTP collector; Close flushes them.
func TestTracingOTLPExport(t *testing.T) {
	srv, n := collector(t)
	r := newRig(t, rigOptions{routes: "tracing: {otlp_endpoint: \"" + srv.URL + "\"}\n"})
	resp := r.do("GET", "/v1/models", r.token(allScopes...), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// The span ends before the audit record is written.
	rec := r.auditFor(resp.Header.Get("X-Request-Id"))
	if rec["trace_id"] == nil {
		t.Errorf("audit record without the gateway's trace_id: %v", rec)
	}
	r.gw.Close()
	if n.Load() == 0 {
		t.Error("the collector received no trace export")
	}
}

// TestExplainExportsNoSpans: a dry run under a config with tracing on
// sends nothing to the collector.
func TestExplainExportsNoSpans(t *testing.T) {
	srv, n := collector(t)
	r := newRig(t, rigOptions{})
	cfg := recompile(t, r.cfg, func(c *config.Config) { c.Tracing.OTLPEndpoint = srv.URL })
	e, err := Explain(t.Context(), cfg, ExplainRequest{Method: "GET", Target: "/v1/models", Token: r.token(allScopes...)})
	if err != nil {
		t.Fatal(err)
	}
	if e.Decision != decisionAllow || e.Forward == nil {
		t.Errorf("explain decision %q, forward %v; want allow and forwarded", e.Decision, e.Forward)
	}
	if n.Load() != 0 {
		t.Errorf("a dry run exported %d batches of spans", n.Load())
	}
}
