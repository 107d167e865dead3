package introspect

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopegate/scopegate/gateway/token"
)

const issB = "https://other-idp.example.com"

// TestIssuerByPrefix: with two introspecting issuers, a token goes only to
// the issuer whose prefix it has; a token with neither goes nowhere.
func TestIssuerByPrefix(t *testing.T) {
	clk := newClock()
	a := newAS(t, answer(active(issA, clk.now())))
	b := newAS(t, answer(active(issB, clk.now())))
	ia, ib := oneIssuer(issA, a.url()), oneIssuer(issB, b.url())
	ia.TokenPrefixes, ib.TokenPrefixes = []string{"ory_at_"}, []string{"okta_"}
	in := newIntrospector(t, clk, Options{Issuers: []IssuerOptions{ia, ib}})
	c, err := in.Introspect(context.Background(), "okta_123", false)
	if err != nil || c.Issuer != issB {
		t.Fatalf("okta_ token: %+v, %v; want claims of %s", c, err, issB)
	}
	if a.calls.Load() != 0 || b.calls.Load() != 1 {
		t.Fatalf("calls a=%d b=%d; want 0 and 1", a.calls.Load(), b.calls.Load())
	}
	if _, err := in.Introspect(context.Background(), "zzz_123", false); reasonOf(err) != token.ReasonUnknownIssuer {
		t.Fatalf("unmatched token: err = %v; want unknown_issuer", err)
	}
	if a.calls.Load() != 0 || b.calls.Load() != 1 {
		t.Fatalf("an unmatched token was sent somewhere: calls a=%d b=%d", a.calls.Load(), b.calls.Load())
	}
}

func TestValidate(t *testing.T) {
	claims := func(string, map[string]any, bool) (*token.Claims, error) { return nil, nil }
	cases := []struct {
		name string
		is   []IssuerOptions
		want string // substring of the error; "" = valid
	}{
		{"one issuer, no prefix", []IssuerOptions{{Issuer: issA, Endpoint: "https://idp.example.com/i"}}, ""},
		{"two issuers without prefixes", []IssuerOptions{{Issuer: issA}, {Issuer: issB, TokenPrefixes: []string{"b_"}}}, "issuers[0].introspection.token_prefixes: required when several"},
		{"overlapping prefixes", []IssuerOptions{{Issuer: issA, TokenPrefixes: []string{"at_"}}, {Issuer: issB, TokenPrefixes: []string{"at_x"}}}, "overlaps"},
		{"plain http elsewhere", []IssuerOptions{{Issuer: issA, Endpoint: "http://idp.example.com/i"}}, "issuers[0].introspection.endpoint"},
		{"http allowed explicitly", []IssuerOptions{{Issuer: issA, Endpoint: "http://idp.example.com/i", AllowInsecureHTTP: true}}, ""},
		{"secret without id", []IssuerOptions{{Issuer: issA, Auth: ClientAuth{ClientSecret: "x"}}}, "needs client_id and client_secret"},
		{"secret and key", []IssuerOptions{{Issuer: issA, Auth: ClientAuth{ClientID: "c", ClientSecret: "x", KeyFile: "/k", Method: AuthClientSecretPost}}}, "not both"},
		{"unknown method", []IssuerOptions{{Issuer: issA, Auth: ClientAuth{Method: "tls_client_auth"}}}, "is not one of"},
		{"missing key file", []IssuerOptions{{Issuer: issA, Auth: ClientAuth{ClientID: "c", KeyFile: "/nonexistent.pem"}}}, "private_key_jwt.key_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := (&Options{Issuers: tc.is, Claims: claims}).Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v; want %q", err, tc.want)
			}
		})
	}
}

func TestClientSecretPost(t *testing.T) {
	clk := newClock()
	a := newAS(t, answer(active(issA, clk.now())))
	is := oneIssuer(issA, a.url())
	is.Auth.Method = AuthClientSecretPost
	in := newIntrospector(t, clk, Options{Issuers: []IssuerOptions{is}})
	if _, err := in.Introspect(context.Background(), opaque("post"), false); err != nil {
		t.Fatal(err)
	}
	f := url.Values(a.forms[0])
	if f.Get("client_id") != testClient || f.Get("client_secret") != testSecret || a.auths[0] != "" {
		t.Fatalf("form client_id %q secret %q, Authorization %q; want the credentials in the form only", f.Get("client_id"), f.Get("client_secret"), a.auths[0])
	}
}

// TestPrivateKeyJWT: the endpoint verifies the RFC 7523 assertion with the
// gateway's public key, as an authorization server would.
func TestPrivateKeyJWT(t *testing.T) {
	clk := newClock()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	var verified atomic.Bool
	a := newAS(t, func(w http.ResponseWriter, r *http.Request) {
		if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			http.Error(w, "no assertion", http.StatusUnauthorized)
			return
		}
		tok, err := jwt.Parse(r.PostForm.Get("client_assertion"), func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(issA), jwt.WithIssuer(testClient), jwt.WithSubject(testClient),
			jwt.WithTimeFunc(clk.now), jwt.WithExpirationRequired())
		if err != nil || tok.Header["kid"] != "k1" {
			http.Error(w, "bad assertion", http.StatusUnauthorized)
			return
		}
		verified.Store(true)
		answer(active(issA, clk.now()))(w, r)
	})
	is := IssuerOptions{Issuer: issA, Endpoint: a.url(), Auth: ClientAuth{ClientID: testClient, KeyFile: path, KeyID: "k1"}}
	in := newIntrospector(t, clk, Options{Issuers: []IssuerOptions{is}})
	if _, err := in.Introspect(context.Background(), opaque("pkjwt"), false); err != nil || !verified.Load() {
		t.Fatalf("Introspect: %v (assertion verified: %v)", err, verified.Load())
	}
}

