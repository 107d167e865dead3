package gateway

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/scopegate/scopegate/config"
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
		tok := bareToken(b)
		runChain(b, rp, func(int) string { return tok }, conns)
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
			c := newChain(b, alg, func(cfg *config.Config) { cfg.Server.TokenCache.Disabled = true })
			pool := make([]string, 256)
			for i := range pool {
				pool[i] = c.token(b, fmt.Sprint("fresh-", i))
			}
			runChain(b, c.g, func(i int) string { return pool[i%len(pool)] }, c.conns)
		})
	}
	b.Run("gateway/miss/"+issuer.ES256, func(b *testing.B) {
		// The cache is on but never hits: twice as many distinct tokens
		// as it may hold, cycled. What a miss-only workload pays over
		// gateway/fresh (cache off).
		c := newChain(b, issuer.ES256, func(cfg *config.Config) { cfg.Server.TokenCache.MaxEntries = 128 })
		pool := make([]string, 256)
		for i := range pool {
			pool[i] = c.token(b, fmt.Sprint("miss-", i))
		}
		runChain(b, c.g, func(i int) string { return pool[i%len(pool)] }, c.conns)
		if st := c.g.runtime.Load().verifier.CacheStats(); st.Hits > 1 { // the warm-up token comes again once
			b.Fatalf("cache hits in a miss-only run: %+v", st)
		}
	})
}

// bareToken is an access token like the gateway rows' for the bare proxy,
// which forwards it unread: both get the same request, as in the load
// harness. Without it the baseline's request was one header lighter (the
// Authorization header's value and its concatenation: two allocations the
// gateway rows paid alone).
func bareToken(tb testing.TB) string {
	iss, err := issuer.New(issuer.Options{Algorithm: issuer.ES256})
	if err != nil {
		tb.Fatal(err)
	}
	iss.SetURL("https://issuer.example")
	return iss.AccessToken(issuer.AccessTokenSpec{
		Subject: "user-1", ClientID: "client-1", Audience: []string{chainAud},
		Scopes: []string{"chat", "read"}, Extra: map[string]any{"jti": "cached"},
	})
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

// BenchmarkChainParallel serves the gateway (and the baseline) on a real
// loopback listener and drives it from 32 client goroutines over
// keep-alive connections: the shape of the load harness, in-process, for
// CPU profiles (go test -bench ChainParallel -cpuprofile).
func BenchmarkChainParallel(b *testing.B) {
	b.Run("baseline", func(b *testing.B) {
		up, conns := newFastUpstream(b)
		target, _ := url.Parse(up.URL)
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 256
		rp := &httputil.ReverseProxy{
			Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
			Transport: t,
		}
		runParallel(b, rp, bareToken(b), conns)
	})
	b.Run("gateway/cached", func(b *testing.B) {
		c := newChain(b, issuer.ES256, nil)
		runParallel(b, c.g, c.token(b, "cached"), c.conns)
	})
}

func runParallel(b *testing.B, h http.Handler, tok string, conns interface{ Load() int64 }) {
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: 32, MaxConnsPerHost: 32}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	body := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", srv.URL+"/v1/chat/completions", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(conns.Load()), "upstream-conns")
}
