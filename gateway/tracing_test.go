package gateway

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/scopegate/scopegate/internal/testkit"
)

// The gateway's spans go to the SDK's in-memory exporter through a real
// tracer provider; requests go over loopback to a real gateway, issuer and
// upstream (the rig).

const traceModelRoute = `
  - name: chatm
    methods: [POST]
    path: /v2/chat/completions
    upstream: models
    scopes: ["chat:completions"]
    models: {scope_template: "model:{model}"}
`

type traceRig struct {
	*rig
	exp *tracetest.InMemoryExporter
}

func newTraceRig(t *testing.T, server string) *traceRig {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	r := newRig(t, rigOptions{server: server, routes: traceModelRoute, tracer: tp})
	return &traceRig{rig: r, exp: exp}
}

// request sends one request and returns its spans once its server span has
// ended (it ends after the response is written).
func (tr *traceRig) request(t *testing.T, method, path, tok, body string, hdr ...string) (*http.Response, tracetest.SpanStubs) {
	t.Helper()
	tr.exp.Reset()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
		hdr = append(hdr, "Content-Type", "application/json")
	}
	resp := tr.in(t).do(method, path, tok, rd, hdr...)
	var spans tracetest.SpanStubs
	testkit.WaitFor(t, "server span", func() bool {
		spans = tr.exp.GetSpans()
		for _, s := range spans {
			if s.SpanKind == trace.SpanKindServer {
				return true
			}
		}
		return false
	})
	return resp, spans
}

// tree renders the spans as "name<parent-name" lines, checking that they
// share one trace; the server span's parent is "".
func tree(t *testing.T, spans tracetest.SpanStubs) (map[string]string, tracetest.SpanStub) {
	t.Helper()
	byID := map[trace.SpanID]string{}
	var server tracetest.SpanStub
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s.Name
		if s.SpanKind == trace.SpanKindServer {
			server = s
		}
	}
	out := map[string]string{}
	for _, s := range spans {
		if s.SpanContext.TraceID() != server.SpanContext.TraceID() {
			t.Errorf("span %q in trace %s; want the server span's %s", s.Name, s.SpanContext.TraceID(), server.SpanContext.TraceID())
		}
		out[s.Name] = byID[s.Parent.SpanID()]
	}
	return out, server
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}

func TestTracingSpanTree(t *testing.T) {
	tr := newTraceRig(t, "")
	tok := tr.token(allScopes...)
	tests := []struct {
		name, method, path, tok, body string
		status                        int
		want                          map[string]string // span name -> parent span name
		reason                        string
	}{
		{"allowed", "GET", "/v1/models", tok, "", 200,
			map[string]string{"GET /v1/models": "", "token.verify": "GET /v1/models", "upstream GET": "GET /v1/models"}, "allowed"},
		{"refused scope", "POST", "/v1/chat/completions", tr.token("models:read"), `{"model":"gpt-4o"}`, 403,
			map[string]string{"POST /v1/chat/completions": "", "token.verify": "POST /v1/chat/completions"}, "insufficient_scope"},
		{"refused token", "GET", "/v1/models", tok + "x", "", 401,
			map[string]string{"GET /v1/models": "", "token.verify": "GET /v1/models"}, "malformed"},
		{"no route", "GET", "/nowhere", tok, "", 404,
			map[string]string{"GET": ""}, "no_route"},
		{"streamed", "POST", "/v1/chat/completions", tok, `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`, 200,
			map[string]string{"POST /v1/chat/completions": "", "token.verify": "POST /v1/chat/completions", "upstream POST": "POST /v1/chat/completions"}, "allowed"},
		{"model body", "POST", "/v2/chat/completions", tr.token("chat:completions", "model:gpt-4o"), `{"model":"gpt-4o"}`, 200,
			map[string]string{"POST /v2/chat/completions": "", "token.verify": "POST /v2/chat/completions",
				"request.body": "POST /v2/chat/completions", "upstream POST": "POST /v2/chat/completions"}, "allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, spans := tr.request(t, tt.method, tt.path, tt.tok, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d; want %d (%s)", resp.StatusCode, tt.status, bodyOf(resp))
			}
			if tt.name == "streamed" && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("Content-Type %q; want a stream", resp.Header.Get("Content-Type"))
			}
			got, server := tree(t, spans)
			if len(got) != len(tt.want) {
				t.Errorf("spans %v; want %v", got, tt.want)
			}
			for name, parent := range tt.want {
				if p, ok := got[name]; !ok || p != parent {
					t.Errorf("span %q parent %q (present %v); want parent %q; all: %v", name, p, ok, parent, got)
				}
			}
			if r := attr(server, "scopegate.reason"); r != tt.reason {
				t.Errorf("server span reason %q; want %q", r, tt.reason)
			}
			for _, sp := range spans {
				if sp.Name == "token.verify" && (sp.Status.Code == codes.Error) != (tt.status == 401) {
					t.Errorf("token.verify status %v on a %d", sp.Status, tt.status)
				}
			}
			// The audit record names the gateway's trace.
			rec := tr.in(t).auditFor(resp.Header.Get("X-Request-Id"))
			if rec["trace_id"] != server.SpanContext.TraceID().String() {
				t.Errorf("audit trace_id %v; want %s", rec["trace_id"], server.SpanContext.TraceID())
			}
			// No span carries the token or, by default, the subject.
			for _, s := range spans {
				for _, a := range s.Attributes {
					if v := a.Value.String(); strings.Contains(v, "alice") || len(tt.tok) > 20 && strings.Contains(v, tt.tok[:20]) {
						t.Errorf("span %q attribute %s = %q carries an identity", s.Name, a.Key, v)
					}
				}
			}
		})
	}
}

