package gateway

import (
	"context"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/limits"
)

// guardLimitStore wraps a limit store other than the in-memory one in a
// breaker (limits.cooldown, read at start), and makes the local store
// fail-open limits count in while it fails.
func (g *Gateway) guardLimitStore(cfg config.LimitsConfig) {
	g.localLimits = limits.NewMemory()
	if _, ok := g.limitStore.(*limits.Memory); ok {
		return
	}
	g.limitStore = limits.NewBreaker(g.limitStore, cfg.Cooldown.D(), g.now)
}

// limitCtx bounds all the limit store calls of one request by
// limits.store_timeout. The in-memory store never waits: it gets ctx as
// is, which spares the cache-hit path a timer per request.
func (g *Gateway) limitCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := g.limitStore.(*limits.Memory); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, g.runtime.Load().cfg.Config.Limits.StoreTimeout.D())
}
