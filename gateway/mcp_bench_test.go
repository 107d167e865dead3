package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/policy"
)

// mcpCall2K is a tools/call of about 2 KiB, mostly argument text (the body
// of the mcp package's BenchmarkParseBody2K and of make load's mcp-call).
var mcpCall2K = `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"search_web","arguments":{"query":"` +
	strings.Repeat("lorem ipsum dolor ", 105) + `","limit":10,"filters":{"lang":"en","safe":true}}}}`

func mcpRequest(tok string) *http.Request {
	r := httptest.NewRequest("POST", "/mcp", strings.NewReader(mcpCall2K))
	r.RemoteAddr = "192.0.2.10:40000"
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	r.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

// BenchmarkChainMCP is a 2 KiB tools/call through a bare
// httputil.ReverseProxy and through the gateway (cached token, an MCP
// route whose rule allows the tool; with and without a condition reading
// the arguments), in one run so that they compare.
func BenchmarkChainMCP(b *testing.B) {
	run := func(b *testing.B, h http.Handler, tok string) {
		w := &discardWriter{h: http.Header{}}
		w.reset()
		h.ServeHTTP(w, mcpRequest(tok))
		if w.code != http.StatusOK {
			b.Fatalf("warm-up status %d", w.code)
		}
		b.SetBytes(int64(len(mcpCall2K)))
		b.ReportAllocs()
		for b.Loop() {
			w.reset()
			h.ServeHTTP(w, mcpRequest(tok))
			if w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
		}
	}
	b.Run("baseline", func(b *testing.B) {
		up, _ := newFastUpstream(b)
		target, _ := url.Parse(up.URL)
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 256
		run(b, &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() }, Transport: t}, "")
	})
	for _, tc := range []struct {
		name string
		cond []string
	}{
		{"gateway/cached", nil},
		{"gateway/cached/condition", []string{"mcp.tool != 'search_web' || mcp.arguments.limit <= 10"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := newChain(b, issuer.ES256, func(cfg *config.Config) {
				cfg.Routes = append(cfg.Routes, policy.RouteConfig{
					Name: "tools", Methods: []string{"POST"}, Path: "/mcp", Upstream: "models", Scopes: []string{"chat"},
					Conditions: tc.cond,
					MCP:        &policy.MCPConfig{Tools: []policy.MCPRule{{Name: "search_*"}}},
				})
			})
			run(b, c.g, c.token(b, "cached"))
		})
	}
}
