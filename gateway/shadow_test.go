package gateway

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestShadowRoute: a shadow route forwards what it would refuse for
// token or scope reasons, without identity headers or the client's token,
// and records and counts it as would_deny; a request no route matches is
// refused as ever.
func TestShadowRoute(t *testing.T) {
	w := newWorld(t, "")
	images := w.token("generate:images")
	chat := w.token("chat:completions")
	tests := []struct {
		name, method, target, tok string
		status                    int
		forwarded                 bool
		decision, reason          string
		identity                  bool
	}{
		{"allowed", "POST", "/v1/images/generations", images, 200, true, "allow", "allowed", true},
		{"insufficient scope", "POST", "/v1/images/generations", chat, 200, true, "would_deny", "insufficient_scope", false},
		{"no token", "POST", "/v1/images/generations", "", 200, true, "would_deny", "missing_token", false},
		{"bad token", "POST", "/v1/images/generations", "not.a.token", 200, true, "would_deny", "malformed", false},
		{"token in query", "POST", "/v1/images/generations?access_token=" + images + "&n=1", "", 200, true, "would_deny", "token_in_query", false},
		{"method not allowed", "GET", "/v1/images/generations", images, 405, false, "deny", "method_not_allowed", false},
		{"bad path", "POST", "/v1/images/%2e%2e/generations", images, 400, false, "deny", "bad_path", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, before := w.up.lastHeader()
			id := "shadow-" + string(rune('a'+i))
			rec := w.do(tt.method, tt.target, tt.tok, "X-Request-Id", id,
				"X-Auth-Subject", "spoofed", "X-Auth-Scopes", "generate:images")
			if rec.Code != tt.status {
				t.Errorf("status %d; want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			h, after := w.up.lastHeader()
			if got := after > before; got != tt.forwarded {
				t.Fatalf("forwarded = %t; want %t", got, tt.forwarded)
			}
			a := w.record(id)
			if a.Decision != tt.decision || a.Reason != string(tt.reason) {
				t.Errorf("audit decision %v reason %v; want %s %s", a.Decision, a.Reason, tt.decision, tt.reason)
			}
			if !tt.forwarded {
				return
			}
			if got := h.Get("X-Auth-Subject"); (got == "alice") != tt.identity || got == "spoofed" {
				t.Errorf("upstream X-Auth-Subject %q; want identity headers only when allowed (%t)", got, tt.identity)
			}
			if got := h.Get("X-Auth-Scopes"); got != "" && !tt.identity {
				t.Errorf("upstream X-Auth-Scopes %q on a would_deny request", got)
			}
			if h.Get("Authorization") != "" {
				t.Errorf("upstream got the client's Authorization header")
			}
			w.up.mu.Lock()
			q := w.up.query
			w.up.mu.Unlock()
			if q != "" && q != "n=1" {
				t.Errorf("upstream query %q; want the token stripped", q)
			}
		})
	}
	m := w.gw.metrics
	if got := testutil.ToFloat64(m.requests.WithLabelValues("images-trial", "POST", "200", "would_deny")); got != 4 {
		t.Errorf("requests_total{decision=would_deny} = %v; want 4", got)
	}
	if got := testutil.ToFloat64(m.wouldDeny.WithLabelValues("images-trial", "insufficient_scope")); got != 1 {
		t.Errorf("would_deny_total{reason=insufficient_scope} = %v; want 1", got)
	}
	if got := testutil.CollectAndCount(m.refusals); got != 2 {
		t.Errorf("%d refusal series; want 2 (no_route, bad_path): would_deny is not a refusal", got)
	}
}
