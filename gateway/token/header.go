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
// members). Its typ must be that of an access token, or absent.
func parseHeader(seg string) (header, error) {
	h, typ, err := parseJOSE(seg)
	if err != nil || typ == nil {
		return h, err
	}
	switch {
	case strings.EqualFold(*typ, "at+jwt"), strings.EqualFold(*typ, "application/at+jwt"):
		h.atJWT = true
	case strings.EqualFold(*typ, "JWT"):
	default:
		return h, refuse(ReasonIDTokenType, "the token's typ header is not that of an access token")
	}
	return h, nil
}

// parseJOSE is parseHeader without the judgement of typ, which it
// returns (nil when absent): access tokens and security event tokens
// (set.go) each accept their own.
func parseJOSE(seg string) (h header, typ *string, err error) {
	b, derr := decodeSegment(seg)
	if derr != nil {
		return h, nil, refuse(ReasonMalformed, "the token header is not base64url")
	}
	m, derr := decodeObject(b)
	if derr != nil {
		return h, nil, refuse(ReasonMalformed, "the token header is not a JSON object")
	}
	alg, ok := m["alg"].(string)
	if !ok {
		return h, nil, refuse(ReasonMalformed, "the token header has no alg string")
	}
	switch {
	case strings.EqualFold(alg, "none"):
		return h, nil, refuse(ReasonUnsupportedAlg, "unsigned tokens are not accepted")
	case len(alg) >= 2 && strings.EqualFold(alg[:2], "HS"):
		return h, nil, refuse(ReasonUnsupportedAlg, "symmetric algorithms are not accepted")
	case !slices.Contains(DefaultAlgorithms, alg):
		return h, nil, refuse(ReasonUnsupportedAlg, "the token's algorithm is not supported")
	}
	h.alg = alg
	for _, name := range [...]string{"jwk", "jku", "x5u", "x5c"} {
		if _, ok := m[name]; ok {
			return h, nil, refuse(ReasonHeaderKey, "keys named by the token ("+name+") are never used")
		}
	}
	if _, ok := m["crit"]; ok {
		// No extension is understood, so any crit, even an empty one, fails.
		return h, nil, refuse(ReasonCrit, "the token header lists critical extensions that are not understood")
	}
	if v, ok := m["typ"]; ok {
		t, ok := v.(string)
		if !ok {
			return h, nil, refuse(ReasonMalformed, "the token header typ is not a string")
		}
		typ = &t
	}
	if v, ok := m["kid"]; ok {
		kid, ok := v.(string)
		if !ok || kid == "" {
			return h, nil, refuse(ReasonMalformed, "the token header kid is not a non-empty string")
		}
		h.kid, h.hasKID = kid, true
	}
	return h, typ, nil
}
