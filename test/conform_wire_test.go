package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/issuer"
)

// parseChallenge parses one WWW-Authenticate value by the grammar of RFC
// 9110 11.6.1 / 11.2 (auth-scheme 1*SP #auth-param; auth-param = token
// BWS "=" BWS ( token / quoted-string )), unescaping quoted-pairs, and
// returns the scheme and the params in order. ok is false if the value
// does not follow the grammar.
func parseChallenge(v string) (scheme string, names, values []string, ok bool) {
	isTchar := func(c byte) bool {
		return c > 0x20 && c < 0x7f && !strings.ContainsRune("\"(),/:;<=>?@[\\]{}", rune(c))
	}
	i := 0
	for i < len(v) && isTchar(v[i]) {
		i++
	}
	scheme = v[:i]
	if scheme == "" {
		return "", nil, nil, false
	}
	if i == len(v) {
		return scheme, nil, nil, true
	}
	if v[i] != ' ' {
		return "", nil, nil, false
	}
	for i < len(v) && v[i] == ' ' {
		i++
	}
	for first := true; i < len(v); first = false {
		if !first {
			for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
				i++
			}
			if i == len(v) || v[i] != ',' {
				return "", nil, nil, false
			}
			i++
			for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
				i++
			}
		}
		j := i
		for j < len(v) && isTchar(v[j]) {
			j++
		}
		if j == i || j == len(v) || v[j] != '=' {
			return "", nil, nil, false
		}
		name := v[i:j]
		i = j + 1
		var val strings.Builder
		if i < len(v) && v[i] == '"' {
			i++
			closed := false
			for i < len(v) {
				c := v[i]
				if c == '"' {
					closed = true
					i++
					break
				}
				if c == '\\' && i+1 < len(v) {
					i++
					c = v[i]
				}
				val.WriteByte(c)
				i++
			}
			if !closed {
				return "", nil, nil, false
			}
		} else {
			j = i
			for j < len(v) && isTchar(v[j]) {
				j++
			}
			if j == i {
				return "", nil, nil, false
			}
			val.WriteString(v[i:j])
			i = j
		}
		names, values = append(names, strings.ToLower(name)), append(values, val.String())
	}
	return scheme, names, values, true
}

