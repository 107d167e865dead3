package token

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scopegate/scopegate/internal/testkit"
)

// refreshLog records OnRefresh calls.
type refreshLog struct {
	mu    sync.Mutex
	calls []refreshCall
}

type refreshCall struct {
	issuer     string
	unknownKID bool
	err        error
}

func (l *refreshLog) hook(issuer string, unknownKID bool, err error) {
	l.mu.Lock()
	l.calls = append(l.calls, refreshCall{issuer, unknownKID, err})
	l.mu.Unlock()
}

func (l *refreshLog) last() (refreshCall, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) == 0 {
		return refreshCall{}, 0
	}
	return l.calls[len(l.calls)-1], len(l.calls)
}

func newVerifier(t *testing.T, opts Options) *Verifier {
	t.Helper()
	v, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func TestRotationByUnknownKID(t *testing.T) {
	a := newKey(t, "rsa2048", "a", "RS256", "RS256")
	b := newKey(t, "p256", "b", "ES256", "ES256")
	var log refreshLog
	srv := newJWKSServer(t, a)
	clock := newClock()
	v := newVerifier(t, Options{
		Issuers:   []IssuerConfig{{Issuer: issuerURL, JWKSURI: srv.URL, Audiences: []string{testAud}}},
		Now:       clock.Now,
		OnRefresh: log.hook,
	})
	waitReady(t, v)
	before := srv.fetches.Load()
	srv.setKeys(a, b) // the IdP rotates in b
	if _, err := v.Verify(context.Background(), mint(t, b, nil, claimsAt(clock.Now()))); err != nil {
		t.Fatalf("token under the new kid: %v", err)
	}
	if got := srv.fetches.Load() - before; got != 1 {
		t.Errorf("fetches = %d; want 1", got)
	}
	if c, _ := log.last(); !c.unknownKID || c.err != nil || c.issuer != issuerURL {
		t.Errorf("last OnRefresh = %+v; want an unknown-kid success", c)
	}
	if st := v.Status(); st[0].Keys != 2 {
		t.Errorf("Keys = %d; want 2", st[0].Keys)
	}
}

func TestRemovedKeyRefused(t *testing.T) {
	a := newKey(t, "rsa2048", "a", "RS256", "RS256")
	b := newKey(t, "p256", "b", "ES256", "ES256")
	srv := newJWKSServer(t, a, b)
	clock := newClock()
	v := newVerifier(t, Options{
		Issuers: []IssuerConfig{{Issuer: issuerURL, JWKSURI: srv.URL, Audiences: []string{testAud}, MinRefreshInterval: time.Millisecond}},
		Now:     clock.Now,
	})
	waitReady(t, v)
	tokB := mint(t, b, nil, claimsAt(clock.Now()))
	if _, err := v.Verify(context.Background(), tokB); err != nil {
		t.Fatal(err)
	}
	srv.setKeys(a) // b is retired
	// Any unknown kid triggers the refresh that drops b.
	if _, err := v.Verify(context.Background(), mint(t, a, map[string]any{"kid": "c"}, claimsAt(clock.Now()))); reasonOf(err) != ReasonUnknownKID {
		t.Fatalf("err = %v; want unknown_kid", err)
	}
	clock.Add(2 * time.Millisecond) // past MinRefreshInterval
	if _, err := v.Verify(context.Background(), tokB); reasonOf(err) != ReasonUnknownKID {
		t.Fatalf("token under removed key: %v; want unknown_kid", err)
	}
	if _, err := v.Verify(context.Background(), mint(t, a, nil, claimsAt(clock.Now()))); err != nil {
		t.Fatalf("token under kept key: %v", err)
	}
}

func TestOneBadKeyDoesNotSpoilTheSet(t *testing.T) {
	good := newKey(t, "p256", "good", "ES256", "ES256")
	small := newKey(t, "rsa1024", "small", "RS256", "RS256")
	enc := newKey(t, "rsa2048", "enc", "", "RS256")
	enc.jwk["use"] = "enc"
	ops := newKey(t, "rsa2048", "signonly", "", "RS256")
	ops.jwk["key_ops"] = []string{"sign"}
	badAlg := newKey(t, "rsa2048", "oaep", "", "RS256")
	badAlg.jwk["alg"] = "RSA-OAEP"
	offCurve := newKey(t, "p256b", "offcurve", "ES256", "ES256")
	offCurve.jwk["y"] = offCurve.jwk["x"]
	body := `{"keys":[` +
		`{"kty":"oct","kid":"hmac","k":"c2VjcmV0"},` +
		`{"kty":"RSA","kid":"tiny","n":"AQAB","e":"AQAB"},` +
		`{"kty":"RSA","kid":"badb64","n":"!!!","e":"AQAB"},` +
		`{"kty":"foo","kid":"foo"},` +
		`{"kty":"OKP","crv":"X25519","kid":"x","x":"AAAA"},` +
		`{"kty":"EC","crv":"P-256","kid":"dup","kid":"dup"},` +
		`"not an object",` +
		mustJSON(t, small.jwk) + "," + mustJSON(t, enc.jwk) + "," + mustJSON(t, ops.jwk) + "," +
		mustJSON(t, badAlg.jwk) + "," + mustJSON(t, offCurve.jwk) + "," + mustJSON(t, good.jwk) + `]}`
	srv := newJWKSServer(t)
	srv.setBody([]byte(body))
	clock := newClock()
	v := newVerifier(t, Options{
		Issuers: []IssuerConfig{{Issuer: issuerURL, JWKSURI: srv.URL, Audiences: []string{testAud}}},
		Now:     clock.Now,
	})
	waitReady(t, v)
	if _, err := v.Verify(context.Background(), mint(t, good, nil, claimsAt(clock.Now()))); err != nil {
		t.Fatalf("good key: %v", err)
	}
	if st := v.Status(); st[0].Keys != 1 {
		t.Errorf("usable keys = %d; want 1", st[0].Keys)
	}
	for _, kk := range []*testKey{small, enc, ops, badAlg, offCurve} {
		_, err := v.Verify(context.Background(), mint(t, kk, nil, claimsAt(clock.Now())))
		if reasonOf(err) != ReasonAlgKeyMismatch {
			t.Errorf("token under unusable key %q: %v; want alg_key_mismatch", kk.kid, err)
		}
	}
}

func mustJSON(t *testing.T, v map[string]any) string {
	t.Helper()
	return fmt.Sprint(string(must(t, v)))
}

func TestFailedRefreshKeepsKeysUntilStale(t *testing.T) {
	k := newKey(t, "rsa2048", "rsa1", "RS256", "RS256")
	srv := newJWKSServer(t, k)
	clock := newClock()
	v := newVerifier(t, Options{
		Issuers: []IssuerConfig{{Issuer: issuerURL, JWKSURI: srv.URL, Audiences: []string{testAud},
			MinRefreshInterval: time.Millisecond, MaxStaleness: time.Hour, Leeway: time.Second}},
		Now: clock.Now,
	})
	waitReady(t, v)
	// While the JWKS answers with a good set, an unknown kid is a bad token.
	if _, err := v.Verify(context.Background(), mint(t, k, map[string]any{"kid": "x"}, claimsAt(clock.Now()))); reasonOf(err) != ReasonUnknownKID {
		t.Fatalf("err = %v; want unknown_kid", err)
	}
	// A set with no usable key is a failed fetch: the old keys stay, and an
	// unknown kid may be a rotated key we cannot see yet: keys unavailable
	// (503), not a refusal, both on the failing refresh and while the
	// next one is rate-limited.
	srv.setBody([]byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`))
	clock.Add(5 * time.Millisecond) // past MinRefreshInterval
	for i := range 2 {
		if _, err := v.Verify(context.Background(), mint(t, k, map[string]any{"kid": "x"}, claimsAt(clock.Now()))); !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("attempt %d: err = %v; want ErrKeysUnavailable", i, err)
		}
	}
	if st := v.Status(); st[0].RefreshFailures == 0 || st[0].Keys != 1 {
		t.Fatalf("Status = %+v; want a failure and the old key", st)
	}
	srv.setStatus(http.StatusInternalServerError)
	clock.Add(59 * time.Minute)
	tok := mint(t, k, nil, claimsAt(clock.Now()))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("within MaxStaleness: %v", err)
	}
	clock.Add(2 * time.Minute)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("beyond MaxStaleness: %v; want ErrKeysUnavailable", err)
	}
	if v.Ready() {
		t.Error("Ready() = true with stale keys")
	}
}

func TestBodyLimitsAndRedirects(t *testing.T) {
	k := newKey(t, "p256", "ec1", "ES256", "ES256")
	huge := []byte(`{"keys":[` + mustJSON(t, k.jwk) + `],"pad":"` + strings.Repeat("a", maxBodyBytes) + `"}`)
	chunked := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(huge[:10]) // no Content-Length: the limit applies while reading
		w.(http.Flusher).Flush()
		w.Write(huge[10:])
	})
	sized := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(huge) })
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	for _, tt := range []struct {
		name    string
		h       http.Handler
		custom  bool
		wantErr error
	}{
		{"huge body, own client", sized, false, errBodyTooLarge},
		{"huge chunked body, own client", chunked, false, errBodyTooLarge},
		{"huge body, caller's client", sized, true, errBodyTooLarge},
		{"huge chunked body, caller's client", chunked, true, errBodyTooLarge},
		{"redirect, own client", redirect, false, nil},
		{"redirect, caller's client", redirect, true, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.Handle("/jwks", tt.h)
			mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { w.Write(must(t, map[string]any{"keys": []any{k.jwk}})) })
			srv := httptest.NewServer(mux)
			defer srv.Close()
			var log refreshLog
			opts := Options{
				Issuers:   []IssuerConfig{{Issuer: issuerURL, JWKSURI: srv.URL + "/jwks", Audiences: []string{testAud}}},
				OnRefresh: log.hook,
			}
			if tt.custom {
				opts.Client = srv.Client()
			}
			v, err := New(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			testkit.WaitFor(t, "a fetch attempt", func() bool { _, n := log.last(); return n >= 1 })
			c, _ := log.last()
			if c.err == nil || v.Ready() {
				t.Fatalf("fetch succeeded; want a failure")
			}
			if tt.wantErr != nil && !errors.Is(c.err, tt.wantErr) {
				t.Fatalf("fetch error = %v; want %v", c.err, tt.wantErr)
			}
		})
	}
}

func TestPreviousTakeover(t *testing.T) {
	k := newKey(t, "rsa2048", "rsa1", "RS256", "RS256")
	srv := newJWKSServer(t, k)
	other := newJWKSServer(t, k)
	clock := newClock()
	ic := IssuerConfig{Issuer: issuerURL, JWKSURI: srv.URL, Audiences: []string{testAud}, MinRefreshInterval: time.Millisecond}
	v1, err := New(context.Background(), Options{Issuers: []IssuerConfig{ic}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v1.Close()
	waitReady(t, v1)
	before := srv.fetches.Load()

	ic2 := ic
	ic2.Audiences = []string{"https://new.example"} // not part of the identity
	ic3 := IssuerConfig{Issuer: "http://127.0.0.1/second", JWKSURI: other.URL, Audiences: []string{testAud}}
	v2, err := New(context.Background(), Options{Issuers: []IssuerConfig{ic2, ic3}, Now: clock.Now, Previous: v1})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if st := v2.Status(); !st[0].Ready {
		t.Fatalf("taken-over issuer not ready at once: %+v", st)
	}
	if got := srv.fetches.Load() - before; got != 0 {
		t.Errorf("takeover fetched %d times; want 0", got)
	}
	v1.Close()
	tok := mint(t, k, nil, with(clock.Now(), map[string]any{"aud": "https://new.example"}))
	if _, err := v2.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after Previous.Close: %v", err)
	}
	// The taken-over source still fetches: an unknown kid refreshes it.
	before = srv.fetches.Load()
	v2.Verify(context.Background(), mint(t, k, map[string]any{"kid": "new"}, with(clock.Now(), map[string]any{"aud": "https://new.example"})))
	if got := srv.fetches.Load() - before; got != 1 {
		t.Errorf("refresh after Previous.Close fetched %d times; want 1", got)
	}
	waitReady(t, v2)

	// A changed JWKSURI is a new identity: no takeover.
	ic4 := ic
	ic4.JWKSURI = other.URL
	other.setStatus(http.StatusInternalServerError)
	v3, err := New(context.Background(), Options{Issuers: []IssuerConfig{ic4}, Now: clock.Now, Previous: v2})
	if err != nil {
		t.Fatal(err)
	}
	defer v3.Close()
	if v3.Ready() {
		t.Error("issuer with a new JWKS URI was taken over")
	}
}

func TestLoggerNamesSkippedKeys(t *testing.T) {
	good := newKey(t, "p256", "good", "ES256", "ES256")
	srv := newJWKSServer(t)
	srv.setBody([]byte(`{"keys":[{"kty":"oct","kid":"hmac","k":"c2VjcmV0"},` + mustJSON(t, good.jwk) + `]}`))
	core, logs := observer.New(zap.WarnLevel)
	v := newVerifier(t, Options{
		Issuers: []IssuerConfig{{Issuer: issuerURL, JWKSURI: srv.URL, Audiences: []string{testAud}}},
		Logger:  zap.New(core),
	})
	waitReady(t, v)
	entries := logs.FilterMessage("jwks key skipped").All()
	if len(entries) != 1 {
		t.Fatalf("got %d skip logs; want 1", len(entries))
	}
	f := entries[0].ContextMap()
	if f["kid"] != "hmac" || f["issuer"] != issuerURL {
		t.Fatalf("log fields = %v", f)
	}
}
