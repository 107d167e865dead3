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