// nqschar reports whether s holds only the characters RFC 6750 3 allows in
// error and error_description (%x20-21 / %x23-5B / %x5D-7E).
func nqschar(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// TestConformChallengeSyntax checks every challenge the gateway makes
// against RFC 6750 section 3 and CONTRACT "Responses": the Bearer scheme,
// auth-params by the RFC 9110 grammar, realm first (and "scopegate"), no
// attribute twice, error/error_description/scope within their character
// sets (whatever the token said: its iss, kid and aud carry quotes,
// backslashes, non-ASCII and control characters), the status each error
// goes with, no error attribute without credentials, and no part of the
// token echoed in the response.
func TestConformChallengeSyntax(t *testing.T) {
	t.Parallel()
	routes := defaultRoutes + `
  - name: multi
    methods: [POST]
    path: /v1/multi
    upstream: models
    scopes: ["chat:completions", "generate:images"]
`
	e, p := serve(t, envOptions{}, cfg{routes: routes})
	hostile := "https://evil.example/\"q\"\\b\\ é\x01\ttab"
	now := time.Now()
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"iss": e.iss.URL(), "sub": "alice", "aud": audience, "scope": "models:read",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	at := map[string]any{"typ": "at+jwt"}
	tokEcho := e.token("echo")
	for _, tc := range []struct {
		rule       string
		method     string
		path, auth string
		raw        bool // send auth as two Authorization headers
		status     int
		errAttr    string
		scope      string
	}{
		{"RFC 6750 3.1 / CONTRACT no credentials", "GET", "/v1/models", "", false, 401, "", ""},
		{"RFC 6750 3.1 / CONTRACT no credentials", "GET", "/v1/models", "Basic YWxpY2U6c2VjcmV0", false, 401, "", ""},
		{"RFC 6750 3.1 invalid_request", "GET", "/v1/models", "Bearer", false, 400, "invalid_request", ""},
		{"CONTRACT two Authorization headers", "GET", "/v1/models", "Bearer " + tokEcho, true, 400, "invalid_request", ""},
		{"RFC 6750 3.1 invalid_token: expired", "GET", "/v1/models",
			"Bearer " + e.spec(issuer.AccessTokenSpec{Subject: "alice", Scopes: []string{"models:read"}, TTL: -time.Hour}), false, 401, "invalid_token", ""},
		{"RFC 6750 3 error_description charset: hostile iss", "GET", "/v1/models",
			"Bearer " + e.remember(e.iss.Sign(at, claims(map[string]any{"iss": hostile}))), false, 401, "invalid_token", ""},
		{"RFC 6750 3 error_description charset: hostile aud", "GET", "/v1/models",
			"Bearer " + e.remember(e.iss.Sign(at, claims(map[string]any{"aud": hostile}))), false, 401, "invalid_token", ""},
		{"RFC 6750 3 error_description charset: hostile kid", "GET", "/v1/models",
			"Bearer " + e.remember(e.iss.Sign(map[string]any{"typ": "at+jwt", "kid": hostile}, claims(nil))), false, 401, "invalid_token", ""},
		{"RFC 6750 3 error_description charset: hostile alg", "GET", "/v1/models",
			"Bearer " + e.remember(e.iss.Sign(map[string]any{"typ": "at+jwt", "alg": hostile}, claims(nil))), false, 401, "invalid_token", ""},
		{"RFC 6750 3 error_description charset: hostile typ", "GET", "/v1/models",
			"Bearer " + e.remember(e.iss.Sign(map[string]any{"typ": hostile}, claims(nil))), false, 401, "invalid_token", ""},
		{"RFC 6750 3.1 insufficient_scope + scope", "POST", "/v1/images/generations", "Bearer " + tokEcho, false, 403, "insufficient_scope", "generate:images"},
		{"RFC 6750 3 scope: space-delimited", "POST", "/v1/multi", "Bearer " + tokEcho, false, 403, "insufficient_scope", "chat:completions generate:images"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			var r response
			if tc.raw {
				r = raw(t, p.proxy, tc.method+" "+tc.path+" HTTP/1.1\r\nHost: x\r\nAuthorization: "+tc.auth+"\r\nAuthorization: "+tc.auth+"\r\nConnection: close\r\n\r\n")
			} else {
				var hdr []string
				if tc.auth != "" {
					hdr = []string{"Authorization", tc.auth}
				}
				var body []byte
				if tc.method == "POST" {
					body = []byte(`{"model":"gpt-4o","prompt":"x"}`)
				}
				r = p.do(tc.method, tc.path, "", body, hdr...)
			}
			wantError(t, r, tc.status, "")
			chs := r.Header.Values("Www-Authenticate")
			if len(chs) != 1 {
				t.Fatalf("%d WWW-Authenticate headers %q; want one Bearer challenge", len(chs), chs)
			}
			scheme, names, values, ok := parseChallenge(chs[0])
			if !ok {
				t.Fatalf("WWW-Authenticate %q does not follow the RFC 9110 11.6.1 grammar", chs[0])
			}
			if scheme != "Bearer" {
				t.Errorf("scheme %q; want Bearer", scheme)
			}
			// CONTRACT prints `Bearer realm="scopegate"` without an error and
			// `Bearer error="...", ...` (then scope=) with one: that order,
			// so that a client matching the printed prefix finds it.
			switch {
			case tc.errAttr == "" && (len(names) == 0 || names[0] != "realm" || values[0] != "scopegate"):
				t.Errorf("challenge %q; want realm=\"scopegate\" first", chs[0])
			case tc.errAttr != "" && !strings.HasPrefix(chs[0], `Bearer error="`+tc.errAttr+`"`):
				t.Errorf("challenge %q; want it to begin Bearer error=%q, as CONTRACT prints it", chs[0], tc.errAttr)
			case tc.scope != "" && !strings.HasPrefix(chs[0], `Bearer error="`+tc.errAttr+`", scope="`+tc.scope+`"`):
				t.Errorf("challenge %q; want scope= right after error=, as CONTRACT prints it", chs[0])
			}
			got := map[string]string{}
			for n, name := range names {
				if _, dup := got[name]; dup {
					t.Errorf("challenge %q repeats %s (RFC 6750 3: MUST NOT)", chs[0], name)
				}
				got[name] = values[n]
				switch name {
				case "error", "error_description", "realm":
					if !nqschar(values[n]) {
						t.Errorf("%s %q has characters outside %%x20-21 / %%x23-5B / %%x5D-7E", name, values[n])
					}
				case "scope":
					for _, s := range strings.Split(values[n], " ") {
						if s == "" || !nqschar(s) || strings.Contains(s, " ") {
							t.Errorf("scope %q is not space-delimited scope-tokens", values[n])
						}
					}
				}
			}
			if got["error"] != tc.errAttr {
				t.Errorf("error %q; want %q (challenge %q)", got["error"], tc.errAttr, chs[0])
			}
			if got["realm"] != "scopegate" {
				t.Errorf("challenge %q; want realm=\"scopegate\" (server.realm)", chs[0])
			}
			if tc.errAttr == "" {
				for _, k := range []string{"error_description", "error_uri", "scope"} {
					if _, ok := got[k]; ok {
						t.Errorf("challenge %q carries %s without credentials (RFC 6750 3.1)", chs[0], k)
					}
				}
			} else if got["error_description"] == "" {
				t.Errorf("challenge %q without error_description (CONTRACT)", chs[0])
			}
			if tc.scope != "" && got["scope"] != tc.scope {
				t.Errorf("scope %q; want %q", got["scope"], tc.scope)
			}
			// The forms CONTRACT "Responses" prints, as printed.
			lit := map[string]string{
				"invalid_token":      `error="invalid_token", error_description="`,
				"invalid_request":    `error="invalid_request", `,
				"insufficient_scope": `error="insufficient_scope", scope="` + tc.scope + `"`,
			}[tc.errAttr]
			if !strings.Contains(chs[0], lit) {
				t.Errorf("challenge %q lacks the contract's form %q", chs[0], lit)
			}
			// Nothing of the token comes back.
			if tok, ok := strings.CutPrefix(tc.auth, "Bearer "); ok {
				all := string(r.body) + fmt.Sprint(r.Header)
				for n, seg := range strings.Split(tok, ".") {
					if len(seg) >= 16 && strings.Contains(all, seg) {
						t.Errorf("segment %d of the token echoed in the response", n)
					}
				}
			}
		})
	}
	e.noneRecorded("refusals")
}

