package gateway

import (
	"strings"

	"github.com/scopegate/scopegate/policy"
)

// aliasOf returns the route that path would match, under method, once a
// trailing slash is removed or its letters are folded to lower case, if
// that is another route than matched; else nil.
//
// The gateway matches paths exactly, as written. Many upstream routers do
// not: they ignore a trailing slash, or case. With a catch-all route
// (/v1/{rest...}) beside a specific one (/v1/chat/completions with model
// rules, principals, a filtered list), /v1/chat/completions/ or
// /V1/CHAT/COMPLETIONS would match the catch-all here, skip the specific
// route's rules, and reach the same handler upstream. The common path (no
// upper-case letter, no trailing slash) costs one scan and no allocation.
func aliasOf(t *policy.Table, method, path string, matched *policy.Route) *policy.Route {
	trailing := len(path) > 1 && path[len(path)-1] == '/'
	upper := false
	for i := 0; i < len(path); i++ {
		if c := path[i]; 'A' <= c && c <= 'Z' {
			upper = true
			break
		}
	}
	if !trailing && !upper {
		return nil
	}
	var variants [3]string
	n := 0
	if trailing {
		variants[n] = strings.TrimRight(path, "/")
		n++
	}
	if upper {
		lower := strings.ToLower(path)
		variants[n] = lower
		n++
		if trailing {
			variants[n] = strings.TrimRight(lower, "/")
			n++
		}
	}
	for _, v := range variants[:n] {
		if v == "" {
			continue
		}
		if r, _ := t.Match(method, v); r != nil && r != matched {
			return r
		}
	}
	return nil
}

// methodAliasOf is aliasOf for the method's letter case: it returns the
// route the request would match with its method in upper case (path
// variants included), if that is another route than matched; else nil.
// Methods are case-sensitive (RFC 9110 9.1), but some upstream frameworks
// upper-case them (Werkzeug, so Flask): "post" on a catch-all would reach
// the POST handler past the POST route's rules.
func methodAliasOf(t *policy.Table, method, path string, matched *policy.Route) *policy.Route {
	up := strings.ToUpper(method)
	if up == method {
		return nil
	}
	if r, _ := t.Match(up, path); r != nil && r != matched {
		return r
	}
	return aliasOf(t, up, path, matched)
}
