package token

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Defaults applied to zero-valued fields.
const (
	DefaultLeeway             = 30 * time.Second
	DefaultRefreshInterval    = 15 * time.Minute
	DefaultMinRefreshInterval = 5 * time.Second
	DefaultMaxStaleness       = 24 * time.Hour
	DefaultMaxTokenBytes      = 16 << 10
)

// DefaultAlgorithms are the asymmetric JWS algorithms accepted when an issuer
// lists none. It is also the universe of algorithms an issuer may list: none
// and the HMAC family are never accepted. Do not modify it.
var DefaultAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// IssuerConfig is one trusted issuer.
type IssuerConfig struct {
	// Issuer must equal the token's iss exactly (no normalisation of case or
	// trailing slash). Required.
	Issuer string
	// JWKSURI is where the issuer's keys are fetched. "" = discover it from
	// {Issuer}/.well-known/openid-configuration; the discovered issuer must
	// equal Issuer.
	JWKSURI string
	// Audiences is required: the token's aud (string or array) must contain
	// one of them.
	Audiences []string
	// Algorithms is the allowlist of JWS algorithms. nil/empty =
	// DefaultAlgorithms. Only members of DefaultAlgorithms are accepted.
	Algorithms []string
	// RequireATJWT requires the typ header at+jwt or application/at+jwt
	// (RFC 9068). false = typ may also be absent or JWT.
	RequireATJWT bool
	// AllowedClients, if not empty, requires the client id (see
	// ClientIDClaims; default client_id, else azp) to be one of them.
	// Empty = any client.
	AllowedClients []string
	// ScopeClaims names further claims whose values are granted as scopes,
	// merged after scope and scp: e.g. Keycloak's "realm_access.roles",
	// Entra's "roles", Zitadel's "urn:zitadel:iam:org:project:roles" (an
	// object: its member names are taken), or a namespaced claim. Each is a dotted path or a
	// JSON Pointer (see ParseClaimPath). Empty = scope and scp only.
	ScopeClaims []string
	// Leeway is the clock skew tolerated for exp, nbf and iat. 0 =
	// DefaultLeeway (30s); negative is a configuration error.
	Leeway time.Duration
	// RefreshInterval is the period of the background JWKS refresh. 0 = 15m.
	RefreshInterval time.Duration
	// MinRefreshInterval is the minimum gap between two refreshes triggered by
	// an unknown kid. 0 = 5s.
	MinRefreshInterval time.Duration
	// MaxStaleness is how long keys stay usable after the last successful
	// fetch while refreshes fail. 0 = 24h.
	MaxStaleness time.Duration
	// AllowInsecureHTTP allows http:// issuer and JWKS URLs on hosts that are
	// not loopback. false = https is required except on 127.0.0.0/8, ::1 and
	// localhost.
	AllowInsecureHTTP bool
	// ClientIDClaims names the claims that carry the client id, tried in
	// order; the first non-empty one wins. nil/empty = DefaultClientIDClaims
	// (client_id, azp). E.g. Okta uses "cid", Entra v1 "appid".
	ClientIDClaims []string
	// AcceptClientIDAsAudience lets a token without an aud claim pass the
	// audience check when its client id (see ClientIDClaims) is one of
	// Audiences: Amazon Cognito access tokens carry no aud, only client_id.
	// A token that has an aud claim is always judged by it. false = a token
	// without aud is refused.
	AcceptClientIDAsAudience bool
	// RequiredClaims are claims that must be present as strings with exactly
	// these values, e.g. {"token_use": "access"} (Cognito) or {"typ":
	// "Bearer"} (Keycloak). nil = none required.
	RequiredClaims map[string]string
	// MachineClaims mark a machine token (Claims.Machine) when any of
	// these claims equals its value (or, an array, contains it), beyond
	// the providers' own markers (isMachineToken). nil = none.
	MachineClaims map[string]string
}

// DefaultClientIDClaims are the claims that name the client when an
// IssuerConfig lists none. Do not modify.
var DefaultClientIDClaims = []string{"client_id", "azp"}

// Options configure a Verifier.
type Options struct {
	// Issuers are the trusted issuers; at least one, each Issuer unique.
	Issuers []IssuerConfig
	// Client is used for discovery and JWKS fetches. nil = NewHTTPClient().
	// Whatever the client, redirects are not followed and response bodies
	// over 1 MiB are refused.
	Client *http.Client
	// Now is the clock for exp/nbf/iat and key staleness. nil = time.Now.
	Now func() time.Time
	// Logger receives key-management events. nil = zap.NewNop().
	Logger *zap.Logger
	// MaxTokenBytes: longer tokens are refused before any parsing. 0 = 16 KiB.
	MaxTokenBytes int
	// Previous, if set, is the Verifier this one replaces on a config reload.
	// The key sets of issuers whose (Issuer, JWKSURI, AllowInsecureHTTP) are
	// unchanged are taken over instead of refetched, so a reload never causes
	// a cold start. Previous.Close() afterwards does not stop them.
	Previous *Verifier
	// OnRefresh, if set, is called after every JWKS fetch attempt (including
	// discovery failures), e.g. for metrics. It must not block.
	OnRefresh func(issuer string, unknownKID bool, err error)
	// Cache bounds the verified-token cache. The zero value means no cache.
	Cache CacheConfig
}

