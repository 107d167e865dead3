package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/redistest"
	"github.com/scopegate/scopegate/internal/testkit"
)

// redisExtra is the state and revocation config of the Redis tests. Their
// outages are errors or refused connections, which come back at once: the
// socket and store timeouts are generous, as on a loaded machine a real
// Redis round trip can take a few hundred milliseconds, and a timeout
// there would be an outage the test did not make (a limit's 503, a sync
// that fails).
func redisExtra(url, mode string) string {
	return adminExtra + `
state:
  redis:
    url: "` + url + `"
    dial_timeout: 2s
    read_timeout: 2s
    write_timeout: 2s
revocation:
  failure_mode: ` + mode + `
  resync_interval: 20ms
  max_lag: 30s
  store_timeout: 2s
limits:
  store_timeout: 2s
`
}

// TestRevocationStoreDown: with Redis failing, a request never waits on
// it; once the mirror is older than max_lag, fail_open serves (counted)
// and fail_closed answers 503 with Retry-After; when Redis answers again
// the gateway recovers by itself. An entry revoked before the outage
// still holds during it.
func TestRevocationStoreDown(t *testing.T) {
	for _, mode := range []string{config.FailOpen, config.FailClosed} {
		t.Run(mode, func(t *testing.T) {
			mr := miniredis.RunT(t)
			w := newWorld(t, redisExtra("redis://"+mr.Addr(), mode))
			tok := w.token("chat:completions")
			revoked := w.token("models:read", "chat:completions")
			w.revoke(`{"token":"` + revoked + `"}`)
			if rec := w.chat(tok); rec.Code != http.StatusOK {
				t.Fatalf("with redis up: %d", rec.Code)
			}

			mr.SetError("ERR injected outage")
			if rec := w.admin("POST", revocationsPath, testAdminToken, `{"sub":"bob"}`); rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
				t.Fatalf("revoking with redis down: %d; want 503 with Retry-After", rec.Code)
			}
			// Within max_lag the last mirror is trusted.
			if rec := w.chat(tok); rec.Code != http.StatusOK {
				t.Fatalf("within max_lag: %d; want 200", rec.Code)
			}
			w.clock.Advance(31 * time.Second)
			testkit.WaitFor(t, "a failed sync", func() bool {
				return testutil.ToFloat64(w.gw.revoker.m.storeErrors.WithLabelValues("revocation_sync")) > 0
			})
			wantRevoked(t, w, w.chat(revoked)) // the last mirror still applies
			rec := w.chat(tok)
			switch mode {
			case config.FailOpen:
				if rec.Code != http.StatusOK {
					t.Fatalf("fail_open, redis down: %d; want 200", rec.Code)
				}
				if n := testutil.ToFloat64(w.gw.revoker.m.unchecked); n < 1 {
					t.Fatalf("scopegate_revocation_unchecked_total = %v; want counted", n)
				}
			case config.FailClosed:
				if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
					t.Fatalf("fail_closed, redis down: %d %v; want 503 with Retry-After", rec.Code, rec.Header())
				}
				if !strings.Contains(rec.Body.String(), string(ReasonRevocationUnavailable)) {
					t.Fatalf("body %s; want code %s", rec.Body, ReasonRevocationUnavailable)
				}
			}
			if lag := w.gw.revoker.lag(); lag < 30 {
				t.Fatalf("mirror lag %v; want the age of the last sync", lag)
			}

			mr.SetError("")
			testkit.WaitFor(t, "recovery after redis is back", func() bool { return w.chat(tok).Code == http.StatusOK && w.gw.revoker.inSync(w.clock.Now()) })
			wantRevoked(t, w, w.chat(revoked))
		})
	}
}

// TestRevocationStoreDownAtStart: a gateway started while Redis is
// unreachable serves (fail_open) or refuses with 503 (fail_closed), and
// needs no restart once Redis is up.
func TestRevocationStoreDownAtStart(t *testing.T) {
	for _, mode := range []string{config.FailOpen, config.FailClosed} {
		t.Run(mode, func(t *testing.T) {
			mr := miniredis.NewMiniRedis()
			if err := mr.Start(); err != nil {
				t.Fatal(err)
			}
			addr := mr.Addr()
			mr.Close()
			w := newWorld(t, redisExtra("redis://"+addr, mode))
			tok := w.token("chat:completions")
			want := http.StatusOK
			if mode == config.FailClosed {
				want = http.StatusServiceUnavailable
			}
			if rec := w.chat(tok); rec.Code != want {
				t.Fatalf("redis down at start: %d; want %d", rec.Code, want)
			}
			mr2 := miniredis.NewMiniRedis()
			if err := mr2.StartAddr(addr); err != nil {
				t.Skipf("cannot listen on %s again: %v", addr, err)
			}
			t.Cleanup(mr2.Close)
			testkit.WaitFor(t, "the first sync", func() bool { return w.chat(tok).Code == http.StatusOK && w.gw.revoker.inSync(w.clock.Now()) })
		})
	}
}

// TestRevocationSharedByReplicas: two gateways on one real redis-server;
// a revocation through one's admin API is refused by the other, which
// never asks Redis per request; it survives a restart of the gateway and
// of Redis.
func TestRevocationSharedByReplicas(t *testing.T) {
	srv := redistest.Start(t)
	a := newWorld(t, redisExtra(srv.URL(), config.FailClosed))
	b := newWorldSharing(t, a)
	tok := a.token("chat:completions")
	for _, w := range []*world{a, b} {
		if rec := w.chat(tok); rec.Code != http.StatusOK {
			t.Fatalf("before revocation: %d", rec.Code)
		}
	}
	a.revoke(`{"token":"` + tok + `","by":"ops"}`)
	wantRevoked(t, a, a.chat(tok))
	testkit.WaitFor(t, "replica b to refuse the revoked token", func() bool { return b.chat(tok).Code == http.StatusUnauthorized })
	wantRevoked(t, b, b.chat(tok))

	// A gateway restarted on the same Redis refuses it from its first request.
	b.gw.Close()
	c := newWorldSharing(t, a)
	wantRevoked(t, c, c.chat(tok))

	// Redis killed and restarted: the gateways reconnect by themselves
	// and the entry is still there (Redis' append-only file).
	srv.Kill()
	srv.Restart()
	c.revoke(`{"client_id":"someone-else"}`)
	testkit.WaitFor(t, "replica a to see the entry made after the Redis restart", func() bool {
		return testutil.ToFloat64(a.gw.revoker.m.entries.WithLabelValues(revokeClient)) == 1
	})
	wantRevoked(t, a, a.chat(tok))
	if got := len(c.listRevocations()); got != 2 {
		t.Fatalf("%d entries after the Redis restart; want 2", got)
	}
}

// newWorldSharing starts a second gateway with the same issuer and clock
// as w.
func newWorldSharing(t *testing.T, w *world) *world {
	t.Helper()
	w2 := *w
	w2.t, w2.audit = t, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gw, err := New(ctx, w.gw.Config(), Deps{Audit: NewAuditLogger(w2.audit), Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	testkit.WaitFor(t, "the second gateway ready", gw.Ready)
	w2.gw = gw
	return &w2
}
