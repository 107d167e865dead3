package gateway

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/dpop"
	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/testkit"
	"github.com/scopegate/scopegate/state"
)

// senderBase is the public base URL of the sender-constraint tests.
const senderBase = "https://models.scopegate.test"

// senderRoutes: chat takes the defaults; dpop-only requires DPoP; mtls-only
// requires a certificate-bound token.
const senderRoutes = `
  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat:completions"]
  - name: dpop-only
    methods: [POST]
    path: /v1/embeddings
    upstream: models
    scopes: ["chat:completions"]
    sender_constraint: {dpop: required}
  - name: no-dpop
    methods: [GET]
    path: /v1/models
    upstream: models
    scopes: ["chat:completions"]
    sender_constraint: {dpop: off}
`

// senderWorld is a world for sender-constrained tokens: one issuer, one
// recording upstream, and any number of gateways sharing one state store
// (replicas).
type senderWorld struct {
	t     *testing.T
	clock *fakeClock
	iss   *issuer.Issuer
	up    *upstreamRecorder
	store state.Store
	cfg   string
	gws   []*Gateway
	audit *syncBuffer
}

// newSenderWorld starts the issuer and upstream and one gateway; extra is
// YAML at the top level, issuerExtra lines under the issuer.
func newSenderWorld(t *testing.T, extra, issuerExtra string) *senderWorld {
	t.Helper()
	return newSenderWorldRoutes(t, senderRoutes, extra, issuerExtra)
}

// chatRoute is the one route of worlds without DPoP.
const chatRoute = `
  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat:completions"]
`

func newSenderWorldRoutes(t *testing.T, routes, extra, issuerExtra string) *senderWorld {
	t.Helper()
	w := &senderWorld{t: t, clock: newFakeClock(epoch), up: &upstreamRecorder{}, audit: &syncBuffer{}}
	w.store = state.NewMemory(w.clock.Now)
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
	w.cfg = fmt.Sprintf(`server:
  trusted_proxies: ["10.0.0.0/8"]
issuers:
  - issuer: %q
    audiences: [%q]
%s
upstreams:
  models:
    url: %q
routes:%s
%s`, issSrv.URL, testAudience, issuerExtra, upSrv.URL, routes, extra)
	w.addGateway()
	return w
}

// addGateway starts one more gateway (a replica) on the shared store.
func (w *senderWorld) addGateway() *Gateway {
	w.t.Helper()
	cfg, err := config.Parse([]byte(w.cfg), noEnv)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.t.Cleanup(cancel)
	gw, err := New(ctx, cfg, Deps{Audit: NewAuditLogger(w.audit), Registerer: prometheus.NewRegistry(), Now: w.clock.Now, State: w.store})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(gw.Close)
	testkit.WaitFor(w.t, "gateway ready", gw.Ready)
	w.gws = append(w.gws, gw)
	return gw
}

// clientKey is a client's DPoP key.
type clientKey struct {
	priv crypto.Signer
	jkt  string
}

func newClientKey(t testing.TB) clientKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := dpop.Thumbprint(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{priv: priv, jkt: jkt}
}

// boundToken mints a token bound by cnf (nil: a bearer token).
func (w *senderWorld) boundToken(cnf any) string {
	extra := map[string]any{}
	if cnf != nil {
		extra["cnf"] = cnf
	}
	return w.iss.AccessToken(issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli", Audience: []string{testAudience},
		Scopes: []string{"chat:completions"}, Extra: extra})
}

// proof makes a fresh proof by k for method and path under senderBase.
func (w *senderWorld) proof(k clientKey, method, path, tok string) string {
	w.t.Helper()
	p, err := dpop.NewProof(k.priv, "ES256", dpop.ProofParams{Method: method, URI: senderBase + path, AccessToken: tok, IssuedAt: w.clock.Now()})
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// do sends a request to gateway i with the Authorization value auth and
// extra header pairs, from peer.
func (w *senderWorld) do(i int, method, path, auth, peer string, hdr ...string) *httptest.ResponseRecorder {
	w.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader("{}"))
	r.RemoteAddr = peer
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	for j := 0; j+1 < len(hdr); j += 2 {
		r.Header.Add(hdr[j], hdr[j+1])
	}
	rec := httptest.NewRecorder()
	w.gws[i].ServeHTTP(rec, r)
	return rec
}

// lastRecord is the last audit decision record.
func (w *senderWorld) lastRecord() testkit.AuditRecord {
	w.t.Helper()
	ww := &world{t: w.t, audit: w.audit}
	recs := ww.records()
	if len(recs) == 0 {
		w.t.Fatal("no audit record")
	}
	return recs[len(recs)-1]
}

// forwarded is how many requests the upstream has seen.
func (w *senderWorld) forwarded() int {
	_, n := w.up.lastHeader()
	return n
}

const testPeer = "192.0.2.7:40000"
