package token

import "errors"

// ErrKeysUnavailable is a technical failure, not a verdict on the token: the
// signing keys of the token's issuer have never been fetched, or the last
// successful fetch is older than the issuer's MaxStaleness. Verify wraps it;
// callers test with errors.Is and answer 503 with Retry-After.
var ErrKeysUnavailable = errors.New("token: signing keys not available")

// Reason is a stable, machine-readable code for why a token was refused. The
// values are used as audit-log fields and metric labels; they never change
// meaning.
type Reason string

// Refusal reasons. A reason other than ReasonBadSignature does not imply that
// the token was authentic: claims are checked before the (expensive)
// signature, as go-oidc does, so forged tokens with bad claims are reported
// under the claim's reason.
const (
	ReasonMalformed        Reason = "malformed"                 // not three strict base64url segments of JSON objects, JWE, bad header member types
	ReasonTooLarge         Reason = "too_large"                 // longer than Options.MaxTokenBytes
	ReasonUnsupportedAlg   Reason = "unsupported_alg"           // alg none, HS*, unknown, or not in the issuer's allowlist
	ReasonAlgKeyMismatch   Reason = "alg_key_mismatch"          // no JWKS key fits the token's alg (key alg, type, curve, use, key_ops)
	ReasonHeaderKey        Reason = "header_key"                // header carries jwk, jku, x5u or x5c
	ReasonCrit             Reason = "crit"                      // header carries crit (no extension is understood)
	ReasonUnknownIssuer    Reason = "unknown_issuer"            // iss absent or not exactly a configured issuer
	ReasonUnknownKID       Reason = "unknown_kid"               // kid not in the issuer's JWKS, even after a refresh
	ReasonBadSignature     Reason = "bad_signature"             // signature does not verify under the selected key
	ReasonMissingExp       Reason = "missing_exp"               // no exp claim
	ReasonExpired          Reason = "expired"                   // exp <= now - leeway
	ReasonNotYetValid      Reason = "not_yet_valid"             // nbf > now + leeway
	ReasonIssuedInFuture   Reason = "issued_in_future"          // iat > now + leeway
	ReasonBadClaim         Reason = "bad_claim"                 // wrong claim type, bad NumericDate, duplicate names, bad characters
	ReasonBadAudience      Reason = "bad_audience"              // aud absent or without a configured audience
	ReasonClientNotAllowed Reason = "issuer_client_not_allowed" // client_id/azp absent or not in AllowedClients (a route's clients list is the gateway's client_not_allowed, a 403)
	ReasonIDTokenType      Reason = "id_token_type"             // typ header other than JWT, at+jwt, application/at+jwt
	ReasonIDTokenAudience  Reason = "id_token_audience"         // aud names the token's own client, not a configured audience
	ReasonIDTokenClaims    Reason = "id_token_claims"           // nonce, at_hash, c_hash, token_use=id, typ claim ID/Refresh
	ReasonTypRequired      Reason = "typ_required"              // RequireATJWT and typ header is not at+jwt
	ReasonRequiredClaim    Reason = "required_claim"            // a claim of RequiredClaims is absent or has another value
	ReasonNotAccessToken   Reason = "not_access_token"          // an introspection answer's token_type or token_use names a refresh or ID token
)

// Error is a refusal: the token is bad (HTTP 401 invalid_token). It is not a
// technical failure. Detail is written by this package only and is safe to
// show to clients: it never contains the token or any part of it.
type Error struct {
	Reason Reason
	Detail string
	Err    error // underlying cause, if any; never carries token content
}

// Error returns Detail.
func (e *Error) Error() string { return e.Detail }

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

func refuse(r Reason, detail string) *Error { return &Error{Reason: r, Detail: detail} }
