package dpop

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopegate/scopegate/internal/strictjson"
)

// ReplayStore records the proofs seen: SetNX stores key only if absent,
// atomically across every replica sharing the backend. state.Store
// satisfies it.
type ReplayStore interface {
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (stored bool, err error)
}

// Defaults of Config.
const (
	DefaultMaxAge        = 60 * time.Second
	DefaultMaxFuture     = 5 * time.Second
	DefaultMaxProofBytes = 8192
	DefaultReplayTimeout = time.Second
	maxJTIBytes          = 256
)

// Config configures a Verifier. Zero values take the documented defaults.
type Config struct {
	// Algorithms the proof's alg must be one of. Default DefaultAlgorithms.
	Algorithms []string
	// MaxAge is how old a proof's iat may be. Default 60s.
	MaxAge time.Duration
	// MaxFuture is how far ahead of the clock a proof's iat may be (clock
	// skew). Default 5s.
	MaxFuture time.Duration
	// MaxProofBytes refuses longer DPoP headers before decoding them.
	// Default 8192.
	MaxProofBytes int
	// Replay is the replay cache. Required.
	Replay ReplayStore
	// ReplayTimeout bounds the replay cache call of one proof: past it,
	// Verify returns ErrReplayCacheUnavailable (the request is not
	// accepted), whatever the store's own socket timeouts. Default
	// DefaultReplayTimeout.
	ReplayTimeout time.Duration
	// Nonces, when set, checks a proof's nonce claim when it has one.
	// Default nil: nonces are neither issued nor checked.
	Nonces *Nonces
	// RequireNonce refuses proofs without a valid nonce with
	// use_dpop_nonce (the 401 then carries a fresh one). Needs Nonces.
	// Default false.
	RequireNonce bool
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Verifier checks DPoP proofs. It is safe for concurrent use.
type Verifier struct {
	cfg Config
}

// NewVerifier returns a Verifier for cfg.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Replay == nil {
		return nil, errors.New("dpop: a replay store is required")
	}
	if cfg.RequireNonce && cfg.Nonces == nil {
		return nil, errors.New("dpop: requiring nonces needs a nonce maker")
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = DefaultAlgorithms
	}
	for _, a := range cfg.Algorithms {
		if !Supported(a) {
			return nil, fmt.Errorf("dpop: algorithm %q is not supported", a)
		}
	}
	cfg.Algorithms = slices.Clone(cfg.Algorithms)
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MaxFuture <= 0 {
		cfg.MaxFuture = DefaultMaxFuture
	}
	if cfg.MaxProofBytes <= 0 {
		cfg.MaxProofBytes = DefaultMaxProofBytes
	}
	if cfg.ReplayTimeout <= 0 {
		cfg.ReplayTimeout = DefaultReplayTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg}, nil
}

// Algorithms returns the accepted algorithms, for the challenge's algs.
func (v *Verifier) Algorithms() []string { return slices.Clone(v.cfg.Algorithms) }

// Nonce returns a fresh nonce for a DPoP-Nonce header, or "" when nonces
// are off.
func (v *Verifier) Nonce() string {
	if v.cfg.Nonces == nil {
		return ""
	}
	return v.cfg.Nonces.Current()
}

// Request is what a proof is checked against.
type Request struct {
	// Proofs are the values of every DPoP header of the request.
	Proofs []string
	// Method is the request's method.
	Method string
	// URI is the request's URI as the client addressed it, built from the
	// gateway's configured public base URL (never from forwarding
	// headers); it is normalized here.
	URI string
	// AccessToken is the access token sent with the proof (for ath).
	AccessToken string
	// JKT is the token's cnf.jkt: the proof's key must have this
	// thumbprint.
	JKT string
}

// Proof is an accepted proof: what the audit record may say of it.
type Proof struct {
	// JKT is the thumbprint of the proof's key (equal to Request.JKT).
	JKT string
	// IssuedAt is the proof's iat.
	IssuedAt time.Time
}

