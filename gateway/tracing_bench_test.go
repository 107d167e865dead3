package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/issuer"
)

// BenchmarkChainTraced is BenchmarkChain's gateway/cached with tracing on,
// exporting to an in-process OTLP/HTTP collector: what a traced request
// costs over an untraced one (tracing off is BenchmarkChain itself).
func BenchmarkChainTraced(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(srv.Close)
	c := newChain(b, issuer.ES256, func(cfg *config.Config) { cfg.Tracing.OTLPEndpoint = srv.URL })
	tok := c.token(b, "traced")
	runChain(b, c.g, func(int) string { return tok }, c.conns)
}
