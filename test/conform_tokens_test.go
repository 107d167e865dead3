package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestConformTokenRules checks every line of CONTRACT.md "Token rules" and
// "Scopes are read from ..." that TestInvalidTokens401 and
// TestInsufficientScope403 do not already cover, from outside: each case
// is a token signed by the issuer's own key (so only the rule under test
// can refuse it) and the status the contract gives it.
func TestConformTokenRules(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	now := time.Now()
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"iss": e.iss.URL(), "sub": "alice", "client_id": "cli", "aud": audience,
			"scope": "models:read", "jti": "j1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
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
	hdr := func(extra map[string]any) map[string]any {
		h := map[string]any{"typ": "at+jwt"}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	num := func(s string) json.RawMessage { return json.RawMessage(s) }
	// raw signs a payload given as text, for what no map can say
	// (duplicate names).
	raw := func(payload string) string {
		h, _ := json.Marshal(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": e.iss.CurrentKID()})
		return e.iss.SignRaw(h, []byte(payload))
	}
	_, alg, _ := e.iss.CurrentKey()
	if alg != "ES256" {
		t.Fatalf("issuer key algorithm %s; the raw cases assume ES256", alg)
	}
	base := fmt.Sprintf(`"iss":%q,"sub":"alice","aud":%q,"scope":"models:read","iat":%d`, e.iss.URL(), audience, now.Unix())
	exp := now.Add(time.Hour).Unix()

	for _, tc := range []struct {
		rule   string // the contract line or RFC section
		name   string
		header map[string]any
		claims map[string]any
		tok    string // instead of header+claims
		want   int
	}{
		// typ header: absent, JWT, at+jwt, application/at+jwt (any case) pass; nothing else.
		{"CONTRACT ID tokens: allowed typ", "typ absent", map[string]any{"typ": nil}, claims(nil), "", 200},
		{"CONTRACT ID tokens: allowed typ", "typ JWT", hdr(map[string]any{"typ": "JWT"}), claims(nil), "", 200},
		{"CONTRACT ID tokens: allowed typ", "typ jwt", hdr(map[string]any{"typ": "jwt"}), claims(nil), "", 200},
		{"CONTRACT ID tokens: allowed typ", "typ AT+JWT", hdr(map[string]any{"typ": "AT+JWT"}), claims(nil), "", 200},
		{"CONTRACT ID tokens: allowed typ; RFC 9068 2.1", "typ application/at+jwt", hdr(map[string]any{"typ": "application/at+jwt"}), claims(nil), "", 200},
		{"CONTRACT ID tokens: allowed typ", "typ Application/AT+JWT", hdr(map[string]any{"typ": "Application/AT+JWT"}), claims(nil), "", 200},
		{"CONTRACT ID tokens: other typ", "typ JOSE", hdr(map[string]any{"typ": "JOSE"}), claims(nil), "", 401},
		{"CONTRACT ID tokens: other typ", "typ logout+jwt", hdr(map[string]any{"typ": "logout+jwt"}), claims(nil), "", 401},
		{"CONTRACT ID tokens: other typ", "typ dpop+jwt", hdr(map[string]any{"typ": "dpop+jwt"}), claims(nil), "", 401},
		{"CONTRACT ID tokens: other typ", "typ empty", hdr(map[string]any{"typ": ""}), claims(nil), "", 401},
		{"CONTRACT ID tokens: other typ", "typ a number", hdr(map[string]any{"typ": 1}), claims(nil), "", 401},
		// ID token claims.
		{"CONTRACT ID tokens: at_hash", "at_hash", at, claims(map[string]any{"at_hash": "77QmUPtjPfzWtF2AnpK9RQ"}), "", 401},
		{"CONTRACT ID tokens: c_hash", "c_hash", at, claims(map[string]any{"c_hash": "LDktKdoQak3Pk0cnXxCltA"}), "", 401},
		{"CONTRACT ID tokens: nonce", "nonce without typ header", map[string]any{"typ": nil}, claims(map[string]any{"nonce": "n-0S6"}), "", 401},
		{"CONTRACT ID tokens: token_use", "token_use id", map[string]any{"typ": nil}, claims(map[string]any{"token_use": "id"}), "", 401},
		{"CONTRACT ID tokens: token_use", "token_use access", at, claims(map[string]any{"token_use": "access"}), "", 200},
		{"CONTRACT ID tokens: typ claim", "typ claim ID", map[string]any{"typ": "JWT"}, claims(map[string]any{"typ": "ID"}), "", 401},
		{"CONTRACT ID tokens: typ claim", "typ claim Refresh", map[string]any{"typ": "JWT"}, claims(map[string]any{"typ": "Refresh"}), "", 401},
		{"CONTRACT ID tokens: typ claim", "typ claim Bearer", map[string]any{"typ": "JWT"}, claims(map[string]any{"typ": "Bearer"}), "", 200},
		{"CONTRACT ID tokens: auth_time alone allowed (RFC 9068 2.2.1)", "auth_time", at, claims(map[string]any{"auth_time": now.Add(-time.Minute).Unix()}), "", 200},
		// crit.
		{"CONTRACT crit: empty list refused", "crit []", hdr(map[string]any{"crit": []string{}}), claims(nil), "", 401},
		{"CONTRACT crit: unknown extension", "crit [x-ext]", hdr(map[string]any{"crit": []string{"x-ext"}, "x-ext": true}), claims(nil), "", 401},
		{"CONTRACT crit: unknown extension", "crit [b64]", hdr(map[string]any{"crit": []string{"b64"}, "b64": true}), claims(nil), "", 401},
		{"CONTRACT crit: malformed", "crit a string", hdr(map[string]any{"crit": "exp"}), claims(nil), "", 401},
		{"CONTRACT crit: malformed", "crit null", hdr(map[string]any{"crit": num("null")}), claims(nil), "", 401},
		// NumericDate (RFC 7519 2): JSON numbers, fractions allowed, sane range.
		{"RFC 7519 2 NumericDate: fraction", "exp with a fraction", at, claims(map[string]any{"exp": num(fmt.Sprintf("%d.5", exp))}), "", 200},
		{"RFC 7519 2 NumericDate: exponent form", "iat in exponent form", at, claims(map[string]any{"iat": num(fmt.Sprintf("%de0", now.Unix()))}), "", 200},
		{"CONTRACT NumericDate: sane range", "exp 1e30", at, claims(map[string]any{"exp": num("1e30")}), "", 401},
		{"CONTRACT NumericDate: sane range", "exp year 5000", at, claims(map[string]any{"exp": num("95617584000")}), "", 401},
		{"CONTRACT NumericDate: sane range", "exp negative", at, claims(map[string]any{"exp": num("-1")}), "", 401},
		{"CONTRACT NumericDate: JSON number", "exp true", at, claims(map[string]any{"exp": true}), "", 401},
		{"CONTRACT NumericDate: JSON number", "exp null", at, claims(map[string]any{"exp": num("null")}), "", 401},
		{"CONTRACT NumericDate: JSON number", "exp array", at, claims(map[string]any{"exp": []int64{exp}}), "", 401},
		{"CONTRACT NumericDate: JSON number", "exp object", at, claims(map[string]any{"exp": map[string]any{"$date": exp}}), "", 401},
		{"CONTRACT NumericDate: JSON number", "iat quoted", at, claims(map[string]any{"iat": fmt.Sprint(now.Unix())}), "", 401},
		{"CONTRACT NumericDate: JSON number", "nbf quoted", at, claims(map[string]any{"nbf": fmt.Sprint(now.Add(-time.Minute).Unix())}), "", 401},
		{"CONTRACT nbf honoured", "nbf in the past", at, claims(map[string]any{"nbf": now.Add(-time.Minute).Unix()}), "", 200},
		// The leeway (default 30s, docs/configuration.md) tolerates skew, no more.
		{"CONTRACT iat beyond the leeway", "iat 5 min ahead", at, claims(map[string]any{"iat": now.Add(5 * time.Minute).Unix()}), "", 401},
		{"CONTRACT iat within the leeway", "iat 5s ahead", at, claims(map[string]any{"iat": now.Add(5 * time.Second).Unix()}), "", 200},
		{"CONTRACT nbf within the leeway", "nbf 5s ahead", at, claims(map[string]any{"nbf": now.Add(5 * time.Second).Unix()}), "", 200},
		{"CONTRACT exp beyond the leeway", "exp 2 min ago", at, claims(map[string]any{"exp": now.Add(-2 * time.Minute).Unix(), "iat": now.Add(-time.Hour).Unix()}), "", 401},
		// iss equals exactly; aud contains one audience.
		{"CONTRACT iss exact", "iss with a trailing slash", at, claims(map[string]any{"iss": e.iss.URL() + "/"}), "", 401},
		{"CONTRACT iss exact", "iss upper-case scheme", at, claims(map[string]any{"iss": strings.Replace(e.iss.URL(), "http://", "HTTP://", 1)}), "", 401},
		{"CONTRACT iss exact", "iss as an array", at, claims(map[string]any{"iss": []string{e.iss.URL()}}), "", 401},
		{"CONTRACT aud contains one", "aud array with ours", at, claims(map[string]any{"aud": []string{"https://other.example", audience}}), "", 200},
		{"CONTRACT aud contains one", "aud with a trailing slash", at, claims(map[string]any{"aud": audience + "/"}), "", 401},
		{"CONTRACT aud contains one", "aud empty array", at, claims(map[string]any{"aud": []string{}}), "", 401},
		// Claim names are exact.
		{"CONTRACT claim names exact", "ISS instead of iss", at, claims(map[string]any{"iss": nil, "ISS": e.iss.URL()}), "", 401},
		{"CONTRACT claim names exact", "Aud instead of aud", at, claims(map[string]any{"aud": nil, "Aud": audience}), "", 401},
		{"CONTRACT claim names exact", "Exp instead of exp", at, claims(map[string]any{"exp": nil, "Exp": exp}), "", 401},
		{"CONTRACT claim names exact", "Scope instead of scope", at, claims(map[string]any{"scope": nil, "Scope": "models:read"}), "", 403},
		{"CONTRACT claim names exact", "SCP instead of scp", at, claims(map[string]any{"scope": nil, "SCP": []string{"models:read"}}), "", 403},
		{"PITFALLS 3: duplicate names", "exp twice, last in the future", nil, nil,
			raw(fmt.Sprintf(`{%s,"exp":%d,"exp":%d}`, base, now.Add(-time.Hour).Unix(), exp)), 401},
		{"PITFALLS 3: duplicate names", "aud twice", nil, nil,
			raw(fmt.Sprintf(`{%s,"exp":%d,"aud":"https://other.example"}`, base, exp)), 401},
		{"PITFALLS 3: duplicate names", "scope twice", nil, nil,
			raw(fmt.Sprintf(`{%s,"exp":%d,"scope":"models:read"}`, base, exp)), 401},
		// Scopes: scope string, scp array or string; whole and case-sensitive.
		{"CONTRACT scopes: scp string", "scp space-separated", at, claims(map[string]any{"scope": nil, "scp": "chat:completions models:read"}), "", 200},
		{"CONTRACT scopes: scp array", "scp array", at, claims(map[string]any{"scope": nil, "scp": []string{"chat:completions", "models:read"}}), "", 200},
		{"CONTRACT scopes: space-separated", "scope among others", at, claims(map[string]any{"scope": "a models:read b"}), "", 200},
		{"CONTRACT scopes: whole", "scope models:read:all", at, claims(map[string]any{"scope": "models:read:all"}), "", 403},
		{"CONTRACT scopes: whole", "scope models", at, claims(map[string]any{"scope": "models"}), "", 403},
		{"CONTRACT scopes: whole", "scope with a comma", at, claims(map[string]any{"scope": "models:read,chat"}), "", 403},
		{"CONTRACT scopes: case-sensitive", "scp MODELS:READ", at, claims(map[string]any{"scope": nil, "scp": []string{"MODELS:READ"}}), "", 403},
		// An scp array element is one scope: "models:read chat" is none of
		// models:read (refused as a bad claim).
		{"CONTRACT scopes: whole", "scp element with a space", at, claims(map[string]any{"scope": nil, "scp": []string{"models:read chat"}}), "", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.tok
			if tok == "" {
				tok = e.iss.Sign(tc.header, tc.claims)
			}
			e.remember(tok)
			r := p.do("GET", "/v1/models", tok, nil)
			if r.StatusCode != tc.want {
				t.Fatalf("%s: status %d body %s; want %d", tc.rule, r.StatusCode, r.body, tc.want)
			}
			switch tc.want {
			case 401:
				wantError(t, r, 401, "invalid_token")
			case 403:
				wantError(t, r, 403, "insufficient_scope")
			}
			if a := p.audit(r.id()); a.Status != tc.want {
				t.Errorf("audit status %d; want %d", a.Status, tc.want)
			}
		})
	}
	// Only the 200 cases reached the upstream.
	for _, rec := range e.api.Requests() {
		if rec.Path != "/v1/models" {
			t.Errorf("upstream got %s", rec.Path)
		}
	}
}

// TestConformBearerScheme checks how the Authorization header is read
// (RFC 6750 2.1, RFC 9110 11.1: the scheme is case-insensitive; b64token
// syntax; one header only) and that a token in the query is no credential
// (RFC 6750 2.3 is not offered: CONTRACT "minus query-string tokens").
func TestConformBearerScheme(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	tok := e.token("models:read")
	for _, tc := range []struct {
		rule, auth string
		want       int
		errAttr    string // RFC 6750 error attribute; "" = none
	}{
		{"RFC 9110 11.1 scheme case-insensitive", "bearer " + tok, 200, ""},
		{"RFC 9110 11.1 scheme case-insensitive", "BEARER " + tok, 200, ""},
		{"RFC 9110 11.4 1*SP after the scheme", "Bearer   " + tok, 200, ""},
		{"RFC 6750 3.1 no credentials: no error", "Basic YWxpY2U6c2VjcmV0", 401, ""},
		{"RFC 6750 3.1 no credentials: no error", "Negotiate abc", 401, ""},
		{"RFC 6750 3.1 invalid_request: no token", "Bearer", 400, "invalid_request"},
		{"RFC 6750 3.1 invalid_request: no token", "Bearer ", 400, "invalid_request"},
		// A value that is no b64token is a malformed token (RFC 6750 3.1
		// invalid_token: "expired, revoked, malformed") or a malformed
		// request (invalid_request): either, never a pass.
		{"RFC 6750 2.1 b64token syntax", "Bearer " + tok + " extra", 401, "invalid_token"},
		{"RFC 6750 2.1 b64token syntax", "Bearer " + tok + "," + tok, 400, "invalid_request"},
		{"RFC 6750 2.1 b64token syntax", `Bearer "` + tok + `"`, 401, "invalid_token"},
		{"RFC 6750 3.1 invalid_token", "Bearer abc.def.ghi", 401, "invalid_token"},
	} {
		t.Run(tc.auth[:min(len(tc.auth), 20)], func(t *testing.T) {
			r := p.do("GET", "/v1/models", "", nil, "Authorization", tc.auth)
			if r.StatusCode != tc.want {
				t.Fatalf("%s: status %d body %s; want %d", tc.rule, r.StatusCode, r.body, tc.want)
			}
			if tc.want == 200 {
				return
			}
			wantError(t, r, tc.want, "")
			ps := challengeParams(t, r.Header.Get("Www-Authenticate"))
			if ps["error"] != tc.errAttr {
				t.Errorf("%s: challenge %q; want error %q", tc.rule, r.Header.Get("Www-Authenticate"), tc.errAttr)
			}
			if tc.errAttr == "" && (ps["error_description"] != "" || ps["scope"] != "") {
				t.Errorf("%s: challenge %q carries error attributes without credentials", tc.rule, r.Header.Get("Www-Authenticate"))
			}
		})
	}
	// A form-encoded body token (RFC 6750 2.2) is no credential either.
	form := "access_token=" + tok
	r := raw(t, p.proxy, fmt.Sprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(form), form))
	if r.StatusCode != 401 && r.StatusCode != 400 {
		t.Errorf("RFC 6750 2.2 body token: status %d; want 401 (not a credential) or 400", r.StatusCode)
	}
	if strings.Contains(r.Header.Get("Www-Authenticate"), "invalid_token") {
		t.Errorf("body token was read as a credential: %q", r.Header.Get("Www-Authenticate"))
	}
	for _, rec := range e.api.Requests() {
		if rec.Path != "/v1/models" {
			t.Errorf("upstream got %s", rec.Path)
		}
	}
}

