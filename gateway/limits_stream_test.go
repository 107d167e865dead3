package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scopegate/scopegate/internal/testkit"
	"github.com/scopegate/scopegate/limits"
)

// TestLimitStreamUsage: a streamed completion is billed the usage of its
// last chunk, and is relayed event by event, not buffered.
func TestLimitStreamUsage(t *testing.T) {
	release := make(chan struct{})
	w := newLimitWorld(t, limitChatRoute(`      - name: daily
        tokens: {budget: 1000, per: 24h}
`), func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(rw, "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n")
		rw.(http.Flusher).Flush()
		<-release
		fmt.Fprint(rw, "data: {\"choices\":[],\"usage\": {\"prompt_tokens\":3,\"completion_tokens\":9,\"total_tokens\":12}}\n\ndata: [DONE]\n\n")
	})
	srv := httptest.NewServer(w.gw)
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest("POST", srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m1","stream":true}`))
	req.Header.Set("Authorization", "Bearer "+w.token("alice"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 256)
	n, err := resp.Body.Read(first)
	if err != nil || !strings.Contains(string(first[:n]), `"hi"`) {
		t.Fatalf("first event: %q, %v; want it before the stream ends", first[:n], err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(rest), "[DONE]") {
		t.Fatalf("rest of the stream: %q", rest)
	}
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
	if a.LimitBilled != "usage" || a.LimitTokens != 12 {
		t.Errorf("audit limit_billed %v limit_tokens %v; want usage 12", a.LimitBilled, a.LimitTokens)
	}
}

// TestLimitStreamUsageInjected: a streamed completion that did not ask
// for usage gets stream_options.include_usage upstream (unless the
// upstream sets no_stream_usage), is billed the usage, and the client's
// stream does not carry the extra chunk; a client that asked for usage
// keeps it.
func TestLimitStreamUsageInjected(t *testing.T) {
	upstream := func(rw http.ResponseWriter, r *http.Request) {
		// The recording wrapper has drained the body: the test rig
		// passes what the upstream saw in a header of the response.
		rw.Header().Set("Content-Type", "text/event-stream")
		include := r.Header.Get("X-Test-Body-Had-Usage") == "yes"
		fmt.Fprint(rw, "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n")
		if include {
			fmt.Fprint(rw, "data: {\"choices\":[],\"usage\":{\"total_tokens\":21}}\n\n")
		}
		fmt.Fprint(rw, "data: [DONE]\n\n")
	}
	tests := []struct {
		name, body, upstreamKeys string
		wantBody                 string // a part of the upstream's request body
		wantChunk                bool   // the client's stream has the usage chunk
		wantSource               string
	}{
		{"injected", `{"model":"m1","stream":true}`, "", `{"stream_options":{"include_usage":true},"model":"m1","stream":true}`, false, "usage"},
		{"asked by the client", `{"model":"m1","stream":true,"stream_options":{"include_usage":true}}`, "", `"stream_options":{"include_usage":true}}`, true, "usage"},
		{"turned off by the client", `{"model":"m1","stream":true,"stream_options":{"include_usage":false}}`, "", `{"model":"m1","stream":true,"stream_options":{"include_usage":true}}`, false, "usage"},
		{"empty stream_options", `{"model":"m1","stream":true,"stream_options":{}}`, "", `{"model":"m1","stream":true,"stream_options":{"include_usage":true}}`, false, "usage"},
		{"other stream_options kept", `{"model":"m1","stream":true,"stream_options":{"include_obfuscation":false, "include_usage" : false}}`, "", `"stream_options":{"include_usage":true,"include_obfuscation":false}}`, false, "usage"},
		{"stream as a string (lax upstreams read it as true)", `{"model":"m1","stream":"true"}`, "", `{"stream_options":{"include_usage":true},"model":"m1","stream":"true"}`, false, "usage"},
		{"stream as a number", `{"model":"m1","stream":1}`, "", `{"stream_options":{"include_usage":true},"model":"m1","stream":1}`, false, "usage"},
		{"stream_options null", `{"model":"m1","stream":true,"stream_options":null}`, "", `{"model":"m1","stream":true,"stream_options":{"include_usage":true}}`, false, "usage"},
		{"include_usage as a string", `{"model":"m1","stream":true,"stream_options":{"include_usage":"false"}}`, "", `"stream_options":{"include_usage":true}}`, false, "usage"},
		{"stream null", `{"model":"m1","stream":null}`, "", `{"model":"m1","stream":null}`, false, "reservation"},
		{"not a stream", `{"model":"m1","stream":false}`, "", `{"model":"m1","stream":false}`, false, "reservation"},
		{"switched off", `{"model":"m1","stream":true}`, "    no_stream_usage: true\n", `{"model":"m1","stream":true}`, false, "reservation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen atomic.Value
			w := newLimitWorldUp(t, limitChatRoute(`      - name: daily
        tokens: {budget: 1000, per: 24h}
`), tt.upstreamKeys, func(rw http.ResponseWriter, r *http.Request, body []byte) {
				seen.Store(string(body))
				if strings.Contains(string(body), `"include_usage":true`) {
					r.Header.Set("X-Test-Body-Had-Usage", "yes")
				}
				upstream(rw, r)
			})
			rec := w.post("alice", tt.body)
			if rec.Code != 200 {
				t.Fatalf("status %d %s", rec.Code, rec.Body)
			}
			if got, _ := seen.Load().(string); !strings.Contains(got, tt.wantBody) {
				t.Errorf("upstream body %s; want it to contain %s", got, tt.wantBody)
			}
			got := rec.Body.String()
			if strings.Contains(got, `"total_tokens"`) != tt.wantChunk {
				t.Errorf("client stream %q: usage chunk present = %v; want %v", got, !tt.wantChunk, tt.wantChunk)
			}
			if !strings.Contains(got, `"hi"`) || !strings.HasSuffix(got, "data: [DONE]\n\n") {
				t.Errorf("client stream %q lost events", got)
			}
			if a := w.lastRecord(); a.LimitBilled != tt.wantSource {
				t.Errorf("audit limit_billed %v; want %s", a.LimitBilled, tt.wantSource)
			}
		})
	}
}

// TestLimitStreamUsageAmbiguous: a streamed completion under a budget
// whose body names stream, stream_options or include_usage twice or in
// another letter case (which some servers read as the member, and others
// ignore, streaming without usage) is refused 400, never forwarded, and
// its reservation refunded. (The case variant was forwarded as it came
// before, and billed only its reservation.)
func TestLimitStreamUsageAmbiguous(t *testing.T) {
	for name, body := range map[string]string{
		"case variant of stream_options": `{"model":"m1","stream":true,"Stream_Options":{}}`,
		"two stream_options":             `{"model":"m1","stream":true,"stream_options":{},"stream_options":{}}`,
		"case variant of include_usage":  `{"model":"m1","stream":true,"stream_options":{"Include_Usage":false}}`,
		"two include_usage":              `{"model":"m1","stream":true,"stream_options":{"include_usage":true,"include_usage":false}}`,
		"case variant of stream":         `{"model":"m1","stream":true,"STREAM":false}`,
		"two streams":                    `{"model":"m1","stream":false,"stream":true}`,
		"stream_options a string":        `{"model":"m1","stream":true,"stream_options":"include_usage"}`,
	} {
		t.Run(name, func(t *testing.T) {
			w := newLimitWorld(t, limitChatRoute(`      - name: daily
        tokens: {budget: 1000, per: 24h}
`), jsonUsage(`null`))
			rec := w.post("alice", body)
			if rec.Code != http.StatusBadRequest || w.hits.Load() != 0 {
				t.Fatalf("status %d %s, forwarded %d; want 400, not forwarded", rec.Code, rec.Body, w.hits.Load())
			}
			if a := w.lastRecord(); a.LimitBilled != "refunded" {
				t.Errorf("audit limit_billed %v; want refunded", a.LimitBilled)
			}
		})
	}
}

// TestLimitExplain: explain shows which limits apply to a request.
func TestLimitExplain(t *testing.T) {
	w := newLimitWorld(t, limitChatRoute(`      - name: rpm
        key: [sub, model]
        requests: {rate: 60, per: 1m, burst: 20}
      - name: daily
        mode: shadow
        tokens: {budget: 100000, per: 24h}
      - name: spend
        key: [client_id]
        key_expr: claims.org
        cost: {budget: "5.00", per: month, time_zone: Europe/Berlin, max_reserve: "0.05", prices: {m1: {input: "2.5", output: "10"}}}
`), jsonUsage(`null`))
	e, err := Explain(t.Context(), w.gw.Config(), ExplainRequest{Method: "POST", Target: "/v1/chat/completions", Token: w.token("alice"), Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"rpm: 60 requests per 1m0s (burst 20), per sub+model",
		"daily: 100000 tokens per 24h0m0s window (at most 4096 reserved per request), per sub (shadow: counts, never refuses)",
		"spend: cost 5.00 per calendar month (Europe/Berlin) (at most 0.05 reserved per request), per client_id+claims.org"}
	if e.Route == nil || fmt.Sprint(e.Route.Limits) != fmt.Sprint(want) {
		t.Fatalf("explained limits %v; want %v", e.Route, want)
	}
}

// failingStore is a limits.Store whose backend is down.
type failingStore struct{}

func (failingStore) Rate(context.Context, string, limits.Rate, time.Time) (limits.RateResult, error) {
	return limits.RateResult{}, fmt.Errorf("dial redis: %w", limits.ErrUnavailable)
}

func (failingStore) Reserve(context.Context, string, limits.Budget, int64, bool, time.Time) (limits.BudgetResult, error) {
	return limits.BudgetResult{}, fmt.Errorf("dial redis: %w", limits.ErrUnavailable)
}

func (failingStore) Adjust(context.Context, string, limits.Budget, time.Time, int64) error {
	return fmt.Errorf("dial redis: %w", limits.ErrUnavailable)
}

// TestLimitStoreDown: a failing store refuses with 503 under
// on_store_error closed (the default), lets the request through under
// open, and is counted either way.
func TestLimitStoreDown(t *testing.T) {
	for _, tt := range []struct {
		mode string
		want int
	}{{"", http.StatusServiceUnavailable}, {"closed", http.StatusServiceUnavailable}, {"open", http.StatusOK}} {
		t.Run("mode="+tt.mode, func(t *testing.T) {
			lim := "      - name: daily\n        tokens: {budget: 100, per: 1h}\n"
			if tt.mode != "" {
				lim += "        on_store_error: " + tt.mode + "\n"
			}
			w := newLimitWorldStore(t, limitChatRoute(lim), jsonUsage(`{"total_tokens":1}`), failingStore{})
			rec := w.post("alice", `{"model":"m1"}`)
			if rec.Code != tt.want {
				t.Fatalf("status %d %s; want %d", rec.Code, rec.Body, tt.want)
			}
			if tt.want == http.StatusServiceUnavailable {
				if rec.Header().Get("Retry-After") != "1" || w.hits.Load() != 0 {
					t.Errorf("Retry-After %q, upstream hits %d; want 1 and 0", rec.Header().Get("Retry-After"), w.hits.Load())
				}
				if a := w.lastRecord(); a.Reason != string(ReasonLimitStoreUnavailable) {
					t.Errorf("audit reason %v; want limit_store_unavailable", a.Reason)
				}
			}
			if got := testutil.ToFloat64(w.gw.limitMetrics.storeErrors.WithLabelValues("chat", "daily")); got < 1 {
				t.Errorf("store errors counted %v; want at least 1", got)
			}
		})
	}
}
