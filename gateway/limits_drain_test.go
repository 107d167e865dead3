package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/testkit"
)

// cancelledStream starts a streamed completion through w's gateway on a
// real server, reads its first event and then leaves (cancels the
// request), and closes gone once the gateway has seen the client go. It
// returns the request's audit record.
func cancelledStream(t *testing.T, w *limitWorld, gone chan<- struct{}) testkit.AuditRecord {
	t.Helper()
	// The gateway's request context ends when the client has gone: only
	// then is the upstream let go on.
	left := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		context.AfterFunc(r.Context(), func() { close(left) })
		w.gw.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m1","stream":true,"max_tokens":10}`))
	req.Header.Set("Authorization", "Bearer "+w.token("alice"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 256)
	if n, err := resp.Body.Read(first); err != nil || !strings.Contains(string(first[:n]), `"hi"`) {
		t.Fatalf("first event: %q, %v", first[:n], err)
	}
	cancel()
	resp.Body.Close()
	<-left
	close(gone)
	var a testkit.AuditRecord
	testkit.WaitFor(t, "the audit record", func() bool {
		for _, m := range (&world{t: t, audit: w.audit}).records() {
			if m.Msg == auditMsgDecision {
				a = m
				return true
			}
		}
		return false
	})
	return a
}

// TestLimitCancelledStreamReadOn: a client that cancels a stream under a
// budget does not escape its bill: the gateway reads the upstream's
// stream on (bounded) until its usage arrives, bills it, and audits that
// it did; a stream that sends no usage within the bounds is billed the
// reservation, audited with the bound that ended it.
func TestLimitCancelledStreamReadOn(t *testing.T) {
	const first = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n"
	const last = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":9,\"total_tokens\":12}}\n\ndata: [DONE]\n\n"
	tests := []struct {
		name         string
		upstreamKeys string
		after        func(rw http.ResponseWriter, r *http.Request) // once the client has gone
		wantSource   string
		wantTokens   float64
		wantDrain    string
	}{
		{"usage arrives", "", func(rw http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(rw, "data: {\"choices\":[{\"delta\":{\"content\":\" there\"}}],\"usage\":null}\n\n")
			rw.(http.Flusher).Flush()
			fmt.Fprint(rw, last)
		}, "usage", 12, "usage"},
		{"upstream stalls", "    usage_drain_timeout: 50ms\n", func(rw http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // until the gateway gives up
		}, "reservation", 21, "timeout"},
		{"too many bytes", "    usage_drain_max_bytes: 4096\n", func(rw http.ResponseWriter, r *http.Request) {
			chunk := "data: {\"choices\":[{\"delta\":{\"content\":\"" + strings.Repeat("x", 1000) + "\"}}]}\n\n"
			for range 100 {
				if _, err := fmt.Fprint(rw, chunk); err != nil {
					return
				}
				rw.(http.Flusher).Flush()
			}
			fmt.Fprint(rw, last)
		}, "reservation", 21, "max_bytes"},
		{"upstream cut", "", func(rw http.ResponseWriter, _ *http.Request) {
			panic(http.ErrAbortHandler)
		}, "reservation", 21, "upstream_ended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gone := make(chan struct{})
			w := newLimitWorldUp(t, limitChatRoute(`      - name: daily
        tokens: {budget: 1000, per: 24h}
`), tt.upstreamKeys, func(rw http.ResponseWriter, r *http.Request, _ []byte) {
				rw.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprint(rw, first)
				rw.(http.Flusher).Flush()
				<-gone
				tt.after(rw, r)
			})
			a := cancelledStream(t, w, gone)
			if a.LimitBilled != tt.wantSource || a.LimitTokens != tt.wantTokens || a.LimitDrain != tt.wantDrain {
				t.Errorf("audit limit_billed %v limit_tokens %v limit_drain %v; want %s %v %s",
					a.LimitBilled, a.LimitTokens, a.LimitDrain, tt.wantSource, tt.wantTokens, tt.wantDrain)
			}
		})
	}
}

// TestLimitCancelledBeforeHeaders: a client that leaves while the
// upstream is still working on a completion that has not answered yet
// (a non-streamed one answers only once it is done) does not escape its
// bill either: the upstream request goes on within usage_drain_timeout
// and its usage is billed; one that does not answer within it is billed
// the reservation, never refunded.
func TestLimitCancelledBeforeHeaders(t *testing.T) {
	tests := []struct {
		name         string
		upstreamKeys string
		answer       func(rw http.ResponseWriter, r *http.Request) // once the client has gone
		wantSource   string
		wantTokens   float64
		wantDrain    string
	}{
		{"usage arrives", "", func(rw http.ResponseWriter, _ *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			fmt.Fprint(rw, `{"choices":[{"message":{"content":"done"}}],"usage":{"prompt_tokens":3,"completion_tokens":30,"total_tokens":33}}`)
		}, "usage", 33, "usage"},
		{"upstream stalls", "    usage_drain_timeout: 50ms\n", func(_ http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // until the gateway gives up
		}, "reservation", 17, "timeout"}, // 30 bytes / 4 + max_tokens 10
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gone, arrived := make(chan struct{}), make(chan struct{})
			w := newLimitWorldUp(t, limitChatRoute(`      - name: daily
        tokens: {budget: 1000, per: 24h}
`), tt.upstreamKeys, func(rw http.ResponseWriter, r *http.Request, _ []byte) {
				close(arrived)
				<-gone
				tt.answer(rw, r)
			})
			left := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				context.AfterFunc(r.Context(), func() { close(left) })
				w.gw.ServeHTTP(rw, r)
			}))
			t.Cleanup(srv.Close)
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m1","max_tokens":10}`))
			req.Header.Set("Authorization", "Bearer "+w.token("alice"))
			req.Header.Set("Content-Type", "application/json")
			errc := make(chan error, 1)
			go func() {
				resp, err := srv.Client().Do(req)
				if err == nil {
					resp.Body.Close()
				}
				errc <- err
			}()
			<-arrived
			cancel()
			<-errc
			<-left
			close(gone)
			var a testkit.AuditRecord
			testkit.WaitFor(t, "the audit record", func() bool {
				for _, m := range (&world{t: t, audit: w.audit}).records() {
					if m.Msg == auditMsgDecision {
						a = m
						return true
					}
				}
				return false
			})
			if a.LimitBilled != tt.wantSource || a.LimitTokens != tt.wantTokens || a.LimitDrain != tt.wantDrain {
				t.Errorf("audit limit_billed %v limit_tokens %v limit_drain %v; want %s %v %s",
					a.LimitBilled, a.LimitTokens, a.LimitDrain, tt.wantSource, tt.wantTokens, tt.wantDrain)
			}
		})
	}
}
