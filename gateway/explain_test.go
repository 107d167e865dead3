package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"time"

	"github.com/scopegate/scopegate/internal/issuer"
)

func TestExplain(t *testing.T) {
	w := newWorld(t, "")
	cfg := w.gw.Config()
	chat := w.token("chat:completions")
	reads := w.token("models:read")
	tests := []struct {
		name, method, target, tok string
		header                    http.Header
		decision, reason          string
		status                    int
		route                     string // "" for none
		canonical, pathRefused    string
		missing                   string
		forward                   string // the upstream path+query, "" when nothing is forwarded
		identity                  bool
	}{
		{name: "allowed", method: "POST", target: "/v1/chat/completions?stream=1", tok: chat,
			decision: "allow", reason: "allowed", route: "chat", canonical: "/v1/chat/completions",
			forward: "/v1/chat/completions?stream=1", identity: true},
		{name: "no token", method: "POST", target: "/v1/chat/completions",
			decision: "deny", reason: "missing_token", status: 401, route: "chat", canonical: "/v1/chat/completions"},
		{name: "insufficient scope", method: "POST", target: "/v1/chat/completions", tok: reads,
			decision: "deny", reason: "insufficient_scope", status: 403, route: "chat", canonical: "/v1/chat/completions", missing: "chat:completions"},
		{name: "canonicalized", method: "GET", target: "/v1/models/%67pt", tok: reads,
			decision: "allow", reason: "allowed", route: "models", canonical: "/v1/models/gpt", forward: "/v1/models/gpt", identity: true},
		{name: "method not allowed", method: "DELETE", target: "/v1/chat/completions", tok: chat,
			decision: "deny", reason: "method_not_allowed", status: 405, canonical: "/v1/chat/completions"},
		{name: "no route", method: "GET", target: "/v2/nothing", tok: chat,
			decision: "deny", reason: "no_route", status: 404, canonical: "/v2/nothing"},
		{name: "bad path", method: "GET", target: "/v1/%2e%2e/models/x", tok: chat,
			decision: "deny", reason: "bad_path", status: 400, pathRefused: "dot segment"},
		{name: "shadow", method: "POST", target: "/v1/images/generations", tok: chat,
			decision: "would_deny", reason: "insufficient_scope", route: "images-trial", canonical: "/v1/images/generations",
			missing: "generate:images", forward: "/v1/images/generations"},
		{name: "two Authorization headers", method: "POST", target: "/v1/chat/completions", tok: chat,
			header:   http.Header{"Authorization": {"Bearer " + reads}},
			decision: "deny", reason: "duplicate_authorization", status: 400, route: "chat", canonical: "/v1/chat/completions"},
		{name: "public", method: "GET", target: "/public/x", decision: "allow", reason: "public", route: "status",
			canonical: "/public/x", forward: "/public/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, before := w.up.lastHeader()
			e, err := Explain(t.Context(), cfg, ExplainRequest{Method: tt.method, Target: tt.target, Token: tt.tok,
				Header: tt.header, Now: w.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if _, after := w.up.lastHeader(); after != before {
				t.Errorf("Explain contacted the upstream")
			}
			if e.Decision != tt.decision || e.Reason != tt.reason || e.Status != tt.status {
				t.Errorf("decision %s reason %s status %d; want %s %s %d", e.Decision, e.Reason, e.Status, tt.decision, tt.reason, tt.status)
			}
			if e.CanonicalPath != tt.canonical || e.PathRefused != tt.pathRefused {
				t.Errorf("canonical %q refused %q; want %q %q", e.CanonicalPath, e.PathRefused, tt.canonical, tt.pathRefused)
			}
			if got := ""; e.Route != nil {
				got = e.Route.Name
				if got != tt.route {
					t.Errorf("route %q; want %q", got, tt.route)
				}
			} else if tt.route != "" {
				t.Errorf("no route; want %q", tt.route)
			}
			if got := strings.Join(e.Missing, " "); got != tt.missing {
				t.Errorf("missing %q; want %q", got, tt.missing)
			}
			switch {
			case tt.forward == "" && e.Forward != nil:
				t.Errorf("forward %v; want nothing forwarded", e.Forward)
			case tt.forward != "" && (e.Forward == nil || !strings.HasSuffix(e.Forward.URL, tt.forward)):
				t.Errorf("forward %+v; want a URL ending in %s", e.Forward, tt.forward)
			case tt.forward != "" && (e.Forward.Identity["X-Auth-Subject"] == "alice") != tt.identity:
				t.Errorf("forwarded identity %v; want identity headers: %t", e.Forward.Identity, tt.identity)
			}
			var text strings.Builder
			e.WriteText(&text)
			if !strings.Contains(text.String(), "decision:  "+tt.decision+" (reason "+tt.reason+")") {
				t.Errorf("text lacks the decision:\n%s", text.String())
			}
			if tt.tok != "" {
				assertNoToken(t, text.String(), tt.tok)
			}
		})
	}
}

func TestExplainKeysUnavailable(t *testing.T) {
	w := newWorld(t, "")
	tok := w.token("chat:completions")
	w.iss.SetDown(true)
	e, err := Explain(t.Context(), w.gw.Config(), ExplainRequest{Method: "POST", Target: "/v1/chat/completions",
		Token: tok, Now: w.clock.Now, KeysTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !e.KeysUnavailable || e.Decision != "error" || e.Reason != "keys_unavailable" || e.Status != 503 {
		t.Errorf("got %+v; want keys unavailable, error, 503", e)
	}
	if len(e.Issuers) != 1 || e.Issuers[0].Ready || e.Issuers[0].Issuer != w.iss.URL() {
		t.Errorf("issuers %+v; want the one issuer, not ready", e.Issuers)
	}
	var text strings.Builder
	e.WriteText(&text)
	if !strings.Contains(text.String(), "keys:      unavailable") {
		t.Errorf("text does not say the keys are unavailable:\n%s", text.String())
	}
}

func TestExplainBadInput(t *testing.T) {
	w := newWorld(t, "")
	for _, tt := range []struct{ name, method, target string }{
		{"empty method", "", "/v1/x"},
		{"method with space", "GE T", "/v1/x"},
		{"absolute form", "GET", "http://example.com/v1/x"},
		{"asterisk", "OPTIONS", "*"},
		{"empty target", "GET", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Explain(context.Background(), w.gw.Config(), ExplainRequest{Method: tt.method, Target: tt.target}); err == nil {
				t.Errorf("Explain(%q, %q) succeeded; want an error", tt.method, tt.target)
			}
		})
	}
}

// TestExplainShowsWhatARefusedTokenSays: a token refused for its issuer or
// audience is shown as it claims to be (unverified: iss, aud, exp, typ,
// alg, kid) beside what the config trusts, and the detail names the
// mismatch. Never the token itself.
func TestExplainShowsWhatARefusedTokenSays(t *testing.T) {
	w := newWorld(t, "")
	cfg := w.gw.Config()
	for _, tc := range []struct {
		name, tok, detail string
	}{
		{"wrong audience", w.iss.AccessToken(issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli",
			Audience: []string{"https://other.example"}, Scopes: []string{"chat:completions"}}),
			`its aud is "https://other.example", expected one of`},
		{"issuer with a trailing slash", w.iss.Sign(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": w.iss.CurrentKID()},
			map[string]any{"iss": w.iss.URL() + "/", "sub": "alice", "aud": cfg.Issuers[0].Audiences[0],
				"exp": w.clock.Now().Add(time.Hour).Unix(), "iat": w.clock.Now().Unix(), "scope": "chat:completions"}),
			"only by a trailing slash or letter case"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Explain(t.Context(), cfg, ExplainRequest{Method: "POST", Target: "/v1/chat/completions", Token: tc.tok, Now: w.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if e.Status != 401 || !strings.Contains(e.Detail, tc.detail) {
				t.Errorf("status %d detail %q; want 401 naming %q", e.Status, e.Detail, tc.detail)
			}
			if e.Unverified == nil || e.Unverified.Issuer == "" || len(e.Expected) != 1 {
				t.Fatalf("unverified %+v expected %+v; want the token's claims and the trusted issuer", e.Unverified, e.Expected)
			}
			var text strings.Builder
			e.WriteText(&text)
			out := text.String()
			for _, want := range []string{"says (unverified): iss=", "aud=", "trusts:", cfg.Issuers[0].Issuer} {
				if !strings.Contains(out, want) {
					t.Errorf("text lacks %q:\n%s", want, out)
				}
			}
			for _, part := range strings.Split(tc.tok, ".") {
				if strings.Contains(out, part) {
					t.Errorf("the text shows a part of the token:\n%s", out)
				}
			}
		})
	}
}
