package token

import (
	"context"
	"testing"
)

func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct{ alg, kind string }{
		{"RS256", "rsa2048"},
		{"ES256", "p256"},
		{"EdDSA", "ed25519"},
	} {
		b.Run(tc.alg, func(b *testing.B) {
			k := newKey(b, tc.kind, "k1", tc.alg, tc.alg)
			s := newSetup(b, nil, k)
			tok := mint(b, k, nil, claimsAt(s.clock.Now()))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyCached verifies one token repeatedly through the cache:
// the cost of a hit (hash, compare, time and key re-checks).
func BenchmarkVerifyCached(b *testing.B) {
	for _, tc := range []struct{ alg, kind string }{
		{"RS256", "rsa2048"},
		{"ES256", "p256"},
	} {
		b.Run(tc.alg, func(b *testing.B) {
			k := newKey(b, tc.kind, "k1", tc.alg, tc.alg)
			s := newSetup(b, nil, k)
			v, err := New(context.Background(), Options{
				Issuers: []IssuerConfig{{Issuer: issuerURL, JWKSURI: s.srv.URL + "/jwks", Audiences: []string{testAud}}},
				Now:     s.clock.Now,
				Cache:   CacheConfig{MaxEntries: DefaultCacheMaxEntries},
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(v.Close)
			waitReady(b, v)
			tok := mint(b, k, nil, claimsAt(s.clock.Now()))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
			if st := v.CacheStats(); st.Hits == 0 {
				b.Fatalf("no cache hits: %+v", st)
			}
		})
	}
}
