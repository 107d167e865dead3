package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/issuer"
)

func TestAllowedRequest(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	tok := e.token("models:read", "chat:completions")
	r := p.do("GET", "/v1/models", tok, nil)
	if r.StatusCode != 200 {
		t.Fatalf("status %d body %s; want 200", r.StatusCode, r.body)
	}
	if !strings.Contains(string(r.body), `"gpt-4o"`) {
		t.Errorf("body %s; want the model list", r.body)
	}
	rec := e.lastRecorded()
	if rec.Method != "GET" || rec.RawPath != "/v1/models" {
		t.Errorf("upstream got %s %s; want GET /v1/models", rec.Method, rec.RawPath)
	}
	h := rec.Header
	if got := h.Values("X-Auth-Subject"); len(got) != 1 || got[0] != "alice" {
		t.Errorf("X-Auth-Subject %q; want [alice]", got)
	}
	if got := h.Values("X-Auth-Client-Id"); len(got) != 1 || got[0] != "cli" {
		t.Errorf("X-Auth-Client-Id %q; want [cli]", got)
	}
	if got := h.Values("X-Auth-Scopes"); len(got) != 1 || !hasFields(got[0], "models:read", "chat:completions") {
		t.Errorf("X-Auth-Scopes %q; want the granted scopes models:read chat:completions", got)
	}
	// The client's token is dropped; the upstream's own credential is set.
	if got := h.Values("Authorization"); len(got) != 1 || got[0] != upstreamSecret {
		t.Errorf("upstream Authorization %q; want only the configured %q", got, upstreamSecret)
	}
	for k, vs := range h {
		for _, v := range vs {
			if strings.Contains(v, tok) || strings.Contains(v, strings.Split(tok, ".")[2]) {
				t.Errorf("upstream header %s carries the client's token", k)
			}
		}
	}
	a := p.audit(r.id())
	for k, want := range map[string]any{"route": "models", "decision": "allow", "status": 200.0, "sub": "alice", "client_id": "cli"} {
		if a.Get(k) != want {
			t.Errorf("audit %s = %v; want %v (record %v)", k, a.Get(k), want, a)
		}
	}
	if s := a.Scopes; !hasFields(s, "models:read") {
		t.Errorf("audit scopes %q; want models:read", s)
	}

	// A public route needs no token, and the upstream gets no identity.
	e.api.Reset()
	r = p.do("GET", "/public/status", "", nil)
	if r.StatusCode != 200 {
		t.Fatalf("public route: status %d body %s; want 200", r.StatusCode, r.body)
	}
	if h := e.lastRecorded().Header; h.Get("X-Auth-Subject") != "" || h.Get("X-Auth-Scopes") != "" {
		t.Errorf("public route: upstream got identity headers %v", h)
	}
}

