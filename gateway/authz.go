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
// last the route's CEL conditions, which may look at the model. It returns
// nil when the request may go on, else the refusal (the handler answers
// it, or forwards the request as would_deny on a shadow route).
func authorize(rt *runtime, st *reqState, r *http.Request, route *policy.Route, params policy.Params, conds []*conditions.Program) *refusal {
	c := st.claims
	p := principalOf(c)
	st.principal, st.delegationDepth = p.Kind(), p.DelegationDepth
	if d := route.DecidePrincipal(p); !d.Allowed {
		return refuse(Reason(d.Reason), errForbidden(d.Reason, d.Detail))
	}
	if d := route.Decide(c.Scopes); !d.Allowed {
		return refuse(ReasonInsufficientScope, errInsufficientScope(route.Scopes, d.Missing))
	}
	if ref := decideModel(st, r, route, params); ref != nil {
		return ref
	}
	if ref := decideMCP(rt, st, r, route); ref != nil {
		return ref
	}
	if i, err := checkConditions(rt, conds, st, r); i >= 0 {
		msg := fmt.Sprintf("the request does not meet condition %d of this route", i)
		if err != nil {
			msg = fmt.Sprintf("condition %d of this route could not be evaluated for this request", i)
		}
		e := errForbidden(string(ReasonConditionFailed), msg)
		if err != nil {
			e.auditDetail = msg + ": " + err.Error() // the audit's, not the client's
		}
		return refuse(ReasonConditionFailed, e)
	}
	return nil
}

// decideModel applies the route's model rules, if any; on a list route it
// marks the response for filtering.
func decideModel(st *reqState, r *http.Request, route *policy.Route, params policy.Params) *refusal {
	c := st.claims
	m := route.Models
	if m == nil {
		return nil
	}
	if m.List {
		st.listRoute = route
		return nil
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
			return refuse(reason, *e)
		}
	}
	if msg := policy.CheckModelName(model); msg != "" {
		return refuse(ReasonBadBody, errBadBody(msg))
	}
	st.model = model
	d := route.DecideModel(model, c.Scopes)
	switch {
	case !d.Listed:
		return refuse(ReasonModelNotAllowed, errModelNotAllowed(model))
	case !d.Allowed:
		required := slices.Concat(route.Scopes, d.Required)
		return refuse(ReasonInsufficientScope, errInsufficientScope(required, d.Missing))
	}
	return nil
}

// principalOf describes the caller of a verified token.
func principalOf(c *token.Claims) policy.Principal {
	p := policy.Principal{Subject: c.Subject, ClientID: c.ClientID, Machine: c.Machine}
	for a := c.Act; a != nil; a = a.Act {
		p.DelegationDepth++
	}
	return p
}