// TestConformUpstreamView checks CONTRACT "What the upstream sees" beyond
// TestSpoofedHeaders and TestAllowedRequest: the client's Authorization is
// dropped (no own credential configured) unless forward_authorization,
// the RFC 9110 7.6.1 hop-by-hop headers (and those Connection names) are
// removed, Forwarded is the TCP peer, and identity comes from azp and scp
// when client_id and scope are absent.
func TestConformUpstreamView(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	routes := defaultRoutes + `
  - name: bare
    path: /v1/bare/{rest...}
    upstream: bare
    scopes: ["echo"]
  - name: fwd
    path: /v1/fwd/{rest...}
    upstream: fwd
    scopes: ["echo"]
  - name: barepublic
    path: /pub/{rest...}
    upstream: bare
    public: true
`
	text := strings.Replace(e.config(cfg{routes: routes}), "routes:",
		fmt.Sprintf("  bare:\n    url: %q\n  fwd:\n    url: %q\n    forward_authorization: true\nroutes:", e.apiSrv.URL, e.apiSrv.URL), 1)
	p := start(t, e, writeConfig(t, text))
	if !p.waitReady(10 * time.Second) {
		t.Fatal("not ready")
	}
	tok := e.token("echo")
	hop := []string{
		"Connection", "keep-alive, X-Hop-Custom",
		"X-Hop-Custom", "1",
		"Keep-Alive", "timeout=5",
		"Proxy-Connection", "keep-alive",
		"Proxy-Authorization", "Basic cHJveHk6c2VjcmV0",
		"Te", "gzip",
		"X-Keep-Me", "yes",
	}
	for _, tc := range []struct {
		rule, path string
		wantAuth   []string
	}{
		{"CONTRACT Authorization dropped", "/v1/bare/x", nil},
		{"CONTRACT Authorization dropped, public route", "/pub/x", nil},
		{"CONTRACT Authorization dropped, own credential set", "/v1/echo/x", []string{upstreamSecret}},
		{"CONTRACT forward_authorization: true", "/v1/fwd/x", []string{"Bearer " + tok}},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			e.api.Reset()
			r := p.do("GET", tc.path, tok, nil, hop...)
			if r.StatusCode != 200 {
				t.Fatalf("status %d body %s; want 200", r.StatusCode, r.body)
			}
			h := e.lastRecorded().Header
			if got := h.Values("Authorization"); strings.Join(got, "|") != strings.Join(tc.wantAuth, "|") {
				t.Errorf("upstream Authorization %q; want %q", got, tc.wantAuth)
			}
			for _, k := range []string{"X-Hop-Custom", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Te"} {
				if v := h.Values(k); len(v) != 0 {
					t.Errorf("RFC 9110 7.6.1: hop-by-hop %s reached the upstream: %q", k, v)
				}
			}
			if h.Get("X-Keep-Me") != "yes" {
				t.Errorf("X-Keep-Me %q; an end-to-end header must pass", h.Get("X-Keep-Me"))
			}
		})
	}
	t.Run("CONTRACT Forwarded replaced by the TCP peer", func(t *testing.T) {
		e.api.Reset()
		r := p.do("GET", "/v1/echo/fwd", tok, nil, "Forwarded", "for=203.0.113.9;proto=https", "X-Real-IP", "203.0.113.9",
			"X-Forwarded-For", "203.0.113.9")
		if r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
		h := e.lastRecorded().Header
		if got := h.Values("Forwarded"); len(got) > 1 || len(got) == 1 && !strings.HasPrefix(strings.ReplaceAll(got[0], `"`, ""), "for=127.0.0.1") {
			t.Errorf("Forwarded %q; want the TCP peer (for=127.0.0.1) or nothing", got)
		}
		if got := h.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
			t.Errorf("X-Forwarded-For %q; want [127.0.0.1]", got)
		}
		if got := h.Values("X-Real-Ip"); len(got) > 1 || len(got) == 1 && got[0] != "127.0.0.1" {
			t.Errorf("X-Real-Ip %q; want the TCP peer or nothing", got)
		}
	})
	t.Run("CONTRACT identity headers: azp and scp", func(t *testing.T) {
		e.api.Reset()
		azp := e.spec(issuer.AccessTokenSpec{Subject: "bob", Extra: map[string]any{"azp": "web-app", "scp": []string{"echo", "models:read"}}})
		r := p.do("GET", "/v1/echo/id", azp, nil)
		if r.StatusCode != 200 {
			t.Fatalf("status %d body %s", r.StatusCode, r.body)
		}
		h := e.lastRecorded().Header
		if h.Get("X-Auth-Subject") != "bob" || h.Get("X-Auth-Client-Id") != "web-app" || !hasFields(h.Get("X-Auth-Scopes"), "echo", "models:read") {
			t.Errorf("identity headers %q / %q / %q; want bob / web-app (azp) / echo models:read",
				h.Get("X-Auth-Subject"), h.Get("X-Auth-Client-Id"), h.Get("X-Auth-Scopes"))
		}
		if a := p.audit(r.id()); a.Sub != "bob" || a.ClientID != "web-app" || !hasFields(a.Scopes, "echo", "models:read") {
			t.Errorf("CONTRACT Logs: audit sub/client_id/scopes %q/%q/%q; want bob/web-app/echo models:read", a.Sub, a.ClientID, a.Scopes)
		}
	})
}

