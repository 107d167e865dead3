package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/mockapi"
	"github.com/scopegate/scopegate/internal/testkit"
)

// The rig runs a whole gateway in-process: a real issuer (internal/issuer)
// and a recording upstream (internal/mockapi) on httptest servers, and the
// gateway's own Serve on loopback listeners, so that the server settings
// (header timeout, header cap) are the ones under test.

const rigAudience = "https://models.example.com"

// allScopes are the scopes of every route of rigConfig.
var allScopes = []string{"models:read", "chat:completions", "generate:images", "embeddings:create"}

// rigConfig is the gateway config of the rig. %[1]s is the issuer URL,
// %[2]s the upstream URL, %[3]s extra server keys, %[4]s extra issuer keys,
// %[5]s extra upstream keys, %[6]s the key refresh interval, %[7]s the
// upstream timeout.
const rigConfig = `
server:
  listen: "127.0.0.1:0"
  admin_listen: "127.0.0.1:1"
  drain_timeout: 5s
  max_body_bytes: 65536
%[3]s
issuers:
  - issuer: "%[1]s"
    audiences: ["https://models.example.com"]
    refresh_interval: %[6]s
    min_refresh_interval: 10ms
%[4]s
upstreams:
  models:
    url: "%[2]s"
    timeout: %[7]s
    dial_timeout: 2s
%[5]s
routes:
  - name: models
    methods: [GET]
    path: /v1/models
    upstream: models
    scopes: ["models:read"]
  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat:completions"]
  - name: images
    methods: [POST]
    path: /v1/images/generations
    upstream: models
    scopes: ["generate:images"]
    max_body_bytes: 1024
  - name: embeddings
    methods: [POST]
    path: /v1/embeddings
    upstream: models
    scopes: ["embeddings:create"]
    max_body_bytes: 131072
  - name: status
    methods: [GET]
    path: /public/{rest...}
    upstream: models
    public: true
`

type rigOptions struct {
	server, issuer, upstream string // extra YAML lines, indented to their block
	// upstreamURL replaces the mock API's URL.
	upstreamURL string
	// wrapIssuer wraps the issuer's handler (JWKS faults).
	wrapIssuer func(http.Handler) http.Handler
	// keyClient is Deps.KeyClient.
	keyClient *http.Client
	// now is Deps.Now and the issuer's clock.
	now func() time.Time
	// noWait skips waiting for readiness.
	noWait bool
	// refresh is the issuer's refresh_interval; default 1h.
	refresh string
	// upstreamTimeout is the upstream's timeout; default 2s.
	upstreamTimeout string
	// client replaces the rig's client (e.g. one that trusts a test CA);
	// scheme is then its URL scheme.
	client *http.Client
	scheme string
	// routes are extra routes, appended to the rig's list.
	routes string
	// tracer is Deps.TracerProvider.
	tracer trace.TracerProvider
}

type rig struct {
	t      *testing.T
	iss    *issuer.Issuer
	issSrv *httptest.Server
	api    *mockapi.API
	upSrv  *httptest.Server
	gw     *Gateway
	cfg    *config.Compiled
	proxy  string // host:port of the proxy listener
	admin  string // host:port of the admin listener
	client *http.Client
	scheme string
	logs   *observer.ObservedLogs
	// opLogs are the operational logs (Deps.Logger): net/http's own
	// complaints, panics among them, arrive there.
	opLogs *observer.ObservedLogs
	// yaml is the config's source, for tests that reload a variant.
	yaml string
}

