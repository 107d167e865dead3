package introspect

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopegate/scopegate/gateway/token"
)

const (
	testAudience = "https://models.example.com"
	testClient   = "gateway"
	testSecret   = "s3cret/+="
)

// clock is a settable clock shared by the verifier and the introspector.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// as is a real introspection endpoint on loopback: it answers with
// respond, counts its calls and records the forms it got.
type as struct {
	srv     *httptest.Server
	calls   atomic.Int64
	mu      sync.Mutex
	forms   []map[string][]string
	auths   []string
	respond func(w http.ResponseWriter, r *http.Request)
}

func newAS(t testing.TB, respond func(w http.ResponseWriter, r *http.Request)) *as {
	t.Helper()
	a := &as{respond: respond}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		a.forms = append(a.forms, r.PostForm)
		a.auths = append(a.auths, r.Header.Get("Authorization"))
		a.mu.Unlock()
		a.respond(w, r)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *as) url() string { return a.srv.URL + "/introspect" }

// answer writes v as a JSON introspection response.
func answer(v map[string]any) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
}

// active is a typical active answer for issuer iss at time now.
func active(iss string, now time.Time) map[string]any {
	return map[string]any{
		"active":     true,
		"iss":        iss,
		"sub":        "alice",
		"client_id":  "agent-1",
		"aud":        []string{testAudience},
		"scope":      "generate:images chat",
		"exp":        now.Add(time.Hour).Unix(),
		"iat":        now.Add(-time.Minute).Unix(),
		"token_type": "Bearer",
	}
}

// verifier is a real token verifier trusting issuers (whose keys are never
// needed: introspected claims are judged without them).
func verifier(t testing.TB, clk *clock, issuers ...string) *token.Verifier {
	t.Helper()
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	t.Cleanup(jwks.Close)
	opts := token.Options{Now: clk.now}
	for _, iss := range issuers {
		opts.Issuers = append(opts.Issuers, token.IssuerConfig{Issuer: iss, JWKSURI: jwks.URL, Audiences: []string{testAudience}})
	}
	v, err := token.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// newIntrospector builds an Introspector over a real verifier for the
// issuers of opts.
func newIntrospector(t testing.TB, clk *clock, opts Options) *Introspector {
	t.Helper()
	var names []string
	for _, is := range opts.Issuers {
		names = append(names, is.Issuer)
	}
	opts.Claims = verifier(t, clk, names...).IntrospectedClaims
	opts.Now = clk.now
	in, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// reasonOf is the refusal reason of err, or "".
func reasonOf(err error) token.Reason {
	if te, ok := err.(*token.Error); ok {
		return te.Reason
	}
	return ""
}

func oneIssuer(iss, endpoint string) IssuerOptions {
	return IssuerOptions{Issuer: iss, Endpoint: endpoint, Auth: ClientAuth{ClientID: testClient, ClientSecret: testSecret}}
}

// opaque is an opaque token of the shape Hydra issues (two parts).
func opaque(s string) string { return "ory_at_" + s + ".sig" + strings.Repeat("x", 20) }
