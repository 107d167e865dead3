package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/internal/otlp"
)

// OpenTelemetry traces. Off unless tracing.otlp_endpoint is set (or a test
// injects Deps.TracerProvider); when off, no span, context or header is
// made: every hook below starts with a nil check.
//
// The span tree of one request:
//
//	server span "{METHOD} {route path template}" (just "{METHOD}" when no route matched)
//	├── token.verify                 the bearer token's verification
//	├── request.body                 reading a model-routed body
//	└── upstream {METHOD}            the call to the upstream (otelhttp transport)
//
// JWKS fetches are spans of their own traces ("jwks GET"): one fetch serves
// every request waiting on it, and runs on the key source's context.
//
// A traceparent is continued only from a trusted proxy
// (server.trusted_proxies); from anyone else the gateway starts a new trace
// and replaces the client's traceparent and tracestate, so a caller cannot
// graft the gateway's spans onto a trace of its choosing. Attributes never
// carry the token, the raw path or the query; the subject only with
// tracing.record_subject.

// tracing is the gateway's tracer; the zero value (nil tracer) is off.
type tracing struct {
	provider trace.TracerProvider
	tracer   trace.Tracer
	record   bool
	shutdown func(context.Context) error // of a provider the gateway made
}

const tracerName = "github.com/scopegate/scopegate/gateway"

// traceContext is the only propagation format: W3C Trace Context.
var traceContext = propagation.TraceContext{}

// newTracing builds the tracer: the injected provider, or an OTLP/HTTP
// exporter when the config names an endpoint, or nothing.
func newTracing(cfg config.TracingConfig, injected trace.TracerProvider) (*tracing, error) {
	t := &tracing{provider: injected, record: cfg.RecordSubject}
	if injected == nil && cfg.OTLPEndpoint != "" {
		// Our own OTLP/HTTP exporter, not otlptracehttp: that one links
		// gRPC (internal/otlp says why it matters).
		exp := otlp.New(otlpTracesURL(cfg.OTLPEndpoint), cfg.Headers, nil)
		ratio := cfg.SampleRatio
		if ratio == 0 {
			ratio = 1
		}
		name := cfg.ServiceName
		if name == "" {
			name = "scopegate"
		}
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithBatcher(exp),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", name))),
		)
		t.provider, t.shutdown = tp, tp.Shutdown
	}
	if t.provider != nil {
		t.tracer = t.provider.Tracer(tracerName)
	}
	return t, nil
}

// dryRunTracer is the provider of a dry run (explain): spans go nowhere,
// but a config with tracing on still treats trace headers as it would.
func dryRunTracer(cfg config.TracingConfig) trace.TracerProvider {
	if cfg.OTLPEndpoint == "" {
		return nil
	}
	return noop.NewTracerProvider()
}

// otlpTracesURL adds the OTLP traces path to a bare collector URL.
func otlpTracesURL(u string) string {
	for len(u) > 0 && u[len(u)-1] == '/' {
		u = u[:len(u)-1]
	}
	if len(u) >= len("/v1/traces") && u[len(u)-len("/v1/traces"):] == "/v1/traces" {
		return u
	}
	return u + "/v1/traces"
}

func (t *tracing) on() bool { return t != nil && t.tracer != nil }

// close flushes and stops a provider the gateway made.
func (t *tracing) close(ctx context.Context) {
	if t != nil && t.shutdown != nil {
		_ = t.shutdown(ctx)
	}
}

// transport wraps an outbound transport so that each call is a client span
// and carries the request's trace context; rt unchanged when off.
func (t *tracing) transport(rt http.RoundTripper, prefix string) http.RoundTripper {
	if !t.on() {
		return rt
	}
	return otelhttp.NewTransport(rt,
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(traceContext),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return prefix + " " + r.Method }),
	)
}

// startServer starts the request's server span. The parent is the
// caller's traceparent only when the peer is a trusted proxy; otherwise the
// client's trace headers are removed and a new trace begins. Its trace-id
// is the audit record's.
func (t *tracing) startServer(rt *runtime, st *reqState, r *http.Request) (*http.Request, trace.Span) {
	ctx := r.Context()
	if _, ok := trustedPeer(r.RemoteAddr, rt.cfg.TrustedProxies); ok {
		ctx = traceContext.Extract(ctx, propagation.HeaderCarrier(r.Header))
	} else {
		r.Header.Del("Traceparent")
		r.Header.Del("Tracestate")
	}
	ctx, span := t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method)))
	if sc := span.SpanContext(); sc.IsValid() {
		st.traceID = sc.TraceID().String()
	}
	return r.WithContext(ctx), span
}

// endServer names the span by its route and records the outcome.
func (t *tracing) endServer(st *reqState, method string, span trace.Span) {
	if st.route != nil {
		span.SetName(method + " " + st.route.Pattern)
		span.SetAttributes(attribute.String("http.route", st.route.Pattern), attribute.String("scopegate.route", st.route.Name))
	}
	span.SetAttributes(
		attribute.Int("http.response.status_code", st.status),
		attribute.String("scopegate.decision", st.decision),
		attribute.String("scopegate.reason", string(st.reason)),
		attribute.String("scopegate.request_id", st.requestID),
	)
	if t.record && st.claims != nil {
		span.SetAttributes(attribute.String("enduser.id", st.claims.Subject), attribute.String("scopegate.client_id", st.claims.ClientID))
	}
	if st.status >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(st.status)+" "+string(st.reason))
	}
	span.End()
}

// childSpan starts a span under the request's server span; a no-op (and
// no allocation) when the request is not traced.
func childSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, nil
	}
	return parent.TracerProvider().Tracer(tracerName).Start(ctx, name)
}

// verifyFailure is the reason a verification failed, for its span.
func verifyFailure(err error) string {
	if err == nil {
		// Before te is declared: errors.As makes it escape, and every
		// request, tracing on or off, would allocate it.
		return ""
	}
	var te *token.Error
	switch {
	case errors.As(err, &te):
		return string(te.Reason)
	default:
		return string(ReasonKeysUnavailable)
	}
}

// endChild ends a child span, marking it failed with reason when not "".
func endChild(span trace.Span, reason string) {
	if span == nil {
		return
	}
	if reason != "" {
		span.SetStatus(codes.Error, reason)
		span.SetAttributes(attribute.String("scopegate.reason", reason))
	}
	span.End()
}
