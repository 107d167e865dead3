// Package policy holds scopegate's route table: the route configuration
// types, their compilation into a matcher, request path canonicalization and
// the scope decision.
//
// The parts fit in the order the gateway uses them on every request:
//
//	CanonicalPath(path of r.RequestURI) -> canonical (forwarded), decoded (matched)
//	Table.Match(r.Method, decoded)      -> *Route or nil (404, never forwarded)
//	Route.DecidePrincipal(principal)    -> clients, principal kind, delegation depth
//	Route.Decide(grantedScopes)         -> Decision{Allowed, Missing}
//	Route.DecideModel(model, granted)   -> the model rules, once the model is known
//
// The path canonicalized is the one in the raw request target, exactly as
// the client sent it, not r.URL.EscapedPath(): EscapedPath returns
// URL.RawPath only when that is a valid encoding of the decoded URL.Path,
// and otherwise an encoding of its own, so the bytes judged would not
// always be the bytes the client sent.
//
// Compile validates a []RouteConfig, collecting every problem as a
// *ConfigError, and refuses duplicate and ambiguous routes, so that a request
// is matched by at most one most-specific route (net/http ServeMux
// precedence and conflict rules, except that GET does not imply HEAD).
//
// Deciding on one path while forwarding another is the classic proxy bypass.
// CanonicalPath therefore refuses every path that has more than one plausible
// reading (dot segments, encoded slashes, backslashes, doubled slashes,
// matrix parameters, control bytes, ...) and returns one escaped form that is
// a function of the decoded form alone: the route is chosen on the decoded
// form, and the upstream receives exactly the canonical escaped form.
//
// The package knows nothing of JWTs or HTTP servers: scopes are plain strings.
package policy
