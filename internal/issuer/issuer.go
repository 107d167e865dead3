// Package issuer is a small OpenID Connect issuer for `scopegate demo` and
// for tests.
//
// An Issuer holds one or more signing keys, serves OIDC discovery and a JWKS
// over HTTP (Handler), and mints tokens with its current key: RFC 9068
// access tokens (AccessToken), OIDC ID tokens (IDToken), and arbitrary or
// deliberately malformed tokens for hostile tests (Sign, SignRaw, SignAs).
// Keys can be rotated and removed, and the endpoints can be taken down, so
// that tests can exercise a verifier's key refresh and outage handling.
//
// It is not an authorization server: it has no authorization or token
// endpoint; tokens are minted by calling its methods directly.
package issuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Algorithms the Issuer can generate keys for.
const (
	// ES256 is ECDSA on P-256 with SHA-256 (the default).
	ES256 = "ES256"
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256 on a 2048-bit RSA key.
	RS256 = "RS256"
	// EdDSA is Ed25519.
	EdDSA = "EdDSA"
)

// Options configures an Issuer. The zero value is usable.
type Options struct {
	// Algorithm is the signing algorithm of the keys New and Rotate
	// generate: "ES256", "RS256" or "EdDSA". Empty means "ES256".
	Algorithm string
	// Now is the clock used for iat, nbf, exp and auth_time. Nil means
	// time.Now.
	Now func() time.Time
	// Key, if set, is the first signing key instead of a generated one
	// (e.g. the key a running demo saved, for `scopegate token`). It must
	// suit Algorithm: *ecdsa.PrivateKey on P-256 for ES256, *rsa.PrivateKey
	// for RS256, ed25519.PrivateKey for EdDSA.
	Key crypto.Signer
	// KID is the kid of Key; empty means a random one. Ignored without Key.
	KID string
}

// Issuer is an OpenID Connect issuer with rotatable keys. It is safe for
// concurrent use.
type Issuer struct {
	alg string
	now func() time.Time

	mu      sync.RWMutex
	url     string
	keys    []*key           // in JWKS order, oldest first
	current *key             // signs new tokens; in keys unless removed
	all     map[string]*key  // every key ever generated, by kid
	raw     []map[string]any // verbatim extra JWKS entries (AddRawKey)

	down    atomic.Bool
	fetches atomic.Int64
}

// key is one signing key bound to exactly one algorithm.
type key struct {
	kid  string
	alg  string
	priv crypto.Signer
}

// New returns an Issuer with one freshly generated signing key under a
// random kid. It fails only on an unsupported Options.Algorithm.
func New(opts Options) (*Issuer, error) {
	alg := opts.Algorithm
	if alg == "" {
		alg = ES256
	}
	if !supportedAlg(alg) {
		return nil, fmt.Errorf("issuer: unsupported algorithm %q (want ES256, RS256 or EdDSA)", alg)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	i := &Issuer{alg: alg, now: now, all: make(map[string]*key)}
	if opts.Key == nil {
		i.addKey(alg)
		return i, nil
	}
	if !keyFits(opts.Key, alg) {
		return nil, fmt.Errorf("issuer: a %T cannot sign %s", opts.Key, alg)
	}
	k := &key{kid: opts.KID, alg: alg, priv: opts.Key}
	if k.kid == "" {
		k.kid = rand.Text()
	}
	i.keys, i.current, i.all[k.kid] = []*key{k}, k, k
	return i, nil
}

func keyFits(k crypto.Signer, alg string) bool {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return alg == ES256 && k.Curve == elliptic.P256()
	case *rsa.PrivateKey:
		return alg == RS256 && k.N.BitLen() >= 2048
	case ed25519.PrivateKey:
		return alg == EdDSA
	}
	return false
}

// CurrentKey returns the key that signs new tokens, its kid and algorithm,
// so that a process can hand it to another (see Options.Key).
func (i *Issuer) CurrentKey() (kid, alg string, priv crypto.Signer) {
	k := i.signer()
	return k.kid, k.alg, k.priv
}

func supportedAlg(alg string) bool {
	return alg == ES256 || alg == RS256 || alg == EdDSA
}

