package config

import (
	"crypto/tls"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scopegate/scopegate/policy"
)

// Config is scopegate's whole configuration, as read from YAML. Zero values
// are replaced by the defaults documented on each field by ApplyDefaults;
// Validate reports every problem at once.
type Config struct {
	Server    ServerConfig              `yaml:"server"`
	Issuers   []IssuerConfig            `yaml:"issuers"`
	Upstreams map[string]UpstreamConfig `yaml:"upstreams"`
	Routes    []policy.RouteConfig      `yaml:"routes"`
	Audit     AuditConfig               `yaml:"audit"`
	// ResourceMetadata publishes RFC 9728 protected resource metadata.
	// Default: absent, nothing published.
	ResourceMetadata *ResourceMetadataConfig `yaml:"resource_metadata"`
	// DPoP configures DPoP proof checking (docs/sender-constrained.md).
	DPoP DPoPConfig `yaml:"dpop"`
	// MTLS configures certificate-bound tokens (RFC 8705).
	MTLS MTLSConfig `yaml:"mtls"`
	// Tracing sends OpenTelemetry traces (gateway/tracing.go). Default:
	// off.
	Tracing TracingConfig `yaml:"tracing"`
	// State is where shared state lives. Default: in memory.
	State StateConfig `yaml:"state"`
	// Admin secures the admin API. Default: the API is off.
	Admin AdminConfig `yaml:"admin"`
	// Revocation tunes the revocation list.
	Revocation RevocationConfig `yaml:"revocation"`
	// SharedSignals receives OpenID Shared Signals (CAEP) events that
	// revoke a subject's tokens. Default: off.
	SharedSignals SharedSignalsConfig `yaml:"shared_signals"`
	// Limits tunes the usage limits' store.
	Limits LimitsConfig `yaml:"limits"`

	// lines maps a field path such as "routes[2].upstream" to its line in
	// the YAML source, so that problems name where to look. Nil for a Config
	// built in code.
	lines map[string]int
	// source is the file the config was read from, for messages.
	source string
}

// ServerConfig configures the listeners and the limits applied to every
// request.
type ServerConfig struct {
	// Listen is the proxy listener. Default "0.0.0.0:8080".
	Listen string `yaml:"listen"`
	// AdminListen serves /metrics, /healthz and /readyz; never the proxy.
	// Default "127.0.0.1:9090".
	AdminListen string `yaml:"admin_listen"`
	// ReadHeaderTimeout bounds how long a client may take to send its
	// request headers (slowloris). Default 10s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// BodyReadTimeout is how long the gateway waits for the next bytes of
	// a request body (after the headers, and between reads); a body that
	// stops arriving ends the request with 408 and the connection. An
	// upload that keeps sending is never cut. Default 30s.
	BodyReadTimeout Duration `yaml:"body_read_timeout"`
	// MaxHeaderBytes caps the request line and headers. Default 32768.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxBodyBytes caps a request body; larger bodies get 413 and are not
	// forwarded whole. Routes may lower or raise it. Default 64 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// DrainTimeout is how long SIGTERM waits for in-flight requests
	// (streams included) before closing them. Default 30s.
	DrainTimeout Duration `yaml:"drain_timeout"`
	// TrustedProxies lists the CIDRs (or single addresses) whose
	// X-Forwarded-For, Forwarded and X-Real-IP are kept and appended to.
	// Default none: those headers are replaced by the TCP peer.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// IdentityHeaders names the headers the upstream receives with the
	// token's identity.
	IdentityHeaders IdentityHeaders `yaml:"identity_headers"`
	// MaxTokenBytes refuses longer bearer tokens before parsing them.
	// Default 16384.
	MaxTokenBytes int `yaml:"max_token_bytes"`
	// RouteAliases decides a request whose path, with a trailing slash
	// removed or letters folded to lower case, would match another route
	// than the one it matches (many upstream routers treat those spellings
	// as one resource): "refuse" (400, reason route_alias, naming the
	// route it aliases) or "allow" (match the path as written). Default
	// "refuse".
	RouteAliases string `yaml:"route_aliases"`
	// Realm is the realm of WWW-Authenticate challenges. Default "scopegate".
	Realm string `yaml:"realm"`
	// TLS, when cert_file and key_file are set, makes the proxy listener
	// terminate TLS itself. Default: plain HTTP (TLS terminated in front).
	TLS TLSConfig `yaml:"tls"`
	// TokenCache bounds the cache of verified tokens.
	TokenCache TokenCacheConfig `yaml:"token_cache"`
}

// TokenCacheConfig configures the cache of verified tokens, keyed by a
// keyed hash of the whole token and compared whole on a hit. A cached
// token is answered only after its exp, nbf and iat pass again against the
// clock and its signing key is still in the issuer's current key set; a
// reload starts an empty cache. Only successes are cached.
type TokenCacheConfig struct {
	// Disabled turns the cache off: every request verifies its token.
	// Default false.
	Disabled bool `yaml:"disabled"`
	// MaxEntries bounds the number of cached tokens. Default 10000.
	MaxEntries int `yaml:"max_entries"`
	// MaxBytes bounds the estimated memory of the cached entries (each
	// counted as 512 bytes plus three times its token's length). Default
	// 16777216 (16 MiB).
	MaxBytes int64 `yaml:"max_bytes"`
}

