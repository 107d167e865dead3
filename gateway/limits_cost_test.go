package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scopegate/scopegate/internal/issuer"
)

func costChatRoute(limits string) string {
	return `  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: [chat]
    models:
      rules: [{model: m1, scopes: []}, {model: m2, scopes: []}]
    limits:
` + limits
}

// TestLimitCostBudget: a cost budget reserves the priced estimate, bills
// the exact cost of the reported prompt and completion tokens in
// micro-units, and refuses the request whose reservation would cross it.
func TestLimitCostBudget(t *testing.T) {
	w := newLimitWorld(t, costChatRoute(`      - name: spend
        cost:
          budget: "0.0015"
          per: 720h
          prices: {m1: {input: "2.50", output: "10.00"}}
`), jsonUsage(`{"prompt_tokens":100,"completion_tokens":50,"total_tokens":150}`))
	// 31 bytes: an input estimate of 7 tokens, 10 output tokens:
	// 7×2.5 + 10×10 = 117.5, reserved as 118 micro-units.
	const body = `{"model":"m1","max_tokens":10}`
	for i := range 2 {
		if rec := w.post("alice", body); rec.Code != 200 {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
		// 100×2.5 + 50×10 = 750 micro-units, exactly.
		if a := w.lastRecord(); a.LimitBilled != "usage" || a.LimitCost != "0.00075" || a.LimitTokens != 150 {
			t.Errorf("request %d: audit billed %v cost %v tokens %v; want usage 0.00075 150", i, a.LimitBilled, a.LimitCost, a.LimitTokens)
		}
	}
	// 1500 used: another reservation of 118 would cross 1500.
	rec := w.post("alice", body)
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), `"code":"budget_exceeded"`) ||
		!strings.Contains(rec.Body.String(), "cost budget") {
		t.Fatalf("third request: %d %s; want 429 budget_exceeded naming the cost budget", rec.Code, rec.Body)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After on a cost budget's 429")
	}
	if got := testutil.ToFloat64(w.gw.limitMetrics.cost.WithLabelValues("chat", "m1", "usage")); got != 0.0015 {
		t.Errorf("cost counted %v; want 0.0015", got)
	}
	// Another subject has its own budget.
	if rec := w.post("bob", body); rec.Code != 200 {
		t.Errorf("bob: %d; want 200", rec.Code)
	}
}

// TestLimitCostFaults: a model without a price is refused (403, never
// forwarded); a usage without its prompt/completion split, or none, is
// billed the reservation; the "*" entry prices any model.
func TestLimitCostFaults(t *testing.T) {
	const lim = `      - name: spend
        cost:
          budget: "1.00"
          per: month
          prices: {m1: {input: "1", output: "2"}}
`
	t.Run("unpriced model", func(t *testing.T) {
		w := newLimitWorld(t, costChatRoute(lim), jsonUsage(`{"total_tokens":1}`))
		rec := w.post("alice", `{"model":"m2"}`)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), `"code":"model_not_priced"`) {
			t.Fatalf("unpriced model: %d %s; want 403 model_not_priced", rec.Code, rec.Body)
		}
		if rec.Header().Get("WWW-Authenticate") == "" {
			t.Error("a 403 without a Bearer challenge")
		}
		if w.hits.Load() != 0 {
			t.Error("an unpriced request reached the upstream")
		}
		if a := w.lastRecord(); a.Reason != string(ReasonModelNotPriced) {
			t.Errorf("audit reason %v; want model_not_priced", a.Reason)
		}
	})
	t.Run("default price", func(t *testing.T) {
		w := newLimitWorld(t, costChatRoute(strings.Replace(lim, `{m1: {input: "1", output: "2"}}`, `{"*": {input: "1", output: "2"}}`, 1)),
			jsonUsage(`{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}`))
		if rec := w.post("alice", `{"model":"m2"}`); rec.Code != 200 {
			t.Fatalf("m2 under a default price: %d %s", rec.Code, rec.Body)
		}
		if a := w.lastRecord(); a.LimitCost != "0.000011" {
			t.Errorf("audit cost %v; want 0.000011 (3×1 + 4×2 micro-units)", a.LimitCost)
		}
	})
	for _, tt := range []struct{ name, usage string }{
		{"total only", `{"total_tokens":7}`},
		{"no usage", `null`},
		{"negative", `{"prompt_tokens":-3,"completion_tokens":4}`},
		{"parts past the total", `{"prompt_tokens":3,"completion_tokens":4,"total_tokens":5}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newLimitWorld(t, costChatRoute(lim), jsonUsage(tt.usage))
			w.post("alice", `{"model":"m1","max_tokens":10}`) // reserves 7×1 + 10×2 = 27
			if a := w.lastRecord(); a.LimitBilled != "reservation" || a.LimitCost != "0.000027" {
				t.Errorf("audit billed %v cost %v; want reservation 0.000027", a.LimitBilled, a.LimitCost)
			}
		})
	}
}

// TestLimitKeyExpr: a limit keyed by a CEL expression over the verified
// claims counts every subject of one organisation together; a token
// without the claim is refused (never counted under some shared key),
// and no header the client sends changes the key.
func TestLimitKeyExpr(t *testing.T) {
	w := newLimitWorld(t, limitChatRoute(`      - name: per-org
        key: []
        key_expr: claims.org
        requests: {rate: 2, per: 1h}
`), jsonUsage(`{"total_tokens":1}`))
	post := func(sub string, extra map[string]any, header string) int {
		extra["jti"] = "jti-" + sub
		tok := w.iss.AccessToken(issuer.AccessTokenSpec{Subject: sub, ClientID: "cli", Audience: []string{testAudience},
			Scopes: []string{"chat"}, Extra: extra})
		r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model":"m1"}`))
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		if header != "" {
			r.Header.Set("X-Org", header)
		}
		rec := httptest.NewRecorder()
		w.gw.ServeHTTP(rec, r)
		return rec.Code
	}
	if c := post("alice", map[string]any{"org": "acme"}, ""); c != 200 {
		t.Fatalf("alice: %d", c)
	}
	if c := post("bob", map[string]any{"org": "acme"}, "other"); c != 200 {
		t.Fatalf("bob: %d", c)
	}
	if c := post("bob", map[string]any{"org": "acme"}, "other"); c != http.StatusTooManyRequests {
		t.Errorf("third request of org acme: %d; want 429 (one counter per org)", c)
	}
	if c := post("carol", map[string]any{"org": "globex"}, "acme"); c != 200 {
		t.Errorf("carol of another org: %d; want 200", c)
	}
	if c := post("dave", map[string]any{}, "globex"); c != http.StatusForbidden {
		t.Errorf("a token without the claim: %d; want 403", c)
	}
	if a := w.lastRecord(); a.Reason != string(ReasonLimitKey) {
		t.Errorf("audit reason %v; want %s", a.Reason, ReasonLimitKey)
	}
	if c := post("erin", map[string]any{"org": 42}, ""); c != 200 {
		t.Errorf("an integer claim: %d; want 200 (written in decimal)", c)
	}
	if c := post("frank", map[string]any{"org": []string{"a"}}, ""); c != http.StatusForbidden {
		t.Errorf("a list claim: %d; want 403", c)
	}
}
