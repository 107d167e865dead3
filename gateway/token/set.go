package token

import (
	"context"
	"slices"
	"strings"
	"time"
)

// SET is a verified Security Event Token (RFC 8417), such as an OpenID
// Shared Signals / CAEP event pushed by an issuer.
type SET struct {
	// Issuer is the SET's iss: a configured issuer.
	Issuer string
	// ID is its jti.
	ID string
	// IssuedAt is its iat.
	IssuedAt time.Time
	// Events maps each event type URI to its payload.
	Events map[string]map[string]any
	// Claims are every claim of the SET, strictly decoded (sub_id, txn...).
	Claims map[string]any
}

// MaxSETAge is how old a SET's iat may be when it is verified: older
// events are refused, so that a SET replayed after its jti has been
// forgotten does nothing.
const MaxSETAge = time.Hour

// VerifySET checks raw, a compact JWS Security Event Token, as Verify
// checks an access token, with the rules of RFC 8417 in place of those of
// access tokens: the typ header must be secevent+jwt (explicit typing, so
// that no access or ID token is ever taken for an event, nor an event for
// a token: Verify refuses this typ); iss a configured issuer, signed by
// one of its keys under an allowed algorithm; aud must contain audience;
// jti and iat are required, iat neither in the future (beyond the
// issuer's leeway) nor older than MaxSETAge; events is an object of at
// least one event, each an object. A SET has no exp and grants nothing.
//
// Errors are as Verify's: a *Error, or one wrapping ErrKeysUnavailable.
func (v *Verifier) VerifySET(ctx context.Context, raw, audience string) (*SET, error) {
	if len(raw) > v.maxBytes {
		return nil, refuse(ReasonTooLarge, "the event token is too large")
	}
	h, p, err := split(raw)
	if err != nil {
		return nil, err
	}
	hdr, typ, err := parseJOSE(h)
	if err != nil {
		return nil, err
	}
	if typ == nil || !strings.EqualFold(*typ, "secevent+jwt") && !strings.EqualFold(*typ, "application/secevent+jwt") {
		return nil, refuse(ReasonMalformed, "a security event token has the typ header secevent+jwt")
	}
	payload, derr := decodeSegment(p)
	if derr != nil {
		return nil, refuse(ReasonMalformed, "the event token payload is not base64url")
	}
	m, derr := decodeObject(payload)
	if derr != nil {
		return nil, refuse(ReasonMalformed, "the event token payload is not a JSON object without duplicate members")
	}
	iss, _ := m["iss"].(string)
	is := v.issuers[iss]
	if is == nil {
		return nil, refuse(ReasonUnknownIssuer, v.untrustedIssuer(iss))
	}
	if !is.algs[hdr.alg] {
		return nil, refuse(ReasonUnsupportedAlg, "the event token's algorithm is not allowed for its issuer")
	}
	set, rerr := readSET(m, audience, is.cfg.Leeway, v.now())
	if rerr != nil {
		return nil, rerr
	}
	set.Issuer = iss
	key, _, _, err := v.selectKey(ctx, is, hdr)
	if err != nil {
		return nil, err
	}
	if err := verifySignature(hdr.alg, raw, len(h)+1+len(p), key); err != nil {
		return nil, err
	}
	return set, nil
}

// readSET judges the claims of a SET of a known issuer.
func readSET(m map[string]any, audience string, leeway time.Duration, now time.Time) (*SET, *Error) {
	auds, ok := stringOrStrings(m["aud"])
	if !ok || !slices.Contains(auds, audience) {
		return nil, refuse(ReasonBadAudience, "the event token is not meant for this receiver: its aud must contain "+quoteList([]string{audience}))
	}
	jti, _ := m["jti"].(string)
	if jti == "" {
		return nil, refuse(ReasonBadClaim, "the event token has no jti string")
	}
	iat, ok := numericDate(m["iat"])
	switch {
	case !ok:
		return nil, refuse(ReasonBadClaim, "the event token has no iat NumericDate")
	case iat.After(now.Add(leeway)):
		return nil, refuse(ReasonIssuedInFuture, "the event token is issued in the future")
	case iat.Before(now.Add(-MaxSETAge)):
		return nil, refuse(ReasonExpired, "the event token is older than "+MaxSETAge.String())
	}
	evs, ok := m["events"].(map[string]any)
	if !ok || len(evs) == 0 {
		return nil, refuse(ReasonBadClaim, "the event token's events claim is not an object of at least one event")
	}
	set := &SET{ID: jti, IssuedAt: iat, Events: make(map[string]map[string]any, len(evs)), Claims: m}
	for uri, p := range evs {
		payload, ok := p.(map[string]any)
		if !ok {
			return nil, refuse(ReasonBadClaim, "an event's payload is not an object")
		}
		set.Events[uri] = payload
	}
	return set, nil
}