// TLSConfig is the proxy listener's TLS. The admin listener stays plain
// HTTP: keep it on loopback or a private network.
type TLSConfig struct {
	// CertFile is the PEM certificate chain, leaf first. Default "" (no
	// TLS); set together with KeyFile.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of the leaf certificate. Default "".
	KeyFile string `yaml:"key_file"`
	// MinVersion is the lowest TLS version accepted: "1.2" or "1.3".
	// Default "1.2". TLS 1.2 is limited to ECDHE key exchange with AEAD
	// ciphers (AES-GCM, ChaCha20-Poly1305).
	MinVersion string `yaml:"min_version"`
	// ClientAuth asks clients for a certificate, for certificate-bound
	// tokens (RFC 8705): "none", "request" (asked, optional) or "require"
	// (the handshake fails without one). The chain is not verified: a
	// token binds the certificate by its thumbprint. Default "none".
	ClientAuth string `yaml:"client_auth"`
}

// tlsVersions are the accepted values of server.tls.min_version.
var tlsVersions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// MinTLSVersion is the crypto/tls version MinVersion names; TLS 1.2 when
// it names none.
func (t TLSConfig) MinTLSVersion() uint16 {
	if v, ok := tlsVersions[t.MinVersion]; ok {
		return v
	}
	return tls.VersionTLS12
}

// Enabled reports whether the proxy listener terminates TLS.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// IdentityHeaders are the names of the headers the gateway sets upstream.
// Client-sent copies of them (in any spelling) never reach the upstream.
type IdentityHeaders struct {
	// Subject carries the token's sub. Default "X-Auth-Subject".
	Subject string `yaml:"subject"`
	// ClientID carries client_id, or azp. Default "X-Auth-Client-Id".
	ClientID string `yaml:"client_id"`
	// Scopes carries the granted scopes, space-separated. Default
	// "X-Auth-Scopes".
	Scopes string `yaml:"scopes"`
}

// IssuerConfig is one trusted token issuer.
type IssuerConfig struct {
	// Issuer must equal the token's iss exactly. Required.
	Issuer string `yaml:"issuer"`
	// JWKSURI is where the keys are. Default: jwks_uri of
	// {issuer}/.well-known/openid-configuration.
	JWKSURI string `yaml:"jwks_uri"`
	// Audiences: the token's aud must contain one of them. Required.
	Audiences []string `yaml:"audiences"`
	// Algorithms allowed for signatures. Default: RS256, RS384, RS512,
	// PS256, PS384, PS512, ES256, ES384, ES512, EdDSA. Never none or HS*.
	Algorithms []string `yaml:"algorithms"`
	// AllowInsecureHTTP permits http:// issuer and JWKS URLs that are not
	// loopback. Default false.
	AllowInsecureHTTP bool `yaml:"allow_insecure_http"`
	// RequireATJWT refuses tokens whose typ header is not at+jwt
	// (RFC 9068). Default false: absent and JWT are accepted too.
	RequireATJWT bool `yaml:"require_at_jwt"`
	// AllowedClients, when set, refuses tokens whose client_id (or azp) is
	// not listed. Default: any client.
	AllowedClients []string `yaml:"allowed_clients"`
	// ScopeClaims names further claims granted as scopes, merged with
	// scope and scp: dotted paths into nested objects
	// ("realm_access.roles", "roles"), or JSON Pointers for names with dots
	// or slashes ("/https:~1~1example.com~1scopes"). A string value is
	// split at spaces; an array's strings and an object's member names
	// (Zitadel's role map) are taken whole; values that are
	// not valid scope tokens are skipped. Default none.
	ScopeClaims []string `yaml:"scope_claims"`
	// Leeway tolerates clock skew on exp, nbf and iat. Default 30s.
	Leeway Duration `yaml:"leeway"`
	// RefreshInterval is how often keys are refetched. Default 15m.
	RefreshInterval Duration `yaml:"refresh_interval"`
	// MinRefreshInterval is the least time between two refreshes caused
	// by an unknown kid. Default 5s.
	MinRefreshInterval Duration `yaml:"min_refresh_interval"`
	// MaxStaleness is how long keys stay usable while refreshes fail.
	// Default 24h.
	MaxStaleness Duration `yaml:"max_staleness"`
	// ClientIDClaims names the claims carrying the client id, first
	// non-empty wins (X-Auth-Client-Id, allowed_clients). Default
	// [client_id, azp]. Okta: [cid]; Entra v1: [appid].
	ClientIDClaims []string `yaml:"client_id_claims"`
	// MachineClaims mark a token as a machine's (principal kind machine)
	// when a claim equals the value (an array claim: contains it), beyond
	// the markers scopegate knows (Auth0 gty, Entra idtyp and app-only
	// tokens, Keycloak service accounts; docs/authorization.md). Default
	// none.
	MachineClaims map[string]string `yaml:"machine_claims"`
	// AcceptClientIDAsAudience lets a token with no aud claim pass when its
	// client id is one of audiences (Amazon Cognito access tokens). A token
	// with aud is judged by aud. Default false: no aud, no entry.
	AcceptClientIDAsAudience bool `yaml:"accept_client_id_as_audience"`
	// RequiredClaims must be present as strings with exactly these values,
	// e.g. {token_use: access} (Cognito), {typ: Bearer} (Keycloak).
	// Default none.
	RequiredClaims map[string]string `yaml:"required_claims"`
	// SenderConstraint requires, allows or refuses DPoP-bound and
	// certificate-bound tokens of this issuer. Default: dpop allowed when
	// dpop.public_base_url is set (else off), mtls allowed.
	SenderConstraint *policy.SenderConstraint `yaml:"sender_constraint"`
	// Introspection makes this issuer's opaque tokens usable through RFC
	// 7662 introspection (docs/introspection.md). Default: absent, only
	// JWTs are accepted.
	Introspection *IntrospectionConfig `yaml:"introspection"`
}