// TestConformMethods checks RFC 9110 methods at the edge the contract
// leaves to "what a careful user expects": a 405 lists Allow (RFC 9110
// 15.5.6), OPTIONS and HEAD are decided like any other method (never
// forwarded without a token), and a 405 is a gateway error.
func TestConformMethods(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	for _, m := range []string{"OPTIONS", "HEAD"} {
		r := p.do(m, "/v1/chat/completions", "", nil)
		if r.StatusCode < 400 {
			t.Errorf("%s /v1/chat/completions without a token: status %d; want a refusal", m, r.StatusCode)
		}
		if r.StatusCode == 405 && r.Header.Get("Allow") == "" {
			t.Errorf("%s: 405 without Allow (RFC 9110 15.5.6)", m)
		}
	}
	e.noneRecorded("OPTIONS and HEAD without a token")
	// CONNECT in origin-form on a route that takes any method: a tunnel
	// (PITFALLS 8), never forwarded, even with a token; 405 with an Allow
	// that, like the any-method Allow, leaves CONNECT out.
	tok := e.token("echo")
	for _, path := range []string{"/v1/echo/x", "/public/x", "/nowhere"} {
		r := raw(t, p.proxy, "CONNECT "+path+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\nConnection: close\r\n\r\n")
		if r.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("CONNECT %s: status %d; want 405", path, r.StatusCode)
		}
		if strings.Contains(r.Header.Get("Allow"), "CONNECT") {
			t.Errorf("CONNECT %s: Allow %q lists CONNECT", path, r.Header.Get("Allow"))
		}
	}
	e.noneRecorded("CONNECT")
	// HEAD on a GET route with a token: a careful gateway either serves it
	// as GET without a body or refuses it with 405 + Allow.
	r := p.do("HEAD", "/v1/models", e.token("models:read"), nil)
	switch r.StatusCode {
	case 200:
		if len(r.body) != 0 {
			t.Errorf("HEAD with a body of %d bytes", len(r.body))
		}
	case 405:
		if !strings.Contains(r.Header.Get("Allow"), "GET") {
			t.Errorf("HEAD 405 with Allow %q; want GET listed", r.Header.Get("Allow"))
		}
	default:
		t.Errorf("HEAD /v1/models: status %d; want 200 or 405", r.StatusCode)
	}
}