// TestDiscovery: the endpoint comes from the issuer's metadata, which must
// name the issuer; a failed discovery is retried only after a pause.
func TestDiscovery(t *testing.T) {
	clk := newClock()
	var metaIssuer atomic.Value
	var metaCalls atomic.Int64
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			metaCalls.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"issuer":"` + metaIssuer.Load().(string) + `","introspection_endpoint":"` + srv.URL + `/introspect"}`))
		case "/introspect":
			answer(active(srv.URL, clk.now()))(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	metaIssuer.Store("https://impostor.example.com")
	in := newIntrospector(t, clk, Options{Issuers: []IssuerOptions{{Issuer: srv.URL}}})
	if _, err := in.Introspect(context.Background(), opaque("d"), false); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("metadata of another issuer: err = %v; want ErrUnavailable", err)
	}
	metaIssuer.Store(srv.URL)
	if _, err := in.Introspect(context.Background(), opaque("d"), false); !errors.Is(err, ErrUnavailable) || metaCalls.Load() != 1 {
		t.Fatalf("within the retry pause: err = %v, metadata fetches %d; want ErrUnavailable and 1", err, metaCalls.Load())
	}
	clk.add(discoveryRetry)
	c, err := in.Introspect(context.Background(), opaque("d"), false)
	if err != nil || c.Issuer != srv.URL {
		t.Fatalf("after the pause: %+v, %v; want claims", c, err)
	}
}

// TestMaxConcurrency: with every slot taken, a request for another token
// waits at most the timeout, and the endpoint never sees more calls at once
// than allowed.
func TestMaxConcurrency(t *testing.T) {
	clk := newClock()
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	var inFlight, peak atomic.Int64
	a := newAS(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		arrived <- struct{}{}
		<-release
		answer(active(issA, clk.now()))(w, r)
	})
	is := oneIssuer(issA, a.url())
	is.MaxConcurrency = 1
	is.Timeout = 5 * time.Second
	in := newIntrospector(t, clk, Options{Issuers: []IssuerOptions{is}})
	first := make(chan error, 1)
	go func() { _, err := in.Introspect(context.Background(), opaque("one"), false); first <- err }()
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := in.Introspect(ctx, opaque("two"), false); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("no free slot: err = %v; want ErrUnavailable", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if _, err := in.Introspect(context.Background(), opaque("three"), false); err != nil {
		t.Fatalf("after the slot freed: %v", err)
	}
	if peak.Load() != 1 {
		t.Fatalf("peak concurrent calls = %d; want 1", peak.Load())
	}
}

// TestTLSEndpoint: an https endpoint works with the client's roots.
func TestTLSEndpoint(t *testing.T) {
	clk := newClock()
	srv := httptest.NewTLSServer(http.HandlerFunc(answer(active(issA, clk.now()))))
	defer srv.Close()
	in := newIntrospector(t, clk, Options{Issuers: []IssuerOptions{oneIssuer(issA, srv.URL)}, Client: srv.Client()})
	if _, err := in.Introspect(context.Background(), opaque("tls"), false); err != nil {
		t.Fatal(err)
	}
	// Without the server's root, the same endpoint is unavailable, never
	// trusted.
	in = newIntrospector(t, clk, Options{Issuers: []IssuerOptions{oneIssuer(issA, srv.URL)}})
	if _, err := in.Introspect(context.Background(), opaque("tls"), false); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unknown certificate: err = %v; want ErrUnavailable", err)
	}
}

// TestConfirm: a JWT is confirmed at its issuer on every call, no cache.
func TestConfirm(t *testing.T) {
	clk := newClock()
	var activeNow atomic.Bool
	activeNow.Store(true)
	a := newAS(t, func(w http.ResponseWriter, r *http.Request) {
		if activeNow.Load() {
			answer(active(issA, clk.now()))(w, r)
			return
		}
		answer(map[string]any{"active": false})(w, r)
	})
	in := newIntrospector(t, clk, Options{Issuers: []IssuerOptions{oneIssuer(issA, a.url())}})
	const jwtLike = "aaa.bbb.ccc"
	for i := range 2 {
		if err := in.Confirm(context.Background(), issA, jwtLike); err != nil {
			t.Fatalf("Confirm %d: %v", i, err)
		}
	}
	activeNow.Store(false) // revoked at the authorization server
	if err := in.Confirm(context.Background(), issA, jwtLike); reasonOf(err) != ReasonInactive {
		t.Fatalf("after revocation: err = %v; want token_inactive at once", err)
	}
	if a.calls.Load() != 3 {
		t.Fatalf("calls = %d; want 3 (no cache)", a.calls.Load())
	}
	if err := in.Confirm(context.Background(), issB, jwtLike); reasonOf(err) != ReasonNotIntrospectable {
		t.Fatalf("issuer without introspection: err = %v; want %s", err, ReasonNotIntrospectable)
	}
}