// AuditConfig configures the audit trail: one JSON record per request
// decision (docs/audit.md), apart from the operational log.
type AuditConfig struct {
	// Output is where records go: "stdout", "stderr", or the absolute path
	// of a file, opened for appending (created 0600) and reopened on every
	// reload, so that a rotated file is followed after SIGHUP. The output
	// itself is chosen at start; a reload that names another output is
	// refused. Default "stdout".
	Output string `yaml:"output"`
	// MaxRecordsPerSecond caps the records of refused requests (a token
	// bucket refilled at this rate), so that a flood of refusals costs
	// bounded log volume; dropped records are counted in
	// scopegate_audit_dropped_total and summarized. Records of requests
	// that reached an upstream (allow, would_deny) are never dropped. -1
	// means no cap. Default 1000.
	MaxRecordsPerSecond int `yaml:"max_records_per_second"`
	// Burst is how many refusal records may be written at once above the
	// rate. Default 2 × MaxRecordsPerSecond.
	Burst int `yaml:"burst"`
	// FlushInterval, when above 0, buffers records (up to 64 KiB) and
	// writes them at most this long after the first of them, rather than
	// one write(2) per record. Records stay whole; every buffered record is
	// written on SIGHUP, on a clean stop (SIGTERM, after the drain) and
	// when the buffer fills. A crash (SIGKILL, an OOM kill) may lose the
	// records of the last interval. Default 0: each record is written at
	// once.
	FlushInterval Duration `yaml:"flush_interval"`
}

// UpstreamConfig is one model backend.
type UpstreamConfig struct {
	// URL of the backend; its path, if any, prefixes every forwarded path.
	// Required.
	URL string `yaml:"url"`
	// ForwardAuthorization passes the client's Authorization header on.
	// Default false: it is dropped.
	ForwardAuthorization bool `yaml:"forward_authorization"`
	// Headers are set on every forwarded request, after the client's
	// Authorization was dropped: e.g. the provider's API key, from
	// ${ENV}. Default none.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds the wait for the response headers (a model may think
	// for a while before answering). Default 300s.
	Timeout Duration `yaml:"timeout"`
	// DialTimeout bounds connecting. Default 5s.
	DialTimeout Duration `yaml:"dial_timeout"`
	// MaxIdleConns is how many idle connections are kept to this upstream.
	// Default 256.
	MaxIdleConns int `yaml:"max_idle_conns"`
	// NoStreamUsage stops the gateway from adding
	// stream_options.include_usage to streamed chat completions on routes
	// with a token budget (and from removing the extra usage chunk from
	// the client's stream): for servers that refuse the parameter. Such
	// streams are then billed their reservation unless they report usage
	// anyway. Default false.
	NoStreamUsage bool `yaml:"no_stream_usage"`
	// UsageDrainTimeout bounds how long the gateway reads on a response
	// under a budget whose client has gone, waiting for its usage
	// (counted from the client's leaving); past it the request is billed
	// its reservation. Default 30s.
	UsageDrainTimeout Duration `yaml:"usage_drain_timeout"`
	// UsageDrainMaxBytes bounds how many bytes that reading on may
	// discard. Default 1 MiB.
	UsageDrainMaxBytes int64 `yaml:"usage_drain_max_bytes"`
}

// Duration is a time.Duration written in YAML as "30s", "5m" or "1h30m".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	// A *yaml.TypeError lets the decoder go on and report every problem.
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a duration must be a string such as \"30s\"", n.Line)}}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot parse duration %q: write it as \"500ms\", \"30s\" or \"5m\"", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
