package token

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"testing"
	"time"
)

// pair is a cached and an uncached Verifier of the same issuer config,
// sharing one JWKS server and one clock, so that every answer of the first
// can be held against the second.
type pair struct {
	cached, fresh *Verifier
	srv           *jwksServer
	clock         *fakeClock
}

func newPair(t *testing.T, cache CacheConfig, mutate func(*IssuerConfig), keys ...*testKey) *pair {
	t.Helper()
	srv := newJWKSServer(t, keys...)
	clock := newClock()
	ic := IssuerConfig{Issuer: issuerURL, JWKSURI: srv.URL + "/jwks", Audiences: []string{testAud}}
	if mutate != nil {
		mutate(&ic)
	}
	mk := func(c CacheConfig) *Verifier {
		v, err := New(context.Background(), Options{Issuers: []IssuerConfig{ic}, Now: clock.Now, Cache: c})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Close)
		waitReady(t, v)
		return v
	}
	return &pair{cached: mk(cache), fresh: mk(CacheConfig{}), srv: srv, clock: clock}
}

// refresh makes both Verifiers fetch the JWKS now and waits for the new set.
func (p *pair) refresh(t *testing.T) {
	t.Helper()
	for _, v := range []*Verifier{p.cached, p.fresh} {
		if err := v.issuers[issuerURL].src.refresh(context.Background(), false); err != nil {
			t.Fatalf("refresh: %v", err)
		}
	}
}

// outcome names a Verify result so that two can be compared: "ok", the
// refusal reason, or "keys_unavailable".
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrKeysUnavailable):
		return "keys_unavailable"
	case reasonOf(err) != "":
		return string(reasonOf(err))
	default:
		return "error: " + err.Error()
	}
}

// TestCacheAsStrictAsFresh caches a token, then changes what can change
// over a Verifier's life, and requires the cached Verifier to answer
// exactly as a Verifier without a cache does.
func TestCacheAsStrictAsFresh(t *testing.T) {
	ec := newKey(t, "p256", "ec1", "ES256", "ES256")
	ecOther := newKey(t, "p256b", "ec1", "ES256", "ES256") // same kid, other key
	ec2 := newKey(t, "p256b", "ec2", "ES256", "ES256")
	rsa := newKey(t, "rsa2048", "rsa1", "RS256", "RS256")

	tests := []struct {
		name   string
		key    *testKey
		claims func(now time.Time) map[string]any
		change func(t *testing.T, p *pair)
		want   string
	}{
		{"nothing changed", ec, claimsAt, func(*testing.T, *pair) {}, "ok"},
		{"expired", ec, claimsAt, func(_ *testing.T, p *pair) { p.clock.Add(time.Hour + DefaultLeeway + time.Second) }, "expired"},
		{"exp just inside the leeway", ec, claimsAt, func(_ *testing.T, p *pair) { p.clock.Add(time.Hour + DefaultLeeway - time.Second) }, "ok"},
		{"exp exactly at the leeway", ec, claimsAt, func(_ *testing.T, p *pair) { p.clock.Add(time.Hour + DefaultLeeway) }, "expired"},
		{"clock moved back before nbf", ec, func(now time.Time) map[string]any {
			return with(now, map[string]any{"nbf": now.Unix()})
		}, func(_ *testing.T, p *pair) { p.clock.Add(-DefaultLeeway - time.Second) }, "not_yet_valid"},
		{"clock moved back before iat", ec, claimsAt, func(_ *testing.T, p *pair) { p.clock.Add(-DefaultLeeway - time.Second) }, "issued_in_future"},
		{"key removed from the jwks", ec, claimsAt, func(t *testing.T, p *pair) {
			p.srv.setKeys(ec2)
			p.refresh(t)
		}, "unknown_kid"},
		{"kid now names another key", ec, claimsAt, func(t *testing.T, p *pair) {
			p.srv.setKeys(ecOther)
			p.refresh(t)
		}, "bad_signature"},
		{"key now bound to another alg", ec, claimsAt, func(t *testing.T, p *pair) {
			p.srv.setKeys(ec2, newKey(t, "p256", "ec1", "ES384", "ES384"))
			p.refresh(t)
		}, "alg_key_mismatch"},
		{"key kept, set refreshed", rsa, claimsAt, func(t *testing.T, p *pair) {
			p.srv.setKeys(ec2, rsa)
			p.refresh(t)
		}, "ok"},
		{"a second key under the same kid", rsa, claimsAt, func(t *testing.T, p *pair) {
			p.srv.setKeys(rsa, newKey(t, "rsa2048b", "rsa1", "RS256", "RS256"))
			p.refresh(t)
		}, "ok"},
		{"keys stale", ec, func(now time.Time) map[string]any {
			return with(now, map[string]any{"exp": now.Add(5 * time.Hour).Unix()})
		}, func(_ *testing.T, p *pair) { p.clock.Add(2*time.Hour + time.Minute) }, "keys_unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, CacheConfig{MaxEntries: 100}, func(ic *IssuerConfig) {
				ic.MaxStaleness = 2 * time.Hour
			}, ec, rsa)
			tok := mint(t, tc.key, nil, tc.claims(p.clock.Now()))
			ctx := context.Background()
			if _, err := p.cached.Verify(ctx, tok); err != nil {
				t.Fatalf("first verify: %v", err)
			}
			tc.change(t, p)
			_, cerr := p.cached.Verify(ctx, tok)
			_, ferr := p.fresh.Verify(ctx, tok)
			if got, fresh := outcome(cerr), outcome(ferr); got != fresh || got != tc.want {
				t.Errorf("cached verifier: %s; fresh verifier: %s; want both %s", got, fresh, tc.want)
			}
			st := p.cached.CacheStats()
			if tc.want == "ok" && st.Hits+st.Misses != 2 {
				t.Errorf("stats %+v: want two lookups", st)
			}
			if tc.want != "ok" && st.Hits != 0 {
				t.Errorf("stats %+v: a refused token was answered from the cache", st)
			}
		})
	}
}

