package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scopegate/scopegate/internal/testkit"
	"github.com/scopegate/scopegate/state"
)

// TestDPoPReplayCacheSilent: a Redis that stops answering costs a DPoP
// request a bounded wait, then 503 dpop_replay_cache_unavailable, never
// forwarded. The socket timeouts here are an hour, so only the gateway's
// own deadline on the replay cache call can end the wait: without one
// the request hangs (the test gives it testkit.DefaultTimeout, a bound
// on a hang, not a timing assertion).
func TestDPoPReplayCacheSilent(t *testing.T) {
	mr := miniredis.RunT(t)
	store, err := state.NewRedis(state.RedisOptions{URL: "redis://" + mr.Addr(), ReadTimeout: time.Hour, WriteTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	w := newSenderWorld(t, dpopConfig, "")
	w.store, w.gws = store, nil
	w.addGateway()
	k := newClientKey(t)
	tok := w.boundToken(map[string]any{"jkt": k.jkt})
	if rec := w.do(0, "POST", "/v1/chat/completions", "DPoP "+tok, testPeer, "DPoP", w.proof(k, "POST", "/v1/chat/completions", tok)); rec.Code != 200 {
		t.Fatalf("with Redis answering: %d %s", rec.Code, rec.Body)
	}
	before := w.forwarded()
	mr.Lock() // miniredis answers nothing while locked
	unlocked := false
	defer func() {
		if !unlocked {
			mr.Unlock()
		}
	}()
	done := make(chan *httptest.ResponseRecorder, 1)
	p := w.proof(k, "POST", "/v1/chat/completions", tok)
	go func() { done <- w.do(0, "POST", "/v1/chat/completions", "DPoP "+tok, testPeer, "DPoP", p) }()
	var rec *httptest.ResponseRecorder
	select {
	case rec = <-done:
	case <-time.After(testkit.DefaultTimeout):
		mr.Unlock()
		unlocked = true
		<-done
		t.Fatalf("a DPoP request with Redis silent was not answered within %v: the replay cache call has no deadline", testkit.DefaultTimeout)
	}
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("with Redis silent: %d %s (Retry-After %q); want 503 with Retry-After", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	if a := w.lastRecord(); a.Reason != string(ReasonDPoPStoreDown) {
		t.Errorf("audit reason %q; want %s", a.Reason, ReasonDPoPStoreDown)
	}
	if w.forwarded() != before {
		t.Error("a request whose proof could not be checked for replay was forwarded")
	}
	if got := testutil.ToFloat64(w.gws[0].revoker.m.storeErrors.WithLabelValues("dpop_replay")); got != 1 {
		t.Errorf(`scopegate_state_errors_total{op="dpop_replay"} = %v; want 1 (the store's failure counted, so that its alert fires)`, got)
	}
}
