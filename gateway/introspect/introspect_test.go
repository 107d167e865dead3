package introspect

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/internal/testkit"
	"github.com/scopegate/scopegate/state"
)

const issA = "https://idp.example.com"

func TestIntrospectActiveGivesJWTClaims(t *testing.T) {
	clk := newClock()
	resp := active(issA, clk.now())
	resp["act"] = map[string]any{"sub": "agent-7"}
	resp["jti"] = "t-1"
	a := newAS(t, answer(resp))
	in := newIntrospector(t, clk, Options{Issuers: []IssuerOptions{oneIssuer(issA, a.url())}})
	raw := opaque("abc")
	c, err := in.Introspect(context.Background(), raw, false)
	if err != nil {
		t.Fatalf("Introspect: %v", err)
	}
	if c.Issuer != issA || c.Subject != "alice" || c.ClientID != "agent-1" || c.ID != "t-1" {
		t.Errorf("claims = iss %q sub %q client %q jti %q; want %q alice agent-1 t-1", c.Issuer, c.Subject, c.ClientID, c.ID, issA)
	}
	if !slices.Equal(c.Scopes, []string{"generate:images", "chat"}) {
		t.Errorf("scopes = %q; want [generate:images chat]", c.Scopes)
	}
	if c.Act == nil || c.Act.Subject != "agent-7" {
		t.Errorf("act = %+v; want agent-7", c.Act)
	}
	if !c.ExpiresAt.Equal(clk.now().Add(time.Hour)) {
		t.Errorf("exp = %v; want %v", c.ExpiresAt, clk.now().Add(time.Hour))
	}
	// The request: the token in a POST form, with the hint, authenticated
	// with client_secret_basic (each part form-encoded, RFC 6749 2.3.1).
	if got := a.forms[0]["token"]; !slices.Equal(got, []string{raw}) {
		t.Errorf("form token = %q; want the token", got)
	}
	if got := a.forms[0]["token_type_hint"]; !slices.Equal(got, []string{"access_token"}) {
		t.Errorf("token_type_hint = %q; want access_token", got)
	}
	req, _ := http.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", a.auths[0])
	if id, secret, ok := req.BasicAuth(); !ok || id != testClient || secret != "s3cret%2F%2B%3D" {
		t.Errorf("basic auth = %q %q %v; want %q and the form-encoded secret", id, secret, ok, testClient)
	}
}

