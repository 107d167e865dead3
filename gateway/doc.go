// Package gateway is scopegate's enforcement path: the HTTP handler that
// decides every request against a compiled configuration
// (config.Compiled) and forwards only the allowed ones, the listeners,
// reloads, the audit trail and the metrics.
//
// # The request path, in order
//
// Each stage returns a refusal value (errors.go: a Reason of the registry
// in reasons.go and the answer); the handler answers it in one place, so
// that every refusal is written, challenged and audited alike.
//
//  1. ServeHTTP (handler.go) takes the configuration in force (server.go:
//     runtime, swapped whole on reload, reload.go), the per-request state,
//     request id and status writer (request.go) and, with tracing on, the
//     server span (tracing.go, trace.go).
//  2. route (handler.go): header size, origin-form target, the canonical
//     path (policy.CanonicalPath), the RFC 9728 metadata the gateway
//     answers itself (resource_metadata.go), the route table and its
//     405s, and route aliases (alias.go).
//  3. decide (handler.go), for protected routes:
//     authenticate (authn.go): the credentials (bearer.go), the token
//     (gateway/token; an opaque token is introspected at its issuer,
//     introspection.go and gateway/introspect), its sender constraint (sender.go for DPoP, mtls.go
//     for certificates) and the revocation list (revocation.go);
//     authorize (authz.go): client, principal and delegation, scopes, the
//     model read from the body (modelbody.go, mediatype.go) or the path,
//     MCP messages (mcproute.go), CEL conditions (conditions.go). A shadow
//     route records a refusal as would_deny and goes on.
//  4. forward (handler.go): body caps (bodydeadline.go and body.go keep
//     the body honest), usage limits (limits.go; estimates and bills in
//     limitbill.go, usage.go, streamusage.go; reading on after a client
//     cancels in limitdrain.go; the store's deadline, breaker and local
//     fallback in limitstore.go), inbound header hygiene and forwarding headers
//     (forwarding.go), then httputil.ReverseProxy with Rewrite
//     (proxy.go), which filters model and MCP listings (modellist.go,
//     mcproute.go) and maps upstream failures to 502/504.
//  5. answer (handler.go, errors.go): the JSON error, the RFC 6750 (and
//     DPoP) challenge, Retry-After.
//  6. After the handler returns, ServeHTTP writes the audit record
//     (audit.go, auditsink.go) and the metrics (metrics.go,
//     limitmetrics.go) from the request's state.
//
// The admin listener (admin.go, adminapi.go, adminlimits.go, serve.go)
// serves /metrics, /healthz, /readyz, the authenticated revocation and
// limits API, and the Shared Signals receiver (signals.go), whose events
// become revocations; the shared state store is opened in store.go.
// Explain (explain.go) runs this same path with upstreams that are never
// contacted.
package gateway
