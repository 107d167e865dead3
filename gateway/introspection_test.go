package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/redistest"
	"github.com/scopegate/scopegate/internal/testkit"
	"github.com/scopegate/scopegate/state"
)

// introAS is a real introspection endpoint on loopback, for the world's
// issuer: it answers each token as told, counts calls, and can fail.
type introAS struct {
	srv   *httptest.Server
	iss   string
	clock *fakeClock
	calls atomic.Int64
	mu    sync.Mutex
	known map[string]map[string]any // token -> active answer members
	fail  int                       // status to answer with; 0: none
}

func newIntroAS(t *testing.T, clock *fakeClock) *introAS {
	a := &introAS{clock: clock, known: map[string]map[string]any{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		if u, p, ok := r.BasicAuth(); !ok || u != "gateway" || p != "gw-secret" {
			http.Error(w, "client authentication failed", http.StatusUnauthorized)
			return
		}
		a.mu.Lock()
		fail, m := a.fail, a.known[r.PostFormValue("token")]
		a.mu.Unlock()
		if fail != 0 {
			http.Error(w, "down", fail)
			return
		}
		out := map[string]any{"active": false}
		if m != nil {
			out = map[string]any{"active": true, "iss": a.iss, "aud": []string{testAudience}, "token_type": "Bearer",
				"exp": a.clock.Now().Add(time.Hour).Unix(), "iat": a.clock.Now().Add(-time.Minute).Unix()}
			for k, v := range m {
				out[k] = v
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// issue makes tok an active token of sub with scopes.
func (a *introAS) issue(tok, sub string, scopes ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.known[tok] = map[string]any{"sub": sub, "client_id": "agent-1", "scope": strings.Join(scopes, " ")}
}

// revoke makes tok inactive, as /oauth2/revoke at the server would.
func (a *introAS) revoke(tok string) { a.mu.Lock(); delete(a.known, tok); a.mu.Unlock() }

func (a *introAS) setFail(status int) { a.mu.Lock(); a.fail = status; a.mu.Unlock() }

// introWorld is a world whose issuer introspects at an introAS; the route
// "tune" introspects every token (routes[].introspect). With like set, the
// world shares like's issuer and introspection server (a second replica).
func introWorld(t *testing.T, store state.Store, like *world, likeAS *introAS) (*world, *introAS) {
	t.Helper()
	w := &world{t: t, clock: newFakeClock(epoch), up: &upstreamRecorder{}, audit: &syncBuffer{}, reg: prometheus.NewRegistry()}
	a := likeAS
	if like == nil {
		iss, err := issuer.New(issuer.Options{Now: w.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		w.iss = iss
		issSrv := httptest.NewServer(iss.Handler())
		t.Cleanup(issSrv.Close)
		iss.SetURL(issSrv.URL)
		a = newIntroAS(t, w.clock)
		a.iss = issSrv.URL
	} else {
		w.iss, w.clock = like.iss, like.clock
	}
	upSrv := httptest.NewServer(w.up)
	t.Cleanup(upSrv.Close)
	text := fmt.Sprintf(`issuers:
  - issuer: %q
    audiences: [%q]
    introspection:
      endpoint: %q
      client_id: gateway
      client_secret: gw-secret
      cache_ttl: 60s
upstreams:
  models:
    url: %q
routes:%s  - name: tune
    methods: [POST]
    path: /v1/fine_tuning/jobs
    upstream: models
    scopes: ["fine-tune"]
    introspect: true
%s`, a.iss, testAudience, a.srv.URL+"/introspect", upSrv.URL, testRoutes[:strings.Index(testRoutes, "  - name: broken")], adminExtra)
	w.start(text, Deps{State: store})
	return w, a
}

// counter is the value of the counter name{labels} in w's registry.
func (w *world) counter(name string, labels map[string]string) float64 {
	w.t.Helper()
	mfs, err := w.reg.Gather()
	if err != nil {
		w.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// lastRecord is the last audit record.
func (w *world) lastRecord() testkit.AuditRecord {
	w.t.Helper()
	rs := w.records()
	return rs[len(rs)-1]
}

func TestIntrospectionOnTheWire(t *testing.T) {
	w, a := introWorld(t, nil, nil, nil)
	const tok = "ory_at_opaque-alice.sig"
	a.issue(tok, "alice", "chat:completions", "fine-tune")

	rec := w.chat(tok)
	if rec.Code != http.StatusOK {
		t.Fatalf("active opaque token: %d %s; want 200", rec.Code, rec.Body)
	}
	h, _ := w.up.lastHeader()
	if h.Get("X-Auth-Subject") != "alice" || h.Get("X-Auth-Client-Id") != "agent-1" || h.Get("X-Auth-Scopes") != "chat:completions fine-tune" {
		t.Fatalf("identity headers %q %q %q; want alice, agent-1 and the scopes", h.Get("X-Auth-Subject"), h.Get("X-Auth-Client-Id"), h.Get("X-Auth-Scopes"))
	}
	if h.Get("Authorization") != "" {
		t.Fatalf("the upstream got the opaque token")
	}
	if r := w.lastRecord(); r.Decision != "allow" || r.Sub != "alice" || r.ClientID != "agent-1" {
		t.Fatalf("audit record %v; want allow for alice/agent-1", r)
	}
	if strings.Contains(w.audit.String(), "opaque-alice") {
		t.Fatalf("the audit trail holds the token")
	}

	// The same token again: the cached answer, no call.
	if rec := w.chat(tok); rec.Code != http.StatusOK || a.calls.Load() != 1 {
		t.Fatalf("cached: %d, calls %d; want 200 and 1 call", rec.Code, a.calls.Load())
	}

	// Scopes decide as for a JWT.
	if rec := w.do("GET", "/v1/models/gpt", tok); rec.Code != http.StatusForbidden || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `scope="models:read"`) {
		t.Fatalf("missing scope: %d %q; want 403 insufficient_scope", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}

	// Inactive: 401 invalid_token, reason token_inactive.
	rec = w.chat("ory_at_unknown.sig")
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("inactive token: %d %q; want 401 invalid_token", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if r := w.lastRecord(); r.Reason != "token_inactive" || r.Decision != "deny" {
		t.Fatalf("audit %v; want deny token_inactive", r)
	}

	// A route with introspect: true asks every time: a token revoked at
	// the server is refused at once there, while the cached answer still
	// serves other routes until cache_ttl.
	tune := func() int { return w.do("POST", "/v1/fine_tuning/jobs", tok).Code }
	if got := tune(); got != http.StatusOK {
		t.Fatalf("tune: %d; want 200", got)
	}
	calls := a.calls.Load()
	a.revoke(tok)
	if got := tune(); got != http.StatusUnauthorized || a.calls.Load() != calls+1 {
		t.Fatalf("tune after revocation at the server: %d; want 401 at once", got)
	}
	if rec := w.chat(tok); rec.Code != http.StatusOK {
		t.Fatalf("chat within cache_ttl: %d; want 200 (the documented delay)", rec.Code)
	}
	w.clock.Advance(61 * time.Second)
	if rec := w.chat(tok); rec.Code != http.StatusUnauthorized {
		t.Fatalf("chat after cache_ttl: %d; want 401", rec.Code)
	}

	// The endpoint failing: 503 with Retry-After, decision error; never
	// taken as inactive.
	a.setFail(http.StatusInternalServerError)
	rec = w.chat("ory_at_new.sig")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("endpoint 500: %d Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if r := w.lastRecord(); r.Reason != string(ReasonIntrospectionUnavailable) || r.Decision != decisionError {
		t.Fatalf("audit %v; want error introspection_unavailable", r)
	}
	if got := w.counter("scopegate_introspection_requests_total", map[string]string{"issuer": a.iss, "result": "error"}); got != 1 {
		t.Fatalf("error calls metric = %v; want 1", got)
	}
}

// TestIntrospectionJWTStillVerified: with introspection on, JWTs keep the
// JWT path (no call) except on introspect routes.
func TestIntrospectionJWTStillVerified(t *testing.T) {
	w, a := introWorld(t, nil, nil, nil)
	jwt := w.token("chat:completions")
	if rec := w.chat(jwt); rec.Code != http.StatusOK || a.calls.Load() != 0 {
		t.Fatalf("JWT on a plain route: %d, calls %d; want 200 and no call", rec.Code, a.calls.Load())
	}
	tuneJWT := w.token("fine-tune")
	if rec := w.do("POST", "/v1/fine_tuning/jobs", tuneJWT); rec.Code != http.StatusUnauthorized || w.lastRecord().Reason != "token_inactive" {
		t.Fatalf("JWT the server does not know, on the introspect route: %d; want 401 token_inactive", rec.Code)
	}
	a.issue(tuneJWT, "alice", "fine-tune")
	if rec := w.do("POST", "/v1/fine_tuning/jobs", tuneJWT); rec.Code != http.StatusOK {
		t.Fatalf("active JWT on the introspect route: %d %s", rec.Code, rec.Body)
	}
	// A forged JWT is refused before any call.
	calls := a.calls.Load()
	forged := jwt[:strings.LastIndex(jwt, ".")+1] + "AAAA"
	if rec := w.do("POST", "/v1/fine_tuning/jobs", forged); rec.Code != http.StatusUnauthorized || a.calls.Load() != calls {
		t.Fatalf("forged JWT: %d, calls %d -> %d; want 401 and no call", rec.Code, calls, a.calls.Load())
	}
}

// TestIntrospectionSenderConstrained: an introspection answer with
// cnf.jkt (RFC 9449 section 6.2) binds the opaque token as a JWT's cnf
// would: sent as Bearer, it is a downgrade.
func TestIntrospectionSenderConstrained(t *testing.T) {
	w, a := introWorld(t, nil, nil, nil)
	const tok = "ory_at_bound.sig"
	a.issue(tok, "erin", "chat:completions")
	a.mu.Lock()
	a.known[tok]["cnf"] = map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}
	a.mu.Unlock()
	if rec := w.chat(tok); rec.Code != http.StatusUnauthorized || w.lastRecord().Reason != string(ReasonDPoPDowngrade) {
		t.Fatalf("a DPoP-bound opaque token as Bearer: %d %v; want 401 %s", rec.Code, w.lastRecord().Reason, ReasonDPoPDowngrade)
	}
}

// TestIntrospectionRevocationAPI: the admin API's revocations hold for
// introspected tokens too, cached answers included.
func TestIntrospectionRevocationAPI(t *testing.T) {
	w, a := introWorld(t, nil, nil, nil)
	const tok = "ory_at_opaque-bob.sig"
	a.issue(tok, "bob", "chat:completions")
	if rec := w.chat(tok); rec.Code != http.StatusOK {
		t.Fatalf("%d", rec.Code)
	}
	w.clock.Advance(time.Second)
	w.revoke(`{"sub":"bob"}`)
	wantRevoked(t, w, w.chat(tok))
}

// TestIntrospectionSharedRedis: two gateways on one real redis-server: an
// answer obtained by one serves the other without a call, and the store
// never holds the token.
func TestIntrospectionSharedRedis(t *testing.T) {
	srv := redistest.Start(t)
	open := func() state.Store {
		s, err := state.NewRedis(state.RedisOptions{URL: srv.URL(), ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	w1, a := introWorld(t, patientStore{open()}, nil, nil)
	w2, _ := introWorld(t, patientStore{open()}, w1, a)
	const tok = "ory_at_shared-carol.sig"
	a.issue(tok, "carol", "chat:completions")
	if rec := w1.chat(tok); rec.Code != http.StatusOK {
		t.Fatalf("first gateway: %d", rec.Code)
	}
	if rec := w2.chat(tok); rec.Code != http.StatusOK || a.calls.Load() != 1 {
		t.Fatalf("second gateway: %d, calls %d; want 200 from the shared answer, 1 call", rec.Code, a.calls.Load())
	}
	if got := w2.counter("scopegate_introspection_cache_total", map[string]string{"result": "store_hit"}); got != 1 {
		t.Fatalf("store hits on the second gateway = %v; want 1", got)
	}
	items, err := open().List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range items {
		if strings.Contains(k, "shared-carol") || strings.Contains(string(v), "shared-carol") {
			t.Fatalf("redis holds the token under %q", k)
		}
	}
}

// patientStore lets the introspection cache's reads and writes take as
// long as the store does: the introspector bounds them by 250ms, which a
// real Redis round trip can pass on a loaded machine (a lost write or a
// missed read is then a second call to the endpoint, not the sharing the
// test is about).
type patientStore struct{ state.Store }

func (s patientStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	return s.Store.Get(context.WithoutCancel(ctx), key)
}

func (s patientStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return s.Store.Set(context.WithoutCancel(ctx), key, value, ttl)
}

// TestIntrospectionAcrossReload: a reload starts an empty local cache but
// keeps the state store, so a token already introspected is not asked
// again; a config without introspection refuses opaque tokens as
// malformed.
func TestIntrospectionAcrossReload(t *testing.T) {
	w, a := introWorld(t, nil, nil, nil)
	const tok = "ory_at_reload.sig"
	a.issue(tok, "dora", "chat:completions")
	if rec := w.chat(tok); rec.Code != http.StatusOK {
		t.Fatalf("%d", rec.Code)
	}
	cur := w.gw.runtime.Load().cfg
	same := recompile(t, cur, func(c *config.Config) {
		c.Audit.MaxRecordsPerSecond = 999 // any change: a new runtime
	})
	if err := w.gw.Reload(same); err != nil {
		t.Fatal(err)
	}
	if rec := w.chat(tok); rec.Code != http.StatusOK || a.calls.Load() != 1 {
		t.Fatalf("after reload: %d, calls %d; want 200 from the store, 1 call", rec.Code, a.calls.Load())
	}
	without := recompile(t, cur, func(c *config.Config) {
		is := c.Issuers[0]
		is.Introspection = nil
		c.Issuers = []config.IssuerConfig{is}
		c.Routes = c.Routes[:len(c.Routes)-1] // the introspect route
	})
	if err := w.gw.Reload(without); err != nil {
		t.Fatal(err)
	}
	if rec := w.chat(tok); rec.Code != http.StatusUnauthorized || w.lastRecord().Reason != "malformed" {
		t.Fatalf("without introspection: %d %v; want 401 malformed", rec.Code, w.lastRecord().Reason)
	}
}
