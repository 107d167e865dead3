package e2e

import (
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/issuer"
)

const conditionRoutes = `
  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat:completions"]
    models: {rules: [{model: "*", scopes: []}]}
    conditions:
      - "claims.tier == 'pro' || request.model == 'gpt-4o-mini'"
      - "'team-a' in claims.groups"
`

func TestConditions(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{routes: conditionRoutes})
	tok := func(extra map[string]any) string {
		return e.spec(issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli", Scopes: []string{"chat:completions"}, Extra: extra})
	}
	body := func(model string) []byte {
		return []byte(`{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`)
	}
	tests := []struct {
		name   string
		tok    string
		model  string
		status int
		detail string // in the audit detail of a refusal
	}{
		{"pro in team-a", tok(map[string]any{"tier": "pro", "groups": []string{"team-a"}}), "gpt-4o", 200, ""},
		{"free on the small model", tok(map[string]any{"tier": "free", "groups": []string{"team-a"}}), "gpt-4o-mini", 200, ""},
		{"free on the large model", tok(map[string]any{"tier": "free", "groups": []string{"team-a"}}), "gpt-4o", 403, "condition 0"},
		{"pro outside team-a", tok(map[string]any{"tier": "pro", "groups": []string{"team-b"}}), "gpt-4o", 403, "condition 1"},
		{"no groups claim", tok(map[string]any{"tier": "pro"}), "gpt-4o", 403, "condition 1 of this route could not be evaluated"},
		{"groups not a list", tok(map[string]any{"tier": "pro", "groups": 5}), "gpt-4o", 403, "condition 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.api.Reset()
			r := p.do("POST", "/v1/chat/completions", tt.tok, body(tt.model))
			a := p.audit(r.id())
			if tt.status == 200 {
				if r.StatusCode != 200 {
					t.Fatalf("status %d; want 200 (%s)", r.StatusCode, r.body)
				}
				return
			}
			wantError(t, r, 403, "condition_failed")
			if a.Reason != "condition_failed" || !strings.Contains(a.Detail, tt.detail) {
				t.Errorf("audit reason %v detail %v; want condition_failed naming %q", a.Reason, a.Detail, tt.detail)
			}
			e.noneRecorded(tt.name)
		})
	}
}

func TestConditionsRefusedAtLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for _, tc := range []struct{ name, cond, want string }{
		{"not bool", "claims.tier", "must be a bool"},
		{"syntax", "claims.tier ==", "Syntax error"},
		{"unknown variable", "token.tier == 'pro'", "undeclared reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			routes := `
  - name: chat
    path: /v1/chat/completions
    upstream: models
    scopes: []
    conditions: ["true", "` + tc.cond + `"]
`
			code, _, stderr := runCheck(t, writeConfig(t, e.config(cfg{routes: routes})))
			if code == 0 {
				t.Fatal("check accepted a config with a bad condition")
			}
			for _, want := range []string{"routes[0].conditions[1]", `route "chat"`, tc.want} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q does not contain %q", stderr, want)
				}
			}
		})
	}
}

// TestConditionsSeeWhatTheUpstreamSees: a condition on a forwarding
// header or the client address cannot be met by what an untrusted client
// sends, since the upstream never sees it; behind a trusted proxy the
// client address is the proxy's word.
func TestConditionsSeeWhatTheUpstreamSees(t *testing.T) {
	t.Parallel()
	routes := `
  - name: by-header
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat:completions"]
    conditions: ["request.headers['x-forwarded-for'].startsWith('203.0.113.9')"]
  - name: by-addr
    methods: [POST]
    path: /v1/embeddings
    upstream: models
    scopes: ["chat:completions"]
    conditions: ["request.remote_addr == '203.0.113.9'"]
  - name: override
    methods: [POST]
    path: /v1/images/generations
    upstream: models
    scopes: ["chat:completions"]
    conditions: ["!('x-original-url' in request.headers) && !('x-auth-subject' in request.headers) && request.peer_addr == '127.0.0.1'"]
`
	spoof := []string{"X-Forwarded-For", "203.0.113.9", "X-Real-IP", "203.0.113.9", "X-Original-URL", "/admin", "X-Auth-Subject", "root"}
	body := []byte(`{"model":"m","input":"hi"}`)

	t.Run("untrusted peer", func(t *testing.T) {
		e, p := serve(t, envOptions{}, cfg{routes: routes})
		tok := e.token("chat:completions")
		for _, path := range []string{"/v1/chat/completions", "/v1/embeddings"} {
			r := p.do("POST", path, tok, body, spoof...)
			wantError(t, r, 403, "condition_failed")
		}
		if r := p.do("POST", "/v1/images/generations", tok, body, spoof...); r.StatusCode == 403 {
			t.Errorf("override route: status %d (%s); want it forwarded: the headers the upstream never sees are not there", r.StatusCode, r.body)
		}
	})
	t.Run("trusted proxy", func(t *testing.T) {
		e, p := serve(t, envOptions{}, cfg{routes: routes, serverExtra: "  trusted_proxies: [\"127.0.0.0/8\"]\n"})
		tok := e.token("chat:completions")
		for _, path := range []string{"/v1/chat/completions", "/v1/embeddings"} {
			if r := p.do("POST", path, tok, body, "X-Forwarded-For", "203.0.113.9"); r.StatusCode == 403 {
				t.Errorf("%s via a trusted proxy: status %d (%s); want it forwarded", path, r.StatusCode, r.body)
			}
		}
	})
}
