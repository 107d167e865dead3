package gateway

import (
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/limits"
	"github.com/scopegate/scopegate/state"
)

// openStore builds the store the config names; an in-memory store runs on
// the clock now (Redis keeps its own time).
func openStore(cfg config.StateConfig, now func() time.Time) (state.Store, error) {
	rc := cfg.Redis
	if rc == nil {
		return state.NewMemory(now), nil
	}
	o := state.RedisOptions{URL: rc.URL, Username: rc.Username, Password: rc.Password,
		DialTimeout: rc.DialTimeout.D(), ReadTimeout: rc.ReadTimeout.D(), WriteTimeout: rc.WriteTimeout.D(),
		PoolSize: rc.PoolSize, KeyPrefix: rc.KeyPrefix}
	t := rc.TLS
	if t.Enabled || t.CAFile != "" || t.CertFile != "" || t.ServerName != "" {
		tc, err := state.TLSFiles(t.CAFile, t.CertFile, t.KeyFile, t.ServerName)
		if err != nil {
			return nil, err
		}
		o.TLS = tc
	}
	s, err := state.NewRedis(o)
	if err != nil {
		return nil, fmt.Errorf("state.redis: %w", err)
	}
	return s, nil
}

// errStoreChanged refuses a reload that names another state store.
var errStoreChanged = errors.New("state: the store is chosen at start; restart to change it")

func sameStateConfig(a, b config.StateConfig) bool {
	if (a.Redis == nil) != (b.Redis == nil) {
		return false
	}
	return a.Redis == nil || *a.Redis == *b.Redis
}

// openState opens the state store the config names, unless Deps.State
// gave one; features built with the runtime (DPoP) use g.deps.State.
func (g *Gateway) openState(cfg *config.Config) error {
	if g.deps.State != nil {
		g.store = g.deps.State
		return nil
	}
	s, err := openStore(cfg.State, g.now)
	if err != nil {
		return err
	}
	g.store, g.ownStore, g.deps.State = s, true, s
	return nil
}

// sharedLimitStore puts the usage limits' counters in the state store's
// Redis, when it is one and Deps gave no limit store: N replicas then
// enforce one limit.
func (g *Gateway) sharedLimitStore() {
	if g.deps.LimitStore != nil {
		return
	}
	if r, ok := g.store.(interface {
		Scripter() (redis.Scripter, string)
	}); ok {
		c, prefix := r.Scripter()
		g.limitStore = limits.NewRedis(c, prefix+"limit:")
	}
}

// startRevocation starts the revocation mirror; the runtime must be in
// place.
func (g *Gateway) startRevocation() error {
	var r *revoker
	m, err := newRevocationMetrics(g.deps.Registerer, func() float64 { return r.lag() })
	if err != nil {
		return err
	}
	cfgFn := func() config.RevocationConfig { return g.runtime.Load().cfg.Revocation }
	r = newRevoker(g.store, g.logger.Named("revocation"), g.now, cfgFn, m)
	g.revoker = r
	r.start(g.ctx)
	return nil
}

// closeState stops the mirror and closes a store the gateway opened.
func (g *Gateway) closeState() {
	if g.revoker != nil {
		g.revoker.stop()
	}
	if g.ownStore && g.store != nil {
		_ = g.store.Close()
	}
}

// Store is the gateway's shared state store, for features that keep
// state shared by replicas.
func (g *Gateway) Store() state.Store { return g.store }
