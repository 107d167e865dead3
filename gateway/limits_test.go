package gateway

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/testkit"
	"github.com/scopegate/scopegate/limits"
)

// limitWorld is a gateway whose routes carry limits, in front of a real
// issuer and a model API that answers what the test says, on a fake clock.
type limitWorld struct {
	t     *testing.T
	clock *fakeClock
	iss   *issuer.Issuer
	gw    *Gateway
	reg   *prometheus.Registry
	audit *syncBuffer
	hits  atomic.Int64
}

// newLimitWorld starts a limitWorld; routes is the YAML of the routes
// list, upstream answers every forwarded request.
func newLimitWorld(t *testing.T, routes string, upstream http.HandlerFunc) *limitWorld {
	t.Helper()
	return newLimitWorldStore(t, routes, upstream, nil)
}

// newLimitWorldStore is newLimitWorld on the given limit store.
func newLimitWorldStore(t *testing.T, routes string, upstream http.HandlerFunc, store limits.Store) *limitWorld {
	t.Helper()
	return newLimitWorldFull(t, routes, "", func(rw http.ResponseWriter, r *http.Request, _ []byte) { upstream(rw, r) }, store)
}

// newLimitWorldUp is newLimitWorld with extra upstream keys, and an
// upstream that is handed the request body it received.
func newLimitWorldUp(t *testing.T, routes, upstreamKeys string, upstream func(http.ResponseWriter, *http.Request, []byte)) *limitWorld {
	t.Helper()
	return newLimitWorldFull(t, routes, upstreamKeys, upstream, nil)
}

func newLimitWorldFull(t *testing.T, routes, upstreamKeys string, upstream func(http.ResponseWriter, *http.Request, []byte), store limits.Store) *limitWorld {
	t.Helper()
	w := &limitWorld{t: t, clock: newFakeClock(epoch), audit: &syncBuffer{}, reg: prometheus.NewRegistry()}
	iss, err := issuer.New(issuer.Options{Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	w.iss = iss
	issSrv := httptest.NewServer(iss.Handler())
	t.Cleanup(issSrv.Close)
	iss.SetURL(issSrv.URL)
	upSrv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		upstream(rw, r, body)
	}))
	t.Cleanup(upSrv.Close)
	text := fmt.Sprintf("issuers:\n  - issuer: %q\n    audiences: [%q]\nupstreams:\n  models:\n    url: %q\n%sroutes:\n%s",
		issSrv.URL, testAudience, upSrv.URL, upstreamKeys, routes)
	cfg, err := config.Parse([]byte(text), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gw, err := New(ctx, cfg, Deps{Audit: NewAuditLogger(w.audit), Registerer: w.reg, Now: w.clock.Now, LimitStore: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	w.gw = gw
	testkit.WaitFor(t, "the gateway's keys", gw.Ready)
	return w
}

func (w *limitWorld) token(sub string) string {
	return w.iss.AccessToken(issuer.AccessTokenSpec{Subject: sub, ClientID: "cli", Audience: []string{testAudience},
		Scopes: []string{"chat"}, Extra: map[string]any{"jti": "jti-" + sub}})
}

func (w *limitWorld) post(sub, body string) *httptest.ResponseRecorder {
	w.t.Helper()
	r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
	r.RemoteAddr = "192.0.2.7:40000"
	r.Header.Set("Authorization", "Bearer "+w.token(sub))
	r.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	w.gw.ServeHTTP(rec, r)
	return rec
}

// lastRecord is the last audit decision record.
func (w *limitWorld) lastRecord() testkit.AuditRecord {
	w.t.Helper()
	ww := &world{t: w.t, audit: w.audit}
	recs := ww.records()
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Msg == auditMsgDecision {
			return recs[i]
		}
	}
	w.t.Fatal("no audit decision record")
	return testkit.AuditRecord{}
}

func limitChatRoute(limits string) string {
	return `  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: [chat]
    models:
      rules: [{model: m1, scopes: []}]
    limits:
` + limits
}

func jsonUsage(total string) http.HandlerFunc {
	return func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		rw.Header().Set("X-Ratelimit-Remaining-Requests", "999") // the upstream's own: replaced
		fmt.Fprintf(rw, `{"id":"c1","object":"chat.completion","usage":%s}`, total)
	}
}

