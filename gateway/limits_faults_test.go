package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
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
  store_timeout: 100ms
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
