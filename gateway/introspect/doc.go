// Package introspect asks an authorization server about a token it issued
// (RFC 7662 token introspection), for opaque access tokens, and for JWTs
// on routes that must see a revocation at once.
//
// How the parts fit:
//
//	Introspector.Introspect(ctx, raw)          one call per request
//	  -> pick the issuer (the only one, or by token prefix: never ask an
//	     authorization server about a token it may not have issued)
//	  -> local cache (decoded claims, this replica)      hit: no I/O
//	  -> state store (the response, shared by replicas)  hit: one store read
//	  -> singleflight per token (a fresh caller shares only with fresh
//	     ones: a cached caller's flight may answer from the cache)
//	  -> semaphore per issuer -> endpoint
//	       (TLS or loopback, no redirects, size cap, strict JSON)
//	  -> Options.Claims judges the response as a JWT's claims would be
//	  -> only an active answer is cached, for min(exp - now, cache TTL)
//
// Outcomes are three, and kept apart: claims (active and acceptable); a
// *token.Error (a refusal: inactive, another issuer's token, a refresh
// token, a bad claim); an error wrapping ErrUnavailable (the endpoint was
// slow, down, redirecting, answered 5xx or garbage, or every slot was busy):
// neither active nor inactive, the caller answers 503 with Retry-After.
//
// The token is sent only to its issuer's endpoint, in a POST form body; it
// is never logged, and caches key on SHA-256 of the issuer and the token.
package introspect