// TestConformResourceMetadataPath checks RFC 9728 3.1 for a resource
// identifier with a path: the metadata URL inserts the well-known suffix
// between the host and the path, the 401 challenge's resource_metadata
// names that URL (RFC 9728 5.1), and the document there has the REQUIRED
// resource member identical to the configured identifier (3.3).
func TestConformResourceMetadataPath(t *testing.T) {
	t.Parallel()
	const resource = "https://models.scopegate.test/api/v1"
	const metaURL = "https://models.scopegate.test/.well-known/oauth-protected-resource/api/v1"
	e, p := serve(t, envOptions{}, cfg{routes: defaultRoutes + "\nresource_metadata:\n  resource: \"" + resource + "\"\n"})
	r := p.do("GET", "/v1/models", "", nil)
	wantError(t, r, 401, "")
	if ps := challengeParams(t, r.Header.Get("Www-Authenticate")); ps["resource_metadata"] != metaURL || ps["realm"] != "scopegate" || ps["error"] != "" {
		t.Errorf("RFC 9728 5.1: challenge %q; want realm, resource_metadata=%q and no error", r.Header.Get("Www-Authenticate"), metaURL)
	}
	r = p.do("GET", "/.well-known/oauth-protected-resource/api/v1", "", nil)
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("RFC 9728 3.2: status %d Content-Type %q; want 200 application/json", r.StatusCode, r.Header.Get("Content-Type"))
	}
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["resource"] != resource {
		t.Errorf("RFC 9728 3.3: resource %v; want %q", doc["resource"], resource)
	}
	e.noneRecorded("metadata")
}

