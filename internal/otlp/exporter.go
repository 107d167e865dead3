// Package otlp is an OTLP/HTTP trace exporter (binary protobuf, POST
// {collector}/v1/traces) for the OpenTelemetry SDK.
//
// Why not go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp:
// the HTTP exporter links gRPC all the same (its configuration package is
// shared with the gRPC exporter and imports google.golang.org/grpc, and
// the collector's request type lives in a package with the gRPC service
// and grpc-gateway stubs). That was 11.6 MB of scopegate's 31.9 MB binary
// and 2.5 MiB of its resident memory, paid by every deployment, tracing
// on or off (package init runs regardless). This exporter sends the same
// bytes with the plain protobuf message types
// (go.opentelemetry.io/proto/otlp/{common,resource,trace}/v1) and writes
// the request's one field by hand.
package otlp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Exporter sends spans to one OTLP/HTTP traces URL. It implements
// sdktrace.SpanExporter; the SDK's batch span processor calls it from one
// goroutine at a time.
type Exporter struct {
	url     string
	headers map[string]string
	client  *http.Client
	// backoff is the first wait before a retry (doubled each time);
	// tests shorten it.
	backoff time.Duration

	mu     sync.Mutex
	closed bool
}

var _ sdktrace.SpanExporter = (*Exporter)(nil)

// New returns an exporter posting to url (the full traces URL, e.g.
// http://collector:4318/v1/traces) with headers on every request. client
// nil: a client of its own with a 10 s timeout per request and the
// environment's proxy settings, as the OpenTelemetry exporter's default.
func New(url string, headers map[string]string, client *http.Client) *Exporter {
	if client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		client = &http.Client{Transport: t, Timeout: 10 * time.Second}
	}
	return &Exporter{url: url, headers: headers, client: client, backoff: time.Second}
}

// maxAttempts bounds the tries of one batch (the SDK's export timeout,
// 30 s by default, bounds their time).
const maxAttempts = 4

// ExportSpans sends spans as one ExportTraceServiceRequest. A 429, 502,
// 503 or 504 (the statuses the OTLP/HTTP specification makes retryable)
// or a failed connection is retried with exponential backoff, honouring
// Retry-After, until ctx ends; any other non-2xx status is an error.
func (e *Exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return errors.New("otlp: exporter shut down")
	}
	body, err := marshalRequest(spans)
	if err != nil || body == nil {
		return err
	}
	wait := e.backoff
	for attempt := 1; ; attempt++ {
		retryAfter, err := e.post(ctx, body)
		if err == nil || retryAfter < 0 || attempt == maxAttempts {
			return err
		}
		if retryAfter > 0 {
			wait = retryAfter
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-t.C:
		}
		wait *= 2
	}
}

// post sends body once. retryAfter is -1 when the failure is not worth a
// retry, 0 to retry after the backoff, above 0 what the server asked for.
func (e *Exporter) post(ctx context.Context, body []byte) (retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return -1, fmt.Errorf("otlp: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	for k, v := range e.headers {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("otlp: exporting spans: %w", err)
		}
		return 0, fmt.Errorf("otlp: exporting spans: %w", err)
	}
	// The body (a partial-success message, or an error status) is not
	// needed: read a bounded part of it so that the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return 0, nil
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusBadGateway,
		resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusGatewayTimeout:
		d := time.Duration(0)
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			d = time.Duration(s) * time.Second
		}
		return d, fmt.Errorf("otlp: collector answered %s", resp.Status)
	default:
		return -1, fmt.Errorf("otlp: collector answered %s", resp.Status)
	}
}

// marshalRequest encodes an ExportTraceServiceRequest: its only field is
// `repeated ResourceSpans resource_spans = 1`, written here so that the
// collector package (and with it gRPC) is not linked. nil when there is
// nothing to send.
func marshalRequest(spans []sdktrace.ReadOnlySpan) ([]byte, error) {
	var b []byte
	for _, rs := range resourceSpans(spans) {
		m, err := proto.Marshal(rs)
		if err != nil {
			return nil, fmt.Errorf("otlp: encoding spans: %w", err)
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	return b, nil
}

// Shutdown stops the exporter: later exports fail. Spans already handed
// over were sent by ExportSpans.
func (e *Exporter) Shutdown(context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.client.CloseIdleConnections()
	return nil
}