// TestLimitRequestRate: a request rate refuses the request past the burst
// with the 429 an OpenAI SDK understands, per subject, counted from
// verified data only, and lets it through once the interval has passed.
func TestLimitRequestRate(t *testing.T) {
	w := newLimitWorld(t, limitChatRoute(`      - name: rpm
        requests: {rate: 2, per: 1m}
`), jsonUsage(`{"total_tokens":1}`))
	const body = `{"model":"m1"}`
	for i := range 2 {
		rec := w.post("alice", body)
		if rec.Code != 200 {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
		if got, want := rec.Header().Get("X-Ratelimit-Remaining-Requests"), fmt.Sprint(1-i); got != want {
			t.Errorf("request %d: x-ratelimit-remaining-requests %q; want %q", i, got, want)
		}
		if got := rec.Header().Values("X-Ratelimit-Remaining-Requests"); len(got) != 1 {
			t.Errorf("request %d: x-ratelimit-remaining-requests %q; want the gateway's only", i, got)
		}
		if got := rec.Header().Get("X-Ratelimit-Limit-Requests"); got != "2" {
			t.Errorf("x-ratelimit-limit-requests %q; want 2", got)
		}
	}
	hits := w.hits.Load()
	rec := w.post("alice", body)
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("third request: %d %s; want 429", rec.Code, rec.Body)
	}
	if w.hits.Load() != hits {
		t.Error("a refused request reached the upstream")
	}
	for k, want := range map[string]string{"Retry-After": "30", "Retry-After-Ms": "30000", "X-Ratelimit-Remaining-Requests": "0",
		"X-Ratelimit-Reset-Requests": "1m0s", "Content-Type": "application/json"} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
	if rec.Header().Get("WWW-Authenticate") != "" {
		t.Error("a 429 carries a Bearer challenge: the token is not at fault")
	}
	if b := rec.Body.String(); !strings.Contains(b, `"type":"rate_limit_error"`) || !strings.Contains(b, `"code":"rate_limit_exceeded"`) {
		t.Errorf("body %s; want an OpenAI rate_limit_error", b)
	}
	a := w.lastRecord()
	detail := a.Detail
	if a.Reason != string(ReasonRateLimited) || !strings.Contains(detail, `"rpm"`) || !strings.Contains(detail, "key limit:chat:rpm:") {
		t.Errorf("audit reason %v, detail %q; want rate_limited naming the limit and its key", a.Reason, detail)
	}
	if strings.Contains(detail, "alice") {
		t.Errorf("audit detail %q holds the subject in the clear", detail)
	}
	// Keyed per subject: bob has his own.
	if rec := w.post("bob", body); rec.Code != 200 {
		t.Errorf("another subject: %d; want 200", rec.Code)
	}
	// A client header naming another subject changes nothing.
	r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+w.token("alice"))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Auth-Subject", "carol")
	rec = httptest.NewRecorder()
	w.gw.ServeHTTP(rec, r)
	if rec.Code != http.StatusTooManyRequests {
		t.Errorf("alice with X-Auth-Subject: carol: %d; want 429", rec.Code)
	}
	w.clock.Advance(30 * time.Second)
	if rec := w.post("alice", body); rec.Code != 200 {
		t.Errorf("after Retry-After: %d; want 200", rec.Code)
	}
	if got := testutil.ToFloat64(w.gw.limitMetrics.decisions.WithLabelValues("chat", "rpm", "refused")); got != 2 {
		t.Errorf("refused decisions %v; want 2", got)
	}
}

