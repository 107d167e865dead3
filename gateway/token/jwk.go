package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// RSA moduli outside this range are unusable: too weak, or costly enough to
// verify that a hostile JWKS could slow every request.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// jwk is one parsed public key from a JWKS, immutable after parsing.
type jwk struct {
	kid    string
	alg    string // the JWK's own alg; "" = not declared
	use    string
	keyOps []string
	hasOps bool
	family string // "RSA", "P-256", "P-384", "P-521", "Ed25519"
	public crypto.PublicKey
	usable bool // use, key_ops and alg allow signature verification
}

// keySet is an immutable snapshot of one issuer's JWKS. Verify reads it
// through an atomic pointer; a refresh replaces it whole.
type keySet struct {
	byKID     map[string][]*jwk
	all       []*jwk
	unusable  map[string]bool // kids of keys skipped while parsing
	usable    int
	fetchedAt time.Time
}

// algFamily is the key family each allowed algorithm needs.
var algFamily = map[string]string{
	"RS256": "RSA", "RS384": "RSA", "RS512": "RSA",
	"PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
	"ES256": "P-256", "ES384": "P-384", "ES512": "P-521",
	"EdDSA": "Ed25519",
}

// fits reports whether k may verify a signature made under alg: one key, one
// algorithm (the JWK's own alg, when declared, must be alg), the key type and
// curve fit alg, and use/key_ops allow verification.
func (k *jwk) fits(alg string) bool {
	return k.usable && (k.alg == "" || k.alg == alg) && algFamily[alg] == k.family
}

// candidates returns the keys that may verify a token with this kid (hasKID)
// or without one, under alg.
func (s *keySet) candidates(kid string, hasKID bool, alg string) (keys []*jwk, known bool) {
	pool := s.all
	if hasKID {
		pool, known = s.byKID[kid]
		if !known {
			return nil, s.unusable[kid]
		}
	}
	for _, k := range pool {
		if k.fits(alg) {
			keys = append(keys, k)
		}
	}
	return keys, true
}

// parseJWKS parses a JWKS document key by key: a key that cannot be parsed or
// is not a public signature key is reported through skip and left out, never
// spoiling the others. A set without one usable key is an error.
func parseJWKS(body []byte, skip func(kid string, err error)) (*keySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decoding jwks: %w", err)
	}
	set := &keySet{byKID: map[string][]*jwk{}, unusable: map[string]bool{}}
	for _, raw := range doc.Keys {
		m, err := decodeObject(raw)
		if err != nil {
			skip("", err)
			continue
		}
		k, err := parseJWK(m)
		if err != nil {
			kid, _ := m["kid"].(string)
			if kid != "" {
				set.unusable[kid] = true
			}
			skip(kid, err)
			continue
		}
		if k.usable {
			set.usable++
		}
		set.all = append(set.all, k)
		if k.kid != "" {
			set.byKID[k.kid] = append(set.byKID[k.kid], k)
		}
	}
	for kid := range set.unusable {
		if _, ok := set.byKID[kid]; ok {
			delete(set.unusable, kid)
		}
	}
	if set.usable == 0 {
		return nil, errors.New("jwks has no usable signature key")
	}
	return set, nil
}

func parseJWK(m map[string]any) (*jwk, error) {
	str := func(name string) (string, error) {
		v, ok := m[name]
		if !ok {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("member %q is not a string", name)
		}
		return s, nil
	}
	var k jwk
	var kty, crv string
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{{"kty", &kty}, {"kid", &k.kid}, {"alg", &k.alg}, {"use", &k.use}, {"crv", &crv}} {
		if *f.dst, err = str(f.name); err != nil {
			return nil, err
		}
	}
	if v, ok := m["key_ops"]; ok {
		arr, ok := v.([]any)
		if !ok {
			return nil, errors.New(`member "key_ops" is not an array`)
		}
		k.hasOps = true
		for _, o := range arr {
			s, ok := o.(string)
			if !ok {
				return nil, errors.New(`member "key_ops" has a non-string element`)
			}
			k.keyOps = append(k.keyOps, s)
		}
	}
	switch kty {
	case "RSA":
		k.family = "RSA"
		k.public, err = parseRSA(str)
	case "EC":
		k.family = crv
		k.public, err = parseEC(crv, str)
	case "OKP":
		if crv != "Ed25519" {
			return nil, fmt.Errorf("unsupported OKP curve %q", crv)
		}
		k.family = crv
		k.public, err = parseEd25519(str)
	case "oct":
		return nil, errors.New("symmetric (oct) keys are never used")
	default:
		return nil, fmt.Errorf("unsupported key type %q", kty)
	}
	if err != nil {
		return nil, err
	}
	_, knownAlg := algFamily[k.alg]
	k.usable = (k.use == "" || k.use == "sig") &&
		(!k.hasOps || slices.Contains(k.keyOps, "verify")) &&
		(k.alg == "" || knownAlg)
	return &k, nil
}

// b64 decodes a base64url JWK member, tolerating trailing padding.
func b64(str func(string) (string, error), name string) ([]byte, error) {
	s, err := str(name)
	if err != nil {
		return nil, err
	}
	if s == "" {
		return nil, fmt.Errorf("member %q is missing", name)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("member %q is not base64url", name)
	}
	return b, nil
}

func parseRSA(str func(string) (string, error)) (crypto.PublicKey, error) {
	nb, err := b64(str, "n")
	if err != nil {
		return nil, err
	}
	eb, err := b64(str, "e")
	if err != nil {
		return nil, err
	}
	n := new(big.Int).SetBytes(nb)
	if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("RSA modulus of %d bits is outside %d..%d", bits, minRSABits, maxRSABits)
	}
	if n.Bit(0) == 0 {
		return nil, errors.New("RSA modulus is even")
	}
	e := new(big.Int).SetBytes(eb)
	if e.BitLen() > 31 || e.Int64() < 3 || e.Bit(0) == 0 {
		return nil, errors.New("RSA exponent is invalid")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

func parseEC(crv string, str func(string) (string, error)) (crypto.PublicKey, error) {
	var curve elliptic.Curve
	var size int
	switch crv {
	case "P-256":
		curve, size = elliptic.P256(), 32
	case "P-384":
		curve, size = elliptic.P384(), 48
	case "P-521":
		curve, size = elliptic.P521(), 66
	default:
		return nil, fmt.Errorf("unsupported EC curve %q", crv)
	}
	x, err := b64(str, "x")
	if err != nil {
		return nil, err
	}
	y, err := b64(str, "y")
	if err != nil {
		return nil, err
	}
	if len(x) > size || len(y) > size {
		return nil, errors.New("EC coordinate too long for the curve")
	}
	point := make([]byte, 1+2*size)
	point[0] = 4
	copy(point[1+size-len(x):], x)
	copy(point[1+2*size-len(y):], y)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, errors.New("EC point is not on the curve")
	}
	return pub, nil
}

func parseEd25519(str func(string) (string, error)) (crypto.PublicKey, error) {
	x, err := b64(str, "x")
	if err != nil {
		return nil, err
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, errors.New("Ed25519 key has the wrong length")
	}
	return ed25519.PublicKey(x), nil
}
