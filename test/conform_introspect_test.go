package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/testkit"
)

// introspectionAS is an RFC 7662 introspection endpoint: it answers each
// token with the answer set for it, and records every call.
type introspectionAS struct {
	mu      sync.Mutex
	answers map[string]asAnswer
	calls   []asCall
}

// asAnswer is what the endpoint answers for one token.
type asAnswer struct {
	status int    // default 200
	ctype  string // default application/json
	body   string
	header []string // more response headers, name and value pairs
}

// asCall is one call the endpoint received.
type asCall struct {
	method, ctype, rawQuery, authz string
	form                           url.Values
}

func (as *introspectionAS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	c := asCall{method: r.Method, ctype: r.Header.Get("Content-Type"), rawQuery: r.URL.RawQuery,
		authz: r.Header.Get("Authorization"), form: r.PostForm}
	as.mu.Lock()
	as.calls = append(as.calls, c)
	a, ok := as.answers[r.PostForm.Get("token")]
	as.mu.Unlock()
	if !ok {
		a = asAnswer{body: `{"active":false}`}
	}
	for i := 0; i+1 < len(a.header); i += 2 {
		w.Header().Set(a.header[i], a.header[i+1])
	}
	ct := a.ctype
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	st := a.status
	if st == 0 {
		st = 200
	}
	w.WriteHeader(st)
	_, _ = w.Write([]byte(a.body))
}

func (as *introspectionAS) callsFor(tok string) []asCall {
	as.mu.Lock()
	defer as.mu.Unlock()
	var out []asCall
	for _, c := range as.calls {
		if c.form.Get("token") == tok {
			out = append(out, c)
		}
	}
	return out
}

// The gateway's credentials at the endpoint: the secret holds characters
// RFC 6749 2.3.1 has the client form-encode before Basic.
const (
	introClientID = "scope gate"
	introSecret   = "s3cret:with/special&chars+="
)

// TestConformIntrospection checks the gateway as an RFC 7662 client: the
// request it makes (2.1), what it takes from the answer (2.2: active
// exactly true, exp and nbf honoured, iss, aud) and what a failing
// endpoint costs the client (docs/introspection.md: 503 with
// Retry-After, never an acceptance).
func TestConformIntrospection(t *testing.T) {
	t.Parallel()
	as := &introspectionAS{answers: map[string]asAnswer{}}
	asSrv := httptest.NewServer(as)
	t.Cleanup(asSrv.Close)
	redirected := false
	var rmu sync.Mutex
	redirectTarget := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rmu.Lock()
		redirected = true
		rmu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"active":true}`))
	}))
	t.Cleanup(redirectTarget.Close)

	e := newEnv(t, envOptions{})
	p := start(t, e, writeConfig(t, e.config(cfg{issuerExtra: `    leeway: 1s
    introspection:
      endpoint: "` + asSrv.URL + `/introspect"
      auth_method: client_secret_basic
      client_id: "` + introClientID + `"
      client_secret: "` + introSecret + `"
      timeout: 3s
`, routes: defaultRoutes + `
dpop:
  public_base_url: "` + dpopBase + `"
