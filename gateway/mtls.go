package gateway

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/scopegate/scopegate/policy"
)

// maxClientCertHeaderBytes bounds the Client-Cert header decoded.
const maxClientCertHeaderBytes = 16 << 10

// checkCertBinding enforces a certificate-bound token (RFC 8705 section
// 3): its cnf.x5t#S256 must be the SHA-256 thumbprint of the client
// certificate of this request. mode is the combined mtls mode.
func (g *Gateway) checkCertBinding(rt *runtime, r *http.Request, x5t, mode string) *refusal {
	switch {
	case x5t == "" && mode == policy.SenderRequired:
		return refuse(ReasonMTLSRequired, errInvalidToken("this route requires a certificate-bound access token (cnf.x5t#S256) and its client certificate"))
	case x5t == "":
		return nil
	case mode == policy.SenderOff:
		return refuse(ReasonMTLSNotAccepted, errInvalidToken("certificate-bound access tokens are not accepted here"))
	}
	tp := rt.sender.clientCertThumbprint(r, rt)
	if tp == "" {
		return refuse(ReasonMTLSNoCertificate, errInvalidToken("the access token is certificate-bound, and the request came without its client certificate"))
	}
	if !certMatches(tp, x5t) {
		return refuse(ReasonMTLSCertMismatch, errInvalidToken("the client certificate is not the one the access token is bound to"))
	}
	return nil
}

// clientCertThumbprint is the base64url SHA-256 of the request's client
// certificate (DER): the one presented in this gateway's TLS handshake,
// or, from a trusted proxy when configured, the RFC 9440 Client-Cert
// header. "" when there is none (or the header is malformed).
func (s *senderRuntime) clientCertThumbprint(r *http.Request, rt *runtime) string {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return certThumbprint(r.TLS.PeerCertificates[0].Raw)
	}
	if !s.trustCertHeader {
		return ""
	}
	if _, ok := trustedPeer(r.RemoteAddr, rt.cfg.TrustedProxies); !ok {
		return ""
	}
	der, ok := parseClientCertHeader(r.Header["Client-Cert"])
	if !ok {
		return ""
	}
	return certThumbprint(der)
}

// parseClientCertHeader decodes the RFC 9440 Client-Cert header: one
// Structured Field Byte Sequence (":" base64 ":") holding a DER
// certificate.
func parseClientCertHeader(vals []string) ([]byte, bool) {
	if len(vals) != 1 || len(vals[0]) > maxClientCertHeaderBytes {
		return nil, false
	}
	v := strings.Trim(vals[0], " \t")
	if len(v) < 3 || v[0] != ':' || v[len(v)-1] != ':' {
		return nil, false
	}
	der, err := base64.StdEncoding.Strict().DecodeString(v[1 : len(v)-1])
	if err != nil {
		return nil, false
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return nil, false
	}
	return der, true
}

func certThumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// senderHeaders carry proofs of possession meant for the gateway: they
// never reach the upstream, in any spelling.
var senderHeaders = map[string]bool{"dpop": true, "client-cert": true, "client-cert-chain": true}
