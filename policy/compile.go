package policy

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
)

// RouteConfig is one route as written in the configuration.
type RouteConfig struct {
	// Name identifies the route in logs and metric labels. Required,
	// unique, made of [A-Za-z0-9_.-].
	Name string `yaml:"name"`
	// Methods the route accepts, as upper-case HTTP method tokens. Empty
	// (the default) means any method, except on a route with an mcp block:
	// POST, GET and DELETE (it may list only those and HEAD). GET does not
	// imply HEAD: list HEAD if the route should take it.
	Methods []string `yaml:"methods"`
	// Path is a net/http pattern path: literal segments, {name} (one
	// segment), a final {name...} (the rest of the path, possibly empty),
	// a trailing "/" (a prefix, like ServeMux), or a final {$} (exactly
	// the trailing slash). Required.
	Path string `yaml:"path"`
	// Upstream names the upstream requests are forwarded to. Required.
	Upstream string `yaml:"upstream"`
	// Scopes a token must all carry. On a protected route the key is
	// required, so that forgetting it is an error: write `scopes: []` to
	// accept any valid token. A public route must have none.
	Scopes []string `yaml:"scopes"`
	// Public routes need no token. Default false.
	Public bool `yaml:"public"`
	// MaxBodyBytes caps this route's request bodies in bytes, overriding
	// server.max_body_bytes (lower or higher): a larger body gets 413 and
	// is not forwarded whole. Default 0: the server's cap. Must not be
	// negative.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Mode is "enforce" (the default, also when empty) or "shadow". A
	// shadow route lets through the requests its token and scope checks
	// would refuse, so that a new rule can be rolled out while its would-be
	// refusals are watched; a public route cannot be a shadow route.
	Mode string `yaml:"mode"`
	// Models makes the scopes depend on the requested model, or filters a
	// model list response; see ModelsConfig. Default none.
	Models *ModelsConfig `yaml:"models"`
	// SenderConstraint requires, allows or refuses DPoP-bound and
	// certificate-bound tokens on this route. Default: the issuer's.
	SenderConstraint *SenderConstraint `yaml:"sender_constraint"`
	// Principals lists the kinds of caller allowed: human, machine
	// (client credentials) and/or delegated (an RFC 8693 act claim).
	// Default (absent): every kind.
	Principals []string `yaml:"principals"`
	// MaxDelegationDepth caps the length of a delegated token's act chain:
	// 0 refuses delegated tokens, 1 allows an actor acting for the
	// subject but not an actor acting for an actor. Default (absent): no
	// cap.
	MaxDelegationDepth *int `yaml:"max_delegation_depth"`
	// Clients, when set, allows only tokens whose client_id (or, without
	// it, azp) is listed: another client of the same tenant is refused
	// even with the right scopes. Default (absent): any client the issuer
	// accepts.
	Clients []string `yaml:"clients"`
	// Conditions are CEL expressions over the token's claims and the
	// request that must all be true, checked after the scopes (see
	// package policy/conditions, which the gateway compiles them with).
	// Default none.
	Conditions []string `yaml:"conditions"`
	// Introspect asks the token's issuer (its introspection block) about
	// every token on this route, JWTs included, without any cache: a token
	// revoked at the authorization server is refused at once, for one
	// call per request. For high-risk routes (fine-tuning, deletions).
	// Default false.
	Introspect bool `yaml:"introspect"`
	// Limits are usage limits (request rates, token budgets) that must
	// all pass; see LimitConfig and docs/limits.md. Default none.
	Limits []LimitConfig `yaml:"limits"`
	// MCP makes the route a Model Context Protocol endpoint judged per
	// tool; see MCPConfig and docs/mcp.md. Default: absent.
	MCP *MCPConfig `yaml:"mcp"`
}

// Route modes.
const (
	ModeEnforce = "enforce"
	ModeShadow  = "shadow"
)

// ConfigError is one problem found in a route table.
type ConfigError struct {
	Field   string // the offending key, e.g. "routes[2].path"
	Message string // what is wrong and how to fix it
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Message }

