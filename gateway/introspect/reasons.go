package introspect

import "github.com/scopegate/scopegate/gateway/token"

// Refusal reasons of introspection, beyond the token package's (which
// judge an active answer's claims). 401 invalid_token.
const (
	// ReasonInactive: the authorization server says the token is not
	// active (revoked, expired, unknown to it).
	ReasonInactive token.Reason = "token_inactive"
	// ReasonNotIntrospectable: a route that requires introspection got a
	// token whose issuer has none configured.
	ReasonNotIntrospectable token.Reason = "introspection_required"
)
