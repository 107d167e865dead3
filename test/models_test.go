package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/issuer"
)

// modelRoutes gate chat by a rules table, images by a scope template, and
// filter the model list by both.
const modelRoutes = `
  - name: models
    methods: [GET]
    path: /v1/models
    upstream: models
    scopes: ["models:read"]
    models: {list: true, rules_from: [chat, images]}
  - name: badlist
    methods: [GET]
    path: /v1/echo/list
    upstream: models
    scopes: []
    models: {list: true, rules_from: [chat]}
  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat:completions"]
    models:
      max_body_bytes: 4096
      rules:
        - {model: gpt-4o-mini, scopes: []}
        - {model: "gpt-4o*", scopes: ["model:gpt-4o"]}
  - name: images
    methods: [POST]
    path: /v1/images/generations
    upstream: models
    scopes: ["generate:images"]
    models: {scope_template: "model:{model}"}
  - name: echo
    path: /v1/echo/{rest...}
    upstream: models
    scopes: ["echo"]
`

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestPerModelAuthorization(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{routes: modelRoutes})
	chatMini := []byte(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi \u00e9"}]}` + "\n")
	chat4o := []byte(`{"stream":true, "messages":[{"role":"user","content":"Hi"}], "model":"gpt-4o"}`)
	image := []byte(`{"model":"dall-e-3","prompt":"a lighthouse"}`)
	tests := []struct {
		name, path string
		scopes     []string
		body       []byte
		status     int
		code       string // error code on a refusal
		scopeAttr  string // the challenge's scope on a 403 insufficient_scope
		model      string // audit model
	}{
		{"stream mini allowed", "/v1/chat/completions", []string{"chat:completions"}, chatMini, 200, "", "", "gpt-4o-mini"},
		{"stream 4o refused", "/v1/chat/completions", []string{"chat:completions"}, chat4o, 403, "insufficient_scope", "chat:completions model:gpt-4o", "gpt-4o"},
		{"stream 4o allowed", "/v1/chat/completions", []string{"chat:completions", "model:gpt-4o"}, chat4o, 200, "", "", "gpt-4o"},
		{"model scope without route scope", "/v1/chat/completions", []string{"model:gpt-4o"}, chat4o, 403, "insufficient_scope", "chat:completions", ""},
		{"unlisted model denied", "/v1/chat/completions", []string{"chat:completions", "model:o1"}, []byte(`{"model":"o1","messages":[]}`), 403, "model_not_allowed", "", "o1"},
		{"image allowed", "/v1/images/generations", []string{"generate:images", "model:dall-e-3"}, image, 200, "", "", "dall-e-3"},
		{"image refused", "/v1/images/generations", []string{"generate:images", "model:dall-e-2"}, image, 403, "insufficient_scope", "generate:images model:dall-e-3", "dall-e-3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.api.Reset()
			r := p.do("POST", tt.path, e.token(tt.scopes...), tt.body)
			a := p.audit(r.id())
			if tt.model != "" && a.Model != tt.model {
				t.Errorf("audit model %v; want %q", a.Model, tt.model)
			}
			if tt.status != 200 {
				wantError(t, r, tt.status, tt.code)
				if tt.scopeAttr != "" {
					if w := r.Header.Get("Www-Authenticate"); !strings.Contains(w, `scope="`+tt.scopeAttr+`"`) {
						t.Errorf("WWW-Authenticate %q; want scope=%q", w, tt.scopeAttr)
					}
				}
				if a.Reason != tt.code {
					t.Errorf("audit reason %v; want %q", a.Reason, tt.code)
				}
				e.noneRecorded(tt.name)
				return
			}
			if r.StatusCode != 200 {
				t.Fatalf("status %d; want 200 (%s)", r.StatusCode, r.body)
			}
			if strings.Contains(string(tt.body), `"stream":true`) {
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
					t.Errorf("Content-Type %q; want text/event-stream", ct)
				}
				if !strings.Contains(string(r.body), "data: [DONE]") {
					t.Errorf("stream body lacks data: [DONE]: %.200s", r.body)
				}
			}
			rec := e.lastRecorded()
			if rec.BodySHA256 != sha(tt.body) || rec.ContentLength != int64(len(tt.body)) {
				t.Errorf("upstream got %d bytes (Content-Length %d, sha %s); want the %d bytes sent byte for byte", rec.BodyLen, rec.ContentLength, rec.BodySHA256, len(tt.body))
			}
		})
	}
}