// Verify checks the request's proof. It returns the accepted proof, an
// *Error (a refusal), or an error wrapping ErrReplayCacheUnavailable.
func (v *Verifier) Verify(ctx context.Context, req Request) (*Proof, error) {
	switch len(req.Proofs) {
	case 0:
		return nil, refuse(ReasonMissing, "the request carries no DPoP proof")
	case 1:
	default:
		return nil, refuse(ReasonMultiple, "the request carries more than one DPoP header")
	}
	raw := req.Proofs[0]
	if len(raw) > v.cfg.MaxProofBytes {
		return nil, refuse(ReasonTooLarge, "the DPoP proof is too large")
	}
	hseg, rest, ok1 := strings.Cut(raw, ".")
	pseg, sseg, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sseg, ".") {
		return nil, refuse(ReasonMalformed, "the DPoP proof is not a compact JWS")
	}
	hb, err1 := base64.RawURLEncoding.Strict().DecodeString(hseg)
	pb, err2 := base64.RawURLEncoding.Strict().DecodeString(pseg)
	sig, err3 := base64.RawURLEncoding.Strict().DecodeString(sseg)
	if err1 != nil || err2 != nil || err3 != nil || len(sig) == 0 {
		return nil, refuse(ReasonMalformed, "the DPoP proof is not base64url")
	}
	h, err := strictjson.DecodeObject(hb)
	if err != nil {
		return nil, refuse(ReasonMalformed, "the DPoP proof header is not a strict JSON object")
	}
	if typ, ok := h["typ"].(string); !ok || typ != "dpop+jwt" {
		return nil, refuse(ReasonType, `the DPoP proof's typ is not "dpop+jwt"`)
	}
	alg, _ := h["alg"].(string)
	if !slices.Contains(v.cfg.Algorithms, alg) {
		return nil, refuse(ReasonAlg, "the DPoP proof's alg is not an accepted asymmetric algorithm")
	}
	if _, ok := h["crit"]; ok {
		return nil, refuse(ReasonMalformed, "the DPoP proof lists critical extensions that are not understood")
	}
	for _, name := range [...]string{"jku", "x5u", "x5c"} {
		if _, ok := h[name]; ok {
			// The key is the jwk, alone: another key reference would
			// leave it ambiguous which key the proof names.
			return nil, refuse(ReasonKey, "the DPoP proof header names a key other than by jwk ("+name+")")
		}
	}
	key, e := parseJWK(h["jwk"])
	if e != nil {
		return nil, e
	}
	if algFamily[alg] != key.family {
		return nil, refuse(ReasonKey, "the DPoP proof's jwk does not fit its alg")
	}
	method := jwt.GetSigningMethod(alg)
	if method == nil {
		return nil, refuse(ReasonAlg, "the DPoP proof's alg is not supported")
	}
	if err := method.Verify(raw[:len(hseg)+1+len(pseg)], sig, key.key); err != nil {
		return nil, refuse(ReasonSignature, "the DPoP proof's signature does not verify with its jwk")
	}
	c, e := readClaims(pb)
	if e != nil {
		return nil, e
	}
	if c.htm != req.Method {
		return nil, refuse(ReasonMethod, "the DPoP proof's htm is not the request's method")
	}
	want, err := NormalizeURI(req.URI)
	if err != nil {
		return nil, fmt.Errorf("dpop: the request URI %q: %w", req.URI, err)
	}
	if got, err := NormalizeURI(c.htu); err != nil || got != want {
		return nil, refuse(ReasonURI, "the DPoP proof's htu is not this request's URI")
	}
	now := v.cfg.Now()
	if c.iat.Before(now.Add(-v.cfg.MaxAge)) || c.iat.After(now.Add(v.cfg.MaxFuture)) {
		return nil, refuse(ReasonIssuedAt, "the DPoP proof's iat is outside the accepted window")
	}
	if req.AccessToken != "" {
		if c.ath == "" {
			return nil, refuse(ReasonAccessToken, "the DPoP proof has no ath for the access token")
		}
		if subtle.ConstantTimeCompare([]byte(c.ath), []byte(AccessTokenHash(req.AccessToken))) != 1 {
			return nil, refuse(ReasonAccessToken, "the DPoP proof's ath is not the hash of this access token")
		}
	}
	if req.JKT == "" || subtle.ConstantTimeCompare([]byte(key.jkt), []byte(req.JKT)) != 1 {
		return nil, refuse(ReasonKeyMismatch, "the DPoP proof's key is not the key the access token is bound to")
	}
	if n := v.cfg.Nonces; n != nil && (c.hasNonce || v.cfg.RequireNonce) && !n.Valid(c.nonce) {
		return nil, &Error{Code: CodeUseNonce, Reason: ReasonNonce, Detail: "the resource server requires a current nonce in the DPoP proof"}
	}
	// Last, so that only proofs good in every other way use up a jti.
	rctx, cancel := context.WithTimeout(ctx, v.cfg.ReplayTimeout)
	defer cancel()
	stored, err := v.cfg.Replay.SetNX(rctx, replayKey(key.jkt, c.jti), []byte{1}, v.cfg.MaxAge+v.cfg.MaxFuture)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReplayCacheUnavailable, err)
	}
	if !stored {
		return nil, refuse(ReasonReplay, "the DPoP proof was used before")
	}
	return &Proof{JKT: key.jkt, IssuedAt: c.iat}, nil
}

