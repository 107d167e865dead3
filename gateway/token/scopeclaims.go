package token

import (
	"errors"
	"maps"
	"slices"
	"strings"
)

// ParseClaimPath parses one entry of IssuerConfig.ScopeClaims into the
// names leading from the top of the claims to the claim holding scopes or
// roles. Two forms:
//
//	realm_access.roles                  dotted: names separated by '.'
//	/https:~1~1example.com~1scopes      a JSON Pointer (RFC 6901), for names
//	                                    that contain '.' or '/': '~1' is
//	                                    '/', '~0' is '~'
//
// An empty name in either form is an error.
func ParseClaimPath(p string) ([]string, error) {
	if p == "" {
		return nil, errors.New("empty claim path")
	}
	if p[0] != '/' {
		segs := strings.Split(p, ".")
		for _, s := range segs {
			if s == "" {
				return nil, errors.New("claim path " + p + " has an empty name (write a JSON Pointer such as /a.b for a claim whose name contains dots)")
			}
		}
		return segs, nil
	}
	var segs []string
	for _, raw := range strings.Split(p[1:], "/") {
		if raw == "" {
			return nil, errors.New("JSON Pointer " + p + " has an empty name")
		}
		for i := 0; i < len(raw); i++ {
			if raw[i] == '~' && (i+1 >= len(raw) || (raw[i+1] != '0' && raw[i+1] != '1')) {
				return nil, errors.New("JSON Pointer " + p + " has a '~' not followed by 0 or 1")
			}
		}
		segs = append(segs, strings.ReplaceAll(strings.ReplaceAll(raw, "~1", "/"), "~0", "~"))
	}
	return segs, nil
}

// addClaimScopes merges into scopes the values found at each path: a
// string is split at spaces like scope; an array's string elements are
// taken whole; an object's member names are taken whole (in sorted order). Absent claims, other types, and values that are not valid
// scope tokens (RFC 6749 3.3: a role named "Team Lead" is not one) are
// skipped: a role claim is the issuer's business, not a malformed token.
func addClaimScopes(scopes []string, m map[string]any, paths [][]string) []string {
	for _, path := range paths {
		var v any = m
		for _, name := range path {
			obj, ok := v.(map[string]any)
			if !ok {
				v = nil
				break
			}
			v = obj[name]
		}
		switch x := v.(type) {
		case string:
			for tok := range strings.FieldsSeq(x) {
				scopes, _ = addScopes(scopes, tok)
			}
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok && s != "" && !strings.Contains(s, " ") {
					scopes, _ = addScopes(scopes, s)
				}
			}
		case map[string]any:
			// Role maps such as Zitadel's {"role": {orgID: domain}}: the
			// member names are the roles.
			for _, s := range slices.Sorted(maps.Keys(x)) {
				if s != "" && !strings.Contains(s, " ") {
					scopes, _ = addScopes(scopes, s)
				}
			}
		}
	}
	return scopes
}
