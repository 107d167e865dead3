package issuer

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AccessTokenSpec describes an access token for AccessToken.
type AccessTokenSpec struct {
	// Subject is the sub claim; empty omits it.
	Subject string
	// ClientID is the client_id claim; empty omits it.
	ClientID string
	// Audience is the aud claim: a string if it has one element, an array
	// if several; empty omits it.
	Audience []string
	// Scopes become the space-separated scope claim; empty omits it.
	Scopes []string
	// TTL is the lifetime (exp - iat). Zero means one hour; a negative TTL
	// mints a token that has already expired.
	TTL time.Duration
	// Extra claims are merged over the standard ones after they are set, so
	// they can replace any of them; a nil value deletes the claim (to build,
	// say, a token without exp).
	Extra map[string]any
	// Act is the act (actor) claim of RFC 8693; nil omits it.
	Act map[string]any
}

// AccessToken mints an RFC 9068 access token with the current key: header
// typ "at+jwt", alg and kid; claims iss (URL()), sub, aud, exp, iat, nbf, a
// random jti, client_id and scope, as described by t.
func (i *Issuer) AccessToken(t AccessTokenSpec) string {
	now := i.now()
	ttl := t.TTL
	if ttl == 0 {
		ttl = time.Hour
	}
	claims := map[string]any{
		"iss": i.URL(),
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(ttl).Unix(),
		"jti": rand.Text(),
	}
	if t.Subject != "" {
		claims["sub"] = t.Subject
	}
	if t.ClientID != "" {
		claims["client_id"] = t.ClientID
	}
	switch len(t.Audience) {
	case 0:
	case 1:
		claims["aud"] = t.Audience[0]
	default:
		claims["aud"] = append([]string(nil), t.Audience...)
	}
	if len(t.Scopes) > 0 {
		claims["scope"] = strings.Join(t.Scopes, " ")
	}
	if t.Act != nil {
		claims["act"] = t.Act
	}
	for name, v := range t.Extra {
		if v == nil {
			delete(claims, name)
		} else {
			claims[name] = v
		}
	}
	return i.Sign(map[string]any{"typ": "at+jwt"}, claims)
}

// IDToken mints an OpenID Connect ID token with the current key: header typ
// "JWT"; claims iss, sub, aud and azp (clientID), a random nonce, an
// at_hash, auth_time, iat and exp (one hour). A resource server must refuse
// it as an access token.
func (i *Issuer) IDToken(subject, clientID string) string {
	now := i.now()
	h := sha256.Sum256([]byte(rand.Text())) // hash of an access token never issued
	return i.Sign(map[string]any{"typ": "JWT"}, map[string]any{
		"iss":       i.URL(),
		"sub":       subject,
		"aud":       clientID,
		"azp":       clientID,
		"nonce":     rand.Text(),
		"at_hash":   b64(h[:len(h)/2]),
		"auth_time": now.Unix(),
		"iat":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
	})
}

// Sign mints a token with the current key, for hostile tests. The header
// gets "alg" (the key's algorithm) and "kid" unless header already has
// them; a nil value in header deletes that name (so {"kid": nil} builds a
// kid-less token, and a header "alg" that differs from the key's makes a
// token that lies about its algorithm). Claims are encoded as given,
// nil values as JSON null; a json.RawMessage value is embedded verbatim
// (e.g. json.RawMessage(`"1700000000"`) for a quoted date). Sign panics if
// header or claims cannot be encoded as JSON.
func (i *Issuer) Sign(header map[string]any, claims map[string]any) string {
	k := i.signer()
	tok, err := signAs(k, k.alg, header, claims)
	if err != nil {
		panic("issuer: " + err.Error())
	}
	return tok
}

// SignAs is Sign under another JWS algorithm than the current key's,
// to build algorithm-confusion tokens. The header's default "alg" is alg.
//
//   - "none" gives an unsigned token with an empty signature;
//   - "HS256", "HS384", "HS512" use the PEM encoding (PKIX, "PUBLIC KEY") of
//     the current public key as the HMAC secret, as in the classic attack;
//   - "RS256"...,"PS512" need an RSA key, "ES256"... an ECDSA key of the
//     matching curve, "EdDSA" an Ed25519 key; otherwise SignAs fails.
func (i *Issuer) SignAs(alg string, header map[string]any, claims map[string]any) (string, error) {
	return signAs(i.signer(), alg, header, claims)
}

// SignRaw signs the given header and payload bytes verbatim with the current
// key under its algorithm, nothing added or checked: for tokens no map can
// express (duplicate claim names, invalid JSON, odd whitespace).
func (i *Issuer) SignRaw(header, payload []byte) string {
	k := i.signer()
	signing := b64(header) + "." + b64(payload)
	sig, err := jwt.GetSigningMethod(k.alg).Sign(signing, k.priv)
	if err != nil {
		panic("issuer: signing: " + err.Error())
	}
	return signing + "." + b64(sig)
}

func signAs(k *key, alg string, header, claims map[string]any) (string, error) {
	h := maps.Clone(header)
	if h == nil {
		h = map[string]any{}
	}
	if _, ok := h["alg"]; !ok {
		h["alg"] = alg
	}
	if _, ok := h["kid"]; !ok {
		h["kid"] = k.kid
	}
	for name, v := range h {
		if v == nil {
			delete(h, name)
		}
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("encoding header: %w", err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding claims: %w", err)
	}
	signing := b64(hb) + "." + b64(cb)
	if alg == "none" {
		return signing + ".", nil
	}
	method := jwt.GetSigningMethod(alg)
	if method == nil {
		return "", fmt.Errorf("unknown algorithm %q", alg)
	}
	var signingKey any = k.priv
	if strings.HasPrefix(alg, "HS") {
		der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
		if err != nil {
			return "", fmt.Errorf("encoding public key: %w", err)
		}
		signingKey = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	sig, err := method.Sign(signing, signingKey)
	if err != nil {
		return "", fmt.Errorf("signing %s with a %s key: %w", alg, k.alg, err)
	}
	return signing + "." + b64(sig), nil
}
