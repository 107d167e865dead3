package issuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var allAlgs = []string{ES256, RS256, EdDSA}

// serve starts i on an httptest server and sets its URL.
func serve(t *testing.T, i *Issuer) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(i.Handler())
	t.Cleanup(srv.Close)
	i.SetURL(srv.URL)
	return srv
}

func newIssuer(t *testing.T, opts Options) *Issuer {
	t.Helper()
	i, err := New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	return i
}

// getJSON fetches url and decodes a JSON object, failing on a non-200.
func getJSON(t *testing.T, url string, into any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d; want 200", url, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q; want %q", url, ct, "application/json")
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: decoding: %v", url, err)
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

type jwkJSON struct {
	Kid, Kty, Alg, Use, Crv, X, Y, N, E string
}

type discoveryJSON struct {
	Issuer  string   `json:"issuer"`
	JWKSURI string   `json:"jwks_uri"`
	Algs    []string `json:"id_token_signing_alg_values_supported"`
}

func fetchJWKS(t *testing.T, url string) map[string]jwkJSON {
	t.Helper()
	var set struct{ Keys []jwkJSON }
	getJSON(t, url, &set)
	keys := make(map[string]jwkJSON)
	for _, k := range set.Keys {
		if _, dup := keys[k.Kid]; dup {
			t.Errorf("duplicate kid %q in JWKS", k.Kid)
		}
		keys[k.Kid] = k
	}
	return keys
}

// publicKey decodes a JWK independently of the package's encoder.
func publicKey(t *testing.T, k jwkJSON) crypto.PublicKey {
	t.Helper()
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("kid %s: bad base64url %q: %v", k.Kid, s, err)
		}
		return b
	}
	switch k.Kty {
	case "EC":
		if k.Crv != "P-256" {
			t.Fatalf("crv %q; want P-256", k.Crv)
		}
		x, y := dec(k.X), dec(k.Y)
		if len(x) != 32 || len(y) != 32 {
			t.Fatalf("x, y are %d, %d bytes; want 32", len(x), len(y))
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), slices.Concat([]byte{4}, x, y))
		if err != nil {
			t.Fatal(err)
		}
		return pub
	case "RSA":
		return &rsa.PublicKey{N: new(big.Int).SetBytes(dec(k.N)), E: int(new(big.Int).SetBytes(dec(k.E)).Int64())}
	case "OKP":
		if k.Crv != "Ed25519" {
			t.Fatalf("crv %q; want Ed25519", k.Crv)
		}
		return ed25519.PublicKey(dec(k.X))
	}
	t.Fatalf("unexpected kty %q", k.Kty)
	return nil
}

// verify checks raw's signature against the JWKS at jwksURL, pinning alg,
// and returns its header and claims.
func verify(t *testing.T, raw, jwksURL, alg string) (map[string]any, jwt.MapClaims) {
	t.Helper()
	keys := fetchJWKS(t, jwksURL)
	tok, err := jwt.Parse(raw, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		k, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("kid %q not in JWKS", kid)
		}
		if k.Alg != alg || k.Use != "sig" {
			return nil, fmt.Errorf("key alg %q use %q; want %q sig", k.Alg, k.Use, alg)
		}
		return publicKey(t, k), nil
	}, jwt.WithValidMethods([]string{alg}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		t.Fatalf("verifying token: %v", err)
	}
	return tok.Header, tok.Claims.(jwt.MapClaims)
}

func TestNewRejectsUnknownAlgorithm(t *testing.T) {
	for _, alg := range []string{"HS256", "none", "es256", "PS256"} {
		if _, err := New(Options{Algorithm: alg}); err == nil {
			t.Errorf("New(Algorithm: %q) succeeded; want an error", alg)
		}
	}
	i := newIssuer(t, Options{})
	if got := i.signer().alg; got != ES256 {
		t.Errorf("default algorithm %q; want ES256", got)
	}
}