// TestCacheReloadRefusesWhatTheOldConfigAccepted: a reload builds a new
// Verifier (taking over the keys), whose cache starts empty, so the new
// audiences and issuers rule at once.
func TestCacheReloadRefusesWhatTheOldConfigAccepted(t *testing.T) {
	ec := newKey(t, "p256", "ec1", "ES256", "ES256")
	tests := []struct {
		name   string
		mutate func(*IssuerConfig)
		want   Reason
	}{
		{"other audience", func(ic *IssuerConfig) { ic.Audiences = []string{"https://other.example.com"} }, ReasonBadAudience},
		{"other issuer", func(ic *IssuerConfig) { ic.Issuer = "http://127.0.0.1/other" }, ReasonUnknownIssuer},
		{"client allowlist", func(ic *IssuerConfig) { ic.AllowedClients = []string{"someone-else"} }, ReasonClientNotAllowed},
		{"at+jwt required", func(ic *IssuerConfig) { ic.RequireATJWT = true }, ReasonTypRequired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t, ec)
			clock := newClock()
			ic := IssuerConfig{Issuer: issuerURL, JWKSURI: srv.URL + "/jwks", Audiences: []string{testAud}}
			old, err := New(context.Background(), Options{Issuers: []IssuerConfig{ic}, Now: clock.Now, Cache: CacheConfig{MaxEntries: 10}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(old.Close)
			waitReady(t, old)
			tok := mint(t, ec, map[string]any{"typ": nil}, claimsAt(clock.Now()))
			for range 2 {
				if _, err := old.Verify(context.Background(), tok); err != nil {
					t.Fatalf("old config: %v", err)
				}
			}
			if h := old.CacheStats().Hits; h != 1 {
				t.Fatalf("old verifier hits = %d; want 1", h)
			}
			tc.mutate(&ic)
			nv, err := New(context.Background(), Options{Issuers: []IssuerConfig{ic}, Now: clock.Now, Previous: old, Cache: CacheConfig{MaxEntries: 10}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nv.Close)
			old.Close()
			_, err = nv.Verify(context.Background(), tok)
			if got := reasonOf(err); got != tc.want {
				t.Errorf("after reload: %v (%s); want %s", err, got, tc.want)
			}
		})
	}
}

// TestCacheSurvivesAReloadThatChangesNothing: a reload whose issuer
// settings are unchanged keeps that issuer's verified tokens.
func TestCacheSurvivesAReloadThatChangesNothing(t *testing.T) {
	ec := newKey(t, "p256", "ec1", "ES256", "ES256")
	srv := newJWKSServer(t, ec)
	clock := newClock()
	ic := IssuerConfig{Issuer: issuerURL, JWKSURI: srv.URL + "/jwks", Audiences: []string{testAud}}
	other := IssuerConfig{Issuer: "http://127.0.0.1/other", JWKSURI: srv.URL + "/jwks", Audiences: []string{testAud}}
	old, err := New(context.Background(), Options{Issuers: []IssuerConfig{ic, other}, Now: clock.Now, Cache: CacheConfig{MaxEntries: 10}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(old.Close)
	waitReady(t, old)
	tok := mint(t, ec, map[string]any{"typ": nil}, claimsAt(clock.Now()))
	if _, err := old.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	other.Audiences = []string{"https://changed.example"} // another issuer changes
	nv, err := New(context.Background(), Options{Issuers: []IssuerConfig{ic, other}, Now: clock.Now, Previous: old, Cache: CacheConfig{MaxEntries: 10}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nv.Close)
	old.Close()
	if _, err := nv.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if h := nv.CacheStats().Hits; h != 1 {
		t.Errorf("hits after a reload that left the issuer alone = %d; want 1 (the entry carried over)", h)
	}
}

// TestCacheOtherStringsNeverHit: only the very same token string hits.
func TestCacheOtherStringsNeverHit(t *testing.T) {
	ec := newKey(t, "p256", "ec1", "ES256", "ES256")
	p := newPair(t, CacheConfig{MaxEntries: 100}, nil, ec)
	ctx := context.Background()
	claims := claimsAt(p.clock.Now())
	tok := mint(t, ec, nil, claims)
	if _, err := p.cached.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}

	// ECDSA signatures are randomized: the same header and payload signed
	// again is another valid string, and must be verified on its own.
	again := mint(t, ec, nil, claims)
	if again == tok {
		t.Fatal("two ECDSA signatures of the same input are equal")
	}
	if _, err := p.cached.Verify(ctx, again); err != nil {
		t.Fatal(err)
	}
	if st := p.cached.CacheStats(); st.Hits != 0 || st.Misses != 2 {
		t.Fatalf("stats %+v: want 0 hits, 2 misses", st)
	}

	// The same payload under a tampered signature is refused, never hit.
	sig := []byte(tok[len(tok)-20:])
	sig[0] ^= 'A' ^ 'B'
	if sig[0] == tok[len(tok)-20] {
		sig[0] = 'C'
	}
	tampered := tok[:len(tok)-20] + string(sig)
	_, err := p.cached.Verify(ctx, tampered)
	if got := reasonOf(err); got != ReasonBadSignature && got != ReasonMalformed {
		t.Fatalf("tampered signature: %v; want bad_signature", err)
	}
	if st := p.cached.CacheStats(); st.Hits != 0 {
		t.Fatalf("stats %+v: the tampered token hit", st)
	}

	// A string whose hash equals a cached token's is compared whole.
	c := p.cached.cache
	if got := c.lookup(p.cached, maphash.String(c.seed, tok), tampered); got != nil {
		t.Fatal("a different string under the cached token's hash was answered from the cache")
	}
	if got := c.lookup(p.cached, maphash.String(c.seed, tok), tok); got == nil {
		t.Fatal("the cached token itself was not found")
	}
}

// TestCacheBounds fills caches past their bounds.
func TestCacheBounds(t *testing.T) {
	ec := newKey(t, "p256", "ec1", "ES256", "ES256")
	tests := []struct {
		name       string
		cfg        CacheConfig
		tokens     int
		maxEntries int
	}{
		{"entries", CacheConfig{MaxEntries: 3}, 10, 3},
		{"bytes", CacheConfig{MaxEntries: 1000, MaxBytes: 4 * (entryOverhead + 3*600)}, 20, 6},
		{"sharded entries", CacheConfig{MaxEntries: 2048, MaxBytes: 1 << 30}, 3000, 2048},
		{"entry larger than the byte budget", CacheConfig{MaxEntries: 10, MaxBytes: 100}, 3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, tc.cfg, nil, ec)
			ctx := context.Background()
			for i := range tc.tokens {
				tok := mint(t, ec, nil, with(p.clock.Now(), map[string]any{"jti": fmt.Sprint("token-", i)}))
				if _, err := p.cached.Verify(ctx, tok); err != nil {
					t.Fatal(err)
				}
				st := p.cached.CacheStats()
				if st.Entries > tc.maxEntries || st.Bytes > st.MaxBytes {
					t.Fatalf("after %d tokens: %+v; want at most %d entries and %d bytes", i+1, st, tc.maxEntries, st.MaxBytes)
				}
			}
			st := p.cached.CacheStats()
			if want := uint64(tc.tokens - st.Entries); tc.maxEntries > 0 && st.Evictions != want {
				t.Errorf("evictions = %d; want %d (%+v)", st.Evictions, want, st)
			}
		})
	}
}

// TestCacheEvictsExpiredFirst: an expired entry goes before a used one.
func TestCacheEvictsExpiredFirst(t *testing.T) {
	ec := newKey(t, "p256", "ec1", "ES256", "ES256")
	p := newPair(t, CacheConfig{MaxEntries: 2}, nil, ec)
	ctx := context.Background()
	now := p.clock.Now()
	short := mint(t, ec, nil, with(now, map[string]any{"exp": now.Add(time.Minute).Unix(), "jti": "short"}))
	long := mint(t, ec, nil, with(now, map[string]any{"jti": "long"}))
	// Both used since they were cached: plain second chance would now
	// evict long, the older; the expired short goes first instead.
	for _, tok := range []string{long, short, long, short} {
		if _, err := p.cached.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	p.clock.Add(time.Minute + DefaultLeeway + time.Second)
	if _, err := p.cached.Verify(ctx, mint(t, ec, nil, with(p.clock.Now(), map[string]any{"jti": "third"}))); err != nil {
		t.Fatal(err)
	}
	before := p.cached.CacheStats().Hits
	if _, err := p.cached.Verify(ctx, long); err != nil {
		t.Fatal(err)
	}
	if p.cached.CacheStats().Hits != before+1 {
		t.Errorf("the long-lived, used token was evicted before the expired one")
	}
}

// TestCacheConcurrent runs Verify from many goroutines against a small
// cache (run with -race).
func TestCacheConcurrent(t *testing.T) {
	ec := newKey(t, "p256", "ec1", "ES256", "ES256")
	p := newPair(t, CacheConfig{MaxEntries: 4}, nil, ec)
	var toks []string
	for i := range 8 {
		toks = append(toks, mint(t, ec, nil, with(p.clock.Now(), map[string]any{"jti": fmt.Sprint(i)})))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				c, err := p.cached.Verify(context.Background(), toks[(g+i)%len(toks)])
				if err != nil || c.Subject != "user-1" {
					errs <- fmt.Errorf("verify: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := p.cached.CacheStats()
	if st.Entries > 4 || st.Hits+st.Misses != 1600 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCacheConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  CacheConfig
	}{
		{"negative entries", CacheConfig{MaxEntries: -1}},
		{"negative bytes", CacheConfig{MaxEntries: 1, MaxBytes: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), Options{
				Issuers: []IssuerConfig{{Issuer: issuerURL, JWKSURI: issuerURL + "/jwks", Audiences: []string{testAud}}},
				Cache:   tc.cfg,
			})
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
