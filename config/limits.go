package config

import "time"

// LimitsConfig tunes the usage limits' store (the limits themselves are
// per route: routes[].limits; docs/limits.md).
type LimitsConfig struct {
	// StoreTimeout bounds all the limit store calls of one request: past
	// it the store counts as failed (on_store_error decides), so that no
	// request waits longer on a slow or unreachable Redis. Default 250ms.
	StoreTimeout Duration `yaml:"store_timeout"`
	// Cooldown is how long, after a store failure, requests skip the
	// shared store (fail-closed limits answer 503 at once, fail-open ones
	// count in this replica's memory) before it is tried again. Default 1s.
	Cooldown Duration `yaml:"cooldown"`
}

func (c *Config) applyLimitsDefaults() {
	setDefault(&c.Limits.StoreTimeout, Duration(250*time.Millisecond))
	setDefault(&c.Limits.Cooldown, Duration(time.Second))
}

func (c *Config) validateLimits(v *validator) {
	if c.Limits.StoreTimeout <= 0 {
		v.add("limits.store_timeout", "must be positive")
	}
	if c.Limits.Cooldown < 0 {
		v.add("limits.cooldown", "must not be negative")
	}
}
