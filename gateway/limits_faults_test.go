package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scopegate/scopegate/internal/redistest"
)

// TestLimitRedisSilent: a Redis that stops answering costs a request at
// most limits.store_timeout (the socket timeouts here are an hour: only
// the store timeout can end the wait, so a missing bound hangs the
// test); then the breaker fails fast for limits.cooldown. A fail-open
// limit counts in the replica's memory meanwhile (the third request is
// refused by the local count); a fail-closed one answers 503. Once Redis
// answers and the cooldown has passed, the shared count rules again.
func TestLimitRedisSilent(t *testing.T) {
	for _, tt := range []struct {
		mode       string
		duringDown [2]int
	}{
		{"open", [2]int{http.StatusOK, http.StatusTooManyRequests}},
		{"closed", [2]int{http.StatusServiceUnavailable, http.StatusServiceUnavailable}},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			mr := miniredis.RunT(t)
			w := newLimitWorldUp(t, limitChatRoute(`      - name: hourly
        on_store_error: `+tt.mode+`
        requests: {rate: 1, per: 1h}
`), `state:
  redis:
    url: "redis://`+mr.Addr()+`"
    read_timeout: 1h
    write_timeout: 1h
limits:
  store_timeout: 1s  # long enough for a loaded machine: the requests before and after the silence must be answered
  cooldown: 1m
`, func(rw http.ResponseWriter, r *http.Request, _ []byte) { jsonUsage(`null`)(rw, r) })
			if rec := w.post("alice", `{"model":"m1"}`); rec.Code != 200 {
				t.Fatalf("first request: %d %s", rec.Code, rec.Body)
			}
			mr.Lock() // miniredis answers nothing while locked
			for i, want := range tt.duringDown {
				if rec := w.post("alice", `{"model":"m1"}`); rec.Code != want {
					t.Errorf("request %d with Redis silent: %d %s; want %d", i, rec.Code, rec.Body, want)
				}
			}
			if got := testutil.ToFloat64(w.gw.limitMetrics.storeErrors.WithLabelValues("chat", "hourly")); got != 2 {
				t.Errorf("store errors %v; want 2", got)
			}
			mr.Unlock()
			if rec := w.post("alice", `{"model":"m1"}`); rec.Code != tt.duringDown[1] {
				t.Errorf("within the cooldown: %d; want %d (the breaker still open)", rec.Code, tt.duringDown[1])
			}
			w.clock.Advance(time.Minute)
			// Redis counted the first request: its hourly rate is used.
			if rec := w.post("alice", `{"model":"m1"}`); rec.Code != http.StatusTooManyRequests {
				t.Errorf("after the cooldown: %d; want 429 from the shared count", rec.Code)
			}
			if rec := w.post("bob", `{"model":"m1"}`); rec.Code != 200 {
				t.Errorf("bob after the cooldown: %d; want 200", rec.Code)
			}
		})
	}
}

// TestLimitAllOrNothing: a request refused by one limit costs nothing
// under the route's others, whichever order they are listed in: a budget
// refusal leaves the rate untouched, a rate refusal the budget; with
// Redis too, in one round trip.
func TestLimitAllOrNothing(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			extra := ""
			if store == "redis" {
				// A generous store timeout: a Redis round trip slower
				// than the default 250ms on a loaded machine would be a
				// store error, not the refusal under test.
				extra = "state:\n  redis:\n    url: \"" + redistest.Start(t).URL() + "\"\nlimits:\n  store_timeout: 5s\n"
			}
			w := newLimitWorldUp(t, limitChatRoute(`      - name: rpm
        requests: {rate: 3, per: 1h}
      - name: daily
        tokens: {budget: 100, per: 24h, max_reserve: 100}  # fixed: the test clock is not Redis's
`), extra, func(rw http.ResponseWriter, r *http.Request, _ []byte) {
				jsonUsage(`{"prompt_tokens":5,"completion_tokens":15,"total_tokens":20}`)(rw, r)
			})
			// 1: reserves 100, billed 20. 2: a reservation of 100 would
			// cross 100: refused by the budget, and the rate not used.
			if rec := w.post("alice", `{"model":"m1"}`); rec.Code != 200 {
				t.Fatalf("first: %d %s", rec.Code, rec.Body)
			}
			for range 3 {
				if rec := w.post("alice", `{"model":"m1"}`); rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "budget_exceeded") {
					t.Fatalf("over the budget: %d %s", rec.Code, rec.Body)
				}
			}
			// The rate has 2 left: small requests pass twice, then the
			// rate refuses, and the refused request reserves nothing.
			for i := range 2 {
				if rec := w.post("alice", `{"model":"m1","max_tokens":1}`); rec.Code != 200 {
					t.Fatalf("small request %d: %d %s; want 200 (budget refusals must not use the rate)", i, rec.Code, rec.Body)
				}
			}
			rec := w.post("alice", `{"model":"m1","max_tokens":1}`)
			if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "rate_limit_exceeded") {
				t.Fatalf("past the rate: %d %s", rec.Code, rec.Body)
			}
			// 3 × 20 billed: 40 tokens left, untouched by the refusal.
			if got := rec.Header().Get("X-Ratelimit-Remaining-Tokens"); got != "40" {
				t.Errorf("remaining tokens after a rate refusal %q; want 40 (nothing reserved)", got)
			}
		})
	}
}
