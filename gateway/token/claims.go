package token

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Claims are the verified claims of an access token.
type Claims struct {
	Issuer   string
	Subject  string
	ClientID string // the first non-empty of the issuer's ClientIDClaims (default client_id, then azp)
	ID       string // jti
	Audience []string
	// Scopes is the union of scope (space-separated string), scp (array of
	// strings or space-separated string) and the issuer's ScopeClaims,
	// deduplicated, first occurrence order kept. Scopes compare
	// case-sensitively and whole.
	Scopes    []string
	ExpiresAt time.Time // never zero on success
	IssuedAt  time.Time // zero when absent
	NotBefore time.Time // zero when absent
	Act       *Actor    // RFC 8693 act claim; nil when absent
	// Machine is true when a claim marks the token as issued to a client
	// acting for itself (client credentials, a service account): see
	// isMachineToken. A token whose sub is empty or its client id is a
	// machine token too; the caller judges that.
	Machine bool
	Raw     map[string]any
	// scopeList is Scopes joined by spaces, set once a token is verified:
	// a cached token's Claims are shared by every request that presents
	// it, so the join is not paid per request.
	scopeList string
}

// ScopeList returns Scopes joined by single spaces, as the identity header
// and the audit record carry them. For Claims returned by a Verifier it
// was joined once, at verification; for others it is joined on each call.
func (c *Claims) ScopeList() string {
	if c.scopeList == "" && len(c.Scopes) > 0 {
		return strings.Join(c.Scopes, " ")
	}
	return c.scopeList
}

// Actor is one link of an RFC 8693 delegation chain: Act is the actor before.
type Actor struct {
	Subject  string
	ClientID string
	Act      *Actor
}

// maxNumericDate is 3000-01-01T00:00:00Z: later dates are not sane.
const maxNumericDate = 32503680000

// readClaims extracts and type-checks the claims of a decoded payload, the
// client id from the issuer's ClientIDClaims. It does not judge times,
// audiences or clients.
func readClaims(m map[string]any, cfg *IssuerConfig) (*Claims, *Error) {
	c := &Claims{Raw: m}
	for _, f := range []struct {
		name string
		dst  *string
		safe bool // goes into headers: no control characters
	}{{"sub", &c.Subject, true}, {"jti", &c.ID, false}} {
		if err := optString(m, f.name, f.dst, f.safe); err != nil {
			return nil, err
		}
	}
	for _, name := range cfg.ClientIDClaims {
		var id string
		if err := optString(m, name, &id, true); err != nil {
			return nil, err
		}
		if c.ClientID == "" {
			c.ClientID = id
		}
	}
	c.Machine = isMachineToken(m, cfg)
	if _, ok := m["exp"]; !ok {
		return nil, refuse(ReasonMissingExp, "the token has no exp claim")
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"exp", &c.ExpiresAt}, {"nbf", &c.NotBefore}, {"iat", &c.IssuedAt}} {
		if v, ok := m[f.name]; ok {
			t, ok := numericDate(v)
			if !ok {
				return nil, refuse(ReasonBadClaim, "claim "+f.name+" is not a valid NumericDate")
			}
			*f.dst = t
		}
	}
	aud, ok := stringOrStrings(m["aud"])
	if !ok {
		return nil, refuse(ReasonBadClaim, "claim aud is not a string or an array of strings")
	}
	c.Audience = aud
	if v, ok := m["scope"]; ok {
		s, ok := v.(string)
		if !ok {
			return nil, refuse(ReasonBadClaim, "claim scope is not a string")
		}
		if c.Scopes, ok = addScopes(c.Scopes, s); !ok {
			return nil, refuse(ReasonBadClaim, "claim scope has invalid characters")
		}
	}
	if v, ok := m["scp"]; ok {
		var list []string
		switch x := v.(type) {
		case string:
			list = []string{x}
		case []any:
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, refuse(ReasonBadClaim, "claim scp has a non-string element")
				}
				// An element is one scope-token (RFC 6749 3.3), compared
				// whole: "a b" is no grant of a.
				if strings.Contains(s, " ") {
					return nil, refuse(ReasonBadClaim, "claim scp has an element that is not one scope")
				}
				list = append(list, s)
			}
		default:
			return nil, refuse(ReasonBadClaim, "claim scp is not a string or an array of strings")
		}
		for _, s := range list {
			if c.Scopes, ok = addScopes(c.Scopes, s); !ok {
				return nil, refuse(ReasonBadClaim, "claim scp has invalid characters")
			}
		}
	}
	if v, ok := m["act"]; ok {
		act, err := readActor(v)
		if err != nil {
			return nil, err
		}
		c.Act = act
	}
	return c, nil
}

