package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ProofParams are the claims of a proof made by NewProof.
type ProofParams struct {
	// Method and URI are the request's method and URI (htm and htu; the
	// URI's query and fragment are dropped).
	Method, URI string
	// AccessToken, when set, is hashed into ath.
	AccessToken string
	// Nonce, when set, is the server-provided nonce.
	Nonce string
	// IssuedAt is iat. Default: now.
	IssuedAt time.Time
	// JTI is the proof's unique id. Default: 128 random bits.
	JTI string
}

// NewProof makes a DPoP proof signed by key (an *ecdsa.PrivateKey,
// *rsa.PrivateKey or ed25519.PrivateKey) under alg, with the public key in
// its jwk header: what a client sends in the DPoP header. It is meant for
// clients, tools and tests; the gateway only verifies.
func NewProof(key crypto.Signer, alg string, p ProofParams) (string, error) {
	method := jwt.GetSigningMethod(alg)
	if method == nil || !Supported(alg) {
		return "", fmt.Errorf("dpop: algorithm %q is not supported", alg)
	}
	switch key.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
	default:
		return "", errors.New("dpop: the key must be an ECDSA, RSA or Ed25519 private key")
	}
	jwk, err := publicJWKMap(key.Public())
	if err != nil {
		return "", err
	}
	if p.IssuedAt.IsZero() {
		p.IssuedAt = time.Now()
	}
	if p.JTI == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		p.JTI = base64.RawURLEncoding.EncodeToString(b[:])
	}
	htu := p.URI
	if n, err := NormalizeURI(p.URI); err == nil {
		htu = n
	}
	c := jwt.MapClaims{"htm": p.Method, "htu": htu, "iat": p.IssuedAt.Unix(), "jti": p.JTI}
	if p.AccessToken != "" {
		c["ath"] = AccessTokenHash(p.AccessToken)
	}
	if p.Nonce != "" {
		c["nonce"] = p.Nonce
	}
	t := jwt.NewWithClaims(method, c)
	t.Header["typ"] = "dpop+jwt"
	t.Header["jwk"] = jwk
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("dpop: signing the proof: %w", err)
	}
	return s, nil
}
