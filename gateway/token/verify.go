package token

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verify checks raw, a compact JWS access token, and returns its claims.
//
// It returns a *Error (a refusal, with a Reason) when the token is bad, or an
// error wrapping ErrKeysUnavailable when the issuer's keys cannot be had (a
// technical failure; also when ctx ends while waiting for a key refresh).
// The only success is a nil error.
//
// Order: size; structure; header (alg, key-carrying members, crit, typ);
// payload decoded strictly; iss; the issuer's alg allowlist; claim types;
// ID-token markers; times; audience; client; keys; signature. Everything
// before the keys is cheap and needs no network, so bad tokens never cause a
// JWKS fetch.
//
// With a cache (Options.Cache), a token verified before is answered from it
// after the time and key checks have passed again (see CacheConfig). The
// returned Claims may then be shared between calls: callers must not modify
// them.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	if len(raw) > v.maxBytes {
		return nil, refuse(ReasonTooLarge, "the token is too large")
	}
	if v.cache == nil {
		c, _, err := v.verify(ctx, raw)
		return c, err
	}
	key := maphash.String(v.cache.seed, raw)
	if c := v.cache.lookup(v, key, raw); c != nil {
		return c, nil
	}
	c, vd, err := v.verify(ctx, raw)
	if err == nil && vd.key != nil {
		v.cache.add(key, raw, c, vd.is, vd.hdr, vd.key, vd.ks, v.now())
	}
	return c, err
}

// verified is what a successful verification used, for the cache.
type verified struct {
	is  *issuer
	hdr header
	key *jwk    // the one key that verified; nil when several were tried
	ks  *keySet // the key set it came from
}

// verify is Verify without the cache.
func (v *Verifier) verify(ctx context.Context, raw string) (*Claims, verified, error) {
	var vd verified
	h, p, err := split(raw)
	if err != nil {
		return nil, vd, err
	}
	hdr, err := parseHeader(h)
	if err != nil {
		return nil, vd, err
	}
	payload, derr := decodeSegment(p)
	if derr != nil {
		return nil, vd, refuse(ReasonMalformed, "the token payload is not base64url")
	}
	m, derr := decodeObject(payload)
	switch {
	case errors.Is(derr, errDuplicate):
		return nil, vd, refuse(ReasonBadClaim, "the token payload has duplicate claim names")
	case derr != nil:
		return nil, vd, refuse(ReasonMalformed, "the token payload is not a JSON object")
	}

	// iss first: nothing issuer-specific, keys included, is looked at before.
	issVal, ok := m["iss"]
	if !ok {
		return nil, vd, refuse(ReasonUnknownIssuer, "the token has no iss claim")
	}
	iss, ok := issVal.(string)
	if !ok {
		return nil, vd, refuse(ReasonBadClaim, "claim iss is not a string")
	}
	is := v.issuers[iss]
	if is == nil {
		return nil, vd, refuse(ReasonUnknownIssuer, v.untrustedIssuer(iss))
	}
	if !is.algs[hdr.alg] {
		return nil, vd, refuse(ReasonUnsupportedAlg, "the token's algorithm is not allowed for its issuer")
	}
	if is.cfg.RequireATJWT && !hdr.atJWT {
		return nil, vd, refuse(ReasonTypRequired, "the token's typ header must be at+jwt")
	}

	c, rerr := readClaims(m, &is.cfg)
	if rerr != nil {
		return nil, vd, rerr
	}
	c.Issuer = iss
	c.Scopes = addClaimScopes(c.Scopes, m, is.scopes)
	if rerr := idTokenClaims(m); rerr != nil {
		return nil, vd, rerr
	}
	if rerr := requiredClaims(m, is.cfg.RequiredClaims); rerr != nil {
		return nil, vd, rerr
	}
	if rerr := is.checkTimes(c, v.now()); rerr != nil {
		return nil, vd, rerr
	}
	if rerr := is.checkAudience(c, m); rerr != nil {
		return nil, vd, rerr
	}
	if len(is.clients) > 0 && !is.clients[c.ClientID] {
		return nil, vd, refuse(ReasonClientNotAllowed, "the token's client is not allowed")
	}

	key, one, ks, err := v.selectKey(ctx, is, hdr)
	if err != nil {
		return nil, vd, err
	}
	// The signature, by golang-jwt's signing method for the one algorithm
	// the header names (already in the issuer's allowlist and bound to the
	// key), over the exact bytes received. Claims were decided above from
	// our strict decoding: no second, looser decoding takes part.
	if err := verifySignature(hdr.alg, raw, len(h)+1+len(p), key); err != nil {
		return nil, vd, err
	}
	c.scopeList = strings.Join(c.Scopes, " ")
	return c, verified{is: is, hdr: hdr, key: one, ks: ks}, nil
}