func TestDiscoveryJWKSAndAccessToken(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			now := time.Unix(1_800_000_000, 0)
			i := newIssuer(t, Options{Algorithm: alg, Now: func() time.Time { return now }})
			srv := serve(t, i)

			var d discoveryJSON
			getJSON(t, srv.URL+"/.well-known/openid-configuration", &d)
			if d.Issuer != srv.URL {
				t.Errorf("issuer %q; want %q", d.Issuer, srv.URL)
			}
			if want := srv.URL + "/jwks.json"; d.JWKSURI != want || i.JWKSURL() != want {
				t.Errorf("jwks_uri %q, JWKSURL() %q; want %q", d.JWKSURI, i.JWKSURL(), want)
			}
			if !slices.Equal(d.Algs, []string{alg}) {
				t.Errorf("id_token_signing_alg_values_supported %q; want [%s]", d.Algs, alg)
			}

			keys := fetchJWKS(t, d.JWKSURI)
			k, ok := keys[i.CurrentKID()]
			if len(keys) != 1 || !ok {
				t.Fatalf("JWKS kids %v; want only %q", slices.Collect(maps.Keys(keys)), i.CurrentKID())
			}
			if k.Alg != alg || k.Use != "sig" {
				t.Errorf("JWK alg %q use %q; want %q, sig", k.Alg, k.Use, alg)
			}
			if pub := publicKey(t, k); !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(i.PublicKey(k.Kid)) {
				t.Errorf("JWKS key differs from PublicKey(%q)", k.Kid)
			}

			raw := i.AccessToken(AccessTokenSpec{
				Subject:  "alice",
				ClientID: "cli",
				Audience: []string{"https://models.example.com"},
				Scopes:   []string{"generate:images", "chat"},
				TTL:      10 * time.Minute,
				Act:      map[string]any{"sub": "agent"},
			})
			// Verify at the issuer's clock, not the wall clock.
			h, c := verifyAt(t, raw, d.JWKSURI, alg, now)
			if h["typ"] != "at+jwt" || h["kid"] != i.CurrentKID() || h["alg"] != alg {
				t.Errorf("header %v; want typ at+jwt, kid %s, alg %s", h, i.CurrentKID(), alg)
			}
			want := map[string]any{
				"iss":       srv.URL,
				"sub":       "alice",
				"client_id": "cli",
				"aud":       "https://models.example.com",
				"scope":     "generate:images chat",
				"iat":       float64(now.Unix()),
				"nbf":       float64(now.Unix()),
				"exp":       float64(now.Add(10 * time.Minute).Unix()),
			}
			for name, v := range want {
				if c[name] != v {
					t.Errorf("claim %s = %#v; want %#v", name, c[name], v)
				}
			}
			if jti, _ := c["jti"].(string); jti == "" {
				t.Errorf("jti %#v; want a non-empty string", c["jti"])
			}
			if act, _ := c["act"].(map[string]any); act["sub"] != "agent" {
				t.Errorf("act %#v; want {sub: agent}", c["act"])
			}
		})
	}
}

// verifyAt is verify with the validator's clock set to now.
func verifyAt(t *testing.T, raw, jwksURL, alg string, now time.Time) (map[string]any, jwt.MapClaims) {
	t.Helper()
	keys := fetchJWKS(t, jwksURL)
	tok, err := jwt.Parse(raw, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		k, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("kid %q not in JWKS", kid)
		}
		return publicKey(t, k), nil
	}, jwt.WithValidMethods([]string{alg}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		t.Fatalf("verifying token: %v", err)
	}
	return tok.Header, tok.Claims.(jwt.MapClaims)
}

func TestAccessTokenShapes(t *testing.T) {
	i := newIssuer(t, Options{})
	srv := serve(t, i)
	jwks := srv.URL + "/jwks.json"

	t.Run("audience array", func(t *testing.T) {
		_, c := verify(t, i.AccessToken(AccessTokenSpec{Audience: []string{"a", "b"}}), jwks, ES256)
		if got, _ := c["aud"].([]any); len(got) != 2 || got[0] != "a" || got[1] != "b" {
			t.Errorf("aud %#v; want [a b]", c["aud"])
		}
	})
	t.Run("empty fields omitted", func(t *testing.T) {
		_, c := verify(t, i.AccessToken(AccessTokenSpec{}), jwks, ES256)
		for _, name := range []string{"aud", "sub", "client_id", "scope", "act"} {
			if v, ok := c[name]; ok {
				t.Errorf("claim %s = %#v; want it absent", name, v)
			}
		}
		if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 3600 {
			t.Errorf("exp - iat = %v; want 3600 (default TTL)", exp-iat)
		}
	})
	t.Run("extra overrides and deletes", func(t *testing.T) {
		raw := i.AccessToken(AccessTokenSpec{Subject: "s", Extra: map[string]any{"sub": "other", "nbf": nil, "scp": []string{"x"}}})
		_, c := verify(t, raw, jwks, ES256)
		if c["sub"] != "other" {
			t.Errorf("sub %#v; want other", c["sub"])
		}
		if _, ok := c["nbf"]; ok {
			t.Errorf("nbf present; want it deleted")
		}
		if scp, _ := c["scp"].([]any); len(scp) != 1 || scp[0] != "x" {
			t.Errorf("scp %#v; want [x]", c["scp"])
		}
	})
	t.Run("negative TTL is expired", func(t *testing.T) {
		raw := i.AccessToken(AccessTokenSpec{TTL: -time.Minute})
		_, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return i.PublicKey(i.CurrentKID()), nil })
		if !errors.Is(err, jwt.ErrTokenExpired) {
			t.Errorf("parsing: %v; want ErrTokenExpired", err)
		}
	})
	t.Run("unique jti", func(t *testing.T) {
		_, a := verify(t, i.AccessToken(AccessTokenSpec{}), jwks, ES256)
		_, b := verify(t, i.AccessToken(AccessTokenSpec{}), jwks, ES256)
		if a["jti"] == b["jti"] {
			t.Errorf("two tokens share jti %v", a["jti"])
		}
	})
}