// hasFields reports whether the space-separated list s holds every want.
func hasFields(s string, want ...string) bool {
	f := strings.Fields(s)
	for _, w := range want {
		found := false
		for _, x := range f {
			if x == w {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestNoToken401(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	for _, tc := range []struct{ name, auth string }{
		{"no Authorization", ""},
		{"Basic scheme", "Basic YWxpY2U6c2VjcmV0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.auth != "" {
				hdr = []string{"Authorization", tc.auth}
			}
			r := p.do("GET", "/v1/models", "", nil, hdr...)
			wantError(t, r, 401, "")
			if got := r.Header.Values("Www-Authenticate"); len(got) != 1 || got[0] != `Bearer realm="scopegate"` {
				t.Errorf("WWW-Authenticate %q; want exactly [Bearer realm=\"scopegate\"]", got)
			}
			a := p.audit(r.id())
			if a.Decision != "deny" || a.Status != 401 || a.Route != "models" {
				t.Errorf("audit %v; want deny 401 on route models", a)
			}
		})
	}
	e.noneRecorded("no token")
}

func TestInvalidTokens401(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	other, err := issuer.New(issuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	other.SetURL(e.iss.URL()) // same iss, a key the gateway never saw
	noneTok, err := e.iss.SignAs("none", nil, map[string]any{
		"iss": e.iss.URL(), "sub": "alice", "aud": audience, "scope": "models:read",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	hsTok, err := e.iss.SignAs("HS256", nil, map[string]any{
		"iss": e.iss.URL(), "sub": "alice", "aud": audience, "scope": "models:read",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"iss": e.iss.URL(), "sub": "alice", "aud": audience, "scope": "models:read",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	at := map[string]any{"typ": "at+jwt"}
	valid := e.token("models:read")
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))

	for _, tc := range []struct{ name, tok string }{
		{"expired", e.spec(issuer.AccessTokenSpec{Subject: "alice", Scopes: []string{"models:read"}, TTL: -time.Hour})},
		{"wrong audience", e.spec(issuer.AccessTokenSpec{Subject: "alice", Scopes: []string{"models:read"}, Audience: []string{"https://other.example"}})},
		{"no audience", e.spec(issuer.AccessTokenSpec{Subject: "alice", Scopes: []string{"models:read"}, Extra: map[string]any{"aud": nil}})},
		{"wrong issuer", e.spec(issuer.AccessTokenSpec{Subject: "alice", Scopes: []string{"models:read"}, Extra: map[string]any{"iss": "https://evil.example"}})},
		{"no exp", e.spec(issuer.AccessTokenSpec{Subject: "alice", Scopes: []string{"models:read"}, Extra: map[string]any{"exp": nil}})},
		{"ID token", e.remember(e.iss.IDToken("alice", audience))},
		{"unknown key", e.remember(other.AccessToken(issuer.AccessTokenSpec{Subject: "alice", Audience: []string{audience}, Scopes: []string{"models:read"}}))},
		{"alg none", e.remember(noneTok)},
		{"tampered signature", e.remember(tampered)},
		{"garbage", "not-a-jwt"},
		{"HS256 with the public key as secret", e.remember(hsTok)},
		{"EXP instead of exp", e.remember(e.iss.Sign(at, claims(map[string]any{"exp": nil, "EXP": now.Add(time.Hour).Unix()})))},
		{"quoted exp", e.remember(e.iss.Sign(at, claims(map[string]any{"exp": json.RawMessage(strconv.Quote(strconv.FormatInt(now.Add(time.Hour).Unix(), 10)))})))},
		{"iat in the future", e.remember(e.iss.Sign(at, claims(map[string]any{"iat": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()})))},
		{"nbf in the future", e.remember(e.iss.Sign(at, claims(map[string]any{"nbf": now.Add(time.Hour).Unix()})))},
		{"crit header", e.remember(e.iss.Sign(map[string]any{"typ": "at+jwt", "crit": []string{"exp"}}, claims(nil)))},
		{"typ id_token header", e.remember(e.iss.Sign(map[string]any{"typ": "id_token+jwt"}, claims(nil)))},
		{"token_use id", e.remember(e.iss.Sign(at, claims(map[string]any{"token_use": "id"})))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := p.do("GET", "/v1/models", tc.tok, nil)
			wantError(t, r, 401, "invalid_token")
			if w := r.Header.Get("Www-Authenticate"); !strings.HasPrefix(w, "Bearer ") || !strings.Contains(w, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q; want Bearer error=\"invalid_token\"", w)
			}
			if a := p.audit(r.id()); a.Decision != "deny" || a.Status != 401 {
				t.Errorf("audit %v; want deny 401", a)
			}
		})
	}
	e.noneRecorded("invalid tokens")
	// The valid token still passes.
	if r := p.do("GET", "/v1/models", valid, nil); r.StatusCode != 200 {
		t.Errorf("valid token: status %d; want 200", r.StatusCode)
	}
}

func TestInsufficientScope403(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	body := []byte(`{"model":"dall-e-3","prompt":"a cat"}`)
	for _, tc := range []struct {
		name   string
		scopes []string
		extra  map[string]any
	}{
		{"other scope", []string{"chat:completions"}, nil},
		{"prefix of a longer scope", []string{"generate:images2"}, nil},
		{"case differs", []string{"Generate:Images"}, nil},
		{"no scope at all", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := e.spec(issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli", Scopes: tc.scopes, Extra: tc.extra})
			r := p.do("POST", "/v1/images/generations", tok, body)
			wantError(t, r, 403, "insufficient_scope")
			w := r.Header.Get("Www-Authenticate")
			if !strings.HasPrefix(w, "Bearer ") || !strings.Contains(w, `error="insufficient_scope"`) || !strings.Contains(w, `scope="generate:images"`) {
				t.Errorf("WWW-Authenticate %q; want Bearer error=\"insufficient_scope\", scope=\"generate:images\"", w)
			}
			if a := p.audit(r.id()); a.Decision != "deny" || a.Status != 403 || a.Route != "images" || a.Sub != "alice" {
				t.Errorf("audit %v; want deny 403 on images for alice", a)
			}
		})
	}
	e.noneRecorded("insufficient scope")

	// The scp claim (array) counts as well.
	tok := e.spec(issuer.AccessTokenSpec{Subject: "alice", Extra: map[string]any{"scp": []string{"generate:images"}}})
	if r := p.do("POST", "/v1/images/generations", tok, body); r.StatusCode != 200 {
		t.Errorf("scp claim: status %d body %s; want 200", r.StatusCode, r.body)
	}
}

func TestIDTokenRefused(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	// An ID token whose aud is the gateway's audience, with every scope a
	// route could want: still no API credential.
	id := e.remember(e.iss.IDToken("alice", audience))
	r := p.do("GET", "/v1/models", id, nil)
	wantError(t, r, 401, "invalid_token")
	// A token carrying a nonce (an ID token claim) with typ at+jwt.
	withNonce := e.spec(issuer.AccessTokenSpec{Subject: "alice", Scopes: []string{"models:read"}, Extra: map[string]any{"nonce": "n-0S6_WzA2Mj"}})
	r = p.do("GET", "/v1/models", withNonce, nil)
	wantError(t, r, 401, "invalid_token")
	e.noneRecorded("ID tokens")
}