// split checks the compact serialization: exactly three non-empty segments of
// unpadded base64url characters.
func split(raw string) (h, p string, err error) {
	switch strings.Count(raw, ".") {
	case 2:
	case 4:
		return "", "", refuse(ReasonMalformed, "encrypted tokens (JWE) are not accepted")
	default:
		return "", "", refuse(ReasonMalformed, "the token is not a compact JWS")
	}
	h, rest, _ := strings.Cut(raw, ".")
	p, s, _ := strings.Cut(rest, ".")
	for _, seg := range [3]string{h, p, s} {
		if seg == "" || !isB64URL(seg) {
			return "", "", refuse(ReasonMalformed, "the token is not three base64url segments")
		}
	}
	return h, p, nil
}

func isB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

func decodeSegment(seg string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(seg)
}

func (is *issuer) checkAudience(c *Claims, m map[string]any) *Error {
	for _, a := range c.Audience {
		if is.auds[a] {
			return nil
		}
	}
	_, hasAud := m["aud"]
	if !hasAud && is.cfg.AcceptClientIDAsAudience && is.auds[c.ClientID] {
		return nil
	}
	if c.ClientID != "" {
		for _, a := range c.Audience {
			if a == c.ClientID {
				return refuse(ReasonIDTokenAudience, "the token's audience is its own client: an ID token is not an access token")
			}
		}
	}
	if !hasAud {
		return refuse(ReasonBadAudience, "the token has no aud claim (expected one of "+quoteList(is.cfg.Audiences)+")")
	}
	return refuse(ReasonBadAudience, "the token is not meant for this audience: its aud is "+quoteList(c.Audience)+
		", expected one of "+quoteList(is.cfg.Audiences))
}

// untrustedIssuer says why iss is not trusted, naming the trusted issuers
// (public: they publish discovery documents), and the near miss an
// operator most often makes: a trailing slash, or letter case.
func (v *Verifier) untrustedIssuer(iss string) string {
	trusted := make([]string, 0, len(v.issuers))
	near := ""
	for name := range v.issuers {
		trusted = append(trusted, name)
		if strings.TrimRight(name, "/") == strings.TrimRight(iss, "/") || strings.EqualFold(name, iss) {
			near = name
		}
	}
	slices.Sort(trusted)
	msg := "the token's issuer " + strconv.Quote(clip(iss)) + " is not trusted (trusted: " + quoteList(trusted) + ")"
	if near != "" {
		msg += "; it differs from " + strconv.Quote(near) + " only by a trailing slash or letter case: iss must match exactly"
	}
	return msg
}

// quoteList quotes each of vs (clipped) and joins them.
func quoteList(vs []string) string {
	if len(vs) == 0 {
		return "none"
	}
	out := make([]string, 0, min(len(vs), 5))
	for i, v := range vs {
		if i == 5 {
			out = append(out, "...")
			break
		}
		out = append(out, strconv.Quote(clip(v)))
	}
	return strings.Join(out, ", ")
}

// clip bounds a token-supplied value in a message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

