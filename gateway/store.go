package gateway

import (
	"fmt"
	"time"

	"github.com/scopegate/scopegate/config"
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
