package config

import (
	"time"

	"github.com/scopegate/scopegate/gateway/token"
)

// ApplyDefaults fills every zero field that has a documented default.
func (c *Config) ApplyDefaults() {
	s := &c.Server
	setDefault(&s.Listen, "0.0.0.0:8080")
	setDefault(&s.AdminListen, "127.0.0.1:9090")
	setDefault(&s.ReadHeaderTimeout, Duration(10*time.Second))
	setDefault(&s.IdleTimeout, Duration(120*time.Second))
	setDefault(&s.BodyReadTimeout, Duration(30*time.Second))
	setDefault(&s.MaxHeaderBytes, 32<<10)
	setDefault(&s.MaxBodyBytes, 64<<20)
	setDefault(&s.DrainTimeout, Duration(30*time.Second))
	setDefault(&s.MaxTokenBytes, 16<<10)
	setDefault(&s.Realm, "scopegate")
	setDefault(&s.RouteAliases, "refuse")
	if s.TLS.Enabled() {
		setDefault(&s.TLS.MinVersion, "1.2")
		setDefault(&s.TLS.ClientAuth, "none")
	}
	setDefault(&s.TokenCache.MaxEntries, token.DefaultCacheMaxEntries)
	setDefault(&s.TokenCache.MaxBytes, token.DefaultCacheMaxBytes)
	setDefault(&s.IdentityHeaders.Subject, "X-Auth-Subject")
	setDefault(&s.IdentityHeaders.ClientID, "X-Auth-Client-Id")
	setDefault(&s.IdentityHeaders.Scopes, "X-Auth-Scopes")
	c.DPoP.applyDefaults()
	c.applyStateDefaults()
	c.applyIntrospectionDefaults()
	c.applyLimitsDefaults()
	a := &c.Audit
	setDefault(&a.Output, "stdout")
	setDefault(&a.MaxRecordsPerSecond, 1000)
	if a.MaxRecordsPerSecond > 0 {
		setDefault(&a.Burst, 2*a.MaxRecordsPerSecond)
	}
	for i := range c.Issuers {
		is := &c.Issuers[i]
		setDefault(&is.Leeway, Duration(30*time.Second))
		setDefault(&is.RefreshInterval, Duration(15*time.Minute))
		setDefault(&is.MinRefreshInterval, Duration(5*time.Second))
		setDefault(&is.MaxStaleness, Duration(24*time.Hour))
	}
	for name, u := range c.Upstreams {
		setDefault(&u.Timeout, Duration(300*time.Second))
		setDefault(&u.DialTimeout, Duration(5*time.Second))
		setDefault(&u.MaxIdleConns, 256)
		setDefault(&u.UsageDrainTimeout, Duration(30*time.Second))
		setDefault(&u.UsageDrainMaxBytes, 1<<20)
		c.Upstreams[name] = u
	}
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
