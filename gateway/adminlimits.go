package gateway

import (
	"maps"
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/scopegate/scopegate/limits"
)

// limitsPath is the admin API's view of usage limits:
//
//	GET /admin/limits?key=limit:<route>:<limit>:<hash>   one key, as the audit shows it
//	GET /admin/limits?sub=alice[&client_id=..&actor=..&model=..]
//	    every limit whose key is made of the given parts only
//
// Reading counts nothing.
const limitsPath = "/admin/limits"

// limitUsage is one limit's state for one key, as GET /admin/limits
// shows it. Amounts of a cost budget are decimal strings.
type limitUsage struct {
	Route string `json:"route"`
	Limit string `json:"limit"`
	Kind  string `json:"kind"` // requests, tokens or cost
	Mode  string `json:"mode"`
	Key   string `json:"key"`
	// Requests: the burst, and how many could be made at once now.
	Burst     int  `json:"burst,omitempty"`
	Available *int `json:"available,omitempty"`
	// Budgets: the budget, what the current window has used and what is
	// left, and when it ends.
	Budget    any    `json:"budget,omitempty"`
	Used      any    `json:"used,omitempty"`
	Remaining any    `json:"remaining,omitempty"`
	Window    string `json:"window_start,omitempty"`
	// ResetSeconds is how long until the window ends (budgets) or the
	// full burst is back (requests).
	ResetSeconds float64 `json:"reset_seconds"`
}

func (g *Gateway) serveLimits(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k, vs := range q {
		if len(vs) != 1 || len(vs[0]) > 1024 {
			adminBadRequest(w, "query parameter "+k+" must appear once, at most 1024 bytes")
			return
		}
	}
	key := q.Get("key")
	s := limits.Subject{Sub: q.Get("sub"), ClientID: q.Get("client_id"), Actor: q.Get("actor"), Model: q.Get("model")}
	given := map[string]bool{limits.PartSubject: q.Has("sub"), limits.PartClientID: q.Has("client_id"),
		limits.PartActor: q.Has("actor"), limits.PartModel: q.Has("model"), limits.PartRoute: true}
	if (key == "") == (s.Sub == "" && s.ClientID == "" && s.Actor == "" && s.Model == "") {
		adminBadRequest(w, "give either key (a limit key, as the audit record shows it) or sub, client_id, actor and/or model")
		return
	}
	p, ok := g.limitStore.(limits.Peeker)
	if !ok {
		writeError(w, "scopegate-admin", apiError{status: http.StatusNotImplemented, typ: "invalid_request_error", code: "not_implemented",
			message: "the limit store cannot be read"})
		return
	}
	rt := g.runtime.Load()
	ctx, cancel := g.storeCtx(r)
	defer cancel()
	now := g.now()
	out := []limitUsage{}
	for _, i := range slices.Sorted(maps.Keys(rt.limits)) {
		for _, l := range rt.limits[i] {
			k := key
			if key == "" {
				// Only limits whose key is made of the given parts.
				if l.Expr != nil || slices.ContainsFunc(l.Parts, func(p string) bool { return !given[p] }) {
					continue
				}
				k, _ = l.Key(&s)
			} else if !l.Owns(key) {
				continue
			}
			u := limitUsage{Route: l.Route, Limit: l.Name, Key: k, Mode: limits.ModeEnforce}
			if l.Shadow {
				u.Mode = limits.ModeShadow
			}
			var err error
			if l.Rate != nil {
				var res limits.RateResult
				res, err = p.PeekRate(ctx, k, *l.Rate, now)
				u.Kind, u.Burst, u.Available, u.ResetSeconds = "requests", l.Rate.Burst, &res.Remaining, res.Reset.Seconds()
			} else {
				var res limits.BudgetResult
				res, err = p.PeekBudget(ctx, k, *l.Budget, now)
				left := max(l.Budget.Amount-res.Used, 0)
				u.Kind, u.Budget, u.Used, u.Remaining = "tokens", l.Budget.Amount, res.Used, left
				if l.Prices != nil {
					u.Kind = "cost"
					u.Budget, u.Used, u.Remaining = limits.FormatMoney(l.Budget.Amount), limits.FormatMoney(res.Used), limits.FormatMoney(left)
				}
				u.Window, u.ResetSeconds = res.Window.UTC().Format("2006-01-02T15:04:05Z07:00"), res.Reset.Seconds()
			}
			if err != nil {
				g.logger.Error("admin API: reading a limit failed", zap.String("route", l.Route), zap.String("limit", l.Name), zap.Error(err))
				adminUnavailable(w)
				return
			}
			out = append(out, u)
		}
	}
	if len(out) == 0 && key != "" && !strings.HasPrefix(key, "limit:") {
		adminBadRequest(w, "key is not a limit key (limit:<route>:<limit>:<hash>)")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"limits": out})
}
