package gateway

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// errBearer* are the ways an Authorization header can be malformed.
var (
	errNoBearer       = errors.New("no bearer token")
	errTwoAuthHeaders = errors.New("more than one Authorization header")
	errEmptyBearer    = errors.New("the Bearer scheme carries no token")
	errEmptyDPoP      = errors.New("the DPoP scheme carries no token")
	errBadBearer      = errors.New("the bearer token is not a valid b64token (RFC 6750 section 2.1)")
)

// bearerToken extracts the token from the request's Authorization header
// (RFC 6750 section 2.1). errNoBearer means no credentials at all (or
// those of another scheme); the others are malformed requests.
func bearerToken(h http.Header) (string, error) {
	vals := h["Authorization"]
	switch len(vals) {
	case 0:
		return "", errNoBearer
	case 1:
	default:
		return "", errTwoAuthHeaders
	}
	return parseBearer(vals[0])
}

// parseBearer parses one Authorization header value.
func parseBearer(v string) (string, error) {
	v = strings.TrimLeft(v, " \t")
	if len(v) < 6 || !strings.EqualFold(v[:6], "bearer") {
		return "", errNoBearer
	}
	rest := v[6:]
	if rest == "" {
		return "", errEmptyBearer
	}
	if rest[0] != ' ' {
		return "", errNoBearer // e.g. "BearerX": another scheme
	}
	tok := strings.Trim(rest, " \t")
	if tok == "" {
		return "", errEmptyBearer
	}
	if strings.Contains(tok, ",") {
		return "", errTwoAuthHeaders // several credentials folded into one header
	}
	if !isB64Token(tok) {
		return "", errBadBearer
	}
	return tok, nil
}

// isB64Token reports whether s is 1*( ALPHA / DIGIT / "-" / "." / "_" /
// "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// queryHasToken reports whether the raw query carries an access_token
// parameter (RFC 6750 section 2.3), in any percent-encoding of its name.
func queryHasToken(raw string) bool {
	if raw == "" {
		return false
	}
	for part := range strings.SplitSeq(raw, "&") {
		if isTokenParam(part) {
			return true
		}
	}
	return false
}

// stripQueryToken removes every access_token parameter from the raw query
// and keeps the other parameters byte for byte, in order.
func stripQueryToken(raw string) string {
	if !queryHasToken(raw) {
		return raw
	}
	var b strings.Builder
	for part := range strings.SplitSeq(raw, "&") {
		if isTokenParam(part) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(part)
	}
	return b.String()
}

func isTokenParam(part string) bool {
	name, _, _ := strings.Cut(part, "=")
	// Only a name of that length, or one with escapes or spaces to undo,
	// can be access_token: the common case costs no allocation.
	if len(name) != len("access_token") && !strings.ContainsAny(name, "%+ \t") {
		return false
	}
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	return strings.EqualFold(strings.TrimSpace(name), "access_token")
}

// credentials extracts the access token and its scheme (Bearer or DPoP,
// case-insensitive) from the one Authorization header.
func credentials(h http.Header) (tok, scheme string, err error) {
	vals := h["Authorization"]
	if len(vals) == 1 {
		v := strings.TrimLeft(vals[0], " \t")
		if strings.EqualFold(strings.TrimRight(v, " \t"), schemeDPoP) {
			// The scheme with no token (HTTP drops trailing spaces): a
			// malformed request, as "Bearer" alone is.
			return "", schemeDPoP, errEmptyDPoP
		}
		if len(v) >= 5 && strings.EqualFold(v[:4], schemeDPoP) && v[4] == ' ' {
			// The same token68 rules as Bearer (RFC 9449 section 7.1).
			tok, err = parseBearer(schemeBearer + v[4:])
			return tok, schemeDPoP, err
		}
	}
	tok, err = bearerToken(h)
	return tok, schemeBearer, err
}

// usesDPoP reports whether the request's Authorization is of the DPoP
// scheme.
func usesDPoP(h http.Header) bool {
	vals := h["Authorization"]
	if len(vals) != 1 {
		return false
	}
	v := strings.TrimLeft(vals[0], " \t")
	return len(v) >= 5 && strings.EqualFold(v[:4], schemeDPoP) && v[4] == ' '
}
