package dpop

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkVerify checks one fresh proof per iteration (each with its own
// jti, made before the timed loop), with the in-memory replay store.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			k := newKey(b, alg)
			v := newVerifier(b, nil)
			proofs := make([]string, b.N)
			for i := range proofs {
				c := goodClaims()
				c["jti"] = fmt.Sprint(i)
				proofs[i] = k.sign(b, alg, k.goodHeader(b), c)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := v.Verify(context.Background(), request(k, proofs[i])); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