// A chunked request body is buffered and sent on with its exact length.
func TestModelBodyChunked(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{routes: modelRoutes})
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"chunked"}]}`
	req, _ := http.NewRequest("POST", p.url("/v1/chat/completions"), io.NopCloser(strings.NewReader(body)))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+e.token("chat:completions"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d; want 200", resp.StatusCode)
	}
	rec := e.lastRecorded()
	if rec.ContentLength != int64(len(body)) || rec.BodySHA256 != sha([]byte(body)) {
		t.Errorf("upstream Content-Length %d sha %s; want %d and the same bytes", rec.ContentLength, rec.BodySHA256, len(body))
	}
	if te := rec.Header.Get("Transfer-Encoding"); te != "" {
		t.Errorf("upstream Transfer-Encoding %q; want none", te)
	}
}

func TestModelBodyMalformed(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{routes: modelRoutes})
	tok := e.token("chat:completions", "model:gpt-4o")
	tests := []struct {
		name   string
		body   string
		hdr    []string
		status int
		code   string
		reason string
	}{
		{"not JSON", `{"model":"gpt-4o-mini",`, nil, 400, "invalid_request", "invalid_body"},
		{"array", `[{"model":"gpt-4o-mini"}]`, nil, 400, "invalid_request", "invalid_body"},
		{"string", `"gpt-4o-mini"`, nil, 400, "invalid_request", "invalid_body"},
		{"empty", ``, nil, 400, "invalid_request", "invalid_body"},
		{"missing model", `{"messages":[]}`, nil, 400, "invalid_request", "invalid_body"},
		{"model number", `{"model":4}`, nil, 400, "invalid_request", "invalid_body"},
		{"model null", `{"model":null}`, nil, 400, "invalid_request", "invalid_body"},
		{"model array", `{"model":["gpt-4o-mini"]}`, nil, 400, "invalid_request", "invalid_body"},
		{"model empty", `{"model":""}`, nil, 400, "invalid_request", "invalid_body"},
		{"model control char", `{"model":"gpt-4o-mini\n"}`, nil, 400, "invalid_request", "invalid_body"},
		{"model lone surrogate", `{"model":"gpt-4o-mini\ud800"}`, nil, 400, "invalid_request", "invalid_body"},
		{"duplicate model", `{"model":"gpt-4o-mini","model":"o1"}`, nil, 400, "invalid_request", "invalid_body"},
		{"case variant", `{"model":"gpt-4o-mini","MODEL":"o1"}`, nil, 400, "invalid_request", "invalid_body"},
		{"trailing data", `{"model":"gpt-4o-mini"} {"model":"o1"}`, nil, 400, "invalid_request", "invalid_body"},
		{"bad UTF-8", "{\"model\":\"gpt-4o-mini\",\"x\":\"\xff\"}", nil, 400, "invalid_request", "invalid_body"},
		{"over the cap", `{"model":"gpt-4o-mini","pad":"` + strings.Repeat("a", 4096) + `"}`, nil, 413, "body_too_large", "body_too_large"},
		{"gzip encoded", `{"model":"gpt-4o-mini"}`, []string{"Content-Encoding", "gzip"}, 415, "unsupported_content_encoding", "invalid_body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.api.Reset()
			r := p.do("POST", "/v1/chat/completions", tok, []byte(tt.body), tt.hdr...)
			wantError(t, r, tt.status, tt.code)
			if a := p.audit(r.id()); a.Reason != tt.reason || a.Decision != "deny" {
				t.Errorf("audit reason %v decision %v; want %q deny", a.Reason, a.Decision, tt.reason)
			}
			e.noneRecorded(tt.name)
		})
	}
	t.Run("routes without model rules stream untouched", func(t *testing.T) {
		e.api.Reset()
		body := strings.Repeat("not json ", 1000) // over the chat cap, not JSON
		r := p.do("POST", "/v1/echo/x", e.token("echo"), []byte(body))
		if r.StatusCode != 200 {
			t.Fatalf("status %d; want 200", r.StatusCode)
		}
		if rec := e.lastRecorded(); rec.BodySHA256 != sha([]byte(body)) {
			t.Errorf("echo body changed")
		}
	})
}

func modelIDs(t *testing.T, b []byte) []string {
	t.Helper()
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &list); err != nil || list.Object != "list" {
		t.Fatalf("not a model list: %s (%v)", b, err)
	}
	ids := []string{}
	for _, m := range list.Data {
		if m.Object != "model" {
			t.Errorf("entry %q lost its members: object %q", m.ID, m.Object)
		}
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

func TestModelListFiltering(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{routes: modelRoutes})
	tests := []struct {
		name   string
		scopes []string
		want   []string
	}{
		{"list only", []string{"models:read"}, []string{}},
		{"chat", []string{"models:read", "chat:completions"}, []string{"gpt-4o-mini"}},
		{"chat and 4o", []string{"models:read", "chat:completions", "model:gpt-4o"}, []string{"gpt-4o", "gpt-4o-mini"}},
		{"images", []string{"models:read", "generate:images", "model:dall-e-3"}, []string{"dall-e-3"}},
		{"model scope without route scope", []string{"models:read", "model:dall-e-3", "model:gpt-4o"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := p.do("GET", "/v1/models", e.token(tt.scopes...), nil, "Accept-Encoding", "gzip")
			if r.StatusCode != 200 {
				t.Fatalf("status %d; want 200 (%s)", r.StatusCode, r.body)
			}
			if got := modelIDs(t, r.body); !slices.Equal(got, tt.want) {
				t.Errorf("models %q; want %q", got, tt.want)
			}
			if r.ContentLength != int64(len(r.body)) {
				t.Errorf("Content-Length %d; body has %d bytes", r.ContentLength, len(r.body))
			}
			if ae := e.lastRecorded().Header.Get("Accept-Encoding"); ae != "" {
				t.Errorf("upstream got Accept-Encoding %q on a filtered list; want none", ae)
			}
		})
	}
	t.Run("not a list fails closed", func(t *testing.T) {
		r := p.do("GET", "/v1/echo/list", e.token("chat:completions"), nil)
		wantError(t, r, 502, "upstream_error")
		if strings.Contains(string(r.body), "/v1/echo/list") {
			t.Errorf("the unfiltered upstream body leaked: %s", r.body)
		}
		if a := p.audit(r.id()); a.Reason != "model_list_unfilterable" {
			t.Errorf("audit reason %v; want model_list_unfilterable", a.Reason)
		}
	})
}

// A shadow route forwards what its model rules would refuse, with the body
// it read put back byte for byte.
func TestModelRulesShadowed(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{routes: `
  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat:completions"]
    mode: shadow
    models:
      max_body_bytes: 64
      rules: [{model: gpt-4o-mini, scopes: []}]
`})
	tok := e.token("chat:completions")
	for _, tc := range []struct{ name, body, reason string }{
		{"model not allowed", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, "model_not_allowed"},
		{"malformed", `{"model":"gpt-4o-mini",`, "invalid_body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.api.Reset()
			r := p.do("POST", "/v1/chat/completions", tok, []byte(tc.body))
			if a := p.audit(r.id()); a.Decision != "would_deny" || a.Reason != tc.reason {
				t.Errorf("audit decision %v reason %v; want would_deny %s", a.Decision, a.Reason, tc.reason)
			}
			rec := e.lastRecorded()
			if rec.BodySHA256 != sha([]byte(tc.body)) {
				t.Errorf("upstream got %d bytes; want the %d sent, byte for byte", rec.BodyLen, len(tc.body))
			}
			if rec.Header.Get("X-Auth-Subject") != "" {
				t.Error("identity headers on a would_deny")
			}
		})
	}
	t.Run("over the model cap is refused even so", func(t *testing.T) {
		e.api.Reset()
		r := p.do("POST", "/v1/chat/completions", tok, []byte(`{"model":"gpt-4o-mini","pad":"`+strings.Repeat("x", 100)+`"}`))
		wantError(t, r, 413, "body_too_large")
		if a := p.audit(r.id()); a.Decision != "deny" {
			t.Errorf("audit decision %v; want deny", a.Decision)
		}
		e.noneRecorded("a body over the model cap on a shadow route")
	})
}

// TestModelBodyMediaTypes: the upstream must parse what the gateway
// judged. A model-routed body whose Content-Type an upstream framework
// would read as a form, as another charset or as something other than
// JSON is refused with 415 and never forwarded.
func TestModelBodyMediaTypes(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{routes: modelRoutes})
	tok := e.token("chat:completions")
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	send := func(cts ...string) response {
		req := "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway.test\r\nAuthorization: Bearer " + tok + "\r\n"
		for _, ct := range cts {
			req += "Content-Type: " + ct + "\r\n"
		}
		req += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		return raw(t, p.proxy, req)
	}
	for _, ok := range []string{"application/json", "Application/JSON", "application/json; charset=utf-8",
		`application/json; charset="UTF-8"`, "application/vnd.openai+json"} {
		if r := send(ok); r.StatusCode != 200 {
			t.Errorf("Content-Type %q: status %d (%s); want 200", ok, r.StatusCode, r.body)
		}
	}
	e.api.Reset()
	for _, bad := range [][]string{
		nil,
		{"application/x-www-form-urlencoded"},
		{"multipart/form-data; boundary=x"},
		{"text/plain"},
		{"application/json; charset=utf-16"},
		{"application/json; charset=iso-8859-1"},
		{"application/json; charset=utf-8; charset=utf-16"},
		{"application/json; boundary=x"},
		{"application/json", "application/x-www-form-urlencoded"},
		{"application/+json"},
		{"application/jsonx"},
		{"text/json"},
	} {
		r := send(bad...)
		wantError(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
		if a := p.audit(r.id()); a.Reason != "unsupported_media_type" || a.Decision != "deny" {
			t.Errorf("Content-Type %q: audit %v %v; want deny unsupported_media_type", bad, a.Decision, a.Reason)
		}
	}
	e.noneRecorded("bodies of another media type")
}

// aliasRoutes put a catch-all beside specific routes, as docs/security.md
// suggests for the rest of an API.
const aliasRoutes = `
  - name: models
    methods: [GET]
    path: /v1/models
    upstream: models
    scopes: ["models:read"]
    models: {list: true, rules_from: [chat]}
  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat:completions"]
    principals: [human]
    models:
      rules:
        - {model: gpt-4o-mini, scopes: []}
  - name: rest
    path: /v1/{rest...}
    upstream: models
    scopes: ["api"]
`

// TestCatchAllIsNoAlias: a path an upstream router would treat as a
// specific route's (trailing slash, letter case) does not get the
// catch-all's weaker policy: 400 route_alias, naming the route, nothing
// forwarded; with route_aliases: allow it is matched as written.
func TestCatchAllIsNoAlias(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{routes: aliasRoutes})
	// A machine token with the catch-all's scope and chat's, neither of
	// which may use gpt-4o or see the unfiltered list.
	tok := e.spec(issuer.AccessTokenSpec{Subject: "svc", ClientID: "svc", Scopes: []string{"api", "chat:completions"}})
	chat := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	for _, tc := range []struct{ method, path, alias string }{
		{"GET", "/v1/models/", "models"},
		{"GET", "/v1/Models", "models"},
		{"POST", "/v1/chat/completions/", "chat"},
		{"POST", "/v1/Chat/Completions", "chat"},
	} {
		var body []byte
		if tc.method == "POST" {
			body = chat
		}
		r := p.do(tc.method, tc.path, tok, body)
		wantError(t, r, http.StatusBadRequest, "invalid_request")
		if !strings.Contains(string(r.body), "route "+tc.alias) {
			t.Errorf("%s %s: body %s; want it to name route %s", tc.method, tc.path, r.body, tc.alias)
		}
		if a := p.audit(r.id()); a.Reason != "route_alias" {
			t.Errorf("%s %s: audit reason %v; want route_alias", tc.method, tc.path, a.Reason)
		}
	}
	e.noneRecorded("aliases of specific routes")
	// The catch-all's own paths still pass.
	if r := p.do("GET", "/v1/files", tok, nil); r.StatusCode == 400 || r.StatusCode == 403 {
		t.Errorf("GET /v1/files: status %d (%s); want it forwarded", r.StatusCode, r.body)
	}

	e2, p2 := serve(t, envOptions{}, cfg{routes: aliasRoutes, serverExtra: "  route_aliases: allow\n"})
	tok2 := e2.spec(issuer.AccessTokenSpec{Subject: "svc", ClientID: "svc", Scopes: []string{"api"}})
	if r := p2.do("GET", "/v1/models/", tok2, nil); r.StatusCode == 400 {
		t.Errorf("route_aliases: allow: status %d; want the path matched as written", r.StatusCode)
	}
}
