package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/scopegate/scopegate/gateway/introspect"
	"github.com/scopegate/scopegate/gateway/token"
)

// IntrospectionConfig makes an issuer's opaque access tokens usable: they
// are introspected (RFC 7662) at its endpoint, and the answer is judged
// like a JWT's claims. See docs/introspection.md.
type IntrospectionConfig struct {
	// Endpoint is the introspection endpoint: https, or http on loopback
	// (or with the issuer's allow_insecure_http). Default: the
	// introspection_endpoint of the issuer's metadata
	// ({issuer}/.well-known/openid-configuration, then
	// oauth-authorization-server), fetched at first use.
	Endpoint string `yaml:"endpoint"`
	// AuthMethod is how the gateway authenticates to the endpoint:
	// client_secret_basic, client_secret_post, private_key_jwt or none
	// (an endpoint protected otherwise, e.g. Hydra's admin port). Default:
	// private_key_jwt when private_key_jwt is set, client_secret_basic
	// when client_secret is, else none.
	AuthMethod string `yaml:"auth_method"`
	// ClientID is the gateway's client id at the issuer. Default none.
	ClientID string `yaml:"client_id"`
	// ClientSecret is its secret, usually "${INTROSPECTION_SECRET}".
	// Default none.
	ClientSecret string `yaml:"client_secret"`
	// PrivateKeyJWT authenticates with a signed assertion (RFC 7523) in
	// place of a secret. Default: absent.
	PrivateKeyJWT *PrivateKeyJWTConfig `yaml:"private_key_jwt"`
	// TokenPrefixes, when set, are the only token prefixes sent to this
	// issuer (Hydra's "ory_at_"): an opaque token carries no iss, and is
	// never sent to an authorization server that may not have issued it.
	// Required when several issuers introspect, and then pairwise not
	// prefixes of one another. Default: every opaque token (one
	// introspecting issuer only).
	TokenPrefixes []string `yaml:"token_prefixes"`
	// Timeout bounds one call, connection included; past it the request
	// gets 503 with Retry-After. Default 2s.
	Timeout Duration `yaml:"timeout"`
	// CacheTTL is how long an active answer is reused (never past the
	// token's exp): the delay before a token revoked at the
	// authorization server is refused. Default 60s.
	CacheTTL Duration `yaml:"cache_ttl"`
	// MaxConcurrency bounds the calls in flight to this issuer; a request
	// that finds no free slot within timeout gets 503. Default 16.
	MaxConcurrency int `yaml:"max_concurrency"`
	// AllowMissingAudience accepts an answer without aud (RFC 7662 makes
	// it optional). Default false: aud must name one of the issuer's
	// audiences, as for a JWT.
	AllowMissingAudience bool `yaml:"allow_missing_audience"`
}

// PrivateKeyJWTConfig is the key that signs client assertions.
type PrivateKeyJWTConfig struct {
	// KeyFile is a PEM private key: RSA, EC P-256/384/521 or Ed25519
	// (PKCS#8, PKCS#1 or SEC 1). Required.
	KeyFile string `yaml:"key_file"`
	// KeyID is the kid of the assertion's header. Default none.
	KeyID string `yaml:"key_id"`
	// Algorithm signs the assertion. Default by key: RS256, ES256/384/512
	// by curve, EdDSA.
	Algorithm string `yaml:"algorithm"`
}

func (c *Config) applyIntrospectionDefaults() {
	for i := range c.Issuers {
		ic := c.Issuers[i].Introspection
		if ic == nil {
			continue
		}
		setDefault(&ic.Timeout, Duration(introspect.DefaultTimeout))
		setDefault(&ic.CacheTTL, Duration(introspect.DefaultCacheTTL))
		setDefault(&ic.MaxConcurrency, introspect.DefaultMaxConcurrency)
		if ic.AuthMethod == "" {
			switch {
			case ic.PrivateKeyJWT != nil:
				ic.AuthMethod = introspect.AuthPrivateKeyJWT
			case ic.ClientSecret != "":
				ic.AuthMethod = introspect.AuthClientSecretBasic
			default:
				ic.AuthMethod = introspect.AuthNone
			}
		}
	}
}