// TestTracingPropagation: a traceparent from an untrusted peer starts a new
// trace (and never reaches the upstream); from a trusted proxy it is
// continued. Either way the upstream gets the gateway's own span as parent.
func TestTracingPropagation(t *testing.T) {
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	const parent = "00-" + clientTrace + "-00f067aa0ba902b7-01"
	for _, tt := range []struct {
		name, server string
		continued    bool
	}{
		{"untrusted", "", false},
		{"trusted", `  trusted_proxies: ["127.0.0.0/8"]`, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTraceRig(t, tt.server)
			_, spans := tr.request(t, "GET", "/v1/models", tr.token(allScopes...), "", "Traceparent", parent, "Tracestate", "evil=1")
			got, server := tree(t, spans)
			if _, ok := got["upstream GET"]; !ok {
				t.Fatalf("no upstream span: %v", got)
			}
			if continued := server.SpanContext.TraceID().String() == clientTrace; continued != tt.continued {
				t.Errorf("trace %s continued %v; want %v", server.SpanContext.TraceID(), continued, tt.continued)
			}
			if tt.continued && server.Parent.SpanID().String() != "00f067aa0ba902b7" {
				t.Errorf("server span parent %s; want the caller's span", server.Parent.SpanID())
			}
			var upstream tracetest.SpanStub
			for _, s := range spans {
				if s.Name == "upstream GET" {
					upstream = s
				}
			}
			reqs := tr.api.Requests()
			if len(reqs) == 0 {
				t.Fatal("nothing forwarded")
			}
			h := reqs[len(reqs)-1].Header
			want := "00-" + server.SpanContext.TraceID().String() + "-" + upstream.SpanContext.SpanID().String() + "-01"
			if got := h.Get("Traceparent"); got != want {
				t.Errorf("upstream traceparent %q; want %q", got, want)
			}
			if ts := h.Get("Tracestate"); (ts != "") != tt.continued {
				t.Errorf("upstream tracestate %q; want it only when continued", ts)
			}
		})
	}
}

// TestTracingRecordSubject: the subject reaches a span only when asked.
func TestTracingRecordSubject(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	// A top-level key after the rig's routes.
	tr := &traceRig{rig: newRig(t, rigOptions{tracer: tp, routes: "tracing: {record_subject: true}\n"}), exp: exp}
	_, spans := tr.request(t, "GET", "/v1/models", tr.token(allScopes...), "")
	_, server := tree(t, spans)
	if got := attr(server, "enduser.id"); got != "alice" {
		t.Errorf("enduser.id %q; want alice", got)
	}
}

// TestTracingExemplar: with tracing on, the request duration histogram
// carries the request's trace as an exemplar (OpenMetrics exposition).
func TestTracingExemplar(t *testing.T) {
	tr := newTraceRig(t, "")
	_, spans := tr.request(t, "GET", "/v1/models", tr.token(allScopes...), "")
	_, server := tree(t, spans)
	req, _ := http.NewRequest("GET", "http://"+tr.admin+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := tr.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `trace_id="` + server.SpanContext.TraceID().String() + `"`
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "scopegate_request_duration_seconds_bucket") && strings.Contains(line, want) {
			return
		}
	}
	t.Errorf("no duration bucket with exemplar %s in /metrics", want)
}

// TestTracingJWKSFetch: the key fetches (discovery and JWKS) are client
// spans of traces of their own.
func TestTracingJWKSFetch(t *testing.T) {
	tr := newTraceRig(t, "")
	var jwks []tracetest.SpanStub
	testkit.WaitFor(t, "jwks span", func() bool {
		jwks = jwks[:0]
		for _, s := range tr.exp.GetSpans() {
			if s.Name == "jwks GET" {
				jwks = append(jwks, s)
			}
		}
		return len(jwks) >= 2 // the discovery document and the key set
	})
	for _, s := range jwks {
		if s.SpanKind != trace.SpanKindClient || s.Parent.IsValid() {
			t.Errorf("jwks span kind %v parent %v; want a client span at a trace's root", s.SpanKind, s.Parent.SpanID())
		}
	}
}