// replayKey names a seen proof in the shared store: a hash of the key's
// thumbprint and the jti, so that the store holds no client-chosen bytes
// and one client cannot use up another's jti values. A proof stays there
// for MaxAge+MaxFuture, the longest its iat keeps it acceptable.
func replayKey(jkt, jti string) string {
	h := sha256.New()
	h.Write([]byte(jkt))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	return "dpop:jti:" + hex.EncodeToString(h.Sum(nil))
}

// AccessTokenHash is a proof's ath for an access token: base64url of its
// SHA-256 (RFC 9449 section 4.2).
func AccessTokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

type claims struct {
	htm, htu, jti, ath, nonce string
	hasNonce                  bool
	iat                       time.Time
}

// readClaims reads the proof's payload strictly: exact names, each of the
// right JSON type.
func readClaims(b []byte) (*claims, *Error) {
	m, err := strictjson.DecodeObject(b)
	if err != nil {
		return nil, refuse(ReasonMalformed, "the DPoP proof's payload is not a strict JSON object")
	}
	c := &claims{}
	for _, f := range []struct {
		name     string
		dst      *string
		required bool
	}{{"htm", &c.htm, true}, {"htu", &c.htu, true}, {"jti", &c.jti, true}, {"ath", &c.ath, false}, {"nonce", &c.nonce, false}} {
		v, ok := m[f.name]
		if !ok {
			if f.required {
				return nil, refuse(ReasonMissingClaim, "the DPoP proof has no "+f.name+" claim")
			}
			continue
		}
		s, ok := v.(string)
		if !ok || s == "" && f.name != "nonce" {
			return nil, refuse(ReasonMissingClaim, "the DPoP proof's "+f.name+" claim is not a non-empty string")
		}
		*f.dst = s
	}
	_, c.hasNonce = m["nonce"]
	if len(c.jti) > maxJTIBytes {
		return nil, refuse(ReasonMissingClaim, "the DPoP proof's jti is too long")
	}
	n, ok := m["iat"].(json.Number)
	if !ok {
		return nil, refuse(ReasonMissingClaim, "the DPoP proof has no numeric iat claim")
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 32503680000 { // 3000-01-01
		return nil, refuse(ReasonIssuedAt, "the DPoP proof's iat is not a sane NumericDate")
	}
	sec, frac := math.Modf(f)
	c.iat = time.Unix(int64(sec), int64(frac*1e9))
	return c, nil
}
