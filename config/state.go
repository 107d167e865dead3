package config

import (
	"net/url"
	"strings"
	"time"
)

// StateConfig chooses where shared state (revocations, and what other
// features keep there) lives. It is chosen at start: a reload naming
// another store is refused.
type StateConfig struct {
	// Redis, when set, keeps the state in Redis (or Valkey), shared by
	// every replica using it. Default: absent, an in-memory store (one
	// replica: several replicas share nothing).
	Redis *RedisConfig `yaml:"redis"`
}

// RedisConfig is the Redis store's connection.
type RedisConfig struct {
	// URL is redis://host:port[/db], or rediss://... for TLS. Required.
	URL string `yaml:"url"`
	// Username for Redis ACLs. Default: the URL's, else none.
	Username string `yaml:"username"`
	// Password, usually "${REDIS_PASSWORD}". Default: the URL's, else none.
	Password string `yaml:"password"`
	// TLS of the connection; set (or use rediss://) to encrypt.
	TLS RedisTLSConfig `yaml:"tls"`
	// DialTimeout bounds connecting. Default 2s.
	DialTimeout Duration `yaml:"dial_timeout"`
	// ReadTimeout bounds a command's socket reads. Default 500ms.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds a command's socket writes. Default 500ms.
	WriteTimeout Duration `yaml:"write_timeout"`
	// PoolSize is the number of connections kept. Default 10 per CPU.
	PoolSize int `yaml:"pool_size"`
	// KeyPrefix goes before every key and channel. Default "scopegate:".
	KeyPrefix string `yaml:"key_prefix"`
}

// RedisTLSConfig is the client side of TLS to Redis.
type RedisTLSConfig struct {
	// Enabled turns TLS on for a redis:// URL. Default false (rediss://
	// turns it on too).
	Enabled bool `yaml:"enabled"`
	// CAFile verifies the server. Default: the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate (mutual TLS).
	// Default none.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name verified in the server's certificate.
	// Default: the URL's host.
	ServerName string `yaml:"server_name"`
}

// AdminConfig secures the admin listener's API (the revocation API).
// /metrics, /healthz and /readyz stay open: keep the listener private.
type AdminConfig struct {
	// Token is the bearer token the admin API requires, compared in
	// constant time; usually "${SCOPEGATE_ADMIN_TOKEN}", at least 32
	// characters. Default "": the admin API is off (404), never open.
	Token string `yaml:"token"`
}

// RevocationConfig tunes the revocation list (docs/revocation.md).
type RevocationConfig struct {
	// FailureMode is what a request meets while the local mirror of the
	// revocation list cannot be kept in sync with the store (for longer
	// than MaxLag): "fail_open" serves it, checked against the last
	// mirror held, counted in scopegate_revocation_unchecked_total and
	// alerted on; "fail_closed" answers 503 with Retry-After. Default
	// "fail_open".
	FailureMode string `yaml:"failure_mode"`
	// ResyncInterval is how often the mirror is read whole from the store,
	// besides the change notifications. Default 10s.
	ResyncInterval Duration `yaml:"resync_interval"`
	// MaxLag is how old the last successful sync may be before the mirror
	// counts as out of sync (FailureMode applies). Default 30s.
	MaxLag Duration `yaml:"max_lag"`
	// StoreTimeout bounds each store call of a sync and of the admin API.
	// Requests never wait on the store. Default 1s.
	StoreTimeout Duration `yaml:"store_timeout"`
	// JTITTL is how long a jti entry is kept when the revocation names no
	// expiry: set it to the longest access-token lifetime of your
	// issuers. Default 24h.
	JTITTL Duration `yaml:"jti_ttl"`
}

// Failure modes of RevocationConfig.FailureMode.
const (
	FailOpen   = "fail_open"
	FailClosed = "fail_closed"
)

func (c *Config) applyStateDefaults() {
	r := &c.Revocation
	setDefault(&r.FailureMode, FailOpen)
	setDefault(&r.ResyncInterval, Duration(10*time.Second))
	setDefault(&r.MaxLag, Duration(30*time.Second))
	setDefault(&r.StoreTimeout, Duration(time.Second))
	setDefault(&r.JTITTL, Duration(24*time.Hour))
	if rc := c.State.Redis; rc != nil {
		setDefault(&rc.DialTimeout, Duration(2*time.Second))
		setDefault(&rc.ReadTimeout, Duration(500*time.Millisecond))
		setDefault(&rc.WriteTimeout, Duration(500*time.Millisecond))
		setDefault(&rc.KeyPrefix, "scopegate:")
	}
}

func (c *Config) validateState(v *validator) {
	r := c.Revocation
	if r.FailureMode != FailOpen && r.FailureMode != FailClosed {
		v.add("revocation.failure_mode", "must be %q or %q", FailOpen, FailClosed)
	}
	for _, f := range []struct {
		name string
		d    Duration
	}{{"revocation.resync_interval", r.ResyncInterval}, {"revocation.max_lag", r.MaxLag},
		{"revocation.store_timeout", r.StoreTimeout}, {"revocation.jti_ttl", r.JTITTL}} {
		if f.d <= 0 {
			v.add(f.name, "must be positive")
		}
	}
	if r.MaxLag > 0 && r.MaxLag < r.ResyncInterval {
		v.add("revocation.max_lag", "must be at least revocation.resync_interval (%s)", r.ResyncInterval.D())
	}
	if t := c.Admin.Token; t != "" && len(t) < 32 {
		v.add("admin.token", "must be at least 32 characters (e.g. openssl rand -hex 32)")
	}
	rc := c.State.Redis
	if rc == nil {
		return
	}
	u, err := url.Parse(rc.URL)
	switch {
	case rc.URL == "":
		v.add("state.redis.url", "is required: redis://host:6379/0 or rediss://... for TLS")
	case err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "":
		v.add("state.redis.url", "must be redis://host:port[/db] or rediss://host:port[/db]")
	}
	for _, f := range []struct {
		name string
		d    Duration
	}{{"state.redis.dial_timeout", rc.DialTimeout}, {"state.redis.read_timeout", rc.ReadTimeout}, {"state.redis.write_timeout", rc.WriteTimeout}} {
		if f.d <= 0 {
			v.add(f.name, "must be positive")
		}
	}
	if rc.PoolSize < 0 {
		v.add("state.redis.pool_size", "must not be negative")
	}
	if (rc.TLS.CertFile == "") != (rc.TLS.KeyFile == "") {
		v.add("state.redis.tls", "cert_file and key_file go together")
	}
	if strings.ContainsAny(rc.KeyPrefix, "*?[]\\ \r\n") {
		v.add("state.redis.key_prefix", "must not contain glob characters, spaces or line breaks")
	}
}
