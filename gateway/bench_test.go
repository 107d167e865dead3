package gateway

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/scopegate/scopegate/internal/issuer"
)

// BenchmarkChain runs one request at a time through the whole middleware
// chain (request id, audit, metrics, path, route, token, scopes, headers,
// ReverseProxy) to a real httptest upstream over loopback, next to a bare
// httputil.ReverseProxy to the same upstream. Both are driven through
// ServeHTTP with a reused ResponseWriter, so allocs/op are the proxy's own
// plus the request construction and the upstream's, alike for both. The
// "upstream-conns" metric is the number of upstream connections opened
// over the whole run: it must stay at 1 (connections are reused).
func BenchmarkChain(b *testing.B) {
	b.Run("baseline", func(b *testing.B) {
		up, conns := newFastUpstream(b)
		target, _ := url.Parse(up.URL)
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 256
		rp := &httputil.ReverseProxy{
			Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
			Transport: t,
		}
		runChain(b, rp, func(int) string { return "" }, conns)
	})
	b.Run("gateway/cached", func(b *testing.B) {
		c := newChain(b, issuer.ES256, nil)
		tok := c.token(b, "cached")
		runChain(b, c.g, func(int) string { return tok }, c.conns)
		if st := c.g.runtime.Load().verifier.CacheStats(); st.Hits == 0 {
			b.Fatalf("no cache hits: %+v", st)
		}
	})
	for _, alg := range []string{issuer.ES256, issuer.RS256} {
		b.Run("gateway/fresh/"+alg, func(b *testing.B) {
			// Every request verifies its token: the cache is off, and a
			// pool of distinct tokens is cycled.
			c := newChain(b, alg, func(cfg *Config) { cfg.Server.TokenCache.Disabled = true })
			pool := make([]string, 256)
			for i := range pool {
				pool[i] = c.token(b, fmt.Sprint("fresh-", i))
			}
			runChain(b, c.g, func(i int) string { return pool[i%len(pool)] }, c.conns)
		})
	}
}

func runChain(b *testing.B, h http.Handler, tok func(int) string, conns interface{ Load() int64 }) {
	w := &discardWriter{h: http.Header{}}
	// Warm up: the first request dials the upstream.
	w.reset()
	h.ServeHTTP(w, chatRequest(tok(0)))
	if w.code != http.StatusOK {
		b.Fatalf("warm-up status %d", w.code)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := chatRequest(tok(i))
		i++
		w.reset()
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
	b.ReportMetric(float64(conns.Load()), "upstream-conns")
}
