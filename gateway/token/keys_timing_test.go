package token

// The key source's timing: backoff, the unknown-kid rate limit and its
// trailing refresh, cancellation and shutdown. Most of these tests run in a
// testing/synctest bubble with the JWKS served over in-memory pipes
// (newMemJWKS), so durations are exact on the bubble's fake clock.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// TestColdStartThenRecovery: with the JWKS down, tokens get keys
// unavailable (not a refusal) and the source retries with a backoff
// measured in seconds: the first retry comes within a second. The
// test runs in a synctest bubble, so the backoff is waited on a fake clock.
func TestColdStartThenRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newKey(t, "rsa2048", "rsa1", "RS256", "RS256")
		srv := newMemJWKS(t, k)
		srv.setStatus(http.StatusServiceUnavailable)
		clock := newClock()
		var log refreshLog
		v := newVerifier(t, Options{
			Issuers:   []IssuerConfig{{Issuer: issuerURL, JWKSURI: srv.URL, Audiences: []string{testAud}}},
			Client:    srv.client(),
			Now:       clock.Now,
			OnRefresh: log.hook,
		})
		synctest.Wait() // the first fetch failed; the source waits out a backoff
		if c, n := log.last(); n != 1 || c.err == nil {
			t.Fatalf("OnRefresh calls = %d, last %+v; want one failed fetch", n, c)
		}
		if v.Ready() {
			t.Fatal("Ready() = true with the JWKS down")
		}
		tok := mint(t, k, nil, claimsAt(clock.Now()))
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrKeysUnavailable) || reasonOf(err) != "" {
			t.Fatalf("Verify = %v; want ErrKeysUnavailable, not a refusal", err)
		}
		// The iss check comes first: an unknown issuer is still a refusal.
		bad := mint(t, k, nil, with(clock.Now(), map[string]any{"iss": "https://evil.example"}))
		if _, err := v.Verify(context.Background(), bad); reasonOf(err) != ReasonUnknownIssuer {
			t.Fatalf("Verify(unknown iss) = %v; want unknown_issuer", err)
		}
		st := v.Status()
		if len(st) != 1 || st[0].Ready || st[0].RefreshFailures == 0 || st[0].Keys != 0 {
			t.Fatalf("Status = %+v", st)
		}

		srv.setStatus(http.StatusOK)
		time.Sleep(time.Second) // the longest first backoff
		synctest.Wait()
		if !v.Ready() {
			t.Fatalf("not ready 1s after the JWKS came back: %+v; want the first retry within 1s", v.Status())
		}
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
		st = v.Status()
		if !st[0].Ready || st[0].Keys != 1 || !st[0].LastRefresh.Equal(clock.Now()) {
			t.Fatalf("Status = %+v", st)
		}
	})
}

// TestColdStartBackoffGrows: while the JWKS stays down, the waits between
// attempts double from initialBackoff up to maxBackoff (each drawn from
// [b/2, b]), so a dead issuer costs a fetch per half minute at most.
func TestColdStartBackoffGrows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newMemJWKS(t)
		srv.setStatus(http.StatusServiceUnavailable)
		newVerifier(t, Options{
			Issuers: []IssuerConfig{{Issuer: issuerURL, JWKSURI: srv.URL, Audiences: []string{testAud}}},
			Client:  srv.client(),
		})
		synctest.Wait()
		// Attempt n+1 comes after a wait in [b/2, b], b = min(2^(n-1) s, 30 s):
		// literals, not the constants, so that a changed constant fails here.
		for n := 1; n <= 8; n++ {
			if got := srv.fetches.Load(); got != int64(n) {
				t.Fatalf("%d fetches; want %d", got, n)
			}
			b := min(time.Second<<(n-1), 30*time.Second)
			start := time.Now()
			for srv.fetches.Load() == int64(n) {
				time.Sleep(time.Millisecond)
			}
			if d := time.Since(start); d < b/2 || d > b+time.Millisecond {
				t.Fatalf("wait before attempt %d = %v; want within [%v, %v]", n+1, d, b/2, b)
			}
		}
	})
}

