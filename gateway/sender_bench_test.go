package gateway

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/dpop"
	"github.com/scopegate/scopegate/internal/issuer"
)

// BenchmarkChainDPoP compares, in one gateway configured for DPoP, a
// bearer request with a DPoP request (same cached access token): the
// difference is the proof's cost, one ES256 verification, its parsing and
// one replay-cache write (the in-memory store). Proofs are made before the
// timed loop, one per request, each with its own jti.
func BenchmarkChainDPoP(b *testing.B) {
	const base = "https://models.bench.test"
	c := newChain(b, issuer.ES256, func(cfg *config.Config) { cfg.DPoP.PublicBaseURL = base })
	k := newClientKey(b)
	bearer := c.token(b, "bearer")
	bound := c.iss.AccessToken(issuer.AccessTokenSpec{
		Subject: "user-1", ClientID: "client-1", Audience: []string{chainAud},
		Scopes: []string{"chat", "read"}, Extra: map[string]any{"jti": "bound", "cnf": map[string]any{"jkt": k.jkt}},
	})
	b.Run("bearer", func(b *testing.B) {
		runChain(b, c.g, func(int) string { return bearer }, c.conns)
	})
	b.Run("dpop", func(b *testing.B) {
		proofs := make([]string, b.N+1)
		for i := range proofs {
			p, err := dpop.NewProof(k.priv, "ES256", dpop.ProofParams{Method: "POST", URI: base + "/v1/chat/completions",
				AccessToken: bound, IssuedAt: time.Now(), JTI: fmt.Sprintf("%d-%d", b.N, i)})
			if err != nil {
				b.Fatal(err)
			}
			proofs[i] = p
		}
		w := &discardWriter{h: http.Header{}}
		req := func(i int) *http.Request {
			r := chatRequest("")
			r.Header.Set("Authorization", "DPoP "+bound)
			r.Header.Set("DPoP", proofs[i])
			return r
		}
		w.reset()
		c.g.ServeHTTP(w, req(b.N))
		if w.code != http.StatusOK {
			b.Fatalf("warm-up status %d", w.code)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r := req(i)
			w.reset()
			c.g.ServeHTTP(w, r)
			if w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(c.conns.Load()), "upstream-conns")
	})
}
