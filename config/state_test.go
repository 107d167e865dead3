package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStateConfigDefaults(t *testing.T) {
	cfg, err := Parse([]byte(minimal+`
state:
  redis:
    url: "rediss://cache.internal:6380/2"
    password: "${REDIS_PASSWORD}"
`), func(k string) (string, bool) { return "s3cret", k == "REDIS_PASSWORD" })
	if err != nil {
		t.Fatal(err)
	}
	r, rc := cfg.Revocation, cfg.State.Redis
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"failure_mode", r.FailureMode, FailOpen},
		{"resync_interval", r.ResyncInterval.D(), 10 * time.Second},
		{"max_lag", r.MaxLag.D(), 30 * time.Second},
		{"store_timeout", r.StoreTimeout.D(), time.Second},
		{"jti_ttl", r.JTITTL.D(), 24 * time.Hour},
		{"password from env", rc.Password, "s3cret"},
		{"dial_timeout", rc.DialTimeout.D(), 2 * time.Second},
		{"read_timeout", rc.ReadTimeout.D(), 500 * time.Millisecond},
		{"key_prefix", rc.KeyPrefix, "scopegate:"},
		{"admin off", cfg.Admin.Token, ""},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v; want %v", c.name, c.got, c.want)
		}
	}
	if plain, _ := Parse([]byte(minimal), noEnv); plain.State.Redis != nil {
		t.Error("state.redis set without a state key; want the in-memory store")
	}
}

func TestStateConfigProblems(t *testing.T) {
	for _, c := range []struct{ name, yaml, key string }{
		{"no url", "state: {redis: {}}", "state.redis.url"},
		{"http url", `state: {redis: {url: "http://x:6379"}}`, "state.redis.url"},
		{"no host", `state: {redis: {url: "redis://"}}`, "state.redis.url"},
		{"negative pool", `state: {redis: {url: "redis://x:6379", pool_size: -1}}`, "state.redis.pool_size"},
		{"cert without key", `state: {redis: {url: "redis://x:6379", tls: {cert_file: /a.pem}}}`, "state.redis.tls"},
		{"glob prefix", `state: {redis: {url: "redis://x:6379", key_prefix: "a*"}}`, "state.redis.key_prefix"},
		{"unknown key", `state: {redis: {url: "redis://x:6379", db: 3}}`, "state.redis.db"},
		{"bad failure mode", "revocation: {failure_mode: closed}", "revocation.failure_mode"},
		{"negative resync", "revocation: {resync_interval: -1s}", "revocation.resync_interval"},
		{"lag below resync", "revocation: {resync_interval: 1m, max_lag: 10s}", "revocation.max_lag"},
		{"short admin token", "admin: {token: short}", "admin.token"},
		{"signals without audience", "shared_signals: {authorization: 'Bearer 0123456789abcdef'}", "shared_signals.audience"},
		{"signals of an unknown issuer", "shared_signals: {audience: a, issuers: ['https://idp.other']}", "shared_signals.issuers[0]"},
		{"short push secret", "shared_signals: {audience: a, authorization: short}", "shared_signals.authorization"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(minimal+c.yaml+"\n"), noEnv)
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("err = %v; want Problems naming %s", err, c.key)
			}
			for _, p := range ps {
				if p.Field == c.key || strings.HasPrefix(p.Field, c.key) {
					return
				}
			}
			t.Fatalf("problems %v; want one naming %s", ps, c.key)
		})
	}
}
