package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/scopegate/scopegate/internal/testkit"
)

// TestMain fails a passing run that leaves a goroutine behind, as
// goleak.VerifyTestMain does, but waits for goroutines that are ending
// (those of connections the last tests closed) up to
// testkit.DefaultTimeout, not only goleak's own retries (about 0.4s in
// all), which a loaded machine can outlast.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		testkit.Wait(testkit.DefaultTimeout, func() bool { return goleak.Find() == nil })
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

const (
	testAud    = "https://models.example.com"
	testClient = "client-1"
)

// t0 is the fixed start of the fake clock.
var t0 = time.Unix(1_800_000_000, 0).UTC()

// fakeClock is the injected clock: tests move it explicitly.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testKey is a signing key and the JWK published for it.
type testKey struct {
	kid  string
	alg  string
	priv crypto.Signer
	jwk  map[string]any
}

// Key generation is slow for RSA: cache by a name.
var (
	keyCacheMu sync.Mutex
	keyCache   = map[string]crypto.Signer{}
)

func genKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	keyCacheMu.Lock()
	defer keyCacheMu.Unlock()
	if k, ok := keyCache[kind]; ok {
		return k
	}
	var k crypto.Signer
	var err error
	switch kind {
	case "rsa2048", "rsa2048b":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "rsa1024":
		// Go refuses to generate keys under 1024 bits; 1024 is enough to
		// show that keys under 2048 are unusable.
		k, err = rsa.GenerateKey(rand.Reader, 1024)
	case "p256", "p256b":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "p521":
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	keyCache[kind] = k
	return k
}

// newKey makes a key of kind; jwkAlg is the alg published in its JWK ("" =
// none), signAlg the alg the tests sign with by default.
func newKey(t testing.TB, kind, kid, jwkAlg, signAlg string) *testKey {
	t.Helper()
	priv := genKey(t, kind)
	j, err := jwkset.NewJWKFromKey(priv.Public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.ALG(jwkAlg), USE: jwkset.UseSig},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(j.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, alg: signAlg, priv: priv, jwk: m}
}

// jwksServer serves a JWKS that tests can change, counting fetches: on a
// loopback listener (newJWKSServer), or in memory (newMemJWKS).
type jwksServer struct {
	*httptest.Server // nil in memory
	URL              string
	mu               sync.Mutex
	body             []byte
	status           int
	fetches          atomic.Int64
	delay            time.Duration
	pipe             *http.Client // newMemJWKS's client
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	s.mu.Lock()
	body, status, delay := s.body, s.status, s.delay
	s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

func newJWKSServer(t testing.TB, keys ...*testKey) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK}
	s.setKeys(keys...)
	s.Server = httptest.NewServer(s)
	s.URL = s.Server.URL
	t.Cleanup(s.Close)
	return s
}

// newMemJWKS is a JWKS server without a listener, reached only through
// its client, HTTP over in-memory pipes (testkit.PipeClient): for tests in
// a testing/synctest bubble, which a loopback connection would keep from
// ever being idle.
func newMemJWKS(t testing.TB, keys ...*testKey) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK, URL: "http://127.0.0.1/jwks"}
	s.setKeys(keys...)
	s.pipe = testkit.PipeClient(t, s)
	return s
}

// client returns the HTTP client that reaches a newMemJWKS server. The
// Verifier bounds it as it bounds any client.
func (s *jwksServer) client() *http.Client { return s.pipe }

func (s *jwksServer) setKeys(keys ...*testKey) {
	var list []map[string]any
	for _, k := range keys {
		list = append(list, k.jwk)
	}
	b, _ := json.Marshal(map[string]any{"keys": list})
	s.setBody(b)
}

func (s *jwksServer) setBody(b []byte) {
	s.mu.Lock()
	s.body = b
	s.mu.Unlock()
}

func (s *jwksServer) setStatus(code int) {
	s.mu.Lock()
	s.status = code
	s.mu.Unlock()
}

// issuerURL is the issuer the tests trust; loopback http is allowed.
const issuerURL = "http://127.0.0.1/issuer"

type setup struct {
	v     *Verifier
	srv   *jwksServer
	clock *fakeClock
}

// newSetup starts a Verifier trusting issuerURL with keys served by a fresh
// JWKS server, and waits until it is ready.
func newSetup(t testing.TB, mutate func(*IssuerConfig), keys ...*testKey) *setup {
	t.Helper()
	srv := newJWKSServer(t, keys...)
	clock := newClock()
	ic := IssuerConfig{Issuer: issuerURL, JWKSURI: srv.URL + "/jwks", Audiences: []string{testAud}}
	if mutate != nil {
		mutate(&ic)
	}
	v, err := New(context.Background(), Options{Issuers: []IssuerConfig{ic}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	waitReady(t, v)
	return &setup{v: v, srv: srv, clock: clock}
}

// waitReady waits for v's first fetches, made on its own goroutines from
// a loopback server. (In a synctest bubble, synctest.Wait is the way.)
func waitReady(t testing.TB, v *Verifier) {
	t.Helper()
	if !testkit.Wait(testkit.DefaultTimeout, v.Ready) {
		t.Fatalf("verifier not ready: %+v", v.Status())
	}
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signRaw signs exactly the given header and payload JSON texts.
func signRaw(t testing.TB, alg string, priv any, header, payload string) string {
	t.Helper()
	in := enc([]byte(header)) + "." + enc([]byte(payload))
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		t.Fatalf("no signing method %q", alg)
	}
	sig, err := m.Sign(in, priv)
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + enc(sig)
}

// claimsAt returns valid default claims at now.
func claimsAt(now time.Time) map[string]any {
	return map[string]any{
		"iss":       issuerURL,
		"aud":       testAud,
		"sub":       "user-1",
		"client_id": testClient,
		"exp":       now.Add(time.Hour).Unix(),
		"iat":       now.Unix(),
		"jti":       "id-1",
		"scope":     "generate:images read",
	}
}

// mint signs claims with k under a header {alg, kid, typ: at+jwt} changed
// by hdr (a nil value deletes a member).
func mint(t testing.TB, k *testKey, hdr map[string]any, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": k.alg, "kid": k.kid, "typ": "at+jwt"}
	for name, v := range hdr {
		if v == nil {
			delete(h, name)
		} else {
			h[name] = v
		}
	}
	hb, _ := json.Marshal(h)
	pb, _ := json.Marshal(claims)
	alg, _ := h["alg"].(string)
	if jwt.GetSigningMethod(alg) == nil || strings.EqualFold(alg, "none") || strings.HasPrefix(alg, "HS") {
		alg = k.alg
	}
	return signRaw(t, alg, k.priv, string(hb), string(pb))
}

// reasonOf returns the refusal reason of err, or "" when err is not one.
func reasonOf(err error) Reason {
	var te *Error
	if errors.As(err, &te) {
		return te.Reason
	}
	return ""
}

func must(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
