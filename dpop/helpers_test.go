package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopegate/scopegate/state"
)

// testNow is the fixed clock of these tests.
var testNow = time.Unix(1_800_000_000, 0)

const (
	testURI   = "https://api.example.com/v1/chat/completions"
	testToken = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
)

// testKey is a client key with the algorithm it signs under.
type testKey struct {
	alg  string
	priv crypto.Signer
	jkt  string
}

func newKey(t testing.TB, alg string) testKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "RS256", "PS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := Thumbprint(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return testKey{alg: alg, priv: priv, jkt: jkt}
}

// jwkOf is the public JWK of k, as a header member.
func (k testKey) jwk(t testing.TB) map[string]any {
	t.Helper()
	m, err := publicJWKMap(k.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// goodHeader and goodClaims are a valid proof's members for testURI, to be
// changed by a test case.
func (k testKey) goodHeader(t testing.TB) map[string]any {
	return map[string]any{"typ": "dpop+jwt", "alg": k.alg, "jwk": k.jwk(t)}
}

func goodClaims() map[string]any {
	return map[string]any{"htm": "POST", "htu": testURI, "iat": testNow.Unix(), "jti": "jti-1", "ath": AccessTokenHash(testToken)}
}

// sign makes a proof from header and payload maps, signed by k under alg
// (which may differ from k.alg, to test mismatches).
func (k testKey) sign(t testing.TB, alg string, header, payload map[string]any) string {
	t.Helper()
	hb, _ := json.Marshal(header)
	pb, _ := json.Marshal(payload)
	return k.signRaw(t, alg, string(hb), string(pb))
}

// signRaw signs exact JSON texts, for duplicate and case-varied members.
func (k testKey) signRaw(t testing.TB, alg, header, payload string) string {
	t.Helper()
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	var sig []byte
	var err error
	switch m := jwt.GetSigningMethod(alg); {
	case alg == "none":
		sig = []byte{0}
	case alg == "HS256":
		sig, err = m.Sign(in, []byte("a shared secret of thirty-two bytes!"))
	default:
		sig, err = m.Sign(in, k.priv)
	}
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func newVerifier(t testing.TB, mut func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{Replay: state.NewMemory(func() time.Time { return testNow }), Now: func() time.Time { return testNow }}
	if mut != nil {
		mut(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func request(k testKey, proofs ...string) Request {
	return Request{Proofs: proofs, Method: "POST", URI: testURI, AccessToken: testToken, JKT: k.jkt}
}