// TestLimitTokenBudget: a token budget reserves before forwarding, bills
// the upstream's usage after, and refuses the request that would cross
// it (not the one after); the budget does not refill before its window
// ends.
func TestLimitTokenBudget(t *testing.T) {
	w := newLimitWorld(t, limitChatRoute(`      - name: daily
        tokens: {budget: 100, per: 24h, max_reserve: 50}
`), jsonUsage(`{"prompt_tokens":5,"completion_tokens":40,"total_tokens":45}`))
	const body = `{"model":"m1","max_tokens":10}` // reserves 10 + 31/4 = 17
	for i := range 2 {
		if rec := w.post("alice", body); rec.Code != 200 {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
		a := w.lastRecord()
		if a.LimitBilled != "usage" || a.LimitTokens != 45 {
			t.Errorf("request %d: audit limit_billed %v limit_tokens %v; want usage 45", i, a.LimitBilled, a.LimitTokens)
		}
	}
	// 90 used: a reservation of 17 would cross 100.
	rec := w.post("alice", body)
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), `"code":"budget_exceeded"`) {
		t.Fatalf("third request: %d %s; want 429 budget_exceeded", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("X-Ratelimit-Remaining-Tokens"); got != "10" {
		t.Errorf("x-ratelimit-remaining-tokens %q; want 10", got)
	}
	// epoch is 12:00 UTC: the daily window ends in 12h.
	if got := rec.Header().Get("Retry-After"); got != "43200" {
		t.Errorf("Retry-After %q; want 43200 (the window's end)", got)
	}
	if a := w.lastRecord(); a.Reason != string(ReasonBudgetExceeded) {
		t.Errorf("audit reason %v; want budget_exceeded", a.Reason)
	}
	// A small request still fits: max_tokens 1 reserves 1 + 7.
	if rec := w.post("alice", `{"model":"m1","max_tokens":1}`); rec.Code != 200 {
		t.Errorf("a request that fits: %d %s", rec.Code, rec.Body)
	}
	w.clock.Advance(11 * time.Hour)
	if rec := w.post("alice", body); rec.Code != 429 {
		t.Errorf("11h later, same window: %d; want 429 (a budget is not a rate)", rec.Code)
	}
	w.clock.Advance(time.Hour)
	if rec := w.post("alice", body); rec.Code != 200 {
		t.Errorf("next window: %d; want 200", rec.Code)
	}
	if got := testutil.ToFloat64(w.gw.limitMetrics.tokens.WithLabelValues("chat", "m1", "usage")); got != 45*4 {
		t.Errorf("tokens counted %v; want 180", got)
	}
}

// TestLimitBillingFaults: what the upstream reports decides the bill
// only when it makes sense: missing, negative or malformed usage is billed
// the reservation; an upstream failure is refunded; an absurd max_tokens
// reserves max_reserve.
func TestLimitBillingFaults(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		upstream   http.HandlerFunc
		wantSource string
		wantTokens float64
	}{
		{"no usage", `{"model":"m1","max_tokens":10}`, jsonUsage(`null`), "reservation", 17},
		{"negative usage", `{"model":"m1","max_tokens":10}`, jsonUsage(`{"total_tokens":-5}`), "reservation", 17},
		{"string usage", `{"model":"m1","max_tokens":10}`, jsonUsage(`{"total_tokens":"5"}`), "reservation", 17},
		{"fractional usage", `{"model":"m1","max_tokens":10}`, jsonUsage(`{"total_tokens":4.5}`), "reservation", 17},
		{"absurd max_tokens", `{"model":"m1","max_tokens":1e30}`, jsonUsage(`null`), "reservation", 50},
		{"negative max_tokens", `{"model":"m1","max_tokens":-100}`, jsonUsage(`null`), "reservation", 50},
		{"no max_tokens", `{"model":"m1"}`, jsonUsage(`null`), "reservation", 50},
		{"not JSON", `{"model":"m1","max_tokens":10}`, func(rw http.ResponseWriter, _ *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			_, _ = rw.Write([]byte(`{"usage":{"total_tokens":3}`))
		}, "reservation", 17},
		{"upstream error", `{"model":"m1","max_tokens":10}`, func(rw http.ResponseWriter, _ *http.Request) {
			http.Error(rw, `{"error":{"message":"overloaded"}}`, http.StatusServiceUnavailable)
		}, "refunded", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newLimitWorld(t, limitChatRoute(`      - name: daily
        tokens: {budget: 100, per: 24h, max_reserve: 50}
`), tt.upstream)
			w.post("alice", tt.body)
			a := w.lastRecord()
			if a.LimitBilled != tt.wantSource || a.LimitTokens != tt.wantTokens {
				t.Fatalf("audit limit_billed %v limit_tokens %v; want %s %v", a.LimitBilled, a.LimitTokens, tt.wantSource, tt.wantTokens)
			}
			// What remains is the budget less the bill.
			left := 100 - tt.wantTokens
			rec := w.post("alice", `{"model":"m1","max_tokens":1}`)
			if got := rec.Header().Get("X-Ratelimit-Remaining-Tokens"); got != fmt.Sprint(left-8) {
				t.Errorf("remaining after the next reservation of 8: %q; want %v", got, left-8)
			}
		})
	}
}