// TestUnknownKIDFlood: a flood of made-up kids, all arriving while the
// refresh they triggered is in flight, costs one fetch; once it is done,
// an unknown kid inside MinRefreshInterval is refused at once, without a
// fetch. In a synctest bubble the fetch ends only when every goroutine of
// the flood has joined it or been refused, so the count is exact.
func TestUnknownKIDFlood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newKey(t, "ed25519", "ed1", "EdDSA", "EdDSA")
		srv := newMemJWKS(t, k)
		clock := newClock()
		v := newVerifier(t, Options{
			Issuers: []IssuerConfig{{Issuer: issuerURL, JWKSURI: srv.URL, Audiences: []string{testAud}, MinRefreshInterval: time.Hour}},
			Client:  srv.client(),
			Now:     clock.Now,
		})
		synctest.Wait()
		if !v.Ready() {
			t.Fatalf("not ready: %+v", v.Status())
		}
		srv.mu.Lock()
		srv.delay = 50 * time.Millisecond
		srv.mu.Unlock()
		before := srv.fetches.Load()

		const n = 1000
		toks := make([]string, n)
		for i := range toks {
			toks[i] = mint(t, k, map[string]any{"kid": fmt.Sprintf("kid-%d", i)}, claimsAt(clock.Now()))
		}
		var wg sync.WaitGroup
		var wrong atomic.Int64
		for i := range n {
			wg.Go(func() {
				if _, err := v.Verify(context.Background(), toks[i]); reasonOf(err) != ReasonUnknownKID {
					wrong.Add(1)
				}
			})
		}
		wg.Wait()
		if w := wrong.Load(); w != 0 {
			t.Errorf("%d tokens not refused as unknown_kid", w)
		}
		if got := srv.fetches.Load() - before; got != 1 {
			t.Errorf("a flood of %d unknown kids caused %d fetches; want 1", n, got)
		}
		// Rate-limited now: refused at once, without a fetch.
		before = srv.fetches.Load()
		start := time.Now()
		if _, err := v.Verify(context.Background(), toks[0]); reasonOf(err) != ReasonUnknownKID {
			t.Fatalf("err = %v; want unknown_kid", err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("rate-limited refusal took %v; want no wait at all", d)
		}
		if got := srv.fetches.Load() - before; got != 0 {
			t.Errorf("rate-limited unknown kid caused %d fetches", got)
		}
	})
}

// TestUnknownKIDTrailingRefresh: a key rotated in right after another
// unknown kid spent the refresh is refused fast at first, and honoured once
// the rate limit lifts, by one trailing refresh that nobody waits for; a
// flood inside the limit is refused fast and owes only that one refresh.
// In a synctest bubble, with the bubble's clock as the Verifier's, "once
// the limit lifts" is exact: not one nanosecond before.
func TestUnknownKIDTrailingRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newKey(t, "p256", "a", "ES256", "ES256")
		b := newKey(t, "p256", "b", "ES256", "ES256")
		srv := newMemJWKS(t, a)
		const interval = 400 * time.Millisecond
		v := newVerifier(t, Options{
			Issuers: []IssuerConfig{{Issuer: issuerURL, JWKSURI: srv.URL, Audiences: []string{testAud}, MinRefreshInterval: interval}},
			Client:  srv.client(),
			Now:     time.Now, // the bubble's
		})
		synctest.Wait()
		bogus := mint(t, a, map[string]any{"kid": "nope"}, claimsAt(time.Now()))
		if _, err := v.Verify(context.Background(), bogus); reasonOf(err) != ReasonUnknownKID {
			t.Fatalf("bogus kid: %v; want unknown_kid", err)
		}
		before := srv.fetches.Load()
		srv.setKeys(a, b) // rotated in just after the refresh the bogus kid spent
		rotated := mint(t, b, nil, claimsAt(time.Now()))

		// Inside the limit: everything is refused at once, the rotated key too.
		var wg sync.WaitGroup
		for i := range 200 {
			tok := mint(t, a, map[string]any{"kid": fmt.Sprintf("flood-%d", i)}, claimsAt(time.Now()))
			if i == 0 {
				tok = rotated
			}
			wg.Go(func() {
				start := time.Now()
				if _, err := v.Verify(context.Background(), tok); reasonOf(err) != ReasonUnknownKID {
					t.Errorf("inside the limit: %v; want unknown_kid", err)
				}
				if d := time.Since(start); d != 0 {
					t.Errorf("a rate-limited refusal took %v; want no wait at all", d)
				}
			})
		}
		wg.Wait()
		time.Sleep(interval - time.Nanosecond)
		synctest.Wait()
		if got := srv.fetches.Load() - before; got != 0 {
			t.Errorf("fetches inside the limit = %d; want 0", got)
		}

		// The trailing refresh makes the rotated key known without a request.
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := srv.fetches.Load() - before; got != 1 {
			t.Fatalf("fetches after the limit lifted = %d; want exactly 1 trailing refresh", got)
		}
		if _, err := v.Verify(context.Background(), rotated); err != nil {
			t.Fatalf("token under the rotated-in kid after the trailing refresh: %v", err)
		}
		if got := srv.fetches.Load() - before; got != 1 {
			t.Errorf("fetches = %d; want 1", got)
		}
	})
}

