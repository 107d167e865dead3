package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/scopegate/scopegate/dpop"
	"github.com/scopegate/scopegate/policy"
)

// DPoPConfig configures the checking of DPoP proofs (RFC 9449) for
// DPoP-bound tokens. See docs/sender-constrained.md.
type DPoPConfig struct {
	// PublicBaseURL is the gateway's URL as clients address it
	// ("https://models.example.com", optionally with a path prefix): a
	// proof's htu must be it followed by the request's path. It is
	// configured, never taken from Host or forwarding headers, which a
	// client controls. Default "": DPoP is off wherever not explicitly
	// set, and setting dpop: allowed or required anywhere needs it.
	PublicBaseURL string `yaml:"public_base_url"`
	// Algorithms a proof may be signed with. Default: ES256, ES384,
	// ES512, PS256, PS384, PS512, RS256, RS384, RS512, EdDSA. Never none
	// or HS*.
	Algorithms []string `yaml:"algorithms"`
	// MaxAge is how old a proof's iat may be; it is also how long a
	// proof's jti is remembered. Default 60s.
	MaxAge Duration `yaml:"max_age"`
	// MaxFuture is how far ahead of the gateway's clock a proof's iat may
	// be (client clock skew). Default 5s.
	MaxFuture Duration `yaml:"max_future"`
	// MaxProofBytes refuses longer DPoP headers unread. Default 8192.
	MaxProofBytes int `yaml:"max_proof_bytes"`
	// Nonce configures server-provided nonces (RFC 9449 section 9).
	Nonce DPoPNonceConfig `yaml:"nonce"`
}

// DPoPNonceConfig configures server-provided DPoP nonces. They are made
// and checked without state (an HMAC of the time window under Secret), so
// replicas sharing Secret accept each other's.
type DPoPNonceConfig struct {
	// Required refuses proofs without a current nonce: the 401 says
	// use_dpop_nonce and carries one in DPoP-Nonce. Default false (a
	// proof's nonce is still checked when it has one and a secret is
	// set).
	Required bool `yaml:"required"`
	// Secret keys the nonces: at least 32 bytes, the same on every
	// replica (e.g. "${DPOP_NONCE_SECRET}"). Default "": a random secret
	// per process and per reload, good for one replica only.
	Secret string `yaml:"secret"`
	// Rotation is how long a nonce is current; it stays accepted one
	// more period. Default 5m.
	Rotation Duration `yaml:"rotation"`
}

// MTLSConfig configures certificate-bound tokens (RFC 8705 section 3).
type MTLSConfig struct {
	// TrustClientCertHeader reads the client certificate from the RFC 9440
	// Client-Cert header when the TCP peer is one of
	// server.trusted_proxies (a proxy that terminates TLS and asks for
	// client certificates, and that replaces any Client-Cert a client
	// sends). From any other peer the header is ignored. Default false.
	TrustClientCertHeader bool `yaml:"trust_client_cert_header"`
}

func (d *DPoPConfig) applyDefaults() {
	setDefault(&d.MaxAge, Duration(dpop.DefaultMaxAge))
	setDefault(&d.MaxFuture, Duration(dpop.DefaultMaxFuture))
	setDefault(&d.MaxProofBytes, dpop.DefaultMaxProofBytes)
	setDefault(&d.Nonce.Rotation, Duration(5*time.Minute))
}

// ClientCertSource reports whether the gateway can see client
// certificates (its own TLS asks for them, or a trusted proxy passes them).
func (c *Config) ClientCertSource() bool {
	ca := c.Server.TLS.ClientAuth
	return c.MTLS.TrustClientCertHeader && len(c.Server.TrustedProxies) > 0 || c.Server.TLS.Enabled() && (ca == "request" || ca == "require")
}

func (c *Config) validateSender(v *validator) {
	d := c.DPoP
	if d.PublicBaseURL != "" {
		if n, err := dpop.NormalizeURI(d.PublicBaseURL); err != nil || strings.ContainsAny(d.PublicBaseURL, "?#") {
			v.add("dpop.public_base_url", "must be an absolute http(s) URL without user info, query or fragment, such as https://models.example.com")
		} else if strings.HasPrefix(n, "http://") && !c.isLoopbackURL(n) {
			v.add("dpop.public_base_url", "must be https (clients send proofs for the URL they use)")
		}
	}
	for i, a := range d.Algorithms {
		if !dpop.Supported(a) {
			v.add(fmt.Sprintf("dpop.algorithms[%d]", i), "%q is not an accepted proof algorithm; use ES256, ES384, ES512, PS256, PS384, PS512, RS256, RS384, RS512 or EdDSA", a)
		}
	}
	if d.MaxAge < 0 || d.MaxFuture < 0 {
		v.add("dpop.max_age", "max_age and max_future must not be negative")
	}
	if d.MaxProofBytes < 512 {
		v.add("dpop.max_proof_bytes", "must be at least 512")
	}
	if d.Nonce.Secret != "" && len(d.Nonce.Secret) < dpop.MinNonceSecretBytes {
		v.add("dpop.nonce.secret", "must be at least %d bytes (e.g. openssl rand -base64 48)", dpop.MinNonceSecretBytes)
	}
	if d.Nonce.Rotation < Duration(time.Second) {
		v.add("dpop.nonce.rotation", "must be at least 1s")
	}
	check := func(field string, sc *policy.SenderConstraint) {
		if sc == nil {
			return
		}
		if !policy.ValidSenderMode(sc.DPoP) {
			v.add(field+".dpop", "%q is not a mode; write required, allowed or off", sc.DPoP)
		} else if (sc.DPoP == policy.SenderRequired || sc.DPoP == policy.SenderAllowed) && d.PublicBaseURL == "" {
			v.add(field+".dpop", "DPoP needs dpop.public_base_url: the URL clients address the gateway by, which their proofs name")
		}
		if !policy.ValidSenderMode(sc.MTLS) {
			v.add(field+".mtls", "%q is not a mode; write required, allowed or off", sc.MTLS)
		} else if sc.MTLS == policy.SenderRequired && !c.ClientCertSource() {
			v.add(field+".mtls", "certificate-bound tokens need client certificates: set server.tls.client_auth, or mtls.trust_client_cert_header with server.trusted_proxies")
		}
	}
	for i := range c.Issuers {
		check(fmt.Sprintf("issuers[%d].sender_constraint", i), c.Issuers[i].SenderConstraint)
	}
	for i := range c.Routes {
		check(fmt.Sprintf("routes[%d].sender_constraint", i), c.Routes[i].SenderConstraint)
	}
	if c.MTLS.TrustClientCertHeader && len(c.Server.TrustedProxies) == 0 {
		v.add("mtls.trust_client_cert_header", "needs server.trusted_proxies: the header is read only from them")
	}
	switch c.Server.TLS.ClientAuth {
	case "", "none", "request", "require":
	default:
		v.add("server.tls.client_auth", "%q is not accepted; write none, request or require", c.Server.TLS.ClientAuth)
	}
}

// isLoopbackURL reports whether the normalized URL's host is loopback.
func (c *Config) isLoopbackURL(n string) bool {
	rest := n[strings.Index(n, "://")+3:]
	host, _, _ := strings.Cut(rest, "/")
	if h, _, ok := strings.Cut(host, "]"); ok {
		host = strings.TrimPrefix(h, "[")
	} else if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
