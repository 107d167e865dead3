package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/testkit"
	"github.com/scopegate/scopegate/policy"
)

const chainAud = "https://models.example.com"

// chain is a gateway in front of a real upstream, trusting a real issuer.
type chain struct {
	g        *Gateway
	iss      *issuer.Issuer
	upstream *httptest.Server
	conns    *atomic.Int64 // upstream connections opened
	reg      *prometheus.Registry
}

// fastUpstreamBody is what the fast upstream answers: a small chat completion.
const fastUpstreamBody = `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}`

// newUpstream starts a minimal fast upstream that counts its connections.
func newFastUpstream(tb testing.TB) (*httptest.Server, *atomic.Int64) {
	tb.Helper()
	var conns atomic.Int64
	body := []byte(fastUpstreamBody)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	tb.Cleanup(srv.Close)
	return srv, &conns
}

// newChain starts an issuer signing with alg and a gateway whose audit log
// is encoded as in production and written to io.Discard.
func newChain(tb testing.TB, alg string, mutate func(*config.Config)) *chain {
	tb.Helper()
	iss, err := issuer.New(issuer.Options{Algorithm: alg})
	if err != nil {
		tb.Fatal(err)
	}
	issSrv := httptest.NewServer(iss.Handler())
	tb.Cleanup(issSrv.Close)
	iss.SetURL(issSrv.URL)
	up, conns := newFastUpstream(tb)

	cfg := &config.Config{
		Server:    config.ServerConfig{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:1"},
		Issuers:   []config.IssuerConfig{{Issuer: iss.URL(), Audiences: []string{chainAud}}},
		Upstreams: map[string]config.UpstreamConfig{"models": {URL: up.URL}},
		Routes: []policy.RouteConfig{
			{Name: "chat", Methods: []string{"POST"}, Path: "/v1/chat/completions", Upstream: "models", Scopes: []string{"chat"}},
			{Name: "models", Methods: []string{"GET"}, Path: "/v1/models", Upstream: "models", Scopes: []string{"read"}},
		},
	}
	if mutate != nil {
		mutate(cfg)
	}
	compiled, err := config.Compile(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	audit := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(io.Discard)), zap.InfoLevel))
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	g, err := New(ctx, compiled, Deps{Audit: audit, Registerer: reg})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(g.Close)
	testkit.WaitFor(tb, "the gateway's keys", g.Ready)
	return &chain{g: g, iss: iss, upstream: up, conns: conns, reg: reg}
}

func (c *chain) token(tb testing.TB, jti string) string {
	tb.Helper()
	return c.iss.AccessToken(issuer.AccessTokenSpec{
		Subject: "user-1", ClientID: "client-1", Audience: []string{chainAud},
		Scopes: []string{"chat", "read"}, Extra: map[string]any{"jti": jti},
	})
}

// discardWriter is a ResponseWriter that keeps only the status, reused
// across requests so that the benchmark counts the chain's allocations.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) Flush()                      {}

// EnableFullDuplex is there as on net/http's own ResponseWriter, which
// the gateway asks for it.
func (w *discardWriter) EnableFullDuplex() error { return nil }

// SetReadDeadline and SetWriteDeadline are there as on net/http's own
// ResponseWriter: the gateway moves the connection's read deadline before
// each body read (server.body_read_timeout). Without them the benchmark
// counted the two allocations of ResponseController's ErrNotSupported
// wrapping, which a server connection never pays.
func (w *discardWriter) SetReadDeadline(time.Time) error  { return nil }
func (w *discardWriter) SetWriteDeadline(time.Time) error { return nil }
func (w *discardWriter) reset()                           { clear(w.h); w.code = 200 }

// chatRequest is what a client sends: a small JSON body and a bearer token.
func chatRequest(tok string) *http.Request {
	r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
	r.RemoteAddr = "192.0.2.10:40000"
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "openai-go/1.0")
	r.Header.Set("Accept", "application/json")
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

// TestChainTokenCache: the second request with the same token is a cache
// hit, a new token is a miss, the counters are exported, and disabled
// means no cache at all.
func TestChainTokenCache(t *testing.T) {
	tests := []struct {
		name           string
		disabled       bool
		hits, misses   float64
		wantCacheInUse bool
	}{
		{"enabled", false, 2, 2, true},
		{"disabled", true, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newChain(t, issuer.ES256, func(cfg *config.Config) { cfg.Server.TokenCache.Disabled = tc.disabled })
			a, b := c.token(t, "a"), c.token(t, "b")
			for _, tok := range []string{a, a, b, b} {
				w := &discardWriter{h: http.Header{}}
				w.reset()
				c.g.ServeHTTP(w, chatRequest(tok))
				if w.code != http.StatusOK {
					t.Fatalf("status %d; want 200", w.code)
				}
			}
			expected := `
# HELP scopegate_token_cache_hits_total Tokens answered from the verified-token cache (after exp and key presence were re-checked).
# TYPE scopegate_token_cache_hits_total counter
scopegate_token_cache_hits_total ` + strconv.FormatFloat(tc.hits, 'g', -1, 64) + `
# HELP scopegate_token_cache_misses_total Tokens verified afresh while the cache was on.
# TYPE scopegate_token_cache_misses_total counter
scopegate_token_cache_misses_total ` + strconv.FormatFloat(tc.misses, 'g', -1, 64) + `
`
			if err := testutil.GatherAndCompare(c.reg, strings.NewReader(expected),
				"scopegate_token_cache_hits_total", "scopegate_token_cache_misses_total"); err != nil {
				t.Error(err)
			}
			if got := c.g.runtime.Load().verifier.CacheStats().Enabled; got != tc.wantCacheInUse {
				t.Errorf("cache enabled = %v; want %v", got, tc.wantCacheInUse)
			}
		})
	}
}

// TestChainMetricsSeries: requests counted through the resolved-once
// metric children land in the same series as before, refusals included.
func TestChainMetricsSeries(t *testing.T) {
	c := newChain(t, issuer.ES256, nil)
	readOnly := c.iss.AccessToken(issuer.AccessTokenSpec{Subject: "u", ClientID: "c", Audience: []string{chainAud}, Scopes: []string{"read"}})
	full := c.token(t, "full")
	send := func(tok, path string) {
		w := &discardWriter{h: http.Header{}}
		w.reset()
		r := chatRequest(tok)
		r.URL.Path, r.RequestURI = path, path
		c.g.ServeHTTP(w, r)
	}
	for range 2 {
		send(full, "/v1/chat/completions")     // 200 allow
		send(readOnly, "/v1/chat/completions") // 403 insufficient_scope
		send(full, "/v1/nowhere")              // 404 no route
	}
	expected := `
# HELP scopegate_requests_total Requests decided, by route, method, status code and decision (allow, deny, would_deny, error).
# TYPE scopegate_requests_total counter
scopegate_requests_total{code="200",decision="allow",method="POST",route="chat"} 2
scopegate_requests_total{code="403",decision="deny",method="POST",route="chat"} 2
scopegate_requests_total{code="404",decision="deny",method="POST",route="none"} 2
# HELP scopegate_refusals_total Requests refused or failed, by route and reason code.
# TYPE scopegate_refusals_total counter
scopegate_refusals_total{reason="insufficient_scope",route="chat"} 2
scopegate_refusals_total{reason="no_route",route="none"} 2
`
	if err := testutil.GatherAndCompare(c.reg, strings.NewReader(expected), "scopegate_requests_total", "scopegate_refusals_total"); err != nil {
		t.Error(err)
	}
}
