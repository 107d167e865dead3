// Package token verifies OAuth 2.0 JWT access tokens (RFC 9068 and the
// common pre-9068 shapes) and keeps each trusted issuer's JWKS fresh.
//
// # How the parts fit
//
// New compiles each IssuerConfig into an issuer (alg allowlist, audiences,
// clients) and gives it a keySource. A keySource runs
// one background goroutine that discovers the JWKS URI (go-oidc, when
// JWKSURI is empty), fetches and parses the JWKS, and publishes an immutable
// keySet through an atomic pointer; it retries failed fetches with jittered
// exponential backoff (1s..30s) and otherwise refreshes every
// RefreshInterval. Verify never holds a lock across I/O: it loads the key
// set atomically. A token naming an unknown kid triggers one refresh, shared
// by every caller while it runs (a caller that joined a refresh begun before
// it looked, and is still missing its kid, asks once more), rate-limited per
// issuer to one per
// MinRefreshInterval; callers beyond the limit fail fast with unknown_kid,
// and one trailing refresh runs when the limit lifts, so a freshly rotated
// key is honoured at most MinRefreshInterval after its first sighting.
// On reload, Options.Previous hands its key sources to the new Verifier, so
// keys survive the reload; the old Verifier's Close then leaves them alone.
//
// Discovery stays with go-oidc (oidc.NewProvider), on the bounded client
// (oidc.ClientContext: no redirects, capped bodies, a timeout): it is a few
// lines for us, and it carries the part that is easy to get wrong, the
// check that the discovered issuer equals the configured one byte for byte
// (OpenID Connect Discovery 1.0 section 4.3, which stops a metadata
// document from speaking for another issuer). Only jwks_uri is read from
// it; the JWKS itself is fetched and parsed here (jwk.go).
//
// Verify (verify.go) parses the header and the payload itself, strictly
// (strictjson.go: exact member names, duplicates refused, json.Number), makes
// every decision about claims from that decoding, and only then has
// golang-jwt's signing method for the header's alg (already in the issuer's
// allowlist, and bound to the selected key's type, curve and own alg) check
// the signature over the exact bytes received. golang-jwt's Parser is not
// used: it would decode the token a second time, loosely (encoding/json
// into claim structs: case-insensitive names, so "EXP" fills exp; a quoted
// number taken as a date; the last of duplicate names kept), and that
// second decoding cost as much as a third of an RS256 verification.
// A token is accepted only when the signature check returns nil.
//
// # What is used from keyfunc and jwkset, and why not more
//
// Neither keyfunc nor jwkset is used at run time; jwkset is used only in the
// tests, as an independent encoder of test keys into JWKs. The reasons
// (docs/security.md lists these threats and the test of each defence):
//   - keyfunc binds a key to the token's alg only when the token has a kid
//     and the JWK declares an alg, and offers every key to a kid-less token;
//     here every key is bound to one algorithm family and curve, its own alg,
//     use=sig and key_ops=verify (jwk.go: fits), for kid-less tokens too.
//   - keyfunc's refresh-on-unknown-kid is one per five minutes by default
//     and shares one deadline between the limiter and the fetch; its default
//     constructors start with zero keys after a failed first fetch and use
//     http.DefaultClient. Here fetching uses a bounded client (no redirects,
//     1 MiB bodies, 10s), the first fetch is retried with backoff, and the
//     state is visible through Ready and Status.
//   - jwkset can refuse a whole set for one key it cannot parse, and decodes
//     with encoding/json's case-insensitive names. Here each key is decoded
//     strictly and parsed on its own (jwk.go); an unusable key (oct, bad
//     modulus, RSA under 2048 bits, unknown kty or curve, point off the
//     curve) is logged and skipped, and the rest of the set stays usable.
//
// # Time
//
// Every reading of the time comes from Options.Now (time.Now when nil), as
// in go-oidc's Config.Now: exp, nbf and iat, the staleness of a key set,
// its LastRefresh, the unknown-kid rate limit and the token cache. What
// waits (the refresh period, the backoff, the trailing refresh, a fetch's
// timeout) waits on the runtime's timers for a duration: the tests run it
// in testing/synctest bubbles, whose clock is fake, rather than through a
// timer interface that production code would carry only for them.
//
// # Errors
//
// A refusal is a *Error with a stable Reason (HTTP 401 invalid_token). A
// technical failure wraps ErrKeysUnavailable (HTTP 503). Neither ever
// contains the token or any part of it.
package token