// TestFaults: each misbehaviour of the endpoint is either unavailable
// (neither active nor inactive) or a refusal, never claims; and nothing
// is cached, so the next request asks again.
func TestFaults(t *testing.T) {
	clk := newClock()
	now := clk.now()
	with := func(k string, v any) map[string]any {
		m := active(issA, now)
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	elsewhere := newAS(t, answer(active(issA, now)))
	cases := []struct {
		name    string
		respond func(http.ResponseWriter, *http.Request)
		reason  token.Reason // "": unavailable
	}{
		{"inactive", answer(map[string]any{"active": false}), ReasonInactive},
		{"another issuer", answer(with("iss", "https://other.example.com")), token.ReasonUnknownIssuer},
		{"refresh token (token_use)", answer(with("token_use", "refresh_token")), token.ReasonNotAccessToken},
		{"refresh token (token_type)", answer(with("token_type", "urn:ietf:params:oauth:token-type:refresh_token")), token.ReasonNotAccessToken},
		{"DPoP-bound without cnf.jkt", answer(with("token_type", "DPoP")), token.ReasonBadClaim},
		{"DPoP-bound (any case) without cnf.jkt", answer(with("token_type", "dpop")), token.ReasonBadClaim},
		{"refresh token (Keycloak typ)", answer(with("typ", "Refresh")), token.ReasonIDTokenClaims},
		{"another audience", answer(with("aud", "https://mail.example.com")), token.ReasonBadAudience},
		{"no audience", answer(with("aud", nil)), token.ReasonBadAudience},
		{"expired", answer(with("exp", now.Add(-time.Hour).Unix())), token.ReasonExpired},
		{"no exp", answer(with("exp", nil)), token.ReasonMissingExp},
		{"not yet valid", answer(with("nbf", now.Add(time.Hour).Unix())), token.ReasonNotYetValid},
		{"scope not a string", answer(with("scope", []string{"chat"})), token.ReasonBadClaim},
		{"5xx", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "oops", http.StatusBadGateway) }, ""},
		{"401 for the gateway's credentials", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusUnauthorized) }, ""},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.url(), http.StatusTemporaryRedirect)
		}, ""},
		{"html", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte(`{"active":true}`))
		}, ""},
		{"garbage", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"active":tru`))
		}, ""},
		{"active as a string", answer(with("active", "true")), ""},
		{"no active", answer(with("active", nil)), ""},
		{"duplicate members", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"active":false,"active":true}`))
		}, ""},
		{"array", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`[{"active":true}]`))
		}, ""},
		{"huge", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"active":true,"pad":"` + strings.Repeat("a", MaxResponseBytes) + `"}`))
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAS(t, tc.respond)
			in := newIntrospector(t, clk, Options{Issuers: []IssuerOptions{oneIssuer(issA, a.url())}})
			for i := range 2 {
				c, err := in.Introspect(context.Background(), opaque("fault"), false)
				if c != nil || err == nil {
					t.Fatalf("Introspect = %+v, %v; want an error", c, err)
				}
				if tc.reason == "" {
					if !errors.Is(err, ErrUnavailable) || reasonOf(err) != "" {
						t.Fatalf("err = %v; want ErrUnavailable", err)
					}
				} else if got := reasonOf(err); got != tc.reason {
					t.Fatalf("reason = %q (%v); want %q", got, err, tc.reason)
				}
				if got := a.calls.Load(); got != int64(i+1) {
					t.Fatalf("after %d requests the endpoint had %d calls: a failure was cached", i+1, got)
				}
			}
			if elsewhere.calls.Load() != 0 {
				t.Fatalf("the redirect was followed: the token went to another server")
			}
		})
	}
}

func TestFaultSlowAndDown(t *testing.T) {
	clk := newClock()
	release := make(chan struct{})
	slow := newAS(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	is := oneIssuer(issA, slow.url())
	is.Timeout = 50 * time.Millisecond
	in := newIntrospector(t, clk, Options{Issuers: []IssuerOptions{is}})
	if _, err := in.Introspect(context.Background(), opaque("slow"), false); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("slow endpoint: err = %v; want ErrUnavailable", err)
	}

	down := newAS(t, answer(active(issA, clk.now())))
	u := down.url()
	down.srv.Close()
	in = newIntrospector(t, clk, Options{Issuers: []IssuerOptions{oneIssuer(issA, u)}})
	if _, err := in.Introspect(context.Background(), opaque("down"), false); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("down endpoint: err = %v; want ErrUnavailable", err)
	}
}

func TestCacheTTL(t *testing.T) {
	clk := newClock()
	resp := active(issA, clk.now())
	a := newAS(t, func(w http.ResponseWriter, r *http.Request) { answer(resp)(w, r) })
	is := oneIssuer(issA, a.url())
	is.CacheTTL = time.Minute
	in := newIntrospector(t, clk, Options{Issuers: []IssuerOptions{is}})
	raw := opaque("ttl")
	ask := func(wantCalls int64) {
		t.Helper()
		if _, err := in.Introspect(context.Background(), raw, false); err != nil {
			t.Fatalf("Introspect: %v", err)
		}
		if got := a.calls.Load(); got != wantCalls {
			t.Fatalf("calls = %d; want %d", got, wantCalls)
		}
	}
	ask(1)
	clk.add(59 * time.Second)
	ask(1) // within cache_ttl: the cached answer
	clk.add(2 * time.Second)
	ask(2) // past cache_ttl: asked again

	// exp earlier than cache_ttl bounds the entry.
	resp = active(issA, clk.now())
	resp["exp"] = clk.now().Add(10 * time.Second).Unix()
	raw = opaque("short")
	ask(3)
	clk.add(9 * time.Second)
	ask(3)
	clk.add(2 * time.Second) // past exp (the verdict then relies on leeway, not on a stale entry)
	ask(4)

	// A fresh request never reads the cache.
	if _, err := in.Introspect(context.Background(), raw, true); err != nil {
		t.Fatal(err)
	}
	if got := a.calls.Load(); got != 5 {
		t.Fatalf("fresh: calls = %d; want 5", got)
	}
}

// TestBurstOneCall: many concurrent requests with one new token make one
// call to the endpoint.
func TestBurstOneCall(t *testing.T) {
	clk := newClock()
	release := make(chan struct{})
	arrived := make(chan struct{}, 100)
	a := newAS(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		answer(active(issA, clk.now()))(w, r)
	})
	in := newIntrospector(t, clk, Options{Issuers: []IssuerOptions{oneIssuer(issA, a.url())}})
	const n = 50
	errs := make(chan error, n)
	started := make(chan struct{}, n)
	for range n {
		go func() {
			started <- struct{}{}
			_, err := in.Introspect(context.Background(), opaque("burst"), false)
			errs <- err
		}()
	}
	for range n {
		<-started
	}
	<-arrived
	// Give the other goroutines every chance to reach the endpoint, were
	// calls not coalesced (the assertion holds whatever the timing).
	for range 1000 {
		runtime.Gosched()
	}
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("Introspect: %v", err)
		}
	}
	if got := a.calls.Load(); got != 1 {
		t.Fatalf("a burst of %d requests with one new token made %d calls; want 1", n, got)
	}
}

func TestSharedStore(t *testing.T) {
	clk := newClock()
	a := newAS(t, answer(active(issA, clk.now())))
	store := state.NewMemory(clk.now)
	opts := Options{Issuers: []IssuerOptions{oneIssuer(issA, a.url())}, Store: store}
	one, two := newIntrospector(t, clk, opts), newIntrospector(t, clk, opts)
	raw := opaque("shared")
	if _, err := one.Introspect(context.Background(), raw, false); err != nil {
		t.Fatal(err)
	}
	c, err := two.Introspect(context.Background(), raw, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || a.calls.Load() != 1 {
		t.Fatalf("second replica: sub %q, calls %d; want alice and 1 call (the shared answer)", c.Subject, a.calls.Load())
	}
	items, err := store.List(context.Background(), "")
	if err != nil || len(items) != 1 {
		t.Fatalf("store has %d items (%v); want 1", len(items), err)
	}
	for k, v := range items {
		if strings.Contains(k, raw) || strings.Contains(string(v), raw) || strings.Contains(string(v), "ory_at_") {
			t.Fatalf("the store holds the token: %q", k)
		}
	}
	// The shared answer expires with cache_ttl too.
	clk.add(DefaultCacheTTL + time.Second)
	three := newIntrospector(t, clk, opts)
	if _, err := three.Introspect(context.Background(), raw, false); err != nil {
		t.Fatal(err)
	}
	if a.calls.Load() != 2 {
		t.Fatalf("after cache_ttl: calls = %d; want 2", a.calls.Load())
	}
}

// TestStoreDown: a failing state store (Redis answering errors) is a cache
// miss: the endpoint answers, the request succeeds, and the failures are
// counted.
func TestStoreDown(t *testing.T) {
	clk := newClock()
	a := newAS(t, answer(active(issA, clk.now())))
	mr := miniredis.RunT(t)
	store, err := state.NewRedis(state.RedisOptions{URL: "redis://" + mr.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mr.SetError("ERR injected outage")
	in := newIntrospector(t, clk, Options{Issuers: []IssuerOptions{oneIssuer(issA, a.url())}, Store: store, Metrics: m})
	if _, err := in.Introspect(context.Background(), opaque("store-down"), false); err != nil {
		t.Fatalf("with the store failing: %v; want the endpoint's answer", err)
	}
	if got := testutil.ToFloat64(m.storeErrs); got != 2 {
		t.Fatalf("store errors = %v; want 2 (the read and the write)", got)
	}
	mr.SetError("")
	in2 := newIntrospector(t, clk, Options{Issuers: []IssuerOptions{oneIssuer(issA, a.url())}, Store: store, Metrics: m})
	if _, err := in2.Introspect(context.Background(), opaque("store-down"), false); err != nil || a.calls.Load() != 2 {
		t.Fatalf("after the outage: %v, calls %d; want a second call (nothing was stored)", err, a.calls.Load())
	}
}

// holdOnce blocks the first call made after it is armed until released:
// armed by the test, it holds one chosen call at a known point.
type holdOnce struct {
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	release chan struct{}
}

func (h *holdOnce) arm() {
	h.mu.Lock()
	h.armed, h.entered, h.release = true, make(chan struct{}), make(chan struct{})
	h.mu.Unlock()
}

// hold blocks if armed (once) and reports whether it did.
func (h *holdOnce) hold() bool {
	h.mu.Lock()
	armed := h.armed
	h.armed = false
	entered, release := h.entered, h.release
	h.mu.Unlock()
	if !armed {
		return false
	}
	close(entered)
	<-release
	return true
}

// heldStore is a state store whose held Get answers a miss once released.
type heldStore struct {
	state.Store
	h holdOnce
}

func (s *heldStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if s.h.hold() {
		return nil, false, nil
	}
	return s.Store.Get(ctx, key)
}

// TestFreshNeverSharesACachedFlight: a fresh introspection (a route that
// introspects every token) never gets the answer of a cached caller's
// flight, which may come from the cache. A cached caller misses the cache,
// another call then fills it, the token is revoked at the server, and the
// cached caller's flight is held at its cache read while a fresh call is
// made: the fresh call asks the server and is refused.
func TestFreshNeverSharesACachedFlight(t *testing.T) {
	clk := newClock()
	var revoked atomic.Bool
	arrived, first := make(chan struct{}, 1), make(chan struct{})
	a := newAS(t, func(w http.ResponseWriter, r *http.Request) {
		if revoked.Load() {
			answer(map[string]any{"active": false})(w, r)
			return
		}
		select {
		case arrived <- struct{}{}:
			<-first // the first call waits for the test
		default:
		}
		answer(active(issA, clk.now()))(w, r)
	})
	store := &heldStore{Store: state.NewMemory(clk.now)}
	var clock holdOnce
	opts := Options{Issuers: []IssuerOptions{oneIssuer(issA, a.url())}, Store: store}
	opts.Claims = verifier(t, clk, issA).IntrospectedClaims
	opts.Now = func() time.Time { clock.hold(); return clk.now() }
	in, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	raw := opaque("fresh")
	introspect := func(fresh bool) chan error {
		done := make(chan error, 1)
		go func() { _, err := in.Introspect(context.Background(), raw, fresh); done <- err }()
		return done
	}

	prev := introspect(false) // its call fills the cache, once let go
	<-arrived
	store.h.arm()
	cached := introspect(false) // misses the cache, then is held at its store read
	<-store.h.entered
	close(first)
	if err := <-prev; err != nil {
		t.Fatal(err)
	}
	revoked.Store(true)
	clock.arm()
	close(store.h.release) // the cached caller starts its flight, and is held at its cache read
	<-clock.entered
	guard := time.AfterFunc(testkit.DefaultTimeout, func() { close(clock.release) }) // a hang guard only
	err = <-introspect(true)
	if guard.Stop() {
		close(clock.release)
	}
	if reasonOf(err) != ReasonInactive {
		t.Fatalf("fresh introspection of a token revoked at the server: %v; want %s", err, ReasonInactive)
	}
	if err := <-cached; err != nil {
		t.Fatalf("cached caller: %v; want the cached answer", err)
	}
}