// selectKey returns the key (or keys) that may verify this token: for a kid,
// that kid's keys only, refreshing once (rate-limited) when it is unknown;
// without a kid, the keys bound to the token's alg. one is the key when
// there is exactly one, and ks the key set the keys came from.
func (v *Verifier) selectKey(ctx context.Context, is *issuer, hdr header) (key any, one *jwk, ks *keySet, err error) {
	ks = is.keys(v.now())
	if ks == nil {
		return nil, nil, nil, fmt.Errorf("token: issuer keys never fetched or stale: %w", ErrKeysUnavailable)
	}
	keys, known := ks.candidates(hdr.kid, hdr.hasKID, hdr.alg)
	if !known {
		err = is.src.refreshForKID(ctx, func() bool {
			ks := is.keys(v.now())
			if ks == nil {
				return false
			}
			_, known := ks.candidates(hdr.kid, hdr.hasKID, hdr.alg)
			return known
		})
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, nil, nil, fmt.Errorf("%w: waiting for key refresh: %w", ErrKeysUnavailable, ctxErr)
		}
		// An unknown kid while the issuer's JWKS cannot be fetched may be
		// a rotated key we cannot see yet: that is "keys not obtainable"
		// (503, retry), not a bad token.
		if err != nil && !errors.Is(err, errRateLimited) || errors.Is(err, errRateLimited) && is.src.lastFailed.Load() {
			return nil, nil, nil, fmt.Errorf("token: unknown kid while the JWKS cannot be fetched: %w", ErrKeysUnavailable)
		}
		if ks = is.keys(v.now()); ks == nil {
			return nil, nil, nil, fmt.Errorf("token: issuer keys stale: %w", ErrKeysUnavailable)
		}
		keys, known = ks.candidates(hdr.kid, hdr.hasKID, hdr.alg)
		if !known {
			return nil, nil, nil, refuse(ReasonUnknownKID, "the token's key is not known to its issuer")
		}
	}
	switch len(keys) {
	case 0:
		return nil, nil, nil, refuse(ReasonAlgKeyMismatch, "no key of the issuer fits the token's algorithm")
	case 1:
		return keys[0].public, keys[0], ks, nil
	}
	set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(keys))}
	for i, k := range keys {
		set.Keys[i] = k.public
	}
	return set, nil, ks, nil
}

// verifySignature checks the JWS signature of raw, whose signing input is
// raw[:n], under key (one public key, or a jwt.VerificationKeySet of keys
// that all fit alg). Only a nil error accepts.
func verifySignature(alg, raw string, n int, key any) *Error {
	method := jwt.GetSigningMethod(alg)
	if method == nil || strings.EqualFold(alg, "none") {
		return refuse(ReasonUnsupportedAlg, "the token's algorithm is not allowed for its issuer")
	}
	sig, err := decodeSegment(raw[n+1:])
	if err != nil {
		return refuse(ReasonMalformed, "the token signature is not base64url")
	}
	input := raw[:n]
	if set, ok := key.(jwt.VerificationKeySet); ok {
		for _, k := range set.Keys {
			if method.Verify(input, sig, k) == nil {
				return nil
			}
		}
	} else if method.Verify(input, sig, key) == nil {
		return nil
	}
	return &Error{Reason: ReasonBadSignature, Detail: "the token's signature is invalid", Err: jwt.ErrTokenSignatureInvalid}
}

// checkTimes applies exp, nbf and iat with the issuer's leeway.
func (is *issuer) checkTimes(c *Claims, now time.Time) *Error {
	l := is.cfg.Leeway
	if !c.ExpiresAt.After(now.Add(-l)) {
		return refuse(ReasonExpired, "the token has expired")
	}
	if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(l)) {
		return refuse(ReasonNotYetValid, "the token is not valid yet")
	}
	if !c.IssuedAt.IsZero() && c.IssuedAt.After(now.Add(l)) {
		return refuse(ReasonIssuedInFuture, "the token is issued in the future")
	}
	return nil
}
