package dpop

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"testing"
)

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func withMember(m map[string]any, k string, v any) map[string]any { m[k] = v; return m }

// rsa1024Proof is a proof under a 1024-bit RSA key, which is refused as
// too weak before its signature is checked.
func rsa1024Proof(t *testing.T) string {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	k := testKey{alg: "RS256", priv: priv}
	return k.sign(t, "RS256", k.goodHeader(t), goodClaims())
}