// newRig starts everything and registers its teardown, which checks that
// no goroutine the rig started outlives it.
func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	leakBase := goleak.IgnoreCurrent()
	r := &rig{t: t}
	iss, err := issuer.New(issuer.Options{Now: o.now})
	if err != nil {
		t.Fatal(err)
	}
	r.iss = iss
	var h http.Handler = iss.Handler()
	if o.wrapIssuer != nil {
		h = o.wrapIssuer(h)
	}
	r.issSrv = httptest.NewServer(h)
	iss.SetURL(r.issSrv.URL)
	r.api = mockapi.New(mockapi.Options{StreamDelay: -1})
	r.upSrv = httptest.NewServer(r.api.Handler())
	up := r.upSrv.URL
	if o.upstreamURL != "" {
		up = o.upstreamURL
	}
	if o.refresh == "" {
		o.refresh = "1h"
	}
	if o.upstreamTimeout == "" {
		o.upstreamTimeout = "2s"
	}
	y := fmt.Sprintf(rigConfig, r.issSrv.URL, up, o.server, o.issuer, o.upstream, o.refresh, o.upstreamTimeout) + o.routes
	cfg, err := config.Parse([]byte(y), noEnv)
	if err != nil {
		t.Fatalf("rig config: %v", err)
	}
	r.cfg, r.yaml = cfg, y
	core, logs := observer.New(zapcore.InfoLevel)
	r.logs = logs
	opCore, opLogs := observer.New(zapcore.DebugLevel)
	r.opLogs = opLogs
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := New(ctx, cfg, Deps{Audit: zap.New(core), Logger: zap.New(opCore), KeyClient: o.keyClient, Now: o.now, TracerProvider: o.tracer})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r.gw = gw
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	al, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.proxy, r.admin = pl.Addr().String(), al.Addr().String()
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, pl, al, nil) }()
	tr := &http.Transport{DisableCompression: true}
	r.client, r.scheme = &http.Client{Transport: tr, Timeout: 30 * time.Second}, "http"
	if o.client != nil {
		r.client, r.scheme = o.client, o.scheme
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		checkRecordsRegistered(t, r.audits())
		tr.CloseIdleConnections()
		r.client.CloseIdleConnections()
		for _, u := range gw.runtime.Load().upstreams {
			u.transport.CloseIdleConnections()
		}
		if o.keyClient != nil {
			o.keyClient.CloseIdleConnections()
		}
		r.upSrv.Close()
		r.issSrv.Close()
		// The goroutines of the connections closed just now end by
		// themselves, soon but not at once: on a loaded machine they can
		// take longer than goleak's own retries (about 0.4s in all) allow.
		// A leak is a goroutine still there after testkit.DefaultTimeout.
		testkit.Wait(testkit.DefaultTimeout, func() bool { return goleak.Find(leakBase) == nil })
		goleak.VerifyNone(t, leakBase)
	})
	if !o.noWait {
		r.waitReady()
	}
	return r
}

// in returns the rig bound to a subtest's t, so that its helpers fail
// the subtest and not its parent.
func (r *rig) in(t *testing.T) *rig {
	c := *r
	c.t = t
	return &c
}

// waitReady polls until the gateway has its keys.
func (r *rig) waitReady() {
	r.t.Helper()
	testkit.WaitFor(r.t, "gateway ready", r.gw.Ready)
}

// token mints a valid access token with the given scopes.
func (r *rig) token(scopes ...string) string {
	return r.iss.AccessToken(issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli", Audience: []string{rigAudience}, Scopes: scopes})
}

// do sends a request through the client library.
func (r *rig) do(method, path, tok string, body io.Reader, hdr ...string) *http.Response {
	r.t.Helper()
	req, err := http.NewRequest(method, r.scheme+"://"+r.proxy+path, body)
	if err != nil {
		r.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	readBody(resp)
	return resp
}

// bodies holds the response bodies read by do and raw.
var bodies sync.Map // *http.Response -> string

func readBody(resp *http.Response) {
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	bodies.Store(resp, string(b))
}

func bodyOf(resp *http.Response) string {
	s, _ := bodies.Load(resp)
	str, _ := s.(string)
	return str
}

// raw writes req verbatim on a new connection and reads one response:
// for request lines and headers a client library would normalize.
func (r *rig) raw(req string) *http.Response {
	r.t.Helper()
	resp, err := rawExchange(r.proxy, req)
	if err != nil {
		r.t.Fatalf("raw request %.60q: %v", req, err)
	}
	return resp
}

func rawExchange(addr, req string) (*http.Response, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	readBody(resp)
	return resp, nil
}
