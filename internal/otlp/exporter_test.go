package otlp

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP endpoint that decodes what it receives as a
// collector would: an ExportTraceServiceRequest is field 1, repeated
// ResourceSpans. statuses are answered in turn (then 200).
type collector struct {
	srv      *httptest.Server
	mu       sync.Mutex
	got      []*tracepb.ResourceSpans
	header   http.Header
	posts    atomic.Int32
	statuses []int
}

func newCollector(t *testing.T, statuses ...int) *collector {
	c := &collector{statuses: statuses}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(c.posts.Add(1))
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("got %s %s (%s); want POST /v1/traces (application/x-protobuf)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		if n <= len(c.statuses) {
			w.WriteHeader(c.statuses[n-1])
			return
		}
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.header = r.Header.Clone()
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 || num != 1 || typ != protowire.BytesType {
				t.Errorf("request: field %d type %d; want field 1, bytes", num, typ)
				return
			}
			m, k := protowire.ConsumeBytes(b[n:])
			if k < 0 {
				t.Error("request: truncated field")
				return
			}
			rs := &tracepb.ResourceSpans{}
			if err := proto.Unmarshal(m, rs); err != nil {
				t.Errorf("request: %v", err)
				return
			}
			c.got = append(c.got, rs)
			b = b[n+k:]
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func attr(kvs []*commonpb.KeyValue, key string) *commonpb.AnyValue {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

// TestExportSpans: spans made by the SDK arrive as a collector decodes
// them: resource, scope, ids, parent, kind, times, attributes of every
// type, status, events, links, flags; the configured headers are sent.
func TestExportSpans(t *testing.T) {
	c := newCollector(t)
	exp := New(c.srv.URL+"/v1/traces", map[string]string{"X-Api-Key": "k1"}, nil)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "scopegate"))))
	tr := tp.Tracer("github.com/scopegate/scopegate/gateway")

	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true})
	ctx, server := tr.Start(trace.ContextWithRemoteSpanContext(context.Background(), remote), "POST /v1/chat/completions",
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.route", "/v1/chat/completions"), attribute.Int("http.response.status_code", 403),
			attribute.Bool("b", true), attribute.Float64("f", 0.5), attribute.StringSlice("ss", []string{"a", "b"}),
			attribute.Int64Slice("is", []int64{1, 2}), attribute.BoolSlice("bs", []bool{true}), attribute.Float64Slice("fs", []float64{1.5})))
	_, child := tr.Start(ctx, "token.verify", trace.WithLinks(trace.Link{SpanContext: remote, Attributes: []attribute.KeyValue{attribute.String("l", "v")}}))
	child.AddEvent("refused", trace.WithAttributes(attribute.String("reason", "token_expired")))
	child.SetStatus(codes.Error, "token_expired")
	child.End()
	server.SetStatus(codes.Ok, "")
	server.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if got := c.header.Get("X-Api-Key"); got != "k1" {
		t.Errorf("header X-Api-Key = %q; want k1", got)
	}
	var spans []*tracepb.Span
	for _, rs := range c.got {
		if v := attr(rs.Resource.GetAttributes(), "service.name"); v.GetStringValue() != "scopegate" {
			t.Errorf("resource service.name = %v; want scopegate", v)
		}
		for _, ss := range rs.ScopeSpans {
			if ss.Scope.GetName() != "github.com/scopegate/scopegate/gateway" {
				t.Errorf("scope = %q", ss.Scope.GetName())
			}
			spans = append(spans, ss.Spans...)
		}
	}
	if len(spans) != 2 {
		t.Fatalf("got %d spans; want 2", len(spans))
	}
	v, s := spans[0], spans[1] // token.verify ends first
	if v.Name != "token.verify" || s.Name != "POST /v1/chat/completions" {
		t.Fatalf("names %q, %q", v.Name, s.Name)
	}
	tid := remote.TraceID()
	if !slices.Equal(s.TraceId, tid[:]) || !slices.Equal(v.TraceId, tid[:]) {
		t.Errorf("trace ids %x, %x; want %x", s.TraceId, v.TraceId, tid)
	}
	rsid := remote.SpanID()
	if !slices.Equal(s.ParentSpanId, rsid[:]) || !slices.Equal(v.ParentSpanId, s.SpanId) {
		t.Errorf("parents %x (want %x), %x (want %x)", s.ParentSpanId, rsid[:], v.ParentSpanId, s.SpanId)
	}
	if s.Kind != tracepb.Span_SPAN_KIND_SERVER || v.Kind != tracepb.Span_SPAN_KIND_INTERNAL {
		t.Errorf("kinds %v, %v", s.Kind, v.Kind)
	}
	// Sampled (1), has-is-remote (0x100), and for the server span a remote parent (0x200).
	if s.Flags != 0x301 || v.Flags != 0x101 {
		t.Errorf("flags %#x, %#x; want 0x301, 0x101", s.Flags, v.Flags)
	}
	if s.StartTimeUnixNano == 0 || s.EndTimeUnixNano < s.StartTimeUnixNano {
		t.Errorf("times %d..%d", s.StartTimeUnixNano, s.EndTimeUnixNano)
	}
	checks := map[string]func(*commonpb.AnyValue) bool{
		"http.route":                func(a *commonpb.AnyValue) bool { return a.GetStringValue() == "/v1/chat/completions" },
		"http.response.status_code": func(a *commonpb.AnyValue) bool { return a.GetIntValue() == 403 },
		"b":                         func(a *commonpb.AnyValue) bool { return a.GetBoolValue() },
		"f":                         func(a *commonpb.AnyValue) bool { return a.GetDoubleValue() == 0.5 },
		"ss": func(a *commonpb.AnyValue) bool {
			return len(a.GetArrayValue().GetValues()) == 2 && a.GetArrayValue().Values[1].GetStringValue() == "b"
		},
		"is": func(a *commonpb.AnyValue) bool { return a.GetArrayValue().GetValues()[1].GetIntValue() == 2 },
		"bs": func(a *commonpb.AnyValue) bool { return a.GetArrayValue().GetValues()[0].GetBoolValue() },
		"fs": func(a *commonpb.AnyValue) bool { return a.GetArrayValue().GetValues()[0].GetDoubleValue() == 1.5 },
	}
	for k, ok := range checks {
		if a := attr(s.Attributes, k); a == nil || !ok(a) {
			t.Errorf("attribute %s = %v", k, a)
		}
	}
	if s.Status.GetCode() != tracepb.Status_STATUS_CODE_OK {
		t.Errorf("server status %v; want OK", s.Status)
	}
	if v.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || v.Status.GetMessage() != "token_expired" {
		t.Errorf("verify status %v; want ERROR token_expired", v.Status)
	}
	if len(v.Events) != 1 || v.Events[0].Name != "refused" || attr(v.Events[0].Attributes, "reason").GetStringValue() != "token_expired" {
		t.Errorf("events %v", v.Events)
	}
	if len(v.Links) != 1 || !slices.Equal(v.Links[0].SpanId, rsid[:]) || attr(v.Links[0].Attributes, "l").GetStringValue() != "v" {
		t.Errorf("links %v", v.Links)
	}
}

