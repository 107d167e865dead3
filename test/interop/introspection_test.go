package interop

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
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
		if !eventually(introspectionTTL+5*time.Second, func() bool {
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
