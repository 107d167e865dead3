package token

import (
	"slices"
	"strings"
)

// header is what Verify needs from a JOSE header.
type header struct {
	alg    string
	kid    string
	hasKID bool
	atJWT  bool // typ is at+jwt or application/at+jwt
}

// parseHeader decodes and judges the JOSE header on its own, strictly,
// before golang-jwt sees the token (which ignores crit and key-carrying
// members).
func parseHeader(seg string) (header, error) {
	var h header
	b, err := decodeSegment(seg)
	if err != nil {
		return h, refuse(ReasonMalformed, "the token header is not base64url")
	}
	m, err := decodeObject(b)
	if err != nil {
		return h, refuse(ReasonMalformed, "the token header is not a JSON object")
	}
	alg, ok := m["alg"].(string)
	if !ok {
		return h, refuse(ReasonMalformed, "the token header has no alg string")
	}
	switch {
	case strings.EqualFold(alg, "none"):
		return h, refuse(ReasonUnsupportedAlg, "unsigned tokens are not accepted")
	case len(alg) >= 2 && strings.EqualFold(alg[:2], "HS"):
		return h, refuse(ReasonUnsupportedAlg, "symmetric algorithms are not accepted")
	case !slices.Contains(DefaultAlgorithms, alg):
		return h, refuse(ReasonUnsupportedAlg, "the token's algorithm is not supported")
	}
	h.alg = alg
	for _, name := range [...]string{"jwk", "jku", "x5u", "x5c"} {
		if _, ok := m[name]; ok {
			return h, refuse(ReasonHeaderKey, "keys named by the token ("+name+") are never used")
		}
	}
	if _, ok := m["crit"]; ok {
		// No extension is understood, so any crit, even an empty one, fails.
		return h, refuse(ReasonCrit, "the token header lists critical extensions that are not understood")
	}
	if v, ok := m["typ"]; ok {
		typ, ok := v.(string)
		if !ok {
			return h, refuse(ReasonMalformed, "the token header typ is not a string")
		}
		switch {
		case strings.EqualFold(typ, "at+jwt"), strings.EqualFold(typ, "application/at+jwt"):
			h.atJWT = true
		case strings.EqualFold(typ, "JWT"):
		default:
			return h, refuse(ReasonIDTokenType, "the token's typ header is not that of an access token")
		}
	}
	if v, ok := m["kid"]; ok {
		kid, ok := v.(string)
		if !ok || kid == "" {
			return h, refuse(ReasonMalformed, "the token header kid is not a non-empty string")
		}
		h.kid, h.hasKID = kid, true
	}
	return h, nil
}
