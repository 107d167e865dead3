package e2e

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/issuer"
)

const limitRoutes = `
  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat:completions"]
    models:
      rules: [{model: "*", scopes: []}]
    limits:
      - name: rpm
        requests: {rate: 3, per: 1h}
      - name: daily
        key: [sub, model]
        tokens: {budget: 100000, per: 24h, max_reserve: 500}
`

// TestUsageLimits runs the built binary against the mock model API: a
// streamed completion is billed the usage the gateway asked for, and the
// client's stream carries no chunk it did not ask for; a JSON completion
// is billed its usage; past the rate the client gets the 429 an OpenAI
// SDK reads, and the request is never forwarded.
func TestUsageLimits(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{routes: limitRoutes})
	tok := e.spec(issuer.AccessTokenSpec{Subject: "alice", ClientID: "web", Scopes: []string{"chat:completions"}})

	// 1. A stream that did not ask for usage.
	const streamBody = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"count my tokens"}]}`
	r := p.do("POST", "/v1/chat/completions", tok, []byte(streamBody))
	if r.StatusCode != 200 {
		t.Fatalf("stream: %d %s", r.StatusCode, r.body)
	}
	asked := `{"stream_options":{"include_usage":true},` + streamBody[1:]
	if got := e.lastRecorded().BodySHA256; got != sha([]byte(asked)) {
		t.Errorf("the upstream got a body other than %s", asked)
	}
	events := 0
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events++
			if strings.Contains(line, `"usage":{`) {
				t.Errorf("the client's stream has a usage chunk it did not ask for: %s", line)
			}
		}
	}
	if events < 3 {
		t.Errorf("%d events; want the stream whole", events)
	}
	a := p.audit(r.id())
	if a.LimitBilled != "usage" || a.LimitTokens <= 0 {
		t.Errorf("stream billed %v %v; want its usage", a.LimitBilled, a.LimitTokens)
	}
	if got := r.Header.Get("X-Ratelimit-Remaining-Requests"); got != "2" {
		t.Errorf("x-ratelimit-remaining-requests %q; want 2", got)
	}

	// 2. A JSON completion.
	r = p.do("POST", "/v1/chat/completions", tok, []byte(`{"model":"gpt-4o-mini","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`))
	if r.StatusCode != 200 {
		t.Fatalf("json: %d %s", r.StatusCode, r.body)
	}
	if a := p.audit(r.id()); a.LimitBilled != "usage" {
		t.Errorf("json billed %v; want usage", a.LimitBilled)
	}
	p.do("POST", "/v1/chat/completions", tok, []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))

	// 3. Past the rate: 429, not forwarded.
	before := len(e.api.Requests())
	r = p.do("POST", "/v1/chat/completions", tok, []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
	wantError(t, r, http.StatusTooManyRequests, "rate_limit_exceeded")
	if !strings.Contains(string(r.body), `"type":"rate_limit_error"`) {
		t.Errorf("body %s; want type rate_limit_error", r.body)
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 1200 {
		t.Errorf("Retry-After %q; want whole seconds up to 20 minutes", r.Header.Get("Retry-After"))
	}
	if r.Header.Get("X-Ratelimit-Remaining-Requests") != "0" || r.Header.Get("X-Ratelimit-Reset-Requests") == "" {
		t.Errorf("x-ratelimit headers %v", r.Header)
	}
	if len(e.api.Requests()) != before {
		t.Error("a refused request reached the upstream")
	}
	if a := p.audit(r.id()); a.Reason != "rate_limited" || strings.Contains(a.Detail, "alice") {
		t.Errorf("audit %v; want rate_limited, no subject in the clear", a)
	}
}
