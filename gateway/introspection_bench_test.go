package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/issuer"
)

// benchAS is an introspection endpoint that answers every token active,
// for the chain's audience and scopes, and counts its calls.
func benchAS(b *testing.B, iss func() string) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"active":true,"iss":%q,"sub":"user-1","client_id":"client-1","aud":[%q],"scope":"chat read","exp":%d,"iat":%d,"token_type":"Bearer"}`,
			iss(), chainAud, time.Now().Add(time.Hour).Unix(), time.Now().Unix())
	}))
	b.Cleanup(srv.Close)
	return srv, &calls
}

// introChain is a chain whose issuer introspects at an endpoint of benchAS.
func introChain(b *testing.B) (*chain, *atomic.Int64) {
	var issURL atomic.Value
	as, calls := benchAS(b, func() string { return issURL.Load().(string) })
	c := newChain(b, issuer.ES256, func(cfg *config.Config) {
		issURL.Store(cfg.Issuers[0].Issuer)
		cfg.Issuers[0].Introspection = &config.IntrospectionConfig{Endpoint: as.URL}
	})
	return c, calls
}

// BenchmarkChainIntrospection compares, through the whole chain, a JWT
// answered from the verified-token cache with an opaque token answered
// from the introspection cache, and with a new opaque token each request
// (one introspection round trip to a loopback endpoint). calls/op is the
// endpoint's calls per request.
func BenchmarkChainIntrospection(b *testing.B) {
	b.Run("jwt/cached", func(b *testing.B) {
		c, calls := introChain(b)
		tok := c.token(b, "cached")
		runChain(b, c.g, func(int) string { return tok }, c.conns)
		b.ReportMetric(float64(calls.Load())/float64(b.N), "calls/op")
	})
	b.Run("opaque/cached", func(b *testing.B) {
		c, calls := introChain(b)
		runChain(b, c.g, func(int) string { return "opaque-cached-token" }, c.conns)
		if calls.Load() != 1 {
			b.Fatalf("%d introspection calls for one token; want 1", calls.Load())
		}
		b.ReportMetric(float64(calls.Load())/float64(b.N), "calls/op")
	})
	b.Run("opaque/new", func(b *testing.B) {
		c, calls := introChain(b)
		runChain(b, c.g, func(i int) string { return fmt.Sprint("opaque-new-", i) }, c.conns)
		b.ReportMetric(float64(calls.Load())/float64(b.N), "calls/op")
	})
}