// TestConformRenamedIdentityHeaders checks CONTRACT "Identity headers set
// by the gateway (names configurable)": with other names, the configured
// ones are set by the gateway and client copies of them, in any spelling,
// never reach the upstream.
func TestConformRenamedIdentityHeaders(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{serverExtra: "  identity_headers:\n    subject: X-User\n    client_id: X-Client\n    scopes: X-Grants"})
	tok := e.token("echo")
	r := raw(t, p.proxy, "GET /v1/echo/id HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+
		"\r\nX-User: mallory\r\nx_user: mallory\r\nX-CLIENT: evil\r\nX_Grants: admin\r\nConnection: close, X-User\r\n\r\n")
	if r.StatusCode != 200 {
		t.Fatalf("status %d body %s", r.StatusCode, r.body)
	}
	h := e.lastRecorded().Header
	want := map[string]string{"x-user": "alice", "x-client": "cli", "x-grants": "echo"}
	seen := map[string]bool{}
	for k, vs := range h {
		n := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		if w, ok := want[n]; ok {
			seen[n] = true
			if len(vs) != 1 || vs[0] != w || strings.Contains(k, "_") {
				t.Errorf("upstream %s = %q; want only the gateway's %q", k, vs, w)
			}
		}
	}
	if len(seen) != len(want) {
		t.Errorf("upstream identity headers %v; want X-User, X-Client, X-Grants", h)
	}
}

// TestConformTrustedProxy checks the other half of CONTRACT "Forwarding
// headers": from a configured trusted proxy the client's X-Forwarded-For
// and Forwarded are kept and the TCP peer appended (RFC 7239 4), and its
// X-Real-IP is kept.
func TestConformTrustedProxy(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{serverExtra: "  trusted_proxies: [\"127.0.0.0/8\"]"})
	r := p.do("GET", "/v1/echo/tp", e.token("echo"), nil,
		"X-Forwarded-For", "203.0.113.9", "Forwarded", "for=203.0.113.9", "X-Real-IP", "203.0.113.9")
	if r.StatusCode != 200 {
		t.Fatalf("status %d body %s", r.StatusCode, r.body)
	}
	h := e.lastRecorded().Header
	if got := h.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "203.0.113.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q; want [203.0.113.9, 127.0.0.1]", got)
	}
	if got := h.Get("Forwarded"); !strings.HasPrefix(got, "for=203.0.113.9, for=127.0.0.1") {
		t.Errorf("Forwarded %q; want the client's element, then for=127.0.0.1", got)
	}
	if got := h.Values("X-Real-Ip"); len(got) != 1 || got[0] != "203.0.113.9" {
		t.Errorf("X-Real-Ip %q; want the trusted proxy's [203.0.113.9]", got)
	}
}