// generateKey makes a key for alg, which must be supported. Key generation
// draws from crypto/rand, which does not fail on supported platforms.
func generateKey(alg string) *key {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		panic("issuer: unsupported algorithm " + alg)
	}
	if err != nil {
		panic("issuer: generating key: " + err.Error())
	}
	return &key{kid: rand.Text(), alg: alg, priv: priv}
}

// addKey generates a key for alg, appends it to the JWKS and makes it current.
func (i *Issuer) addKey(alg string) string {
	k := generateKey(alg) // outside the lock: RSA generation is slow
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = append(i.keys, k)
	i.all[k.kid] = k
	i.current = k
	return k.kid
}

// SetURL sets the public base URL of the issuer, e.g. an httptest.Server's
// URL. It is the iss of minted tokens and the issuer of discovery, and the
// base of jwks_uri. A trailing slash is removed. Call it before minting
// tokens.
func (i *Issuer) SetURL(u string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.url = strings.TrimRight(u, "/")
}

// URL returns the base URL set by SetURL, or "" before it is called.
func (i *Issuer) URL() string {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.url
}

// JWKSURL returns URL() + "/jwks.json", the jwks_uri of discovery.
func (i *Issuer) JWKSURL() string {
	return i.URL() + "/jwks.json"
}

// Rotate generates a new key with the Issuer's algorithm and makes it the
// current one; older keys stay in the JWKS until RemoveKey. It returns the
// new key's kid.
func (i *Issuer) Rotate() (newKID string) {
	return i.addKey(i.alg)
}

// RotateTo is Rotate with a key for another algorithm ("ES256", "RS256" or
// "EdDSA"), so that one JWKS can hold keys of several algorithms.
func (i *Issuer) RotateTo(alg string) (newKID string, err error) {
	if !supportedAlg(alg) {
		return "", fmt.Errorf("issuer: unsupported algorithm %q (want ES256, RS256 or EdDSA)", alg)
	}
	return i.addKey(alg), nil
}

// RemoveKey drops the key with the given kid from the JWKS. Removing the
// current key leaves the Issuer still signing with it (tokens under a kid
// that is no longer published); call Rotate to get a published one. An
// unknown kid is ignored.
func (i *Issuer) RemoveKey(kid string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	kept := i.keys[:0]
	for _, k := range i.keys {
		if k.kid != kid {
			kept = append(kept, k)
		}
	}
	clear(i.keys[len(kept):])
	i.keys = kept
}

// AddRawKey appends a verbatim entry to the published JWKS, after the
// Issuer's own keys: for tests of JWKS entries a verifier must skip (unknown
// kty, missing fields, use "enc", ...). The map is not copied; do not modify
// it afterwards.
func (i *Issuer) AddRawKey(jwk map[string]any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.raw = append(i.raw, jwk)
}

// CurrentKID returns the kid of the key that signs new tokens.
func (i *Issuer) CurrentKID() string {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.current.kid
}

// KIDs returns the kids of the published keys, oldest first (entries added
// with AddRawKey are not included).
func (i *Issuer) KIDs() []string {
	i.mu.RLock()
	defer i.mu.RUnlock()
	kids := make([]string, len(i.keys))
	for n, k := range i.keys {
		kids[n] = k.kid
	}
	return kids
}

// PublicKey returns the public key with the given kid, whether or not it is
// still published, or nil if the Issuer never had it.
func (i *Issuer) PublicKey(kid string) crypto.PublicKey {
	i.mu.RLock()
	defer i.mu.RUnlock()
	if k, ok := i.all[kid]; ok {
		return k.priv.Public()
	}
	return nil
}

// SetDown makes the discovery and JWKS endpoints answer 503 while down is
// true, to simulate an identity provider outage.
func (i *Issuer) SetDown(down bool) {
	i.down.Store(down)
}

// JWKSFetches returns how many times /jwks.json has been requested,
// including requests answered 503 while down.
func (i *Issuer) JWKSFetches() int64 {
	return i.fetches.Load()
}

// signer returns the current key.
func (i *Issuer) signer() *key {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.current
}
