// Package dpop verifies DPoP proofs (RFC 9449): the JWT a client sends in
// the DPoP header to prove that it holds the private key an access token is
// bound to (the token's cnf.jkt, an RFC 7638 thumbprint of the key).
//
// A Verifier checks one proof against one request, in the order of RFC 9449
// section 4.3: exactly one DPoP header of bounded size; a compact JWS whose
// header has typ "dpop+jwt" (exactly), an asymmetric alg from the allowlist
// and a public jwk (no private members, no symmetric key type) of that alg's
// key family; the signature, verified with that jwk; the claims htm (the
// method), htu (the request URI, compared after RFC 3986 normalization,
// query and fragment ignored), iat (within the window), jti, ath (the hash
// of the access token presented with it); the key's thumbprint against the
// token's cnf.jkt; the server nonce when one is required; and last, jti
// unused within the window, recorded in a replay cache shared by every
// replica (ReplayStore, which state.Store satisfies).
//
// Which library does what: the JOSE header and the claims are decoded by
// internal/strictjson (exact names, duplicates refused, numbers as
// json.Number); the jwk is turned into a public key by
// github.com/MicahParks/jwkset (which checks that an EC point is on its
// curve); the signature is verified by the golang-jwt/v5 signing method of
// the proof's alg (crypto/ecdsa, crypto/rsa, crypto/ed25519 underneath). The
// RFC 7638 thumbprint is SHA-256 over the canonical JSON of the key's
// required members, built here; no cryptographic primitive is written here.
//
// The package imports no gateway package: the gateway builds the Request
// (its htu from the configured public base URL, never from forwarding
// headers) and maps an *Error to a 401 with a DPoP challenge.
package dpop