func TestIDToken(t *testing.T) {
	i := newIssuer(t, Options{Algorithm: RS256})
	srv := serve(t, i)
	h, c := verify(t, i.IDToken("alice", "web"), srv.URL+"/jwks.json", RS256)
	if h["typ"] != "JWT" {
		t.Errorf("typ %v; want JWT", h["typ"])
	}
	for name, want := range map[string]any{"iss": srv.URL, "sub": "alice", "aud": "web", "azp": "web"} {
		if c[name] != want {
			t.Errorf("claim %s = %#v; want %#v", name, c[name], want)
		}
	}
	for _, name := range []string{"nonce", "at_hash", "auth_time"} {
		if _, ok := c[name]; !ok {
			t.Errorf("claim %s missing", name)
		}
	}
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 3600 {
		t.Errorf("exp - iat = %v; want 3600", exp-iat)
	}
}

func TestRotateAndRemove(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			i := newIssuer(t, Options{Algorithm: alg})
			srv := serve(t, i)
			jwks := srv.URL + "/jwks.json"
			old := i.CurrentKID()
			oldTok := i.AccessToken(AccessTokenSpec{Subject: "old"})

			kid := i.Rotate()
			if kid == old || i.CurrentKID() != kid {
				t.Fatalf("Rotate() = %q, CurrentKID() = %q, old %q; want a new current kid", kid, i.CurrentKID(), old)
			}
			if got := i.KIDs(); !slices.Equal(got, []string{old, kid}) {
				t.Errorf("KIDs() = %q; want [%s %s]", got, old, kid)
			}
			newTok := i.AccessToken(AccessTokenSpec{Subject: "new"})
			if h, _ := verify(t, newTok, jwks, alg); h["kid"] != kid {
				t.Errorf("new token kid %v; want %q", h["kid"], kid)
			}
			if h, _ := verify(t, oldTok, jwks, alg); h["kid"] != old {
				t.Errorf("old token kid %v; want %q", h["kid"], old)
			}

			i.RemoveKey(old)
			keys := fetchJWKS(t, jwks)
			if _, ok := keys[old]; ok || len(keys) != 1 {
				t.Errorf("JWKS after RemoveKey(%q) has %d keys, old present %v; want only %q", old, len(keys), ok, kid)
			}
			if i.PublicKey(old) == nil {
				t.Errorf("PublicKey(%q) = nil after removal; want the key", old)
			}
			if i.PublicKey("nope") != nil {
				t.Errorf("PublicKey(unknown) != nil")
			}
			verify(t, newTok, jwks, alg)

			// Removing the current key keeps signing with it, unpublished.
			i.RemoveKey(kid)
			if n := len(fetchJWKS(t, jwks)); n != 0 {
				t.Errorf("JWKS has %d keys; want 0", n)
			}
			if h := header(t, i.AccessToken(AccessTokenSpec{})); h["kid"] != kid {
				t.Errorf("kid %v; want %q", h["kid"], kid)
			}
		})
	}
}

