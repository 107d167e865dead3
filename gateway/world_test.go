package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/testkit"
)

// testAudience is the audience of every test config.
const testAudience = "https://models.scopegate.test"

// epoch is the fixed time of tests that need a fixed clock.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// syncBuffer is a goroutine-safe buffer for audit records.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Sync() error { return nil }

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ zapcore.WriteSyncer = (*syncBuffer)(nil)

// upstreamRecorder is a model API that answers a fixed body and keeps the
// headers of the last request.
type upstreamRecorder struct {
	mu    sync.Mutex
	last  http.Header
	query string
	n     int
}

func (u *upstreamRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.last, u.query, u.n = r.Header.Clone(), r.URL.RawQuery, u.n+1
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"ok":true}` + "\n"))
}

func (u *upstreamRecorder) lastHeader() (http.Header, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last, u.n
}

// world is a gateway in front of a real issuer and a recording upstream,
// with a fixed clock, its audit records in a buffer and its metrics on its
// own registry.
type world struct {
	t     *testing.T
	clock *fakeClock
	iss   *issuer.Issuer
	up    *upstreamRecorder
	gw    *Gateway
	reg   *prometheus.Registry
	audit *syncBuffer
}

// testRoutes are the routes of a world unless it names others.
const testRoutes = `
  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat:completions"]
  - name: models
    methods: [GET]
    path: /v1/models/{id}
    upstream: models
    scopes: ["models:read"]
  - name: images-trial
    methods: [POST]
    path: /v1/images/generations
    upstream: models
    scopes: ["generate:images"]
    mode: shadow
  - name: status
    methods: [GET]
    path: /public/{rest...}
    upstream: models
    public: true
  - name: broken
    path: /v1/broken
    upstream: down
    scopes: []
`

// newWorld starts a world; extra is YAML appended at the top level (an
// audit: block, say).
func newWorld(t *testing.T, extra string) *world {
	t.Helper()
	w := &world{t: t, clock: newFakeClock(epoch), up: &upstreamRecorder{}, audit: &syncBuffer{}, reg: prometheus.NewRegistry()}
	iss, err := issuer.New(issuer.Options{Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	w.iss = iss
	issSrv := httptest.NewServer(iss.Handler())
	t.Cleanup(issSrv.Close)
	iss.SetURL(issSrv.URL)
	upSrv := httptest.NewServer(w.up)
	t.Cleanup(upSrv.Close)
	text := fmt.Sprintf(`issuers:
  - issuer: %q
    audiences: [%q]
upstreams:
  models:
    url: %q
  down:
    url: "http://127.0.0.1:1"
routes:%s%s`, issSrv.URL, testAudience, upSrv.URL, testRoutes, extra)
	w.start(text, Deps{Version: "test", Commit: "abc"})
	return w
}

// start runs the world's gateway on the config text, with deps plus the
// world's audit buffer, registry and clock; it waits for the keys and,
// at cleanup, checks every audit record against the reason registry.
func (w *world) start(text string, deps Deps) {
	t := w.t
	t.Helper()
	cfg, err := config.Parse([]byte(text), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	deps.Audit, deps.Registerer, deps.Now = NewAuditLogger(w.audit), w.reg, w.clock.Now
	gw, err := New(ctx, cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	t.Cleanup(func() { checkRecordsRegistered(t, recordFields(w.records())) })
	w.gw = gw
	testkit.WaitFor(t, "the gateway's keys", gw.Ready)
}

// token mints an access token for sub alice, client cli, with scopes and
// a fixed jti.
func (w *world) token(scopes ...string) string {
	return w.iss.AccessToken(issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli", Audience: []string{testAudience},
		Scopes: scopes, Extra: map[string]any{"jti": "jti-" + strings.Join(scopes, "+")}})
}

// do sends one request through the gateway's handler, from a fixed peer.
func (w *world) do(method, target, tok string, hdr ...string) *httptest.ResponseRecorder {
	w.t.Helper()
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "192.0.2.7:40000"
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	w.gw.ServeHTTP(rec, r)
	if recs := w.records(); len(recs) > 0 && rec.Code >= 400 {
		checkChallengeRegistered(w.t, recs[len(recs)-1].Fields, rec.Header())
	}
	return rec
}

// records returns the audit records written so far, decoded.
func (w *world) records() []testkit.AuditRecord {
	w.t.Helper()
	return testkit.AuditRecords(w.t, w.audit.String())
}

// recordFields returns each record's fields by name.
func recordFields(recs []testkit.AuditRecord) []map[string]any {
	out := make([]map[string]any, len(recs))
	for i, r := range recs {
		out[i] = r.Fields
	}
	return out
}

// record returns the one decision record of a request id.
func (w *world) record(id string) testkit.AuditRecord {
	w.t.Helper()
	var found *testkit.AuditRecord
	for _, m := range w.records() {
		if m.Msg == auditMsgDecision && m.RequestID == id {
			if found != nil {
				w.t.Fatalf("two audit records for request %s", id)
			}
			found = &m
		}
	}
	if found == nil {
		w.t.Fatalf("no audit record for request %s in:\n%s", id, w.audit.String())
	}
	return *found
}
