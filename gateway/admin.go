package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves the admin listener: /metrics, /healthz, /readyz and
// the admin API (adminapi.go; off unless admin.token is set).
// It is never mounted on the proxy listener.
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	if g.deps.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g.deps.Gatherer, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", g.serveReady)
	g.mountAdminAPI(mux)
	return closeOnBody(mux)
}

// closeOnBody answers a request that declares a body with Connection:
// close. Only the admin API reads one (bounded by the admin server's
// ReadTimeout), and net/http would otherwise try to drain an unread body
// before sending the response: a client that declares a body and never
// sends it would hold the connection and never see its answer.
func closeOnBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

func (g *Gateway) serveReady(w http.ResponseWriter, _ *http.Request) {
	type issuer struct {
		Issuer string `json:"issuer"`
		Ready  bool   `json:"ready"`
		Keys   int    `json:"keys"`
	}
	body := struct {
		Status  string   `json:"status"`
		Issuers []issuer `json:"issuers"`
	}{Status: "ready", Issuers: []issuer{}}
	code := http.StatusOK
	rt := g.runtime.Load()
	if rt == nil || g.draining.Load() {
		body.Status, code = "not_ready", http.StatusServiceUnavailable
	} else {
		for _, s := range rt.verifierStatus() {
			body.Issuers = append(body.Issuers, issuer{Issuer: s.Issuer, Ready: s.Ready, Keys: s.Keys})
			if !s.Ready {
				body.Status, code = "not_ready", http.StatusServiceUnavailable
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
