package e2e

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const conformLimitRoutes = defaultRoutes + `
  - name: hourly
    path: /v1/hourly/{rest...}
    upstream: models
    scopes: ["echo"]
    limits:
      - name: one-an-hour
        requests: {rate: 1, per: 1h}
  - name: spaced
    path: /v1/spaced/{rest...}
    upstream: models
    scopes: ["echo"]
    limits:
      - name: one-a-second
        requests: {rate: 1, per: 1s}
  - name: budgeted
    methods: [POST]
    path: /v2/chat/completions
    upstream: models
    scopes: ["chat:completions"]
    models:
      rules: [{model: "*", scopes: []}]
    limits:
      - name: tiny
        tokens: {budget: 10, per: 24h, max_reserve: 500}
`

// openAIDuration is how OpenAI writes x-ratelimit-reset-*: "20ms", "1s",
// "6m0s", "1h2m3s".
var openAIDuration = regexp.MustCompile(`^([0-9]+ms|([0-9]+h)?([0-9]+m)?[0-9]+(\.[0-9]+)?s)$`)

// TestConformLimits checks the 429 of CONTRACT "Responses" as an OpenAI
// SDK reads it: Retry-After in whole seconds of at least 1 (RFC 9110
// 10.2.3: delay-seconds = 1*DIGIT; a 0 would make clients retry at once),
// the OpenAI-shaped body with type rate_limit_error and its code, the
// x-ratelimit-* headers OpenAI sends, no Bearer challenge, and nothing
// forwarded.
func TestConformLimits(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{routes: conformLimitRoutes})
	tok := e.token("echo", "chat:completions")

	check429 := func(t *testing.T, r response, code, kind string) {
		t.Helper()
		wantError(t, r, 429, code)
		var b struct {
			Error struct {
				Type string `json:"type"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.body, &b); err != nil || b.Error.Type != "rate_limit_error" {
			t.Errorf("error.type %q; want rate_limit_error (body %s)", b.Error.Type, r.body)
		}
		ra := r.Header.Values("Retry-After")
		if len(ra) != 1 {
			t.Fatalf("Retry-After %q; want one value", ra)
		}
		if n, err := strconv.Atoi(ra[0]); err != nil || n < 1 || strings.TrimLeft(ra[0], "0123456789") != "" {
			t.Errorf("Retry-After %q; want delay-seconds (digits only), at least 1", ra[0])
		}
		if ms := r.Header.Get("Retry-After-Ms"); ms == "" || strings.TrimLeft(ms, "0123456789") != "" {
			t.Errorf("retry-after-ms %q; want milliseconds as OpenAI sends them", ms)
		}
		if ch := r.Header.Get("Www-Authenticate"); ch != "" {
			t.Errorf("WWW-Authenticate %q on a 429: the token is not at fault", ch)
		}
		for _, h := range []string{"Limit", "Remaining", "Reset"} {
			name := "X-Ratelimit-" + h + "-" + kind
			v := r.Header.Values(name)
			if len(v) != 1 {
				t.Errorf("%s %q; want one value", name, v)
				continue
			}
			switch h {
			case "Reset":
				if !openAIDuration.MatchString(v[0]) {
					t.Errorf("%s %q; want OpenAI's duration form (20ms, 1s, 6m0s)", name, v[0])
				}
			default:
				if n, err := strconv.Atoi(v[0]); err != nil || n < 0 {
					t.Errorf("%s %q; want a non-negative integer", name, v[0])
				}
			}
		}
		if a := p.audit(r.id()); (code == "rate_limit_exceeded") != (a.Reason == "rate_limited") {
			t.Errorf("audit reason %q for code %s", a.Reason, code)
		}
	}

	t.Run("CONTRACT request rate: 429 rate_limit_exceeded", func(t *testing.T) {
		r := p.do("GET", "/v1/hourly/a", tok, nil)
		if r.StatusCode != 200 {
			t.Fatalf("first: %d %s", r.StatusCode, r.body)
		}
		if got := r.Header.Get("X-Ratelimit-Remaining-Requests"); got != "0" {
			t.Errorf("allowed answer: x-ratelimit-remaining-requests %q; want 0", got)
		}
		n := len(e.api.Requests())
		r = p.do("GET", "/v1/hourly/a", tok, nil)
		check429(t, r, "rate_limit_exceeded", "Requests")
		if r.Header.Get("X-Ratelimit-Remaining-Requests") != "0" {
			t.Errorf("x-ratelimit-remaining-requests %q; want 0", r.Header.Get("X-Ratelimit-Remaining-Requests"))
		}
		if len(e.api.Requests()) != n {
			t.Error("the refused request was forwarded")
		}
	})
	t.Run("RFC 9110 10.2.3 a wait under a second is Retry-After: 1", func(t *testing.T) {
		// One a second: a request within a second of the one before
		// waits less than a second, which is written as 1.
		var r response
		for range 10 {
			if r = p.do("GET", "/v1/spaced/a", tok, nil); r.StatusCode == 429 {
				break
			}
		}
		check429(t, r, "rate_limit_exceeded", "Requests")
		if got := r.Header.Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After %q; want 1 (a wait under a second, rounded up)", got)
		}
	})
	t.Run("CONTRACT token budget: 429 budget_exceeded", func(t *testing.T) {
		// max_reserve is capped at the budget: the first request reserves
		// (and, its answer reporting no usage, is billed) all of it.
		body := []byte(`{"model":"gpt-4o-mini","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`)
		if r := p.do("POST", "/v2/chat/completions", tok, body); r.StatusCode != 200 {
			t.Fatalf("first: %d %s", r.StatusCode, r.body)
		}
		n := len(e.api.Requests())
		r := p.do("POST", "/v2/chat/completions", tok, body)
		check429(t, r, "budget_exceeded", "Tokens")
		if got := r.Header.Get("X-Ratelimit-Remaining-Tokens"); got != "0" {
			t.Errorf("x-ratelimit-remaining-tokens %q; want 0", got)
		}
		if s, _ := strconv.Atoi(r.Header.Get("Retry-After")); s > 24*3600 {
			t.Errorf("Retry-After %d; want at most the end of the 24h window", s)
		}
		if len(e.api.Requests()) != n {
			t.Error("the refused request was forwarded")
		}
	})
}