// requiredClaims refuses a token unless every required claim is a string
// with exactly the required value.
func requiredClaims(m map[string]any, req map[string]string) *Error {
	for name, want := range req {
		if got, ok := m[name].(string); !ok || got != want {
			return refuse(ReasonRequiredClaim, "the token lacks a claim its issuer requires ("+name+")")
		}
	}
	return nil
}

// idTokenClaims refuses tokens carrying claims only ID (or refresh) tokens
// carry.
func idTokenClaims(m map[string]any) *Error {
	for _, name := range []string{"nonce", "at_hash", "c_hash"} {
		if _, ok := m[name]; ok {
			return refuse(ReasonIDTokenClaims, "the token carries "+name+": ID tokens are not access tokens")
		}
	}
	if v, ok := m["token_use"]; ok {
		s, ok := v.(string)
		if !ok {
			return refuse(ReasonBadClaim, "claim token_use is not a string")
		}
		if strings.EqualFold(s, "id") {
			return refuse(ReasonIDTokenClaims, "token_use is id: ID tokens are not access tokens")
		}
	}
	if v, ok := m["typ"]; ok {
		s, ok := v.(string)
		if !ok {
			return refuse(ReasonBadClaim, "claim typ is not a string")
		}
		if strings.EqualFold(s, "ID") || strings.EqualFold(s, "Refresh") {
			return refuse(ReasonIDTokenClaims, "the typ claim marks an ID or refresh token")
		}
	}
	return nil
}

func optString(m map[string]any, name string, dst *string, safe bool) *Error {
	v, ok := m[name]
	if !ok {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return refuse(ReasonBadClaim, "claim "+name+" is not a string")
	}
	if safe && strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return refuse(ReasonBadClaim, "claim "+name+" contains control characters")
	}
	*dst = s
	return nil
}

// numericDate accepts a JSON number (fraction allowed) in (0, year 3000).
func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f >= maxNumericDate {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// stringOrStrings reads aud: absent = nil; a string; or an array of strings.
func stringOrStrings(v any) ([]string, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case string:
		return []string{x}, true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// addScopes appends the space-separated scope tokens of s not yet in dst.
// A scope token is 1*( %x21 / %x23-5B / %x5D-7E ) (RFC 6749 3.3).
func addScopes(dst []string, s string) ([]string, bool) {
	for tok := range strings.SplitSeq(s, " ") {
		if tok == "" {
			continue
		}
		for i := 0; i < len(tok); i++ {
			if b := tok[i]; b < 0x21 || b == 0x22 || b == 0x5c || b > 0x7e {
				return dst, false
			}
		}
		if !slices.Contains(dst, tok) {
			dst = append(dst, tok)
		}
	}
	return dst, true
}

func readActor(v any) (*Actor, *Error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, refuse(ReasonBadClaim, "claim act is not an object")
	}
	a := &Actor{}
	if err := optString(m, "sub", &a.Subject, true); err != nil {
		return nil, refuse(ReasonBadClaim, "claim act.sub is not a valid string")
	}
	if err := optString(m, "client_id", &a.ClientID, true); err != nil {
		return nil, refuse(ReasonBadClaim, "claim act.client_id is not a valid string")
	}
	if next, ok := m["act"]; ok {
		n, err := readActor(next)
		if err != nil {
			return nil, err
		}
		a.Act = n
	}
	return a, nil
}
