package deploy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/gateway"
	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/mockapi"
	"github.com/scopegate/scopegate/internal/testkit"
)

const testAudience = "https://models.scopegate.test"

// exposedMetrics starts an in-process gateway in front of a real issuer
// and mock model API, sends requests that give every labelled vector a
// child (allowed, refused, no route, upstream down, a shadow route's
// would-be refusal), reloads the config
// once, and returns the names of every sample family /metrics serves, with
// the _bucket, _sum and _count series of histograms and summaries, plus
// "up" (which Prometheus adds to every scrape).
func exposedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	iss, err := issuer.New(issuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	issSrv := httptest.NewServer(iss.Handler())
	t.Cleanup(issSrv.Close)
	iss.SetURL(issSrv.URL)
	api := httptest.NewServer(mockapi.New(mockapi.Options{StreamDelay: -1}).Handler())
	t.Cleanup(api.Close)
	// A port nothing listens on (reserved: no other test's listener can
	// take it meanwhile): requests to it fail with 502.
	downURL := "http://" + testkit.ClosedAddr(t)
	// An introspection endpoint that knows one opaque token.
	intro := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.PostFormValue("token") != "opaque-ok" {
			_, _ = w.Write([]byte(`{"active":false}`))
			return
		}
		_, _ = fmt.Fprintf(w, `{"active":true,"sub":"bob","scope":"models:read","aud":%q,"exp":%d}`, testAudience, time.Now().Add(time.Hour).Unix())
	}))
	t.Cleanup(intro.Close)

	yaml := `
server:
  listen: "127.0.0.1:0"
  admin_listen: "localhost:0"
issuers:
  - issuer: "` + iss.URL() + `"
    audiences: ["` + testAudience + `"]
    introspection: {endpoint: "` + intro.URL + `"}
upstreams:
  models: {url: "` + api.URL + `"}
  gone: {url: "` + downURL + `", dial_timeout: 2s}
routes:
  - {name: models, methods: [GET], path: /v1/models, upstream: models, scopes: ["models:read"],
     limits: [{requests: {rate: 1000, per: 1s}}, {tokens: {budget: 1000000, per: 1h}},
              {cost: {budget: "1000", per: day, prices: {"*": {input: "1", output: "1"}}}}]}
  - {name: broken, methods: [GET], path: /broken, upstream: gone, scopes: []}
  - {name: trial, methods: [GET], path: /v1/trial, upstream: models, scopes: ["trial:use"], mode: shadow}
  - {name: status, methods: [GET], path: "/public/{rest...}", upstream: models, public: true}
`
	cfg, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := gateway.RegisterRuntime(reg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gw, err := gateway.New(ctx, cfg, gateway.Deps{Registerer: reg, Logger: zap.NewNop(), Audit: zap.NewNop(), Version: "test", Commit: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	testkit.WaitFor(t, "the issuer's keys", gw.Ready)
	proxy := httptest.NewServer(gw)
	t.Cleanup(proxy.Close)

	tok := iss.AccessToken(issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli",
		Audience: []string{testAudience}, Scopes: []string{"models:read"}})
	for _, rq := range []struct {
		path, token string
		want        int
	}{
		{"/v1/models", tok, http.StatusOK},
		{"/v1/models", "", http.StatusUnauthorized},
		{"/v1/models", "not-a-jwt", http.StatusUnauthorized},
		{"/v1/models", "opaque-ok", http.StatusOK}, // introspected
		{"/public/health", "", http.StatusOK},
		{"/nowhere", tok, http.StatusNotFound},
		{"/broken", tok, http.StatusBadGateway},
		{"/v1/trial", tok, http.StatusOK}, // shadow: would deny, lets through
	} {
		req, _ := http.NewRequest(http.MethodGet, proxy.URL+rq.path, nil)
		if rq.token != "" {
			req.Header.Set("Authorization", "Bearer "+rq.token)
		}
		resp, err := proxy.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != rq.want {
			t.Fatalf("GET %s: status %d; want %d", rq.path, resp.StatusCode, rq.want)
		}
	}
	if err := gw.Reload(cfg); err != nil {
		t.Fatal(err)
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{"up": true}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		// Vectors without children are not gathered at all, so every
		// name here has at least one series.
		switch mf.GetType().String() {
		case "HISTOGRAM", "GAUGE_HISTOGRAM":
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		case "SUMMARY":
			names[n+"_sum"], names[n+"_count"] = true, true
		}
	}
	return names
}