`})))
	if !p.waitReady(10 * time.Second) {
		t.Fatal("not ready")
	}
	now := time.Now()
	answer := func(over map[string]any) string {
		m := map[string]any{"active": true, "iss": e.iss.URL(), "sub": "alice", "client_id": "cli", "aud": audience,
			"scope": "chat:completions", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "token_type": "Bearer"}
		for k, v := range over {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	n := 0
	opaque := func(a asAnswer) string {
		n++
		tok := e.remember(fmt.Sprintf("opaque-conform-token-%03d-%s", n, strings.Repeat("x", 24)))
		as.mu.Lock()
		as.answers[tok] = a
		as.mu.Unlock()
		return tok
	}

	for _, tc := range []struct {
		rule   string
		answer asAnswer
		status int
		code   string
	}{
		{"2.2 active true: accepted", asAnswer{body: answer(nil)}, 200, ""},
		{"2.2 media type with parameters", asAnswer{ctype: "application/json; charset=utf-8", body: answer(nil)}, 200, ""},
		{"2.2 active false: inactive", asAnswer{body: `{"active":false}`}, 401, "invalid_token"},
		{"2.2 active the string \"true\": not boolean true", asAnswer{body: answer(map[string]any{"active": "true"})}, 503, "introspection_unavailable"},
		{"2.2 active 1: not boolean true", asAnswer{body: answer(map[string]any{"active": 1})}, 503, "introspection_unavailable"},
		{"2.2 active missing", asAnswer{body: answer(map[string]any{"active": nil})}, 503, "introspection_unavailable"},
		{"2.2 active null", asAnswer{body: strings.Replace(answer(nil), `"active":true`, `"active":null`, 1)}, 503, "introspection_unavailable"},
		{"2.2 duplicate active member", asAnswer{body: strings.Replace(answer(nil), `"active":true`, `"active":false,"active":true`, 1)}, 503, "introspection_unavailable"},
		{"2.2 exp in the past", asAnswer{body: answer(map[string]any{"exp": now.Add(-time.Hour).Unix()})}, 401, "invalid_token"},
		{"2.2 nbf in the future", asAnswer{body: answer(map[string]any{"nbf": now.Add(time.Hour).Unix()})}, 401, "invalid_token"},
		{"2.2 exp a string", asAnswer{body: answer(map[string]any{"exp": strconv.FormatInt(now.Add(time.Hour).Unix(), 10)})}, 401, "invalid_token"},
		{"docs: no exp", asAnswer{body: answer(map[string]any{"exp": nil})}, 401, "invalid_token"},
		{"2.2 iss of another issuer", asAnswer{body: answer(map[string]any{"iss": "https://other.example"})}, 401, "invalid_token"},
		{"2.2 aud not ours", asAnswer{body: answer(map[string]any{"aud": "https://other.example"})}, 401, "invalid_token"},
		{"2.2 a refresh token", asAnswer{body: answer(map[string]any{"token_type": "refresh_token"})}, 401, "invalid_token"},
		{"2.2 scope lacking: 403", asAnswer{body: answer(map[string]any{"scope": "models:read"})}, 403, "insufficient_scope"},
		{"2.2 Content-Type text/html", asAnswer{ctype: "text/html", body: answer(nil)}, 503, "introspection_unavailable"},
		{"2.2 not JSON", asAnswer{body: "active=true"}, 503, "introspection_unavailable"},
		{"2.2 a JSON array", asAnswer{body: "[" + answer(nil) + "]"}, 503, "introspection_unavailable"},
		{"2.3 endpoint error 500", asAnswer{status: 500, body: `{"error":"server_error"}`}, 503, "introspection_unavailable"},
		{"2.3 endpoint refuses the gateway 401", asAnswer{status: 401, body: `{"error":"invalid_client"}`, header: []string{"WWW-Authenticate", `Basic realm="as"`}}, 503, "introspection_unavailable"},
		{"4 redirect: not followed", asAnswer{status: 302, body: "", header: []string{"Location", redirectTarget.URL + "/introspect"}}, 503, "introspection_unavailable"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			tok := opaque(tc.answer)
			before := len(e.api.Requests())
			r := chatAs(p, tok)
			if tc.status == 200 {
				if r.StatusCode != 200 {
					t.Fatalf("status %d; want 200 (%s)", r.StatusCode, r.body)
				}
				if got := e.lastRecorded().Header.Get("X-Auth-Subject"); got != "alice" {
					t.Errorf("X-Auth-Subject %q; want alice (the answer's sub)", got)
				}
			} else {
				wantError(t, r, tc.status, tc.code)
				if len(e.api.Requests()) != before {
					t.Errorf("a refused request reached the upstream")
				}
			}
			if tc.status == 503 {
				// RFC 9110 10.2.3: delay-seconds, a non-negative integer.
				if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
					t.Errorf("Retry-After %q; want whole seconds >= 1", r.Header.Get("Retry-After"))
				}
				if r.Header.Get("Www-Authenticate") != "" {
					t.Errorf("a 503 with WWW-Authenticate %q: the token is not at fault", r.Header.Get("Www-Authenticate"))
				}
			}
			calls := as.callsFor(tok)
			if len(calls) != 1 {
				t.Fatalf("%d introspection calls; want 1", len(calls))
			}
			checkIntrospectionCall(t, calls[0], tok)
		})
	}
	rmu.Lock()
	if redirected {
		t.Error("the gateway followed the endpoint's redirect: the token travelled further")
	}
	rmu.Unlock()

	t.Run("RFC 9449 6.2 cnf.jkt in the answer: DPoP-bound", func(t *testing.T) {
		k := newDPoPKey(t)
		tok := opaque(asAnswer{body: answer(map[string]any{"token_type": "DPoP", "cnf": map[string]any{"jkt": k.jkt()}})})
		// 7.2: the bound token as Bearer is refused.
		wantError(t, chatAs(p, tok), 401, "invalid_token")
		// 7.1: with the DPoP scheme and a proof of that key it passes.
		const path = "/v1/chat/completions"
		pr := k.proof(t, nil, dpopClaims("POST", path, tok, nil))
		r := p.do("POST", path, "", []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`), "Authorization", "DPoP "+tok, "DPoP", pr)
		if r.StatusCode != 200 {
			t.Fatalf("DPoP with its proof: %d %s", r.StatusCode, r.body)
		}
		// A proof of another key is refused.
		pr = newDPoPKey(t).proof(t, nil, dpopClaims("POST", path, tok, nil))
		r = p.do("POST", path, "", []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`), "Authorization", "DPoP "+tok, "DPoP", pr)
		wantError(t, r, 401, "invalid_dpop_proof")
	})

	t.Run("2.2 exp honoured from the cache", func(t *testing.T) {
		tok := opaque(asAnswer{body: answer(map[string]any{"exp": time.Now().Add(5 * time.Second).Unix()})})
		if r := chatAs(p, tok); r.StatusCode != 200 {
			t.Fatalf("before exp: %d %s", r.StatusCode, r.body)
		}
		var r response
		// Waits for exp to pass; the assertion is on the refusal, not the time.
		if !testkit.Wait(30*time.Second, func() bool { r = chatAs(p, tok); return r.StatusCode != 200 }) {
			t.Fatal("the token is still accepted well after its exp")
		}
		wantError(t, r, 401, "invalid_token")
	})
}

// checkIntrospectionCall checks the request of RFC 7662 2.1: POST, a
// form body with token and token_type_hint, never the token in the URL,
// and client_secret_basic as RFC 6749 2.3.1 has it.
func checkIntrospectionCall(t *testing.T, c asCall, tok string) {
	t.Helper()
	if c.method != "POST" {
		t.Errorf("method %s; want POST", c.method)
	}
	if mt, _, _ := mime.ParseMediaType(c.ctype); mt != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type %q; want application/x-www-form-urlencoded", c.ctype)
	}
	if c.rawQuery != "" {
		t.Errorf("query %q; the token goes in the body only", c.rawQuery)
	}
	if got := c.form["token"]; len(got) != 1 || got[0] != tok {
		t.Errorf("token parameter %d values; want the token once", len(got))
	}
	if h := c.form.Get("token_type_hint"); h != "access_token" {
		t.Errorf("token_type_hint %q; want access_token", h)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(introClientID)+":"+url.QueryEscape(introSecret)))
	if c.authz != want {
		t.Errorf("Authorization %q; want %q (RFC 6749 2.3.1: form-encoded, then Basic)", c.authz, want)
	}
}
