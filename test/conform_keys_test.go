package e2e

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/testkit"
)

// TestConformKeys checks CONTRACT "Token rules" on keys from outside:
// never a key named by the token (jwk, jku, x5u, x5c), one key one
// algorithm, the issuer's algorithm allowlist, one unusable JWKS entry
// not spoiling the others, and a rotated key honoured within 10 s under
// the default min_refresh_interval even right after a flood of unknown
// kids.
func TestConformKeys(t *testing.T) {
	t.Parallel()
	t.Run("keys named by the token", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOptions{})
		// Broken and foreign entries before the gateway ever fetches.
		e.iss.AddRawKey(map[string]any{"kty": "EC", "crv": "P-256", "kid": "broken", "x": "!!", "y": "??", "alg": "ES256"})
		e.iss.AddRawKey(map[string]any{"kty": "FOO", "kid": "unknown-kty"})
		e.iss.AddRawKey(map[string]any{"kty": "oct", "kid": "secret", "k": "c2VjcmV0", "alg": "HS256"})
		p := start(t, e, writeConfig(t, e.config(cfg{})))
		if !p.waitReady(10 * time.Second) {
			t.Fatal("CONTRACT: one unusable key in a JWKS does not make the others unusable: /readyz not 200")
		}
		if r := p.do("GET", "/v1/models", e.token("models:read"), nil); r.StatusCode != 200 {
			t.Fatalf("CONTRACT one unusable key: a token under the good key: status %d body %s; want 200", r.StatusCode, r.body)
		}
		e.api.Reset()
		// An attacker's key, published at a URL the token names.
		evil, err := issuer.New(issuer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var evilFetches atomic.Int64
		evilSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			evilFetches.Add(1)
			evil.Handler().ServeHTTP(w, r)
		}))
		t.Cleanup(evilSrv.Close)
		evil.SetURL(evilSrv.URL)
		resp, err := http.Get(evil.JWKSURL())
		if err != nil {
			t.Fatal(err)
		}
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		err = json.NewDecoder(resp.Body).Decode(&set)
		resp.Body.Close()
		if err != nil || len(set.Keys) != 1 {
			t.Fatalf("attacker JWKS: %v %v", err, set)
		}
		evilFetches.Store(0)
		evilJWK := set.Keys[0]
		claims := map[string]any{"iss": e.iss.URL(), "sub": "mallory", "aud": audience, "scope": "models:read",
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
		for _, tc := range []struct {
			name   string
			header map[string]any
		}{
			{"embedded jwk", map[string]any{"typ": "at+jwt", "jwk": evilJWK}},
			{"embedded jwk, no kid", map[string]any{"typ": "at+jwt", "jwk": evilJWK, "kid": nil}},
			{"jku", map[string]any{"typ": "at+jwt", "jku": evil.JWKSURL()}},
			{"x5u", map[string]any{"typ": "at+jwt", "x5u": evilSrv.URL + "/cert.pem"}},
			{"x5c", map[string]any{"typ": "at+jwt", "x5c": []string{"MIIBszCCAVmgAwIBAgIUQ"}}},
			{"kid of the real key", map[string]any{"typ": "at+jwt", "kid": e.iss.CurrentKID(), "jku": evil.JWKSURL()}},
		} {
			tok := e.remember(evil.Sign(tc.header, claims))
			r := p.do("GET", "/v1/models", tok, nil)
			if r.StatusCode != 401 {
				t.Errorf("CONTRACT never a key named by the token (%s): status %d; want 401", tc.name, r.StatusCode)
			}
		}
		if n := evilFetches.Load(); n != 0 {
			t.Errorf("the gateway fetched %d time(s) from a URL a token named", n)
		}
		e.noneRecorded("tokens under keys they name")
	})

	t.Run("keys not for signatures", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOptions{})
		resp, err := http.Get(e.iss.JWKSURL())
		if err != nil {
			t.Fatal(err)
		}
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		err = json.NewDecoder(resp.Body).Decode(&set)
		resp.Body.Close()
		if err != nil || len(set.Keys) != 1 {
			t.Fatalf("JWKS: %v %v", err, set)
		}
		// The signing key's material again, under other kids, marked for
		// encryption (RFC 7517 4.2 use, 4.3 key_ops) or for another
		// algorithm: a token naming those kids is not verified by them.
		variant := func(kid string, change map[string]any) {
			k := map[string]any{}
			for n, v := range set.Keys[0] {
				k[n] = v
			}
			k["kid"] = kid
			for n, v := range change {
				if v == nil {
					delete(k, n)
				} else {
					k[n] = v
				}
			}
			e.iss.AddRawKey(k)
		}
		variant("enc", map[string]any{"use": "enc"})
		variant("ops-encrypt", map[string]any{"use": nil, "key_ops": []string{"encrypt"}})
		variant("alg-es384", map[string]any{"alg": "ES384"})
		// Published before the gateway's first fetch: the refusals below
		// are the keys' own, not an unknown kid's.
		p := start(t, e, writeConfig(t, e.config(cfg{})))
		if !p.waitReady(10 * time.Second) {
			t.Fatal("not ready")
		}
		claims := map[string]any{"iss": e.iss.URL(), "sub": "alice", "aud": audience, "scope": "models:read",
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
		for _, kid := range []string{"enc", "ops-encrypt", "alg-es384"} {
			tok := e.remember(e.iss.Sign(map[string]any{"typ": "at+jwt", "kid": kid}, claims))
			r := p.do("GET", "/v1/models", tok, nil)
			if r.StatusCode != 401 && r.StatusCode != 503 {
				t.Errorf("RFC 7517 4.2/4.3/4.4: a token under kid %s: status %d; want 401", kid, r.StatusCode)
			}
		}
		// The real kid still works after those refreshes.
		if r := p.do("GET", "/v1/models", e.token("models:read"), nil); r.StatusCode != 200 {
			t.Errorf("the signing key after the refreshes: status %d; want 200", r.StatusCode)
		}
		e.api.Reset()
	})

	t.Run("one key, one algorithm", func(t *testing.T) {
		t.Parallel()
		e, p := serve(t, envOptions{}, cfg{})
		kid, err := e.iss.RotateTo(issuer.RS256)
		if err != nil {
			t.Fatal(err)
		}
		good := e.token("models:read")
		if !testkit.Wait(10*time.Second, func() bool { return p.do("GET", "/v1/models", good, nil).StatusCode == 200 }) {
			t.Fatalf("the RS256 key %s not honoured within 10s", kid)
		}
		claims := map[string]any{"iss": e.iss.URL(), "sub": "alice", "aud": audience, "scope": "models:read",
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
		for _, alg := range []string{"PS256", "RS384", "RS512"} {
			// With the kid, and without (PITFALLS 1: a kid-less token must
			// not be offered every key).
			for _, h := range []map[string]any{{"typ": "at+jwt"}, {"typ": "at+jwt", "kid": nil}} {
				tok, err := e.iss.SignAs(alg, h, claims)
				if err != nil {
					t.Fatal(err)
				}
				e.remember(tok)
				if r := p.do("GET", "/v1/models", tok, nil); r.StatusCode != 401 {
					t.Errorf("CONTRACT one key, one algorithm: the RS256 key under %s (header %v): status %d; want 401", alg, h, r.StatusCode)
				}
			}
		}
	})

	t.Run("algorithm allowlist", func(t *testing.T) {
		t.Parallel()
		e, p := serve(t, envOptions{}, cfg{issuerExtra: "    algorithms: [RS256]"})
		// The issuer's ES256 key is published but not allowed.
		if r := p.do("GET", "/v1/models", e.token("models:read"), nil); r.StatusCode != 401 {
			t.Errorf("CONTRACT algorithms allowlist: an ES256 token with algorithms [RS256]: status %d; want 401", r.StatusCode)
		}
		if _, err := e.iss.RotateTo(issuer.RS256); err != nil {
			t.Fatal(err)
		}
		tok := e.token("models:read")
		if !testkit.Wait(10*time.Second, func() bool { return p.do("GET", "/v1/models", tok, nil).StatusCode == 200 }) {
			t.Errorf("an RS256 token with algorithms [RS256] not honoured within 10s")
		}
	})

	t.Run("rotation within 10s after a flood, default min_refresh_interval", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOptions{})
		text := strings.Replace(e.config(cfg{}), "    min_refresh_interval: 1s\n", "", 1)
		if strings.Contains(text, "min_refresh_interval") {
			t.Fatal("config still sets min_refresh_interval")
		}
		p := start(t, e, writeConfig(t, text))
		if !p.waitReady(10 * time.Second) {
			t.Fatal("not ready")
		}
		before := e.iss.JWKSFetches()
		for range 20 {
			tok := e.remember(e.iss.Sign(map[string]any{"typ": "at+jwt", "kid": rand.Text()}, map[string]any{
				"iss": e.iss.URL(), "sub": "alice", "aud": audience, "scope": "models:read",
				"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
			}))
			p.do("GET", "/v1/models", tok, nil)
		}
		e.iss.Rotate()
		tok := e.token("models:read")
		start := time.Now()
		var last int
		if !testkit.Wait(10*time.Second, func() bool {
			last = p.do("GET", "/v1/models", tok, nil).StatusCode
			return last == 200
		}) {
			t.Errorf("CONTRACT rotated key honoured within 10 s: still %d after 10s", last)
		}
		t.Logf("rotated key honoured %v after the rotation", time.Since(start).Round(time.Millisecond))
		if n := e.iss.JWKSFetches() - before; n > 6 {
			t.Errorf("CONTRACT a flood of unknown kids costs a handful of fetches: %d", n)
		}
	})
}

