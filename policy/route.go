package policy

import (
	"iter"
	"strings"
)

// Route is one compiled route. A Route returned by a Table is shared by
// every request and must not be modified.
type Route struct {
	Name     string
	Pattern  string // the path pattern as configured
	Upstream string
	// Methods are the methods the route accepts, upper-case, in config
	// order; nil means any method. GET does not imply HEAD.
	Methods []string
	// Scopes are all required; empty on a public route, and on a
	// protected route that accepts any valid token.
	Scopes []string
	Public bool // no token needed
	// Shadow routes (mode: shadow) let through the requests their token
	// and scope checks would refuse; the gateway records them as
	// would_deny.
	Shadow bool
	Index  int // position in the configuration, from 0
	// MaxBody is the route's body cap in bytes; 0 means the caller's
	// default (server.max_body_bytes).
	MaxBody int64
	// Models is the compiled models block; nil without one.
	Models *ModelPolicy
	// Principals are the principal kinds allowed; nil means every kind.
	Principals []string
	// Clients are the client ids allowed; nil means any client.
	Clients []string
	// MaxDelegationDepth caps the act chain's length; nil means no cap.
	MaxDelegationDepth *int
	segs               []segment
}

// Decision is the outcome of Route.Decide.
type Decision struct {
	Allowed bool
	// Missing lists the route's required scopes absent from the granted
	// ones, in route order; nil when Allowed.
	Missing []string
}

// Decide reports whether granted scopes satisfy the route: every one of
// r.Scopes must appear in granted, compared whole and case-sensitively
// ("generate:images2" is not "generate:images"). A route without scopes
// allows any caller that reached it; for a protected route the caller
// must still have presented a valid token, which Decide does not see.
func (r *Route) Decide(granted []string) Decision {
	var missing []string
	for _, want := range r.Scopes {
		found := false
		for _, g := range granted {
			if g == want {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, want)
		}
	}
	return Decision{Allowed: len(missing) == 0, Missing: missing}
}

// String describes the route on one line, for %v in logs and test
// failures (`scopegate check` prints its own table, with the route's other
// rules):
//
//	images  POST  /v1/images/generations  -> models  scopes: generate:images
func (r *Route) String() string {
	methods := "ANY"
	if r.Methods != nil {
		methods = strings.Join(r.Methods, ",")
	}
	var access string
	switch {
	case r.Public:
		access = "public"
	case len(r.Scopes) == 0:
		access = "scopes: (any valid token)"
	default:
		access = "scopes: " + strings.Join(r.Scopes, " ")
	}
	return r.Name + "  " + methods + "  " + r.Pattern + "  -> " + r.Upstream + "  " + access
}

// Params holds the values of a matched route's path wildcards. The zero
// value has none.
type Params struct {
	segs []segment
	path string // the decoded path the route matched
}

// Get returns the decoded value of the wildcard name ({name} or
// {name...}), or "" if the route has no such wildcard. A {name...}
// value has no leading slash and may be empty or contain slashes.
func (p Params) Get(name string) string {
	if name == "" {
		return ""
	}
	for n, v := range p.All() {
		if n == name {
			return v
		}
	}
	return ""
}

// All yields every named wildcard and its value, in pattern order.
func (p Params) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		if len(p.path) == 0 {
			return
		}
		rest := p.path[1:]
		for _, s := range p.segs {
			if s.kind == segMulti {
				if s.name != "" {
					yield(s.name, rest)
				}
				return
			}
			seg, after, _ := strings.Cut(rest, "/")
			if s.kind == segWild && !yield(s.name, seg) {
				return
			}
			rest = after
		}
	}
}
