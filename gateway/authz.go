package gateway

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/policy"
	"github.com/scopegate/scopegate/policy/conditions"
)

// authorize decides a verified token against the route, cheapest rules
// first so that a body is buffered only for a caller who may otherwise
// pass: client, principal kind and delegation depth; the route's scopes;
// then, on a route with model rules, the model and the scopes it requires;
// last the route's CEL conditions, which may look at the model. It reports
// whether the request may go on; on false it has called deny, which
// records the refusal (the handler answers it, or forwards the request as
// would_deny on a shadow route).
func authorize(rt *runtime, st *reqState, r *http.Request, route *policy.Route, params policy.Params, conds []*conditions.Program, deny func(Reason, apiError)) bool {
	c := st.claims
	p := principalOf(c)
	st.principal, st.delegationDepth = p.Kind(), p.DelegationDepth
	if d := route.DecidePrincipal(p); !d.Allowed {
		deny(d.Reason, errForbidden(d.Reason, d.Detail))
		return false
	}
	if d := route.Decide(c.Scopes); !d.Allowed {
		deny(ReasonInsufficientScope, errInsufficientScope(route.Scopes, d.Missing))
		return false
	}
	if !decideModel(st, r, route, params, deny) {
		return false
	}
	if !decideMCP(rt, st, r, route, deny) {
		return false
	}
	if i, err := checkConditions(rt, conds, st, r); i >= 0 {
		msg := fmt.Sprintf("the request does not meet condition %d of this route", i)
		if err != nil {
			msg = fmt.Sprintf("condition %d of this route could not be evaluated for this request", i)
		}
		e := errForbidden(ReasonConditionFailed, msg)
		if err != nil {
			e.auditDetail = msg + ": " + err.Error() // the audit's, not the client's
		}
		deny(ReasonConditionFailed, e)
		return false
	}
	return true
}

// decideModel applies the route's model rules, if any; on a list route it
// marks the response for filtering.
func decideModel(st *reqState, r *http.Request, route *policy.Route, params policy.Params, deny func(Reason, apiError)) bool {
	c := st.claims
	m := route.Models
	if m == nil {
		return true
	}
	if m.List {
		st.listRoute = route
		return true
	}
	var model string
	switch m.Source {
	case policy.ModelSourcePath:
		model = params.Get(m.Param)
	default:
		var e *apiError
		var reason Reason
		_, span := childSpan(r.Context(), "request.body")
		model, reason, e = bufferModelBody(r, m.MaxBodyBytes)
		endChild(span, string(reason))
		if e != nil {
			deny(reason, *e)
			return false
		}
	}
	if msg := policy.CheckModelName(model); msg != "" {
		deny(ReasonBadBody, errBadBody(msg))
		return false
	}
	st.model = model
	d := route.DecideModel(model, c.Scopes)
	switch {
	case !d.Listed:
		deny(ReasonModelNotAllowed, errModelNotAllowed(model))
		return false
	case !d.Allowed:
		required := slices.Concat(route.Scopes, d.Required)
		deny(ReasonInsufficientScope, errInsufficientScope(required, d.Missing))
		return false
	}
	return true
}

// principalOf describes the caller of a verified token.
func principalOf(c *token.Claims) policy.Principal {
	p := policy.Principal{Subject: c.Subject, ClientID: c.ClientID, Machine: c.Machine}
	for a := c.Act; a != nil; a = a.Act {
		p.DelegationDepth++
	}
	return p
}
