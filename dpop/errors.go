package dpop

import "errors"

// Error codes of RFC 9449 section 7.1, for the WWW-Authenticate challenge.
const (
	CodeInvalidProof = "invalid_dpop_proof"
	CodeUseNonce     = "use_dpop_nonce"
)

// Reasons are stable codes saying why a proof was refused: the audit
// record's reason.
const (
	ReasonMissing      = "dpop_proof_missing"
	ReasonMultiple     = "dpop_proof_multiple"
	ReasonTooLarge     = "dpop_proof_too_large"
	ReasonMalformed    = "dpop_proof_malformed"
	ReasonType         = "dpop_proof_typ"
	ReasonAlg          = "dpop_proof_alg"
	ReasonKey          = "dpop_proof_jwk"
	ReasonSignature    = "dpop_proof_signature"
	ReasonMethod       = "dpop_proof_htm"
	ReasonURI          = "dpop_proof_htu"
	ReasonIssuedAt     = "dpop_proof_iat"
	ReasonAccessToken  = "dpop_proof_ath"
	ReasonKeyMismatch  = "dpop_proof_key_mismatch"
	ReasonNonce        = "dpop_nonce_required"
	ReasonReplay       = "dpop_proof_replayed"
	ReasonMissingClaim = "dpop_proof_claims"
)

// Error is a refused proof: a decision, not a technical failure. Code is
// the RFC 9449 error code (CodeInvalidProof or CodeUseNonce), Reason the
// audit code and Detail a client-safe description that never quotes the
// proof.
type Error struct {
	Code   string
	Reason string
	Detail string
}

func (e *Error) Error() string { return "dpop: " + e.Detail }

func refuse(reason, detail string) *Error {
	return &Error{Code: CodeInvalidProof, Reason: reason, Detail: detail}
}

// ErrReplayCacheUnavailable wraps a failure of the replay cache's store: a
// technical failure, not an answer about the proof. The proof cannot be
// accepted (a replay could not be ruled out), and the client may retry.
var ErrReplayCacheUnavailable = errors.New("dpop replay cache unavailable")