// validate collects every configuration problem, each naming its field.
func (o *Options) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if len(o.Issuers) == 0 {
		bad("issuers", "at least one issuer is required")
	}
	if o.MaxTokenBytes < 0 {
		bad("max_token_bytes", "must not be negative")
	}
	if o.Cache.MaxEntries < 0 {
		bad("token_cache.max_entries", "must not be negative")
	}
	if o.Cache.MaxBytes < 0 {
		bad("token_cache.max_bytes", "must not be negative")
	}
	seen := map[string]int{}
	for i, ic := range o.Issuers {
		f := func(name string) string { return fmt.Sprintf("issuers[%d].%s", i, name) }
		if ic.Issuer == "" {
			bad(f("issuer"), "required")
		} else if err := checkURL(ic.Issuer, ic.AllowInsecureHTTP); err != nil {
			bad(f("issuer"), "%v", err)
		} else if j, dup := seen[ic.Issuer]; dup {
			bad(f("issuer"), "duplicate of issuers[%d]", j)
		} else {
			seen[ic.Issuer] = i
		}
		if ic.JWKSURI != "" {
			if err := checkURL(ic.JWKSURI, ic.AllowInsecureHTTP); err != nil {
				bad(f("jwks_uri"), "%v", err)
			}
		}
		if len(ic.Audiences) == 0 {
			bad(f("audiences"), "at least one audience is required")
		}
		if slices.Contains(ic.Audiences, "") {
			bad(f("audiences"), "an audience must not be empty")
		}
		for _, p := range ic.ScopeClaims {
			if _, err := ParseClaimPath(p); err != nil {
				bad(f("scope_claims"), "%v", err)
			}
		}
		if slices.Contains(ic.AllowedClients, "") {
			bad(f("allowed_clients"), "a client id must not be empty")
		}
		if slices.Contains(ic.ClientIDClaims, "") {
			bad(f("client_id_claims"), "a claim name must not be empty")
		}
		for name, want := range ic.RequiredClaims {
			if name == "" || want == "" {
				bad(f("required_claims"), "claim names and values must not be empty")
			}
		}
		for _, a := range ic.Algorithms {
			switch {
			case strings.EqualFold(a, "none"):
				bad(f("algorithms"), "%q is never accepted", a)
			case len(a) >= 2 && strings.EqualFold(a[:2], "HS"):
				bad(f("algorithms"), "%q: symmetric algorithms are never accepted", a)
			case !slices.Contains(DefaultAlgorithms, a):
				bad(f("algorithms"), "%q is not supported; use some of %s", a, strings.Join(DefaultAlgorithms, ", "))
			}
		}
		for _, d := range []struct {
			name string
			v    time.Duration
		}{{"leeway", ic.Leeway}, {"refresh_interval", ic.RefreshInterval}, {"min_refresh_interval", ic.MinRefreshInterval}, {"max_staleness", ic.MaxStaleness}} {
			if d.v < 0 {
				bad(f(d.name), "must not be negative")
			}
		}
	}
	return errors.Join(errs...)
}

// withDefaults returns a copy with zero values replaced by their defaults.
func (ic IssuerConfig) withDefaults() IssuerConfig {
	if len(ic.Algorithms) == 0 {
		ic.Algorithms = DefaultAlgorithms
	}
	ic.Algorithms = slices.Clone(ic.Algorithms)
	ic.Audiences = slices.Clone(ic.Audiences)
	ic.AllowedClients = slices.Clone(ic.AllowedClients)
	ic.ScopeClaims = slices.Clone(ic.ScopeClaims)
	if len(ic.ClientIDClaims) == 0 {
		ic.ClientIDClaims = DefaultClientIDClaims
	}
	ic.ClientIDClaims = slices.Clone(ic.ClientIDClaims)
	ic.RequiredClaims = maps.Clone(ic.RequiredClaims)
	if ic.Leeway == 0 {
		ic.Leeway = DefaultLeeway
	}
	if ic.RefreshInterval == 0 {
		ic.RefreshInterval = DefaultRefreshInterval
	}
	if ic.MinRefreshInterval == 0 {
		ic.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if ic.MaxStaleness == 0 {
		ic.MaxStaleness = DefaultMaxStaleness
	}
	return ic
}

// checkURL requires an absolute http(s) URL without userinfo or fragment,
// and https unless the host is loopback or allowInsecure is set.
func checkURL(raw string, allowInsecure bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("must be an absolute URL with a host")
	}
	if u.User != nil {
		return errors.New("must not contain user information")
	}
	if u.Fragment != "" {
		return errors.New("must not contain a fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowInsecure || isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("http:// is only allowed on loopback hosts; use https or set allow_insecure_http")
	default:
		return fmt.Errorf("scheme %q is not allowed; use https", u.Scheme)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// NewHTTPClient returns the client used when Options.Client is nil: 10s
// overall timeout, no redirects followed, response bodies over 1 MiB refused,
// no proxy-from-environment surprises beyond http.DefaultTransport's.
func NewHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  10 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return boundClient(&http.Client{Transport: tr, Timeout: 10 * time.Second})
}

// maxBodyBytes bounds discovery documents and JWKS.
const maxBodyBytes = 1 << 20

var errBodyTooLarge = errors.New("response body exceeds 1 MiB")

// boundClient returns a shallow copy of c that never follows redirects and
// refuses response bodies over maxBodyBytes, whatever c's own settings.
func boundClient(c *http.Client) *http.Client {
	cc := *c
	base := cc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	if _, ok := base.(limitTransport); !ok {
		cc.Transport = limitTransport{base: base}
	}
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if cc.Timeout == 0 {
		cc.Timeout = 10 * time.Second
	}
	return &cc
}

type limitTransport struct{ base http.RoundTripper }

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > maxBodyBytes {
		resp.Body.Close()
		return nil, errBodyTooLarge
	}
	resp.Body = &limitBody{ReadCloser: resp.Body, left: maxBodyBytes}
	return resp, nil
}

type limitBody struct {
	io.ReadCloser
	left int64
}

func (b *limitBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, errBodyTooLarge
	}
	return n, err
}
