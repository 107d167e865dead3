package introspect

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/state"
)

// Defaults applied to zero-valued fields.
const (
	// DefaultTimeout bounds one introspection call, connection included.
	DefaultTimeout = 2 * time.Second
	// DefaultCacheTTL is how long an active answer is reused: the delay
	// before a token revoked at the authorization server is refused.
	DefaultCacheTTL = 60 * time.Second
	// DefaultMaxConcurrency bounds the calls in flight to one issuer.
	DefaultMaxConcurrency = 16
	// DefaultLocalEntries bounds this replica's cache of decoded answers.
	DefaultLocalEntries = 10000
	// MaxResponseBytes caps an introspection response body.
	MaxResponseBytes = 64 << 10
)

// Client authentication methods at the introspection endpoint (RFC 7662
// section 2.1 requires some; RFC 6749 and RFC 7523 define these).
const (
	AuthNone              = "none" // the endpoint is protected otherwise (Hydra's admin port)
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
)

// ErrUnavailable wraps every technical failure of introspection: a
// timeout, a refused connection, a redirect, a non-200 status, a body
// that is too large or not a JSON object with a boolean active, a
// discovery failure, or no free slot in time. It is neither active nor
// inactive: answer 503 with Retry-After.
var ErrUnavailable = errors.New("introspection unavailable")

// IssuerOptions configure introspection at one issuer.
type IssuerOptions struct {
	// Issuer is the issuer identifier, as in the token verifier's config.
	// Required.
	Issuer string
	// Endpoint is the introspection endpoint. "" = introspection_endpoint
	// of {Issuer}/.well-known/openid-configuration, else of
	// {Issuer}/.well-known/oauth-authorization-server, fetched at first
	// use (and again after a failure, at most every few seconds).
	Endpoint string
	// AllowInsecureHTTP permits an http:// endpoint that is not loopback.
	// false = https, or http on 127.0.0.0/8, ::1 and localhost.
	AllowInsecureHTTP bool
	// Auth is how the gateway authenticates to the endpoint.
	Auth ClientAuth
	// TokenPrefixes, when set, are the only token prefixes this issuer
	// introspects: a token with none of them is not sent to it. Required
	// (and pairwise not prefixes of one another) when several issuers
	// introspect, so that a token is never sent to an authorization
	// server that did not issue it. nil = every opaque token, allowed
	// only for a single introspecting issuer.
	TokenPrefixes []string
	// Timeout bounds one call. 0 = DefaultTimeout.
	Timeout time.Duration
	// CacheTTL bounds how long an active answer is reused (never past the
	// token's exp). 0 = DefaultCacheTTL.
	CacheTTL time.Duration
	// MaxConcurrency bounds the calls in flight to this issuer; a request
	// that finds no free slot within Timeout gets ErrUnavailable.
	// 0 = DefaultMaxConcurrency.
	MaxConcurrency int
	// AllowMissingAudience accepts an answer without aud (RFC 7662 makes
	// it optional). false = aud must name one of the issuer's audiences,
	// as for a JWT. A present aud is always judged.
	AllowMissingAudience bool
	// ConfigPath names this block in Validate's problems, e.g.
	// "issuers[2].introspection". "" = "issuers[i].introspection", i its
	// position in Options.Issuers.
	ConfigPath string
}

// path is how problems name is, the i-th of Options.Issuers.
func (is IssuerOptions) path(i int) string {
	if is.ConfigPath != "" {
		return is.ConfigPath
	}
	return fmt.Sprintf("issuers[%d].introspection", i)
}

// ClientAuth is the gateway's client authentication at an introspection
// endpoint.
type ClientAuth struct {
	// Method is one of AuthNone, AuthClientSecretBasic,
	// AuthClientSecretPost, AuthPrivateKeyJWT. "" = private_key_jwt with
	// a Key, client_secret_basic with a ClientSecret, else none.
	Method string
	// ClientID is the gateway's client id at the issuer.
	ClientID string
	// ClientSecret is its secret (client_secret_basic, _post).
	ClientSecret string
	// KeyFile is a PEM private key (PKCS#8, PKCS#1 or SEC 1: RSA, EC
	// P-256/384/521 or Ed25519) signing the private_key_jwt assertion.
	KeyFile string
	// KeyID is the kid of the assertion's header. "" = none.
	KeyID string
	// Algorithm signs the assertion. "" = RS256 (RSA), ES256/384/512 (by
	// curve), EdDSA (Ed25519).
	Algorithm string
}

// ClaimsFunc judges an active introspection response from iss: the
// gateway passes (*token.Verifier).IntrospectedClaims.
type ClaimsFunc func(iss string, resp map[string]any, allowMissingAudience bool) (*token.Claims, error)