// TestConformReadyzEveryIssuer checks CONTRACT "Admin listener": /readyz
// is 200 only once every issuer's keys are in hand; with the first
// issuer's keys fetched and the second's JWKS down it stays 503, and the
// first issuer's tokens are served meanwhile.
func TestConformReadyzEveryIssuer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	second, err := issuer.New(issuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	second.SetDown(true)
	srv := httptest.NewServer(second.Handler())
	t.Cleanup(srv.Close)
	second.SetURL(srv.URL)
	p := start(t, e, writeConfig(t, e.config(cfg{issuerExtra: "  - issuer: \"" + srv.URL + "\"\n    audiences: [\"" + audience + "\"]"})))
	tok := e.token("models:read")
	if !testkit.Wait(10*time.Second, func() bool { return p.do("GET", "/v1/models", tok, nil).StatusCode == 200 }) {
		t.Fatal("the first issuer's token not served within 10s")
	}
	if r := p.adminGet("/readyz"); r.StatusCode != 503 {
		t.Errorf("CONTRACT /readyz with the second issuer's keys not in hand: %d; want 503", r.StatusCode)
	}
	second.SetDown(false)
	if !p.waitReady(20 * time.Second) {
		t.Fatal("/readyz not 200 within 20s of the second issuer coming up")
	}
	tok2 := e.remember(second.AccessToken(issuer.AccessTokenSpec{Subject: "bob", Audience: []string{audience}, Scopes: []string{"models:read"}}))
	if r := p.do("GET", "/v1/models", tok2, nil); r.StatusCode != 200 {
		t.Errorf("the second issuer's token: status %d body %s; want 200", r.StatusCode, r.body)
	}
}