// TestUnknownKIDAfterOlderFetch: a token under a kid published just after
// a scheduled refresh downloaded the JWKS, arriving while that refresh is
// still in flight, is honoured: the fetch it joins could not have seen the
// key, so the kid is asked for once more (one fetch), not refused.
func TestUnknownKIDAfterOlderFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newKey(t, "p256", "a", "ES256", "ES256")
		b := newKey(t, "p256", "b", "ES256", "ES256")
		srv := newMemJWKS(t, a)
		const refresh = time.Minute
		v := newVerifier(t, Options{
			Issuers: []IssuerConfig{{Issuer: issuerURL, JWKSURI: srv.URL, Audiences: []string{testAud},
				RefreshInterval: refresh, MinRefreshInterval: time.Hour}},
			Client: srv.client(),
			Now:    time.Now, // the bubble's
		})
		synctest.Wait()
		srv.mu.Lock()
		srv.delay = 50 * time.Millisecond
		srv.mu.Unlock()
		time.Sleep(refresh)
		synctest.Wait() // the scheduled refresh has read the JWKS (a only) and is in flight
		srv.setKeys(a, b)
		before := srv.fetches.Load()
		if _, err := v.Verify(context.Background(), mint(t, b, nil, claimsAt(time.Now()))); err != nil {
			t.Fatalf("token under the kid published after the scheduled fetch read the JWKS: %v", err)
		}
		if got := srv.fetches.Load() - before; got != 1 {
			t.Errorf("fetches after the scheduled one = %d; want 1", got)
		}
	})
}

// TestUnknownKIDRateLimitFollowsClock: the unknown-kid rate limit is
// measured by the injected clock, like every other time the Verifier
// reads: moving the clock past MinRefreshInterval lifts it.
func TestUnknownKIDRateLimitFollowsClock(t *testing.T) {
	k := newKey(t, "p256", "ec1", "ES256", "ES256")
	srv := newJWKSServer(t, k)
	clock := newClock()
	v := newVerifier(t, Options{
		Issuers: []IssuerConfig{{Issuer: issuerURL, JWKSURI: srv.URL, Audiences: []string{testAud}, MinRefreshInterval: time.Hour}},
		Now:     clock.Now,
	})
	waitReady(t, v)
	unknown := func(kid string) int64 {
		t.Helper()
		before := srv.fetches.Load()
		if _, err := v.Verify(context.Background(), mint(t, k, map[string]any{"kid": kid}, claimsAt(clock.Now()))); reasonOf(err) != ReasonUnknownKID {
			t.Fatalf("kid %s: %v; want unknown_kid", kid, err)
		}
		return srv.fetches.Load() - before
	}
	if got := unknown("x1"); got != 1 {
		t.Fatalf("first unknown kid: %d fetches; want 1", got)
	}
	clock.Add(time.Hour - time.Second)
	if got := unknown("x2"); got != 0 {
		t.Fatalf("unknown kid inside the limit: %d fetches; want 0", got)
	}
	clock.Add(time.Second)
	if got := unknown("x3"); got != 1 {
		t.Fatalf("unknown kid once the clock is past the limit: %d fetches; want 1", got)
	}
}

// TestCloseAndCancelStopGoroutines: cancelling New's ctx closes the
// Verifier, and closing it ends every goroutine it started, the retry loop
// included. synctest.Test itself fails if a goroutine of the bubble is
// left when the test function returns.
func TestCloseAndCancelStopGoroutines(t *testing.T) {
	// Goroutines of the tests before (their closed connections' may still
	// be ending) are TestMain's to check, not this test's.
	before := goleak.IgnoreCurrent()
	synctest.Test(t, func(t *testing.T) {
		k := newKey(t, "p256", "ec1", "ES256", "ES256")
		srv := newMemJWKS(t, k)
		srv.setStatus(http.StatusInternalServerError) // keep the retry loop busy
		ctx, cancel := context.WithCancel(context.Background())
		v, err := New(ctx, Options{Issuers: []IssuerConfig{{Issuer: issuerURL, JWKSURI: srv.URL, Audiences: []string{testAud}}}, Client: srv.client()})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second) // a few failed fetches and backoffs
		if n := srv.fetches.Load(); n < 2 {
			t.Fatalf("%d fetches in 5s with the JWKS failing; want retries", n)
		}
		cancel()
		synctest.Wait()
		v.mu.Lock()
		closed := v.closed
		v.mu.Unlock()
		if !closed {
			t.Fatal("cancelling ctx did not close the verifier")
		}
		v.Close() // idempotent
	})
	goleak.VerifyNone(t, before)
}

// TestCancelWhileWaitingForRefresh: a request waiting for an unknown-kid
// refresh waits as long as its ctx allows, not a moment longer, and gets
// keys unavailable wrapping the ctx's error.
func TestCancelWhileWaitingForRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newKey(t, "p256", "ec1", "ES256", "ES256")
		srv := newMemJWKS(t, k)
		clock := newClock()
		v := newVerifier(t, Options{
			Issuers: []IssuerConfig{{Issuer: issuerURL, JWKSURI: srv.URL, Audiences: []string{testAud}}},
			Client:  srv.client(),
			Now:     clock.Now,
		})
		synctest.Wait()
		srv.mu.Lock()
		srv.delay = 300 * time.Millisecond
		srv.mu.Unlock()
		const timeout = 20 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		_, err := v.Verify(ctx, mint(t, k, map[string]any{"kid": "rotated"}, claimsAt(clock.Now())))
		if !errors.Is(err, ErrKeysUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v; want ErrKeysUnavailable wrapping the deadline", err)
		}
		if d := time.Since(start); d != timeout {
			t.Errorf("Verify returned after %v; want at the ctx deadline, %v", d, timeout)
		}
	})
}