// Compile validates routes and builds the table. It reports every problem
// at once, as errors.Join of *ConfigError in route order: a missing,
// malformed or duplicate name; an invalid method token (lower-case
// included); a missing or malformed path pattern; a missing upstream or
// one upstreamExists does not know (a nil upstreamExists accepts every
// name); a public route with scopes, a protected route without a scopes
// key, a malformed scope; and two routes that are duplicates (they match
// the same requests) or ambiguous (some request matches both and neither
// is more specific, as net/http's ServeMux would report a conflict).
func Compile(routes []RouteConfig, upstreamExists func(name string) bool) (*Table, error) {
	var errs []error
	report := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if len(routes) == 0 {
		report("routes", "no routes: every request would be refused; add at least one route")
	}
	t := &Table{seed: maphash.MakeSeed()}
	names := map[string]int{}
	for i, rc := range routes {
		at := fmt.Sprintf("routes[%d]", i)
		r := &Route{
			Name:     rc.Name,
			Pattern:  rc.Path,
			Upstream: rc.Upstream,
			Public:   rc.Public,
			Shadow:   rc.Mode == ModeShadow,
			Index:    i,
			MaxBody:  rc.MaxBodyBytes,
			Scopes:   slices.Clone(rc.Scopes),
		}
		if r.Scopes == nil {
			r.Scopes = []string{}
		}
		if len(rc.Methods) > 0 {
			r.Methods = slices.Clone(rc.Methods)
		}
		if rc.MCP != nil {
			r.Methods = mcpMethods(at, rc.Methods, report)
		}
		t.routes = append(t.routes, r)
		compilePrincipals(at, &rc, r, report)

		switch {
		case rc.Name == "":
			report(at+".name", "missing name: every route needs a unique name (used in logs and metrics)")
		case !validName(rc.Name):
			report(at+".name", "name %q has characters outside [A-Za-z0-9_.-]: use only letters, digits, '_', '.' and '-'", rc.Name)
		default:
			if j, dup := names[rc.Name]; dup {
				report(at+".name", "duplicate name %q (also routes[%d].name): names must be unique", rc.Name, j)
			} else {
				names[rc.Name] = i
			}
		}

		methodsOK := checkMethods(at, rc.Methods, report)
		segs, err := parsePattern(rc.Path)
		if err != nil {
			report(at+".path", "%s", err)
		}
		r.segs = segs
		r.Models = compileModels(at, &rc, segs, report)

		checkRouteFields(at, &rc, upstreamExists, report)
		if segs != nil && methodsOK {
			for _, msg := range conflicts(&t.root, r) {
				report(at+".path", "%s", msg)
			}
			t.root.insert(r, t.seed)
		}
	}
	resolveModelLists(t.routes, names, routes, report)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// conflicts describes every earlier route that is a duplicate of r or
// ambiguous with it.
func conflicts(root *node, r *Route) []string {
	var found []*Route
	root.overlapping(r.segs, 0, func(q *Route) { found = append(found, q) })
	slices.SortFunc(found, func(a, b *Route) int { return a.Index - b.Index })

	var msgs []string
	for _, q := range found {
		prel := comparePaths(q.segs, r.segs)
		if prel == disjoint {
			continue
		}
		rel, method := disjoint, ""
		for _, m1 := range methodEntries(q) {
			for _, m2 := range methodEntries(r) {
				mrel := compareMethods(m1, m2)
				if mrel == disjoint {
					continue
				}
				switch c := combine(mrel, prel); {
				case c == equivalent:
					rel, method = equivalent, m2
				case c == overlaps && rel != equivalent:
					rel, method = overlaps, m2
					if method == "" {
						method = m1
					}
				}
			}
		}
		other := fmt.Sprintf("routes[%d] (%s)", q.Index, describe(q))
		if q.Name != "" {
			other = fmt.Sprintf("routes[%d] (%s: %s)", q.Index, q.Name, describe(q))
		}
		req := strings.TrimSpace(method + " " + examplePath(q.segs, r.segs))
		switch rel {
		case equivalent:
			msgs = append(msgs, fmt.Sprintf("duplicate of %s: both match every request like %q; remove one of them", other, req))
		case overlaps:
			msgs = append(msgs, fmt.Sprintf("ambiguous with %s: a request like %q matches both and neither is more specific; make one pattern or method list more specific, or split the routes", other, req))
		}
	}
	return msgs
}

// methodEntries returns the route's methods, or [""] for any method.
func methodEntries(r *Route) []string {
	if r.Methods == nil {
		return []string{""}
	}
	return r.Methods
}

func describe(r *Route) string {
	if r.Methods == nil {
		return r.Pattern
	}
	return strings.Join(r.Methods, ",") + " " + r.Pattern
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// checkMethod returns why m is not an acceptable method, or "".
func checkMethod(m string) string {
	if m == "" {
		return "empty method: write an HTTP method such as GET or POST"
	}
	for i := 0; i < len(m); i++ {
		if !isTokenChar(m[i]) {
			return fmt.Sprintf("method %q is not an HTTP method token: write a method such as GET or POST", m)
		}
	}
	if up := strings.ToUpper(m); up != m {
		return fmt.Sprintf("method %q must be upper-case (methods are case-sensitive): write %q", m, up)
	}
	if NeverForwarded(m) {
		why := "it echoes the request, gateway-added headers included, back to the client"
		if m == "CONNECT" {
			why = "it opens a tunnel to the upstream, past every per-request check"
		}
		return fmt.Sprintf("method %s is never forwarded (%s): remove it", m, why)
	}
	return ""
}

// NeverForwarded reports whether the gateway refuses method on every
// route: TRACE and TRACK (in any case: some upstream frameworks fold it),
// and CONNECT, a tunnel like an Upgrade (PITFALLS 8), which StandardMethods
// already leaves out of an any-method route's Allow.
func NeverForwarded(method string) bool {
	return strings.EqualFold(method, "TRACE") || strings.EqualFold(method, "TRACK") || strings.EqualFold(method, "CONNECT")
}

// isTokenChar reports whether c is an RFC 9110 tchar.
func isTokenChar(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// checkScope returns why s is not an acceptable scope, or "".
func checkScope(s string) string {
	if strings.TrimSpace(s) == "" {
		return "empty scope: remove it, or write the scope's name"
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return fmt.Sprintf("scope %q contains whitespace: a scope is one token; list each scope as its own item", s)
	}
	// RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Sprintf("scope %q has a character outside RFC 6749 scope tokens (printable ASCII except space, '\"' and '\\')", s)
		}
	}
	return ""
}

// checkMethods reports bad and repeated methods; ok is false when one is
// bad (the route then stays out of the table).
func checkMethods(at string, methods []string, report func(field, format string, args ...any)) (ok bool) {
	ok = true
	for k, m := range methods {
		if msg := checkMethod(m); msg != "" {
			report(fmt.Sprintf("%s.methods[%d]", at, k), "%s", msg)
			ok = false
		} else if slices.Index(methods, m) < k {
			report(fmt.Sprintf("%s.methods[%d]", at, k), "method %q is listed twice: remove the repetition", m)
		}
	}
	return ok
}

// checkRouteFields reports problems of a route's upstream, scopes, body
// cap and mode.
func checkRouteFields(at string, rc *RouteConfig, upstreamExists func(string) bool, report func(field, format string, args ...any)) {
	switch {
	case rc.Upstream == "":
		report(at+".upstream", "missing upstream: name one of the entries under upstreams:")
	case upstreamExists != nil && !upstreamExists(rc.Upstream):
		report(at+".upstream", "unknown upstream %q: define it under upstreams: or fix the name", rc.Upstream)
	}

	switch {
	case rc.Public && len(rc.Scopes) > 0:
		report(at+".scopes", "a public route cannot require scopes: remove scopes, or remove public: true")
	case !rc.Public && rc.Scopes == nil:
		report(at+".scopes", "missing scopes: list the scopes a token needs, write scopes: [] to accept any valid token, or set public: true")
	}
	if rc.MaxBodyBytes < 0 {
		report(at+".max_body_bytes", "must not be negative: write the largest body in bytes, or leave it out to use server.max_body_bytes")
	}
	switch {
	case rc.Mode != "" && rc.Mode != ModeEnforce && rc.Mode != ModeShadow:
		report(at+".mode", "unknown mode %q: write enforce (the default) or shadow", rc.Mode)
	case rc.Mode == ModeShadow && rc.Public:
		report(at+".mode", "a public route refuses nothing, so it has nothing to shadow: remove mode: shadow, or remove public: true")
	}
	for k, s := range rc.Scopes {
		field := fmt.Sprintf("%s.scopes[%d]", at, k)
		if msg := checkScope(s); msg != "" {
			report(field, "%s", msg)
		} else if slices.Index(rc.Scopes, s) < k {
			report(field, "scope %q is listed twice: remove the repetition", s)
		}
	}
}
