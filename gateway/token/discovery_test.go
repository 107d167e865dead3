package token

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scopegate/scopegate/internal/testkit"
)

// discoveryServer serves an OpenID configuration naming issuer (the
// server's own URL when ""), and a JWKS.
func discoveryServer(t *testing.T, issuer string, k *testKey) (*httptest.Server, *atomic.Int64) {
	var down atomic.Int64 // > 0: answer 503 that many more times
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if down.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		iss := issuer
		if iss == "" {
			iss = srv.URL
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(must(t, map[string]any{"issuer": iss, "jwks_uri": srv.URL + "/keys"}))
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		w.Write(must(t, map[string]any{"keys": []any{k.jwk}}))
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &down
}

func TestDiscovery(t *testing.T) {
	k := newKey(t, "ed25519", "ed1", "EdDSA", "EdDSA")
	t.Run("ok after IdP outage", func(t *testing.T) {
		srv, down := discoveryServer(t, "", k)
		down.Store(1)
		clock := newClock()
		v := newVerifier(t, Options{Issuers: []IssuerConfig{{Issuer: srv.URL, Audiences: []string{testAud}}}, Now: clock.Now})
		waitReady(t, v)
		if v.Status()[0].RefreshFailures == 0 {
			t.Error("want a failure recorded for the outage")
		}
		tok := mint(t, k, nil, with(clock.Now(), map[string]any{"iss": srv.URL}))
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("issuer mismatch", func(t *testing.T) {
		srv, _ := discoveryServer(t, "https://other.example", k)
		var log refreshLog
		v := newVerifier(t, Options{Issuers: []IssuerConfig{{Issuer: srv.URL, Audiences: []string{testAud}}}, OnRefresh: log.hook})
		testkit.WaitFor(t, "discovery attempt", func() bool { _, n := log.last(); return n >= 1 })
		if c, _ := log.last(); c.err == nil || v.Ready() {
			t.Fatalf("discovery with a foreign issuer succeeded")
		}
	})
	t.Run("insecure discovered jwks_uri", func(t *testing.T) {
		mux := http.NewServeMux()
		var srv *httptest.Server
		mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
			w.Write(must(t, map[string]any{"issuer": srv.URL, "jwks_uri": "http://keys.example.com/jwks"}))
		})
		srv = httptest.NewServer(mux)
		defer srv.Close()
		var log refreshLog
		v := newVerifier(t, Options{Issuers: []IssuerConfig{{Issuer: srv.URL, Audiences: []string{testAud}}}, OnRefresh: log.hook})
		testkit.WaitFor(t, "discovery attempt", func() bool { _, n := log.last(); return n >= 1 })
		if c, _ := log.last(); c.err == nil || !strings.Contains(c.err.Error(), "jwks_uri") {
			t.Fatalf("err = %v; want the insecure jwks_uri refused", c.err)
		}
		v.Close()
	})
}