// TestLimitConcurrentBudget: concurrent requests through the gateway do
// not overshoot a budget by more than one reservation each in flight;
// here, where usage equals the reservation, not at all.
func TestLimitConcurrentBudget(t *testing.T) {
	w := newLimitWorld(t, limitChatRoute(`      - name: daily
        tokens: {budget: 500, per: 24h, max_reserve: 500}
`), jsonUsage(`{"total_tokens":17}`))
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 60 {
		wg.Go(func() {
			if w.post("alice", `{"model":"m1","max_tokens":10}`).Code == 200 {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if got := ok.Load(); got != 500/17 {
		t.Errorf("%d requests of 17 tokens allowed in a budget of 500; want %d", got, 500/17)
	}
}

// TestLimitShadow: a shadow limit counts and reports, never refuses.
func TestLimitShadow(t *testing.T) {
	w := newLimitWorld(t, limitChatRoute(`      - name: rpm
        mode: shadow
        requests: {rate: 1, per: 1h}
`), jsonUsage(`null`))
	for i := range 3 {
		if rec := w.post("alice", `{"model":"m1"}`); rec.Code != 200 {
			t.Fatalf("request %d: %d; want 200 under a shadow limit", i, rec.Code)
		}
	}
	if got := testutil.ToFloat64(w.gw.limitMetrics.decisions.WithLabelValues("chat", "rpm", "would_refuse")); got != 2 {
		t.Errorf("would_refuse decisions %v; want 2", got)
	}
}

// TestLimitConfigProblems: a limit keyed on anything but verified data,
// or malformed, is a config error naming the key.
func TestLimitConfigProblems(t *testing.T) {
	tests := []struct{ name, route, want string }{
		{"unknown key part", limitChatRoute("      - key: [x-user]\n        requests: {rate: 1, per: 1s}\n"), `routes[0].limits[0].key`},
		{"header key", limitChatRoute("      - key: [header]\n        requests: {rate: 1, per: 1s}\n"), `unknown key part "header"`},
		{"both kinds", limitChatRoute("      - requests: {rate: 1, per: 1s}\n        tokens: {budget: 1, per: 1h}\n"), `exactly one of requests, tokens and cost`},
		{"no kind", limitChatRoute("      - key: [sub]\n"), `exactly one of requests, tokens and cost`},
		{"bad per", limitChatRoute("      - requests: {rate: 1, per: soon}\n"), `routes[0].limits[0].requests.per`},
		{"zero budget", limitChatRoute("      - tokens: {budget: 0, per: 1h}\n"), `routes[0].limits[0].tokens.budget`},
		{"duplicate name", limitChatRoute("      - {name: a, requests: {rate: 1, per: 1s}}\n      - {name: a, requests: {rate: 1, per: 1s}}\n"), `used twice`},
		{"bad mode", limitChatRoute("      - {mode: log, requests: {rate: 1, per: 1s}}\n"), `routes[0].limits[0].mode`},
		{"public keyed on sub", "  - name: p\n    path: /p\n    upstream: models\n    public: true\n    limits: [{key: [sub], requests: {rate: 1, per: 1s}}]\n", `a public route has no token`},
		{"cost budget finer than a micro-unit", limitChatRoute("      - cost: {budget: \"5.0000001\", per: 24h, prices: {m1: {input: \"1\", output: \"1\"}}}\n"), `routes[0].limits[0].cost.budget`},
		{"cost budget negative", limitChatRoute("      - cost: {budget: \"-5\", per: 24h, prices: {m1: {input: \"1\", output: \"1\"}}}\n"), `routes[0].limits[0].cost.budget`},
		{"cost without prices", limitChatRoute("      - cost: {budget: \"5\", per: 24h}\n"), `routes[0].limits[0].cost.prices`},
		{"cost bad price", limitChatRoute("      - cost: {budget: \"5\", per: 24h, prices: {m1: {input: \"1.5e3\", output: \"1\"}}}\n"), `routes[0].limits[0].cost.prices.m1`},
		{"time zone on a fixed window", limitChatRoute("      - tokens: {budget: 5, per: 24h, time_zone: Europe/Berlin}\n"), `fixed windows (24h) are aligned to UTC`},
		{"unknown time zone", limitChatRoute("      - tokens: {budget: 5, per: month, time_zone: Mars/Base}\n"), `time_zone "Mars/Base"`},
		{"unknown calendar", limitChatRoute("      - tokens: {budget: 5, per: fortnight}\n"), `routes[0].limits[0].tokens.per`},
		{"key_expr reads a header", limitChatRoute("      - key_expr: request.headers['x-user']\n        requests: {rate: 1, per: 1s}\n"), `undeclared reference to 'request'`},
		{"key_expr not a string", limitChatRoute("      - key_expr: has(claims.org)\n        requests: {rate: 1, per: 1s}\n"), `it must be a string`},
		{"model without models", "  - name: p\n    path: /p\n    upstream: models\n    scopes: []\n    limits: [{key: [model], requests: {rate: 1, per: 1s}}]\n", `key model needs`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := fmt.Sprintf("issuers:\n  - issuer: \"https://idp.example.com\"\n    audiences: [%q]\nupstreams:\n  models:\n    url: \"http://127.0.0.1:1\"\nroutes:\n%s", testAudience, tt.route)
			_, err := config.Parse([]byte(text), noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want one naming %q", err, tt.want)
			}
		})
	}
}

// TestLimitEstimateHostileBody: the reservation, which a response
// without usage (a stream whose client turned include_usage off) is
// billed, is read from the members the upstream reads: a case variant
// or a second copy of max_tokens, which encoding/json would read
// differently from the upstream, makes the estimate unknown (max_reserve),
// and n (or best_of) completions multiply the output.
func TestLimitEstimateHostileBody(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantTokens float64
	}{
		// 36 bytes: 9 input tokens, 4 x 10 output tokens.
		{"n completions", `{"model":"m1","max_tokens":10,"n":4}`, 49},
		{"best_of completions", `{"model":"m1","max_tokens":5,"best_of":4,"n":2}`, 31},
		{"n of one", `{"model":"m1","max_tokens":10,"n":1}`, 19},
		{"case variant lowers max_tokens", `{"model":"m1","max_tokens":40,"MAX_TOKENS":1}`, 50},
		{"case variant of max_completion_tokens", `{"model":"m1","max_completion_tokens":40,"Max_Completion_Tokens":1}`, 50},
		{"duplicate max_tokens", `{"model":"m1","max_tokens":40,"max_tokens":1}`, 50},
		{"duplicate n", `{"model":"m1","max_tokens":10,"n":4,"n":1}`, 50},
		{"case variant of n", `{"model":"m1","max_tokens":10,"n":4,"N":1}`, 50},
		{"fractional n", `{"model":"m1","max_tokens":10,"n":1.5}`, 50},
		{"string n", `{"model":"m1","max_tokens":10,"n":"4"}`, 50},
		{"zero n", `{"model":"m1","max_tokens":10,"n":0}`, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newLimitWorld(t, limitChatRoute(`      - name: daily
        tokens: {budget: 1000, per: 24h, max_reserve: 50}
`), jsonUsage(`null`))
			if rec := w.post("alice", tt.body); rec.Code != 200 {
				t.Fatalf("status %d %s", rec.Code, rec.Body)
			}
			a := w.lastRecord()
			if a.LimitBilled != "reservation" || a.LimitTokens != tt.wantTokens {
				t.Fatalf("audit limit_billed %v limit_tokens %v; want reservation %v", a.LimitBilled, a.LimitTokens, tt.wantTokens)
			}
		})
	}
}

// TestLimitUsageNotHiddenByEncoding: a client asking for a compressed
// answer (Accept-Encoding: gzip) must not make the usage unreadable, and
// so be billed only its reservation: on a route under a budget the
// upstream is asked for an unencoded answer, and the usage is billed.
func TestLimitUsageNotHiddenByEncoding(t *testing.T) {
	w := newLimitWorldUp(t, limitChatRoute(`      - name: daily
        tokens: {budget: 1000, per: 24h}
`), "", func(rw http.ResponseWriter, r *http.Request, _ []byte) {
		const answer = `{"id":"c1","usage":{"prompt_tokens":5,"completion_tokens":40,"total_tokens":45}}`
		rw.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			rw.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(rw)
			_, _ = zw.Write([]byte(answer))
			_ = zw.Close()
			return
		}
		_, _ = rw.Write([]byte(answer))
	})
	r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model":"m1","max_tokens":10}`))
	r.RemoteAddr = "192.0.2.7:40000"
	r.Header.Set("Authorization", "Bearer "+w.token("alice"))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept-Encoding", "gzip, br")
	rec := httptest.NewRecorder()
	w.gw.ServeHTTP(rec, r)
	if rec.Code != 200 {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	if a := w.lastRecord(); a.LimitBilled != "usage" || a.LimitTokens != 45 {
		t.Errorf("audit limit_billed %v limit_tokens %v; want usage 45", a.LimitBilled, a.LimitTokens)
	}
}

// TestLimitLargeJSONUsage: a JSON answer over the 1 MiB the usage reader
// keeps (many completions, n > 1) is still billed its top-level usage,
// read as it passes, not its reservation (which max_reserve caps far
// below such an answer's usage); one whose usage is not a top-level
// member, or which is cut short, is billed the reservation.
func TestLimitLargeJSONUsage(t *testing.T) {
	big := strings.Repeat("x", maxUsageBody+1000)
	tests := []struct {
		name       string
		answer     string
		wantSource string
		wantTokens float64
	}{
		{"usage at the end", `{"choices":[{"message":{"content":"` + big + `"}}],"usage":{"prompt_tokens":5,"completion_tokens":400000,"total_tokens":400005}}`, "usage", 400005},
		{"usage first", `{"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12},"choices":[{"message":{"content":"` + big + `"}}]}`, "usage", 12},
		{"escaped quotes in content", `{"choices":[{"message":{"content":"\"usage\":{\"total_tokens\":1}` + big + `"}}],"usage":{"total_tokens":300000}}`, "usage", 300000},
		{"nested usage only", `{"choices":[{"message":{"content":"` + big + `"},"usage":{"total_tokens":1}}]}`, "reservation", 50},
		{"cut short", `{"choices":[{"message":{"content":"` + big + `"}}],"usage":{"total_tokens":1}`, "reservation", 50},
		{"trailing data", `{"choices":[{"message":{"content":"` + big + `"}}],"usage":{"total_tokens":1}}{}`, "reservation", 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newLimitWorld(t, limitChatRoute(`      - name: daily
        tokens: {budget: 1000000, per: 24h, max_reserve: 50}
`), func(rw http.ResponseWriter, _ *http.Request) {
				rw.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(rw, tt.answer)
			})
			if rec := w.post("alice", `{"model":"m1","n":128}`); rec.Code != 200 || rec.Body.Len() != len(tt.answer) {
				t.Fatalf("status %d, %d bytes; want 200 and the answer whole", rec.Code, rec.Body.Len())
			}
			if a := w.lastRecord(); a.LimitBilled != tt.wantSource || a.LimitTokens != tt.wantTokens {
				t.Errorf("audit limit_billed %v limit_tokens %v; want %s %v", a.LimitBilled, a.LimitTokens, tt.wantSource, tt.wantTokens)
			}
		})
	}
}