func TestRotateToMixesAlgorithms(t *testing.T) {
	i := newIssuer(t, Options{})
	srv := serve(t, i)
	if _, err := i.RotateTo("HS256"); err == nil {
		t.Errorf("RotateTo(HS256) succeeded; want an error")
	}
	kid, err := i.RotateTo(EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	verify(t, i.AccessToken(AccessTokenSpec{}), srv.URL+"/jwks.json", EdDSA)
	if k := fetchJWKS(t, srv.URL+"/jwks.json")[kid]; k.Kty != "OKP" || k.Alg != EdDSA {
		t.Errorf("JWK %+v; want an OKP EdDSA key", k)
	}
	var d discoveryJSON
	getJSON(t, srv.URL+"/.well-known/openid-configuration", &d)
	if !slices.Equal(d.Algs, []string{ES256, EdDSA}) {
		t.Errorf("algorithms %q; want [ES256 EdDSA]", d.Algs)
	}
	if i.Rotate(); header(t, i.AccessToken(AccessTokenSpec{}))["alg"] != ES256 {
		t.Errorf("Rotate after RotateTo did not return to the issuer's algorithm")
	}
}

func TestDownAndFetchCount(t *testing.T) {
	i := newIssuer(t, Options{})
	srv := serve(t, i)
	disc, jwks := srv.URL+"/.well-known/openid-configuration", srv.URL+"/jwks.json"

	for range 3 {
		status(t, jwks)
	}
	status(t, disc)
	if got := i.JWKSFetches(); got != 3 {
		t.Errorf("JWKSFetches() = %d; want 3", got)
	}

	i.SetDown(true)
	for _, u := range []string{disc, jwks} {
		if got := status(t, u); got != http.StatusServiceUnavailable {
			t.Errorf("GET %s while down: %d; want 503", u, got)
		}
	}
	if got := i.JWKSFetches(); got != 4 {
		t.Errorf("JWKSFetches() = %d; want 4 (fetches while down count)", got)
	}
	i.SetDown(false)
	for _, u := range []string{disc, jwks} {
		if got := status(t, u); got != http.StatusOK {
			t.Errorf("GET %s after recovery: %d; want 200", u, got)
		}
	}
}

func TestHandlerRouting(t *testing.T) {
	i := newIssuer(t, Options{})
	srv := httptest.NewServer(i.Handler())
	defer srv.Close()

	// Before SetURL the request's host names the issuer.
	var d discoveryJSON
	getJSON(t, srv.URL+"/.well-known/openid-configuration", &d)
	if d.Issuer != srv.URL {
		t.Errorf("issuer before SetURL %q; want %q", d.Issuer, srv.URL)
	}

	// With a path in the URL, the endpoints live under it.
	i.SetURL(srv.URL + "/realms/demo/")
	if i.URL() != srv.URL+"/realms/demo" {
		t.Errorf("URL() = %q; want the trailing slash trimmed", i.URL())
	}
	getJSON(t, srv.URL+"/realms/demo/.well-known/openid-configuration", &d)
	if d.Issuer != i.URL() || d.JWKSURI != i.URL()+"/jwks.json" {
		t.Errorf("discovery %+v; want issuer %q", d, i.URL())
	}
	verify(t, i.AccessToken(AccessTokenSpec{}), d.JWKSURI, ES256)

	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/jwks.json", http.StatusNotFound},
		{"GET", "/realms/demo/other", http.StatusNotFound},
		{"POST", "/realms/demo/jwks.json", http.StatusMethodNotAllowed},
		{"HEAD", "/realms/demo/jwks.json", http.StatusOK},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d; want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
}

func TestAddRawKey(t *testing.T) {
	i := newIssuer(t, Options{})
	srv := serve(t, i)
	i.AddRawKey(map[string]any{"kid": "junk", "kty": "XYZ"})
	keys := fetchJWKS(t, srv.URL+"/jwks.json")
	if len(keys) != 2 || keys["junk"].Kty != "XYZ" {
		t.Errorf("JWKS %v; want the issuer's key and the raw one", keys)
	}
	if slices.Contains(i.KIDs(), "junk") {
		t.Errorf("KIDs() includes a raw entry")
	}
}

// header decodes a token's header without verifying it.
func header(t *testing.T, raw string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func payload(t *testing.T, raw string) string {
	t.Helper()
	p := strings.Split(raw, ".")[1]
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSignHostile(t *testing.T) {
	i := newIssuer(t, Options{})
	pub := i.PublicKey(i.CurrentKID())
	keyFunc := func(*jwt.Token) (any, error) { return pub, nil }

	t.Run("nil header value deletes kid", func(t *testing.T) {
		raw := i.Sign(map[string]any{"kid": nil, "typ": "at+jwt"}, map[string]any{"exp": 1})
		h := header(t, raw)
		if _, ok := h["kid"]; ok || h["alg"] != ES256 || h["typ"] != "at+jwt" {
			t.Errorf("header %v; want alg ES256, typ at+jwt, no kid", h)
		}
	})
	t.Run("header alg kept as given", func(t *testing.T) {
		raw := i.Sign(map[string]any{"alg": "RS256", "kid": "other"}, nil)
		if h := header(t, raw); h["alg"] != "RS256" || h["kid"] != "other" {
			t.Errorf("header %v; want alg RS256, kid other", h)
		}
	})
	t.Run("raw claim values", func(t *testing.T) {
		raw := i.Sign(nil, map[string]any{"exp": json.RawMessage(`"1700000000"`), "n": nil})
		if got, want := payload(t, raw), `{"exp":"1700000000","n":null}`; got != want {
			t.Errorf("payload %s; want %s", got, want)
		}
	})
	t.Run("SignRaw", func(t *testing.T) {
		raw := i.SignRaw([]byte(`{"alg":"ES256"}`), []byte(`{"exp":1,"exp":9999999999}`))
		if got := payload(t, raw); got != `{"exp":1,"exp":9999999999}` {
			t.Errorf("payload %s; want it verbatim", got)
		}
		parts := strings.Split(raw, ".")
		if err := jwt.SigningMethodES256.Verify(parts[0]+"."+parts[1], mustB64(t, parts[2]), pub); err != nil {
			t.Errorf("signature: %v", err)
		}
	})
	t.Run("SignAs none", func(t *testing.T) {
		raw, err := i.SignAs("none", nil, map[string]any{"sub": "x"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(raw, ".") || header(t, raw)["alg"] != "none" {
			t.Errorf("token %q; want alg none and an empty signature", raw)
		}
	})
	t.Run("SignAs HS256 with the public key", func(t *testing.T) {
		raw, err := i.SignAs("HS256", nil, map[string]any{"exp": time.Now().Add(time.Hour).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		der, _ := x509.MarshalPKIXPublicKey(pub)
		secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		if _, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return secret, nil }, jwt.WithValidMethods([]string{"HS256"})); err != nil {
			t.Errorf("HS256 with the PEM public key as secret: %v", err)
		}
		// And a verifier pinning ES256 refuses it.
		if _, err := jwt.Parse(raw, keyFunc, jwt.WithValidMethods([]string{ES256})); err == nil {
			t.Errorf("ES256-pinned parse accepted an HS256 token")
		}
	})
	t.Run("SignAs mismatched key type", func(t *testing.T) {
		for _, alg := range []string{"RS256", "ES384", "EdDSA", "XX1"} {
			if _, err := i.SignAs(alg, nil, nil); err == nil {
				t.Errorf("SignAs(%s) with an ES256 key succeeded; want an error", alg)
			}
		}
	})
	t.Run("SignAs PS256 with an RSA key", func(t *testing.T) {
		r := newIssuer(t, Options{Algorithm: RS256})
		raw, err := r.SignAs("PS256", nil, map[string]any{"exp": time.Now().Add(time.Hour).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		rpub := r.PublicKey(r.CurrentKID())
		if _, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return rpub, nil }, jwt.WithValidMethods([]string{"PS256"})); err != nil {
			t.Errorf("PS256: %v", err)
		}
	})
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConcurrentUse(t *testing.T) {
	i := newIssuer(t, Options{Algorithm: EdDSA})
	srv := serve(t, i)
	var wg sync.WaitGroup
	for n := range 8 {
		wg.Go(func() {
			for m := range 20 {
				switch (n + m) % 5 {
				case 0:
					i.Rotate()
				case 1:
					if kids := i.KIDs(); len(kids) > 1 {
						i.RemoveKey(kids[0])
					}
				case 2:
					resp, err := http.Get(srv.URL + "/jwks.json")
					if err == nil {
						resp.Body.Close()
					}
				case 3:
					i.SetDown(m%2 == 0)
					i.SetURL(srv.URL)
				default:
					i.AccessToken(AccessTokenSpec{Subject: "s"})
					i.IDToken("s", "c")
				}
			}
		})
	}
	wg.Wait()
	if i.JWKSFetches() == 0 {
		t.Errorf("JWKSFetches() = 0; want the concurrent fetches counted")
	}
}
