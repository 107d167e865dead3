package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/testkit"
)

// introspectionTTL is the cache_ttl of the introspection tests: the
// revocation delay they check.
const introspectionTTL = time.Second

// createOpaqueClient registers a Hydra client whose access tokens are
// opaque (Hydra's per-client access_token_strategy).
func (h *hydra) createOpaqueClient(scope string) oauthClient {
	h.t.Helper()
	c := oauthClient{id: "opaque-" + strings.ToLower(rand.Text()[:10]), secret: rand.Text()}
	h.adminJSON(http.MethodPost, "/admin/clients", map[string]any{
		"client_id":                  c.id,
		"client_secret":              c.secret,
		"grant_types":                []string{"client_credentials"},
		"response_types":             []string{"token"},
		"scope":                      scope,
		"audience":                   []string{audience},
		"token_endpoint_auth_method": "client_secret_basic",
		"access_token_strategy":      "opaque",
	}, nil)
	return c
}

// revoke revokes tok at Hydra's public /oauth2/revoke (RFC 7009).
func (h *hydra) revoke(c oauthClient, tok string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.public+"/oauth2/revoke", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("revoking at hydra: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("revoking at hydra: status %d", resp.StatusCode)
	}
}

// TestHydraIntrospection: Hydra's opaque access tokens (ory_at_...) are
// introspected at its admin endpoint; a token revoked at Hydra is refused
// once the cache TTL has passed; Hydra's JWTs still take the JWT path.
func TestHydraIntrospection(t *testing.T) {
	h := startHydra(t)
	block := hydraIssuer(h) + fmt.Sprintf(`
    introspection:
      endpoint: %q
      auth_method: none
      token_prefixes: ["ory_at_"]
      cache_ttl: %s`, h.admin+"/admin/oauth2/introspect", introspectionTTL)
	g := startGateway(t, block)
	oc := h.createOpaqueClient("models:read chat:completions")

	tok := h.clientCredentials(oc, "chat:completions")
	if !strings.HasPrefix(tok, "ory_at_") || strings.Count(tok, ".") == 2 {
		t.Fatalf("Hydra issued a token that is not opaque (prefix %q)", tok[:min(len(tok), 7)])
	}
	t.Run("opaque_token_accepted", func(t *testing.T) {
		g.chat(tok).want(t, "chat with an opaque Hydra token", http.StatusOK, "")
		recs := g.api.Requests()
		last := recs[len(recs)-1]
		if got := last.Header.Get("X-Auth-Client-Id"); got != oc.id {
			t.Errorf("X-Auth-Client-Id %q; want %q (from the introspection response)", got, oc.id)
		}
		if got := last.Header.Get("X-Auth-Scopes"); got != "chat:completions" {
			t.Errorf("X-Auth-Scopes %q; want chat:completions", got)
		}
	})
	t.Run("scopes_decide", func(t *testing.T) {
		g.call(http.MethodPost, "/v1/images/generations", tok, `{"prompt":"x"}`).want(t, "images without generate:images", http.StatusForbidden, "insufficient_scope")
	})
	t.Run("unknown_opaque_token", func(t *testing.T) {
		g.chat("ory_at_"+strings.Repeat("A", 43)+"."+strings.Repeat("B", 43)).want(t, "a token Hydra never issued", http.StatusUnauthorized, "invalid_token")
	})
	t.Run("jwt_still_verified", func(t *testing.T) {
		jc := h.createClient([]string{"client_credentials"}, "chat:completions")
		g.chat(h.clientCredentials(jc, "chat:completions")).want(t, "chat with a Hydra JWT", http.StatusOK, "")
	})
	t.Run("revoked_at_hydra_refused_after_cache_ttl", func(t *testing.T) {
		revoked := h.clientCredentials(oc, "chat:completions")
		g.chat(revoked).want(t, "before revocation", http.StatusOK, "")
		h.revoke(oc, revoked)
		start := time.Now()
		var last result
		if !testkit.Wait(introspectionTTL+5*time.Second, func() bool {
			last = g.chat(revoked)
			return last.status == http.StatusUnauthorized
		}) {
			t.Fatalf("a token revoked at Hydra still answered %d %s after %s", last.status, last.body, time.Since(start))
		}
		last.want(t, "after revocation", http.StatusUnauthorized, "invalid_token")
		if !strings.Contains(g.output(), `"reason":"token_inactive"`) {
			t.Errorf("no audit record with reason token_inactive")
		}
		// The other opaque token of the same client is unaffected.
		g.chat(tok).want(t, "another token of the client", http.StatusOK, "")
	})
}

// TestOIDCProviderIntrospection: panva's oidc-provider (another code base)
// issues opaque access tokens; the gateway finds its introspection
// endpoint in the discovery document and authenticates with
// client_secret_basic, or with private_key_jwt verified by the provider.
// A token revoked there (RFC 7009) is refused after cache_ttl.
func TestOIDCProviderIntrospection(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "gateway-key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pad := func(b []byte) string {
		return base64.RawURLEncoding.EncodeToString(append(make([]byte, 32-len(b)), b...))
	}
	jwk, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256", "x": pad(key.X.Bytes()), "y": pad(key.Y.Bytes()), "kid": "gw-1", "alg": "ES256", "use": "sig"})
	secret := rand.Text()
	op := startOIDCProvider(t, "ACCESS_TOKEN_FORMAT=opaque", "INTROSPECTOR_CLIENT_ID=scopegate",
		"INTROSPECTOR_CLIENT_SECRET="+secret, "INTROSPECTOR_JWK="+string(jwk))

	for _, auth := range []struct{ name, yaml string }{
		{"client_secret_basic", fmt.Sprintf(`
      client_id: scopegate
      client_secret: %q`, secret)},
		{"private_key_jwt", fmt.Sprintf(`
      client_id: scopegate-jwt
      private_key_jwt: {key_file: %q, key_id: gw-1}`, keyFile)},
	} {
		t.Run(auth.name, func(t *testing.T) {
			g := startGateway(t, fmt.Sprintf(`issuer: %q
    audiences: [%q]
    introspection:
      cache_ttl: %s%s`, op.issuer, audience, introspectionTTL, auth.yaml))
			tok := op.clientCredentials("chat:completions")
			if strings.Count(tok, ".") == 2 {
				t.Fatal("oidc-provider issued a JWT; want an opaque token")
			}
			g.chat(tok).want(t, "chat with an opaque oidc-provider token", http.StatusOK, "")
			recs := g.api.Requests()
			if got := recs[len(recs)-1].Header.Get("X-Auth-Client-Id"); got != op.cc.id {
				t.Errorf("X-Auth-Client-Id %q; want %q", got, op.cc.id)
			}
			g.call(http.MethodGet, "/v1/models", tok, "").want(t, "models without models:read", http.StatusForbidden, "insufficient_scope")
			g.chat(rand.Text()+rand.Text()).want(t, "an unknown opaque token", http.StatusUnauthorized, "invalid_token")

			req, err := http.NewRequest(http.MethodPost, op.issuer+"/token/revocation", strings.NewReader(url.Values{"token": {tok}}.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(op.cc.id, op.cc.secret)
			resp, err := op.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revocation at oidc-provider: %d", resp.StatusCode)
			}
			var last result
			if !testkit.Wait(introspectionTTL+5*time.Second, func() bool {
				last = g.chat(tok)
				return last.status == http.StatusUnauthorized
			}) {
				t.Fatalf("a token revoked at oidc-provider still answered %d", last.status)
			}
		})
	}
}
