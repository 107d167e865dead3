package dpop

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// FuzzVerify feeds arbitrary DPoP header values to Verify: it must refuse
// them with an *Error (never panic, never another error), and accept only
// a proof by the bound key.
func FuzzVerify(f *testing.F) {
	k := newKey(f, "ES256")
	good := k.sign(f, "ES256", k.goodHeader(f), goodClaims())
	hs, rest, _ := strings.Cut(good, ".")
	for _, seed := range []string{
		good,                              // a valid proof: accepted once
		hs + "." + rest[:len(rest)/2],     // cut short
		hs + "..",                         // empty payload and signature
		"e30.e30.AA",                      // {} . {} . one byte
		"eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.AA", // typ only
		strings.Repeat("A", 100),
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, proof string) {
		v := newVerifier(t, nil)
		p, err := v.Verify(context.Background(), request(k, proof))
		var e *Error
		switch {
		case err == nil && p.JKT != k.jkt:
			t.Fatalf("accepted a proof of key %s; the token is bound to %s", p.JKT, k.jkt)
		case err != nil && !errors.As(err, &e):
			t.Fatalf("Verify = %v; want an *Error", err)
		}
	})
}