// TestLimitResponsesAPIUsage: the usage of the Responses API (and of
// Anthropic-shaped answers): input_tokens and output_tokens, and, in a
// stream, the usage of the response the response.completed event
// carries, is billed, not the reservation.
func TestLimitResponsesAPIUsage(t *testing.T) {
	tests := []struct {
		name, ct, answer string
		wantTokens       float64
	}{
		{"stream", "text/event-stream",
			"event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r1\",\"usage\":null}}\n\n" +
				"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\n\n" +
				"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r1\",\"usage\":{\"input_tokens\":5,\"output_tokens\":300,\"total_tokens\":305}}}\n\n",
			305},
		{"JSON without a total", "application/json", `{"id":"r1","object":"response","usage":{"input_tokens":5,"output_tokens":300}}`, 305},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newLimitWorldUp(t, limitChatRoute(`      - name: daily
        tokens: {budget: 100000, per: 24h, max_reserve: 50}
`), "    no_stream_usage: true\n", func(rw http.ResponseWriter, _ *http.Request, _ []byte) {
				rw.Header().Set("Content-Type", tt.ct)
				_, _ = io.WriteString(rw, tt.answer)
			})
			if rec := w.post("alice", `{"model":"m1","stream":true}`); rec.Code != 200 {
				t.Fatalf("status %d %s", rec.Code, rec.Body)
			}
			if a := w.lastRecord(); a.LimitBilled != "usage" || a.LimitTokens != tt.wantTokens {
				t.Errorf("audit limit_billed %v limit_tokens %v; want usage %v", a.LimitBilled, a.LimitTokens, tt.wantTokens)
			}
		})
	}
}
