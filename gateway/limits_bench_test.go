package gateway

import (
	"testing"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/policy"
)

// BenchmarkChainLimits is gateway/cached of BenchmarkChain with and
// without one request-rate limit keyed by subject (the in-memory store),
// in one run so that the two compare.
func BenchmarkChainLimits(b *testing.B) {
	b.Run("cached", func(b *testing.B) {
		c := newChain(b, issuer.ES256, nil)
		tok := c.token(b, "cached")
		runChain(b, c.g, func(int) string { return tok }, c.conns)
	})
	b.Run("cached/limit", func(b *testing.B) {
		c := newChain(b, issuer.ES256, func(cfg *config.Config) {
			cfg.Routes[0].Limits = []policy.LimitConfig{{Name: "rps", Requests: &policy.RequestsLimitConfig{Rate: 1_000_000_000, Per: "1s"}}}
		})
		tok := c.token(b, "cached")
		runChain(b, c.g, func(int) string { return tok }, c.conns)
	})
}
