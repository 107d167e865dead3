package dpop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/MicahParks/jwkset"
)

// RSA moduli outside this range are refused: too weak, or costly enough to
// verify that a proof could be made to slow the gateway.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// algFamily is the key family each supported algorithm needs.
var algFamily = map[string]string{
	"RS256": "RSA", "RS384": "RSA", "RS512": "RSA",
	"PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
	"ES256": "P-256", "ES384": "P-384", "ES512": "P-521",
	"EdDSA": "Ed25519",
}

// DefaultAlgorithms are the proof algorithms accepted by default: every
// supported asymmetric JWS algorithm. none and HS* are never accepted.
var DefaultAlgorithms = []string{"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"}

// Supported reports whether alg may be listed in Config.Algorithms.
func Supported(alg string) bool { _, ok := algFamily[alg]; return ok }

// privateMembers are the JWK members of private or symmetric keys (RFC 7518
// section 6): a proof carrying one is refused, whatever its kty.
var privateMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// publicJWK is the proof's key: the public key and its RFC 7638 thumbprint.
type publicJWK struct {
	key    any    // *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey
	family string // as algFamily
	jkt    string
}

// parseJWK judges the header's jwk member (as decoded by strictjson) and
// returns the public key it names.
func parseJWK(v any) (*publicJWK, *Error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, refuse(ReasonKey, "the proof header has no jwk object")
	}
	for _, name := range privateMembers {
		if _, ok := m[name]; ok {
			return nil, refuse(ReasonKey, "the proof's jwk carries private or symmetric key material ("+name+")")
		}
	}
	str := func(name string) (string, bool) {
		s, ok := m[name].(string)
		return s, ok && s != ""
	}
	kty, _ := str("kty")
	var required []string // RFC 7638 section 3.2, in lexicographic order
	var mk jwkset.JWKMarshal
	switch kty {
	case "EC":
		required = []string{"crv", "kty", "x", "y"}
	case "RSA":
		required = []string{"e", "kty", "n"}
	case "OKP":
		required = []string{"crv", "kty", "x"}
	case "oct":
		return nil, refuse(ReasonKey, "the proof's jwk is a symmetric key")
	default:
		return nil, refuse(ReasonKey, "the proof's jwk has no supported kty (EC, RSA or OKP)")
	}
	vals := make(map[string]string, len(required))
	for _, name := range required {
		s, ok := str(name)
		if !ok {
			return nil, refuse(ReasonKey, "the proof's jwk lacks a string "+name)
		}
		vals[name] = s
	}
	mk.KTY, mk.CRV, mk.X, mk.Y, mk.N, mk.E = jwkset.KTY(kty), jwkset.CRV(vals["crv"]), vals["x"], vals["y"], vals["n"], vals["e"]
	// Only the public members reach jwkset: a use, key_ops or alg in the
	// proof's jwk says nothing the header's alg does not.
	j, err := jwkset.NewJWKFromMarshal(mk, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		return nil, refuse(ReasonKey, "the proof's jwk is not a usable public key")
	}
	k := &publicJWK{key: j.Key(), jkt: thumbprint(required, vals)}
	switch pub := k.key.(type) {
	case *ecdsa.PublicKey:
		k.family = pub.Curve.Params().Name
	case *rsa.PublicKey:
		if bits := pub.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, refuse(ReasonKey, fmt.Sprintf("the proof's RSA key must have %d to %d bits", minRSABits, maxRSABits))
		}
		k.family = "RSA"
	case ed25519.PublicKey:
		k.family = "Ed25519"
	default:
		return nil, refuse(ReasonKey, "the proof's jwk is not a supported public key")
	}
	return k, nil
}

// thumbprint is the RFC 7638 JWK SHA-256 thumbprint: base64url of the
// SHA-256 of the required members, in lexicographic order, without white
// space.
func thumbprint(required []string, vals map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range required {
		if i > 0 {
			b.WriteByte(',')
		}
		q, _ := json.Marshal(vals[name]) // a string always marshals
		b.WriteString(`"` + name + `":`)
		b.Write(q)
	}
	b.WriteByte('}')
	sum := sha256.Sum256([]byte(b.String()))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of a public key (an
// *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey): the value an
// authorization server puts in a DPoP-bound token's cnf.jkt.
func Thumbprint(pub any) (string, error) {
	m, err := publicJWKMap(pub)
	if err != nil {
		return "", err
	}
	k, e := parseJWK(m)
	if e != nil {
		return "", e
	}
	return k.jkt, nil
}

// publicJWKMap is the JWK of a public key, as a JSON object map.
func publicJWKMap(pub any) (map[string]any, error) {
	j, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{})
	if err != nil {
		return nil, fmt.Errorf("encoding the public key as a JWK: %w", err)
	}
	mk := j.Marshal()
	m := map[string]any{"kty": string(mk.KTY)}
	for name, v := range map[string]string{"crv": string(mk.CRV), "x": mk.X, "y": mk.Y, "n": mk.N, "e": mk.E} {
		if v != "" {
			m[name] = v
		}
	}
	return m, nil
}