// Options configure an Introspector.
type Options struct {
	// Issuers are the issuers that introspect; at least one.
	Issuers []IssuerOptions
	// Client is the base HTTP client (its transport: TLS roots, proxy).
	// Whatever it is, redirects are never followed and bodies over
	// MaxResponseBytes are refused. nil = token.NewHTTPClient().
	Client *http.Client
	// Claims judges active answers. Required.
	Claims ClaimsFunc
	// Store, when set, shares active answers between replicas (keyed by
	// SHA-256, never by the token). nil = this replica's cache only.
	Store state.Store
	// StoreTimeout bounds one store call; a failed or slow store is a
	// cache miss, not a failure. 0 = 250ms.
	StoreTimeout time.Duration
	// Now is the clock. nil = time.Now.
	Now func() time.Time
	// Logger receives endpoint failures (never a token). nil = no logs.
	Logger *zap.Logger
	// Metrics, when set, counts calls, outcomes and cache hits.
	Metrics *Metrics
	// LocalEntries bounds this replica's cache. 0 = DefaultLocalEntries.
	LocalEntries int
}

// Validate reports every problem of opts at once, each naming its field
// (see IssuerOptions.ConfigPath), as "field: message".
func (o *Options) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if o.Claims == nil {
		bad("introspect", "Options.Claims is required")
	}
	for i, is := range o.Issuers {
		f := func(name string) string { return is.path(i) + "." + name }
		if is.Endpoint != "" {
			if err := token.CheckURL(is.Endpoint, is.AllowInsecureHTTP); err != nil {
				bad(f("endpoint"), "%v", err)
			}
		}
		for _, p := range is.TokenPrefixes {
			if p == "" {
				bad(f("token_prefixes"), "a prefix must not be empty")
			}
		}
		if is.Timeout < 0 || is.CacheTTL < 0 || is.MaxConcurrency < 0 {
			bad(f("timeout"), "timeout, cache_ttl and max_concurrency must not be negative")
		}
		errs = append(errs, validateAuth(is.Auth, f)...)
		if len(o.Issuers) > 1 && len(is.TokenPrefixes) == 0 {
			bad(f("token_prefixes"), "required when several issuers introspect: an opaque token carries no issuer, and it must never be sent to an authorization server that did not issue it")
		}
		for j, other := range o.Issuers[:i] {
			for _, p := range is.TokenPrefixes {
				for _, q := range other.TokenPrefixes {
					if strings.HasPrefix(p, q) || strings.HasPrefix(q, p) {
						bad(f("token_prefixes"), "%q overlaps %q of %s: a token would match two issuers", p, q, other.path(j))
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

func validateAuth(a ClientAuth, f func(string) string) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", f(field), fmt.Sprintf(format, args...)))
	}
	switch a.method() {
	case AuthNone:
		if a.ClientSecret != "" || a.KeyFile != "" {
			bad("auth_method", "none takes no client_secret or private_key_jwt")
		}
	case AuthClientSecretBasic, AuthClientSecretPost:
		if a.ClientID == "" || a.ClientSecret == "" {
			bad("client_secret", "%s needs client_id and client_secret", a.method())
		}
		if a.KeyFile != "" {
			bad("private_key_jwt", "set either client_secret or private_key_jwt, not both")
		}
	case AuthPrivateKeyJWT:
		if a.ClientID == "" || a.KeyFile == "" {
			bad("private_key_jwt", "private_key_jwt needs client_id and private_key_jwt.key_file")
		}
		if a.ClientSecret != "" {
			bad("client_secret", "set either client_secret or private_key_jwt, not both")
		}
		if a.KeyFile != "" {
			if _, _, err := loadSigner(a.KeyFile, a.Algorithm); err != nil {
				bad("private_key_jwt.key_file", "%v", err)
			}
		}
	default:
		bad("auth_method", "%q is not one of %s", a.Method, strings.Join(authMethods, ", "))
	}
	return errs
}

var authMethods = []string{AuthNone, AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT}

// method is Method with its default.
func (a ClientAuth) method() string {
	switch {
	case a.Method != "":
		return a.Method
	case a.KeyFile != "":
		return AuthPrivateKeyJWT
	case a.ClientSecret != "":
		return AuthClientSecretBasic
	}
	return AuthNone
}

// withDefaults returns is with zero fields defaulted.
func (is IssuerOptions) withDefaults() IssuerOptions {
	if is.Timeout == 0 {
		is.Timeout = DefaultTimeout
	}
	if is.CacheTTL == 0 {
		is.CacheTTL = DefaultCacheTTL
	}
	if is.MaxConcurrency == 0 {
		is.MaxConcurrency = DefaultMaxConcurrency
	}
	is.TokenPrefixes = slices.Clone(is.TokenPrefixes)
	return is
}
