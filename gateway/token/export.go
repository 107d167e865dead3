package token

import "slices"

// CheckURL reports why raw cannot serve as an issuer or JWKS URL: it must
// be an absolute http(s) URL without user info or fragment, and https
// unless its host is loopback or allowInsecure is set. nil means usable.
func CheckURL(raw string, allowInsecure bool) error { return checkURL(raw, allowInsecure) }

// SupportedAlgorithm reports whether alg may appear in an issuer's
// algorithm allowlist (one of DefaultAlgorithms; never none or HS*).
func SupportedAlgorithm(alg string) bool { return slices.Contains(DefaultAlgorithms, alg) }
