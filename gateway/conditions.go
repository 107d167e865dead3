package gateway

import (
	"fmt"
	"net/http"

	"github.com/scopegate/scopegate/policy"
	"github.com/scopegate/scopegate/policy/conditions"
)

// ReasonConditionFailed is the audit reason of a request refused by one of
// its route's CEL conditions (false, or an evaluation error).
const ReasonConditionFailed Reason = "condition_failed"

// routeConditions are the compiled conditions of every route, by route
// index; routes without conditions have none.
type routeConditions map[int][]*conditions.Program

// compileConditions compiles every route's conditions. Each problem names
// the route and the condition, with CEL's error.
func compileConditions(routes []policy.RouteConfig) (routeConditions, []Problem) {
	var ps []Problem
	out := routeConditions{}
	var env *conditions.Env
	for i, rc := range routes {
		for k, src := range rc.Conditions {
			if env == nil {
				e, err := conditions.NewEnv()
				if err != nil {
					return nil, []Problem{{Field: "routes", Message: err.Error()}}
				}
				env = e
			}
			p, err := env.Compile(src)
			if err != nil {
				ps = append(ps, Problem{Field: fmt.Sprintf("routes[%d].conditions[%d]", i, k),
					Message: fmt.Sprintf("route %q: condition %q does not compile: %v", rc.Name, src, err)})
				continue
			}
			out[i] = append(out[i], p)
		}
	}
	return out, ps
}

// checkConditions evaluates the route's conditions in order and reports
// the index of the first that is false or fails, or -1.
func checkConditions(progs []*conditions.Program, st *reqState, r *http.Request) (int, error) {
	if len(progs) == 0 {
		return -1, nil
	}
	in := conditions.NewInput(st.claims.Raw, conditions.Request{Method: r.Method, Path: st.decodedPath, Model: st.model, Header: r.Header})
	for i, p := range progs {
		ok, err := p.Eval(in)
		if err != nil || !ok {
			return i, err
		}
	}
	return -1, nil
}
