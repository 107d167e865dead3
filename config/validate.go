package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/internal/header"
)

// validate runs every schema check, adding each problem to v, each
// naming its key, its line when known, and how to fix it. It expects
// ApplyDefaults to have run; the routes are checked by compiling them
// (compileRoutes).
func (c *Config) validate(v *validator) {
	c.validateServer(v)
	c.validateIssuers(v)
	c.validateUpstreams(v)
	c.validateAudit(v)
	c.validateResourceMetadata(v)
	c.validateSender(v)
	c.validateTracing(v)
	c.validateState(v)
	c.validateSignals(v)
	c.validateIntrospection(v)
	c.validateLimits(v)
}

type validator struct {
	cfg *Config
	ps  Problems
}

func (v *validator) add(field, format string, args ...any) {
	v.ps = append(v.ps, Problem{Field: field, Line: v.cfg.lineOf(field), Message: fmt.Sprintf(format, args...)})
}

func (c *Config) validateServer(v *validator) {
	s := c.Server
	if s.BodyReadTimeout.D() < 0 {
		v.add("server.body_read_timeout", "must be positive")
	}
	if s.RouteAliases != "refuse" && s.RouteAliases != "allow" {
		v.add("server.route_aliases", "%q is neither refuse nor allow", s.RouteAliases)
	}
	checkAddr(v, "server.listen", s.Listen)
	checkAddr(v, "server.admin_listen", s.AdminListen)
	if _, port, _ := net.SplitHostPort(s.Listen); s.Listen == s.AdminListen && port != "0" {
		v.add("server.admin_listen", "must differ from server.listen: the admin endpoints never share the proxy listener")
	}
	for _, f := range []struct {
		name string
		d    Duration
	}{{"server.read_header_timeout", s.ReadHeaderTimeout}, {"server.idle_timeout", s.IdleTimeout}, {"server.drain_timeout", s.DrainTimeout}} {
		if f.d < 0 {
			v.add(f.name, "must not be negative")
		}
	}
	if s.MaxHeaderBytes < 1024 {
		v.add("server.max_header_bytes", "must be at least 1024")
	}
	if s.MaxBodyBytes < 0 {
		v.add("server.max_body_bytes", "must not be negative")
	}
	if s.TokenCache.MaxEntries < 0 {
		v.add("server.token_cache.max_entries", "must not be negative (set disabled: true to turn the cache off)")
	}
	if s.TokenCache.MaxBytes < 0 {
		v.add("server.token_cache.max_bytes", "must not be negative")
	}
	if s.MaxTokenBytes < 256 {
		v.add("server.max_token_bytes", "must be at least 256")
	}
	for i, p := range s.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			v.add(fmt.Sprintf("server.trusted_proxies[%d]", i), "%q is neither an IP address nor a CIDR such as 10.0.0.0/8", p)
		}
	}
	if strings.ContainsAny(s.Realm, "\"\\") || !header.ValidValue(s.Realm) {
		v.add("server.realm", "must not contain quotes, backslashes or control characters")
	}
	validateTLS(v, s.TLS)
	seen := map[string]string{}
	for _, h := range []struct{ field, name string }{
		{"server.identity_headers.subject", s.IdentityHeaders.Subject},
		{"server.identity_headers.client_id", s.IdentityHeaders.ClientID},
		{"server.identity_headers.scopes", s.IdentityHeaders.Scopes},
	} {
		if !header.IsToken(h.name) || strings.Contains(h.name, "_") {
			v.add(h.field, "%q is not a valid header name (letters, digits and dashes)", h.name)
			continue
		}
		key := header.Norm(h.name)
		if other, ok := seen[key]; ok {
			v.add(h.field, "%q is already used by %s", h.name, other)
		}
		if header.Reserved[key] {
			v.add(h.field, "%q is a header the gateway manages itself; choose another name", h.name)
		}
		seen[key] = h.field
	}
}