// IntrospectionOptions are the introspecting issuers of c, for
// introspect.New; nil when none introspects.
func (c *Config) IntrospectionOptions() []introspect.IssuerOptions {
	var out []introspect.IssuerOptions
	for i, is := range c.Issuers {
		ic := is.Introspection
		if ic == nil {
			continue
		}
		o := introspect.IssuerOptions{
			Issuer:               is.Issuer,
			Endpoint:             ic.Endpoint,
			AllowInsecureHTTP:    is.AllowInsecureHTTP,
			TokenPrefixes:        ic.TokenPrefixes,
			Timeout:              ic.Timeout.D(),
			CacheTTL:             ic.CacheTTL.D(),
			MaxConcurrency:       ic.MaxConcurrency,
			AllowMissingAudience: ic.AllowMissingAudience,
			ConfigPath:           fmt.Sprintf("issuers[%d].introspection", i),
			Auth:                 introspect.ClientAuth{Method: ic.AuthMethod, ClientID: ic.ClientID, ClientSecret: ic.ClientSecret},
		}
		if k := ic.PrivateKeyJWT; k != nil {
			o.Auth.KeyFile, o.Auth.KeyID, o.Auth.Algorithm = k.KeyFile, k.KeyID, k.Algorithm
		}
		out = append(out, o)
	}
	return out
}

// RouteIntrospects reports whether routes[i] introspects every token
// (routes[].introspect).
func (c *Config) RouteIntrospects(i int) bool {
	return i >= 0 && i < len(c.Routes) && c.Routes[i].Introspect
}

func (c *Config) validateIntrospection(v *validator) {
	opts := c.IntrospectionOptions()
	for i, is := range c.Issuers {
		ic := is.Introspection
		if ic == nil {
			continue
		}
		f := fmt.Sprintf("issuers[%d].introspection", i)
		if ic.Timeout.D() < 0 || ic.Timeout.D() > time.Minute {
			v.add(f+".timeout", "must be between 0 and 1m: a request waits this long at most")
		}
		if ic.CacheTTL.D() < time.Second {
			v.add(f+".cache_ttl", "must be at least 1s (it is the revocation delay; use routes[].introspect for no delay)")
		}
		if ic.MaxConcurrency < 0 {
			v.add(f+".max_concurrency", "must not be negative")
		}
	}
	if len(opts) > 0 {
		err := (&introspect.Options{Issuers: opts, Claims: func(string, map[string]any, bool) (*token.Claims, error) { return nil, nil }}).Validate()
		for _, e := range unjoin(err) {
			field, msg, _ := strings.Cut(e.Error(), ": ")
			v.add(field, "%s", msg)
		}
	}
	for i, r := range c.Routes {
		if !r.Introspect {
			continue
		}
		f := fmt.Sprintf("routes[%d].introspect", i)
		switch {
		case r.Public:
			v.add(f, "a public route takes no token to introspect")
		case len(opts) == 0:
			v.add(f, "no issuer has introspection configured: add issuers[].introspection")
		}
	}
}

// introspectionWarnings are the introspection settings that are valid but
// likely mistakes (see Warnings).
func (c *Config) introspectionWarnings() []string {
	var out []string
	for i, is := range c.Issuers {
		ic := is.Introspection
		if ic == nil {
			continue
		}
		if d := ic.CacheTTL.D(); d > 5*time.Minute {
			out = append(out, fmt.Sprintf("issuers[%d].introspection.cache_ttl is %s: a token revoked at the authorization server stays accepted that long; routes that cannot wait can set introspect: true", i, d))
		}
		if ic.AuthMethod == introspect.AuthNone && ic.Endpoint != "" && !loopbackURL(ic.Endpoint) {
			out = append(out, fmt.Sprintf("issuers[%d].introspection: auth_method none on a non-loopback endpoint: whoever reaches it can test tokens; keep it on a private network (as Hydra's admin port) or authenticate", i))
		}
	}
	return out
}

func loopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}
