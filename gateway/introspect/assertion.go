package introspect

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// assertionTTL is the lifetime of a private_key_jwt assertion: one call.
const assertionTTL = 60 * time.Second

// signer makes RFC 7523 client assertions (private_key_jwt).
type signer struct {
	key      crypto.Signer
	method   jwt.SigningMethod
	kid      string
	clientID string
	audience string
}

// assertion signs a fresh assertion: iss = sub = the client id, aud = the
// issuer identifier (RFC 7523bis: the issuer, not an endpoint URL), a
// random jti so that the server can refuse a replay.
func (s *signer) assertion(now time.Time) (string, error) {
	t := jwt.NewWithClaims(s.method, jwt.MapClaims{
		"iss": s.clientID,
		"sub": s.clientID,
		"aud": s.audience,
		"jti": rand.Text(),
		"iat": now.Unix(),
		"exp": now.Add(assertionTTL).Unix(),
	})
	if s.kid != "" {
		t.Header["kid"] = s.kid
	}
	out, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("signing the client assertion: %w", err)
	}
	return out, nil
}

// loadSigner reads a PEM private key and picks (or checks) its algorithm.
func loadSigner(path, alg string) (crypto.Signer, jwt.SigningMethod, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, nil, errors.New("no PEM block in the key file")
	}
	var key any
	switch blk.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("parsing the key: %w", err)
	}
	var want string
	switch k := key.(type) {
	case *rsa.PrivateKey:
		want = "RS256"
		if alg == "RS384" || alg == "RS512" || alg == "PS256" || alg == "PS384" || alg == "PS512" {
			want = alg
		}
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			want = "ES256"
		case elliptic.P384():
			want = "ES384"
		case elliptic.P521():
			want = "ES512"
		}
	case ed25519.PrivateKey:
		want = "EdDSA"
	}
	if want == "" {
		return nil, nil, errors.New("unsupported key type: use RSA, EC P-256/384/521 or Ed25519")
	}
	if alg != "" && alg != want {
		return nil, nil, fmt.Errorf("algorithm %q does not fit the key (use %s)", alg, want)
	}
	return key.(crypto.Signer), jwt.GetSigningMethod(want), nil
}