// TestConformHostileIdentityClaims checks PITFALLS 10 and CONTRACT
// "Identity headers" / "never a 500": claims that become header values
// (sub, client_id, azp) with control characters, DEL or a great length
// are refused or forwarded intact, never a 5xx from the transport.
func TestConformHostileIdentityClaims(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	for _, tc := range []struct {
		name  string
		extra map[string]any
	}{
		{"sub with NUL", map[string]any{"sub": "alice\x00bob"}},
		{"sub with DEL", map[string]any{"sub": "alice\x7f"}},
		{"sub with a tab", map[string]any{"sub": "alice\tbob"}},
		{"sub with LF", map[string]any{"sub": "alice\nX-Evil: 1"}},
		{"sub non-ASCII", map[string]any{"sub": "josé"}},
		{"sub 16 KiB", map[string]any{"sub": strings.Repeat("a", 16<<10)}},
		{"client_id with CR", map[string]any{"client_id": "cli\rX"}},
		{"azp with NUL", map[string]any{"client_id": nil, "azp": "web\x00app"}},
		{"sub a number", map[string]any{"sub": 42}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.api.Reset()
			c := map[string]any{"iss": e.iss.URL(), "sub": "alice", "client_id": "cli", "aud": audience,
				"scope": "echo", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
			for k, v := range tc.extra {
				if v == nil {
					delete(c, k)
				} else {
					c[k] = v
				}
			}
			tok := e.remember(e.iss.Sign(map[string]any{"typ": "at+jwt"}, c))
			r := p.do("GET", "/v1/echo/id", tok, nil)
			switch {
			case r.StatusCode == 200:
				h := e.lastRecorded().Header
				want := fmt.Sprint(c["sub"])
				if got := h.Get("X-Auth-Subject"); got != want {
					t.Errorf("forwarded X-Auth-Subject %.60q; want the claim intact %.60q (or a refusal)", got, want)
				}
				if h.Get("X-Evil") != "" {
					t.Errorf("a claim injected a header")
				}
			case r.StatusCode == 401:
				wantError(t, r, 401, "invalid_token")
			default:
				t.Errorf("status %d body %s; want 401 or 200, never a 5xx", r.StatusCode, r.body)
			}
		})
	}
}