// TestConformMethodCase checks PITFALLS 13 for the method: beside a
// catch-all, a lower- or mixed-case spelling of the method a specific
// route takes is refused (400, route_alias) and never forwarded, since
// some upstream frameworks upper-case the method and would run the
// specific route's handler; a method whose spelling changes no decision
// passes as sent.
func TestConformMethodCase(t *testing.T) {
	t.Parallel()
	routes := defaultRoutes + `
  - name: catchall
    path: /v2/{rest...}
    upstream: models
    public: true
  - name: v2images
    methods: [POST]
    path: /v2/images/generations
    upstream: models
    scopes: ["generate:images"]
`
	e, p := serve(t, envOptions{}, cfg{routes: routes})
	for _, tc := range []struct {
		req    string
		status int
	}{
		{"post /v2/images/generations", 400},
		{"Post /v2/images/generations", 400},
		{"post /v2/images/generations/", 400},
		{"post /v2/Images/Generations", 400},
		{"post /v1/images/generations", 405}, // no catch-all there: no route takes "post"
	} {
		t.Run(tc.req, func(t *testing.T) {
			r := raw(t, p.proxy, tc.req+" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
			wantError(t, r, tc.status, "")
			if a := p.audit(r.id()); a.Decision != "deny" {
				t.Errorf("audit %v; want deny", a)
			}
		})
	}
	e.noneRecorded("method spellings")
	// The catch-all's own methods, any spelling that decides the same.
	if r := raw(t, p.proxy, "get /v2/other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); r.StatusCode != 200 {
		t.Errorf("get /v2/other: status %d; want 200 (forwarded: no other route would take GET)", r.StatusCode)
	}
}

// TestConformSSELockstep checks CONTRACT "Streaming responses
// (text/event-stream) flow through unbuffered" without timing: the
// upstream sends the next event only after the client acknowledged the
// previous one, so any buffering in the gateway deadlocks the exchange
// (until the upstream gives up and says so). The media type carries a
// parameter, and the request a body.
func TestConformSSELockstep(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ack := make(chan struct{})
	const events = 5
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.WriteHeader(200)
		for i := range events {
			fmt.Fprintf(w, "data: %d\n\n", i)
			_ = http.NewResponseController(w).Flush()
			select {
			case <-ack:
			case <-time.After(10 * time.Second):
				fmt.Fprint(w, "data: no ack: the gateway buffered\n\n")
				return
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	routes := defaultRoutes + `
  - name: lockstep
    methods: [POST]
    path: /v1/lockstep
    upstream: lockstep
    scopes: ["chat:completions"]
`
	text := strings.Replace(e.config(cfg{routes: routes}), "routes:", fmt.Sprintf("  lockstep:\n    url: %q\nroutes:", up.URL), 1)
	p := start(t, e, writeConfig(t, text))
	if !p.waitReady(10 * time.Second) {
		t.Fatal("not ready")
	}
	req, _ := http.NewRequest("POST", p.url("/v1/lockstep"), strings.NewReader(streamBody))
	req.Header.Set("Authorization", "Bearer "+e.token("chat:completions"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range events {
		var line string
		for line == "" {
			if line, err = br.ReadString('\n'); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
			line = strings.TrimSpace(line)
		}
		if want := fmt.Sprintf("data: %d", i); line != want {
			t.Fatalf("event %d: got %q; want %q", i, line, want)
		}
		ack <- struct{}{}
	}
}

// TestConformDrainTimeoutExitsZero checks CONTRACT "Signals": a stream
// that outlives the drain timeout does not keep the process: after
// SIGTERM it exits, with code 0, once the drain timeout is over, and the
// stream is cut.
func TestConformDrainTimeoutExitsZero(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "data: %d\n\n", i); err != nil {
				return
			}
			_ = http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(up.Close)
	routes := defaultRoutes + `
  - name: endless
    path: /v1/endless
    upstream: endless
    public: true
`
	text := strings.Replace(e.config(cfg{routes: routes}), "routes:", fmt.Sprintf("  endless:\n    url: %q\nroutes:", up.URL), 1)
	text = strings.Replace(text, "drain_timeout: 20s", "drain_timeout: 1s", 1)
	p := start(t, e, writeConfig(t, text))
	resp, err := p.client.Get(p.url("/v1/endless"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGTERM)
	exited, err := p.wait(15 * time.Second)
	if !exited {
		t.Fatalf("scopegate still running 15s after SIGTERM with drain_timeout 1s and an endless stream")
	}
	if err != nil {
		t.Errorf("exit after the drain timeout: %v; want exit code 0", err)
	}
	if _, err := io.Copy(io.Discard, br); err == nil {
		t.Logf("the stream ended cleanly at exit")
	}
}
