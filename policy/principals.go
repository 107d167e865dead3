package policy

import (
	"fmt"
	"slices"
)

// Principal kinds: who a token speaks for.
const (
	// PrincipalHuman is a token issued to a user: it has a sub that is
	// not its client's id, and no act claim.
	PrincipalHuman = "human"
	// PrincipalMachine is a client-credentials token: no sub, or a sub
	// equal to its client id, and no act claim.
	PrincipalMachine = "machine"
	// PrincipalDelegated is a token with an RFC 8693 act claim: an actor
	// (an agent, a service) acting for the subject.
	PrincipalDelegated = "delegated"
)

// Refusal reasons of Route.DecidePrincipal, also the audit reasons.
const (
	ReasonPrincipalNotAllowed = "principal_not_allowed"
	ReasonDelegationTooDeep   = "delegation_too_deep"
	ReasonClientNotAllowed    = "client_not_allowed"
)

// Principal describes a verified token's caller, as the gateway reads it
// from the claims.
type Principal struct {
	Subject  string
	ClientID string // client_id, else azp
	// DelegationDepth is the number of links in the act chain: 0 without
	// act, 1 for act, 2 for act.act, ...
	DelegationDepth int
	// Machine is set when the token's claims mark it as a machine's
	// (a provider's client-credentials or service-account marker).
	Machine bool
}

// Kind classifies p: delegated if it has an act chain, machine if its
// claims say so, if it has no subject or its subject is its client id,
// human otherwise.
func (p Principal) Kind() string {
	switch {
	case p.DelegationDepth > 0:
		return PrincipalDelegated
	case p.Machine || p.Subject == "" || p.Subject == p.ClientID:
		return PrincipalMachine
	}
	return PrincipalHuman
}

// PrincipalDecision is the outcome of Route.DecidePrincipal.
type PrincipalDecision struct {
	Allowed bool
	// Reason is one of the Reason* constants when not Allowed.
	Reason string
	// Detail says which rule refused, for the client and the audit.
	Detail string
}

// DecidePrincipal applies the route's clients, principals and
// max_delegation_depth rules, in that order. A route without them allows
// every principal.
func (r *Route) DecidePrincipal(p Principal) PrincipalDecision {
	if r.Clients != nil && !slices.Contains(r.Clients, p.ClientID) {
		return PrincipalDecision{Reason: ReasonClientNotAllowed, Detail: "the token's client is not allowed on this route"}
	}
	if k := p.Kind(); r.Principals != nil && !slices.Contains(r.Principals, k) {
		return PrincipalDecision{Reason: ReasonPrincipalNotAllowed,
			Detail: fmt.Sprintf("%s tokens are not allowed on this route (allowed: %v)", k, r.Principals)}
	}
	if m := r.MaxDelegationDepth; m != nil && p.DelegationDepth > *m {
		return PrincipalDecision{Reason: ReasonDelegationTooDeep,
			Detail: fmt.Sprintf("the token's delegation chain has %d actor(s); this route allows at most %d", p.DelegationDepth, *m)}
	}
	return PrincipalDecision{Allowed: true}
}

// compilePrincipals validates and copies the principal rules of rc into r.
func compilePrincipals(at string, rc *RouteConfig, r *Route, report func(field, format string, args ...any)) {
	if rc.Public && (rc.Principals != nil || rc.Clients != nil || rc.MaxDelegationDepth != nil || rc.Conditions != nil) {
		report(at, "a public route has no token to judge: remove principals, clients, max_delegation_depth and conditions, or remove public: true")
	}
	if rc.Principals != nil {
		if len(rc.Principals) == 0 {
			report(at+".principals", "an empty list refuses every token: list human, machine and/or delegated, or remove the key")
		}
		r.Principals = []string{}
		for k, kind := range rc.Principals {
			f := fmt.Sprintf("%s.principals[%d]", at, k)
			switch {
			case kind != PrincipalHuman && kind != PrincipalMachine && kind != PrincipalDelegated:
				report(f, "%q is not a principal kind: write human, machine or delegated", kind)
			case slices.Index(rc.Principals, kind) < k:
				report(f, "%q is listed twice", kind)
			default:
				r.Principals = append(r.Principals, kind)
			}
		}
	}
	if rc.Clients != nil {
		if len(rc.Clients) == 0 {
			report(at+".clients", "an empty list refuses every token: list the client ids allowed, or remove the key")
		}
		for k, c := range rc.Clients {
			if c == "" {
				report(fmt.Sprintf("%s.clients[%d]", at, k), "must not be empty")
			}
		}
		r.Clients = slices.Clone(rc.Clients)
	}
	if d := rc.MaxDelegationDepth; d != nil {
		if *d < 0 {
			report(at+".max_delegation_depth", "must not be negative (0 refuses delegated tokens)")
		}
		m := max(*d, 0)
		r.MaxDelegationDepth = &m
	}
}