// TestExportRetries: the statuses OTLP/HTTP makes retryable are retried;
// others are not; a shut-down exporter sends nothing.
func TestExportRetries(t *testing.T) {
	span := func(t *testing.T) []sdktrace.ReadOnlySpan {
		sr := &recorder{}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
		_, s := tp.Tracer("t").Start(context.Background(), "s")
		s.End()
		return sr.spans
	}
	for _, tt := range []struct {
		name     string
		statuses []int
		wantErr  bool
		posts    int32
	}{
		{"ok", nil, false, 1},
		{"503 then ok", []int{503}, false, 2},
		{"429, 502, 504 then ok", []int{429, 502, 504}, false, 4},
		{"always 503", []int{503, 503, 503, 503, 503}, true, 4},
		{"400 is final", []int{400}, true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(t, tt.statuses...)
			exp := New(c.srv.URL+"/v1/traces", nil, nil)
			exp.backoff = time.Millisecond
			err := exp.ExportSpans(context.Background(), span(t))
			if (err != nil) != tt.wantErr || c.posts.Load() != tt.posts {
				t.Errorf("err %v after %d posts; want error %t after %d", err, c.posts.Load(), tt.wantErr, tt.posts)
			}
		})
	}
	t.Run("shut down", func(t *testing.T) {
		c := newCollector(t)
		exp := New(c.srv.URL+"/v1/traces", nil, nil)
		_ = exp.Shutdown(context.Background())
		if err := exp.ExportSpans(context.Background(), span(t)); err == nil || c.posts.Load() != 0 {
			t.Errorf("after Shutdown: err %v, %d posts; want an error and none", err, c.posts.Load())
		}
	})
}

// recorder keeps the ended spans.
type recorder struct{ spans []sdktrace.ReadOnlySpan }

func (r *recorder) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (r *recorder) OnEnd(s sdktrace.ReadOnlySpan)                   { r.spans = append(r.spans, s) }
func (r *recorder) Shutdown(context.Context) error                  { return nil }
func (r *recorder) ForceFlush(context.Context) error                { return nil }