func checkAddr(v *validator, field, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		v.add(field, "%q is not a host:port address such as \"127.0.0.1:8080\"", addr)
		return
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			v.add(field, "host %q must be an IP address or localhost", host)
		}
	}
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func (c *Config) validateIssuers(v *validator) {
	seen := map[string]int{}
	for i, is := range c.Issuers {
		f := fmt.Sprintf("issuers[%d]", i)
		if is.Issuer == "" {
			v.add(f+".issuer", "is required: the exact iss of the tokens, e.g. \"https://idp.example.com\"")
		} else {
			if j, ok := seen[is.Issuer]; ok {
				v.add(f+".issuer", "%q is already configured as issuers[%d]", is.Issuer, j)
			}
			seen[is.Issuer] = i
			if err := token.CheckURL(is.Issuer, is.AllowInsecureHTTP); err != nil {
				v.add(f+".issuer", "%v", err)
			}
		}
		if is.JWKSURI != "" {
			if err := token.CheckURL(is.JWKSURI, is.AllowInsecureHTTP); err != nil {
				v.add(f+".jwks_uri", "%v", err)
			}
		}
		if len(is.Audiences) == 0 {
			v.add(f+".audiences", "at least one audience is required: the token's aud must contain one (e.g. \"https://models.example.com\")")
		}
		for j, a := range is.Audiences {
			if strings.TrimSpace(a) == "" {
				v.add(fmt.Sprintf("%s.audiences[%d]", f, j), "must not be empty")
			}
		}
		for j, p := range is.ScopeClaims {
			if _, err := token.ParseClaimPath(p); err != nil {
				v.add(fmt.Sprintf("%s.scope_claims[%d]", f, j), "%v", err)
			}
		}
		for j, a := range is.Algorithms {
			if !token.SupportedAlgorithm(a) {
				v.add(fmt.Sprintf("%s.algorithms[%d]", f, j), "%q is not allowed; use asymmetric JWS algorithms: %s", a, strings.Join(token.DefaultAlgorithms, ", "))
			}
		}
		for _, d := range []struct {
			name string
			d    Duration
		}{{"leeway", is.Leeway}, {"refresh_interval", is.RefreshInterval}, {"min_refresh_interval", is.MinRefreshInterval}, {"max_staleness", is.MaxStaleness}} {
			if d.d < 0 {
				v.add(f+"."+d.name, "must not be negative")
			}
		}
		for j, n := range is.ClientIDClaims {
			if strings.TrimSpace(n) == "" {
				v.add(fmt.Sprintf("%s.client_id_claims[%d]", f, j), "must not be empty: a claim name such as \"cid\"")
			}
		}
		for name, want := range is.RequiredClaims {
			if name == "" || want == "" {
				v.add(f+".required_claims", "claim names and values must not be empty, e.g. {token_use: access}")
			}
		}
		if is.Leeway.D() > 5*60e9 {
			v.add(f+".leeway", "%s is more than 5m; clock skew should be seconds", is.Leeway.D())
		}
	}
}

func (c *Config) validateUpstreams(v *validator) {
	for _, name := range c.UpstreamNames() {
		u := c.Upstreams[name]
		f := "upstreams." + name
		if u.URL == "" {
			v.add(f+".url", "is required, e.g. \"http://127.0.0.1:8000\"")
		} else if pu, err := url.Parse(u.URL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			v.add(f+".url", "%q is not an http:// or https:// URL with a host", u.URL)
		} else if pu.RawQuery != "" || pu.Fragment != "" || pu.User != nil {
			v.add(f+".url", "must not carry a query, fragment or user info")
		}
		for h, val := range u.Headers {
			hf := f + ".headers." + h
			if !header.IsToken(h) || strings.Contains(h, "_") {
				v.add(hf, "%q is not a valid header name", h)
			} else if k := header.Norm(h); header.Reserved[k] && k != "authorization" {
				v.add(hf, "%q is managed by the gateway and cannot be set here", h)
			}
			if !header.ValidValue(val) {
				v.add(hf, "the value contains control characters")
			}
		}
		if u.Timeout < 0 || u.DialTimeout < 0 || u.UsageDrainTimeout < 0 {
			v.add(f, "timeouts must not be negative")
		}
		if u.MaxIdleConns < 0 {
			v.add(f+".max_idle_conns", "must not be negative")
		}
		if u.UsageDrainMaxBytes < 0 {
			v.add(f+".usage_drain_max_bytes", "must not be negative")
		}
	}
}

// UpstreamNames returns the upstreams' names, sorted.
func (c *Config) UpstreamNames() []string {
	names := make([]string, 0, len(c.Upstreams))
	for n := range c.Upstreams {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

func sortProblems(ps Problems) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Field < ps[j].Field
	})
}

func (c *Config) validateAudit(v *validator) {
	a := c.Audit
	switch out := a.Output; {
	case out == "stdout" || out == "stderr":
	case out == "" || !filepath.IsAbs(out):
		v.add("audit.output", "%q is neither stdout, stderr nor an absolute file path", out)
	case strings.HasSuffix(out, "/"):
		v.add("audit.output", "%q names a directory: name a file", out)
	}
	if a.MaxRecordsPerSecond < -1 || a.MaxRecordsPerSecond == 0 {
		v.add("audit.max_records_per_second", "must be positive, or -1 for no cap")
	}
	if a.MaxRecordsPerSecond > 0 && a.Burst < 1 {
		v.add("audit.burst", "must be at least 1")
	}
	if a.MaxRecordsPerSecond == -1 && a.Burst != 0 {
		v.add("audit.burst", "has no meaning without a cap: remove it, or set max_records_per_second")
	}
	if d := a.FlushInterval.D(); d < 0 || d > 10*time.Second {
		v.add("audit.flush_interval", "must be between 0 (write each record at once) and 10s")
	}
}

func validateTLS(v *validator, c TLSConfig) {
	if !c.Enabled() {
		return
	}
	if c.CertFile == "" || c.KeyFile == "" {
		v.add("server.tls", "cert_file and key_file go together: set both, or neither for plain HTTP")
		return
	}
	if _, ok := tlsVersions[c.MinVersion]; !ok {
		v.add("server.tls.min_version", "%q is not accepted; write \"1.2\" or \"1.3\"", c.MinVersion)
	}
	if _, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil {
		v.add("server.tls.cert_file", "cannot load the certificate and key: %v", err)
	}
}
