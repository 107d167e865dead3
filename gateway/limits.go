package gateway

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/scopegate/scopegate/limits"
)

// Reasons of refusals by a usage limit (docs/limits.md).
const (
	// ReasonRateLimited: a request rate limit refused the request.
	ReasonRateLimited Reason = "rate_limited"
	// ReasonBudgetExceeded: a token budget had no room for the request.
	ReasonBudgetExceeded Reason = "budget_exceeded"
	// ReasonLimitStoreUnavailable: a fail-closed limit's store failed.
	ReasonLimitStoreUnavailable Reason = "limit_store_unavailable"
	// ReasonModelNotPriced: a cost budget has no price for the model.
	ReasonModelNotPriced Reason = "model_not_priced"
	// ReasonLimitKey: a limit's key_expr failed for the token's claims.
	ReasonLimitKey Reason = "limit_key_unavailable"
)

// limitState is one request's usage limits: what it reserved, what the
// response reported, and the x-ratelimit-* headers to send.
type limitState struct {
	route        string
	reservations []reservation
	// Headers: the most restrictive request limit and token budget.
	reqLimit     string
	reqRemaining int
	reqReset     time.Duration
	hasReq       bool
	tokLimit     string
	tokRemaining int64
	tokReset     time.Duration
	hasTok       bool
	// Filled from the response.
	status int
	usage  *usageScanner
	// strip: the gateway asked for the stream's usage; the usage chunk is
	// removed from what the client gets.
	strip bool
	// drainer reads on a response whose client has gone; drain is what
	// became of it (drain* constants), "" when the client stayed.
	drainer *usageDrain
	drain   string
	// What the audit says of the bill: tokens, and micro-units of money
	// when a cost budget applies (hasCost).
	billed       int64
	billedCost   int64
	hasCost      bool
	billedSource string
	// Storage, so that a request under limits allocates little.
	resBuf [2]reservation
	hdrBuf [6]string
}

type reservation struct {
	l        *boundLimit
	key      string
	window   time.Time
	reserved int64
	price    limits.Price // of the model, under a cost budget
	store    limits.Store // where it was reserved: the shared or the local store
}

// limitRefusal is a limit's refusal: a 429, or (forbidden set) a 403
// for a request no limit can count (a model without a price, a key
// expression the claims fail).
type limitRefusal struct {
	l          *boundLimit
	key        string
	reason     Reason
	retryAfter time.Duration
	forbidden  *apiError
}

// checkLimits applies the route's limits to an allowed request; all must
// pass. The keys and reservations are worked out first (a token whose
// claims fail a key_expr, or a model a cost budget cannot price, is
// refused before anything is counted), then every limit is judged and
// counted in one atomic store call (limits.Batcher: one Redis round
// trip), all or nothing. It returns the request's limit state, or the
// refusal of the first limit, in order, that refused.
func (g *Gateway) checkLimits(ctx context.Context, st *reqState, r *http.Request, ls []*boundLimit) (*limitState, *limitRefusal, error) {
	st.limBuf = limitState{route: st.route.Name}
	lst := &st.limBuf
	lst.reservations = lst.resBuf[:0]
	s := limits.Subject{Model: st.model}
	if c := st.claims; c != nil {
		s.Sub, s.ClientID, s.Claims = c.Subject, c.ClientID, c.Raw
		if c.Act != nil {
			s.Actor = c.Act.Subject
		}
	}
	steps := make([]limits.Step, len(ls))
	var priceBuf [4]limits.Price
	prices := priceBuf[:0]
	var est *usageEstimate
	for i, l := range ls {
		key, err := l.Key(&s)
		if err != nil {
			e := errForbidden("limit_key_unavailable", "the access token lacks the claims usage limit "+strconv.Quote(l.Name)+" of this route is counted by")
			e.auditDetail = err.Error()
			return lst, &limitRefusal{l: l, reason: ReasonLimitKey, forbidden: &e}, nil
		}
		steps[i] = limits.Step{Key: key, Rate: l.Rate, Budget: l.Budget, Shadow: l.Shadow}
		var price limits.Price
		if l.Budget != nil {
			if l.Prices != nil {
				pr, ok := l.Prices.Of(st.model)
				if !ok {
					e := errForbidden("model_not_priced", "the model "+strconv.Quote(st.model)+" has no price under cost budget "+strconv.Quote(l.Name)+" of this route")
					return lst, &limitRefusal{l: l, key: key, reason: ReasonModelNotPriced, forbidden: &e}, nil
				}
				price = pr
			}
			if est == nil {
				e := estimateUsage(r, st.model != "")
				est = &e
			}
			steps[i].N = est.reserve(l.Limit, price)
		}
		prices = append(prices, price)
	}
	now := g.now()
	ctx, cancel := g.limitCtx(ctx)
	defer cancel()
	var store limits.Store = g.limitStore
	res, applied, err := limits.Apply(ctx, g.limitStore, steps, now)
	if err != nil {
		open := true
		for _, l := range ls {
			open = g.storeFailed(l, err) && open
		}
		if !open {
			return lst, nil, err
		}
		// Every limit fails open: count in this replica's memory meanwhile.
		store = g.localLimits
		res, applied, _ = g.localLimits.Apply(context.Background(), steps, now)
	}
	var ref *limitRefusal
	for i, l := range ls {
		if l.Rate != nil {
			rr := res[i].Rate
			if !lst.hasReq || rr.Remaining < lst.reqRemaining {
				lst.hasReq, lst.reqLimit, lst.reqRemaining, lst.reqReset = true, l.limitText, rr.Remaining, rr.Reset
			}
			if !rr.Allowed && !l.Shadow && ref == nil {
				ref = &limitRefusal{l: l, key: steps[i].Key, reason: ReasonRateLimited, retryAfter: rr.RetryAfter}
			}
		} else {
			br := res[i].Budget
			left := max(l.Budget.Amount-br.Used, 0)
			if l.Prices == nil && (!lst.hasTok || left < lst.tokRemaining) {
				lst.hasTok, lst.tokLimit, lst.tokRemaining, lst.tokReset = true, l.limitText, left, br.Reset
			}
			if applied && (br.Allowed || l.Shadow) {
				lst.reservations = append(lst.reservations, reservation{l: l, key: steps[i].Key, window: br.Window,
					reserved: steps[i].N, price: prices[i], store: store})
			}
			if !br.Allowed || left*10 < l.Budget.Amount {
				// A key near or at its budget: what the alert watches.
				l.remaining.Set(float64(left) / float64(l.Budget.Amount))
			}
			if !br.Allowed && !l.Shadow && ref == nil {
				ref = &limitRefusal{l: l, key: steps[i].Key, reason: ReasonBudgetExceeded, retryAfter: br.Reset}
			}
		}
		switch allowed := res[i].Rate.Allowed || res[i].Budget.Allowed; {
		case ref != nil && ref.l == l:
			l.refused.Inc()
		case ref != nil:
			// Judged after the refusal: not counted either way.
		case allowed:
			l.allowed.Inc()
		default:
			l.wouldRefuse.Inc()
		}
	}
	return lst, ref, nil
}

// storeFailed counts a store failure and reports whether the limit fails
// open (the request goes on, counted in this replica's memory).
func (g *Gateway) storeFailed(l *boundLimit, err error) bool {
	l.storeErrors.Inc()
	g.logger.Warn("limit store failed", zap.String("route", l.Route), zap.String("limit", l.Name), zap.Error(err))
	return l.FailOpen
}

// refund gives back every reservation of lst.
func (g *Gateway) refund(lst *limitState) {
	if len(lst.reservations) == 0 {
		return
	}
	// Bounded like the reservation; it runs even when the client has gone.
	ctx, cancel := g.limitCtx(context.Background())
	defer cancel()
	for _, res := range lst.reservations {
		if err := res.store.Adjust(ctx, res.key, *res.l.Budget, res.window, -res.reserved); err != nil {
			g.storeFailed(res.l, err)
		}
	}
	lst.reservations = nil
}

// settle reconciles the reservations with the usage the upstream
// reported: a failed or refused upstream request (no response, or a 4xx
// or 5xx) is refunded; a response whose usage is missing, malformed or
// negative (or a stream cut before it) is billed what was reserved. A
// cost budget needs the usage split into prompt and completion tokens;
// a usage with only a total is billed its reservation there.
func (g *Gateway) settle(st *reqState, lst *limitState) {
	if len(lst.reservations) == 0 {
		return
	}
	if d := lst.drainer; lst.status == 0 && d != nil && d.leftEarly.Load() {
		// The client left while the upstream was working, which then
		// failed or was given up on: the work may well have been done
		// (and charged upstream), so it is billed what it reserved.
		lst.drain = drainUpstreamEnded
		if d.timedOut.Load() {
			lst.drain = drainTimeout
		}
	} else if lst.status == 0 || lst.status >= 400 {
		lst.billedSource = "refunded"
		g.refund(lst)
		return
	}
	var u usage
	ok := false
	if lst.usage != nil {
		u, ok = lst.usage.total()
	}
	source := "usage"
	// Bounded like the reservation; it runs even when the client has gone.
	ctx, cancel := g.limitCtx(context.Background())
	defer cancel()
	for _, res := range lst.reservations {
		bill, billed := res.reserved, false
		switch {
		case ok && res.l.Prices == nil:
			bill, billed = u.total, true
		case ok && u.split:
			if c, err := res.price.Cost(u.prompt, u.completion); err == nil {
				bill, billed = c, true
			}
		}
		if !billed {
			source = "reservation"
		} else if err := res.store.Adjust(ctx, res.key, *res.l.Budget, res.window, bill-res.reserved); err != nil {
			g.storeFailed(res.l, err)
		}
		if res.l.Prices != nil {
			lst.billedCost, lst.hasCost = bill, true
		} else {
			lst.billed = bill
		}
	}
	lst.billedSource = source
	if ok {
		lst.billed = u.total
	}
	g.limitMetrics.tokens.WithLabelValues(lst.route, st.model, source).Add(float64(lst.billed))
	if lst.hasCost {
		g.limitMetrics.cost.WithLabelValues(lst.route, st.model, source).Add(float64(lst.billedCost) / limits.Micro)
	}
	lst.reservations = nil
}

// setLimitHeaders sets the x-ratelimit-* headers the way OpenAI sends
// them, so that SDKs' retry logic reads them.
//
// With pooled, each value's slice is a piece of lst.hdrBuf (the
// three-index slices keep them from growing into one another): only for
// an upstream response's header, which ReverseProxy copies before the
// request ends and its state is reused; never for the ResponseWriter's.
func setLimitHeaders(h http.Header, lst *limitState, pooled bool) {
	set := func(i int, k, v string) {
		if !pooled {
			h[k] = []string{v}
			return
		}
		lst.hdrBuf[i] = v
		h[k] = lst.hdrBuf[i : i+1 : i+1]
	}
	if lst.hasReq {
		set(0, "X-Ratelimit-Limit-Requests", lst.reqLimit)
		set(1, "X-Ratelimit-Remaining-Requests", strconv.Itoa(lst.reqRemaining))
		set(2, "X-Ratelimit-Reset-Requests", resetText(lst.reqReset))
	}
	if lst.hasTok {
		set(3, "X-Ratelimit-Limit-Tokens", lst.tokLimit)
		set(4, "X-Ratelimit-Remaining-Tokens", strconv.FormatInt(lst.tokRemaining, 10))
		set(5, "X-Ratelimit-Reset-Tokens", resetText(lst.tokReset))
	}
}

// resetText is a duration as OpenAI writes it ("20ms", "1s", "6m0s").
func resetText(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatInt(max(d.Milliseconds(), 0), 10) + "ms"
	}
	return d.Round(time.Second).String()
}

// errLimited is the 429 of a limit: Retry-After (whole seconds, rounded
// up) and retry-after-ms, which the OpenAI SDKs honour.
func errLimited(h http.Header, ref *limitRefusal) apiError {
	secs := int(math.Ceil(ref.retryAfter.Seconds()))
	secs = max(secs, 1)
	h.Set("Retry-After-Ms", strconv.FormatInt(max(ref.retryAfter.Milliseconds(), 1), 10))
	e := apiError{status: http.StatusTooManyRequests, typ: "rate_limit_error", code: "rate_limit_exceeded", retryAfter: secs,
		message: fmt.Sprintf("rate limit %q of this route reached; retry after %ds", ref.l.Name, secs)}
	if ref.reason == ReasonBudgetExceeded {
		kind := "token"
		if ref.l.Prices != nil {
			kind = "cost"
		}
		e.code = "budget_exceeded"
		e.message = fmt.Sprintf("%s budget %q of this route is used up until its window ends in %ds", kind, ref.l.Name, secs)
	}
	e.auditDetail = e.message + " (key " + ref.key + ")"
	return e
}

func errLimitStore() apiError {
	return apiError{status: http.StatusServiceUnavailable, typ: "service_unavailable", code: "limit_store_unavailable",
		message: "the usage limits of this route cannot be checked now; retry shortly", retryAfter: 1}
}

// limit applies the route's limits ls to an allowed request: its limit
// state, or the refusal (429 with the x-ratelimit-* headers set on w, or
// 503 when a fail-closed limit's store failed).
func (g *Gateway) limit(st *reqState, w http.ResponseWriter, r *http.Request, ls []*boundLimit) (*limitState, *refusal) {
	lst, ref, err := g.checkLimits(r.Context(), st, r, ls)
	switch {
	case err != nil:
		return nil, refuse(ReasonLimitStoreUnavailable, errLimitStore())
	case ref != nil && ref.forbidden != nil:
		return nil, refuse(ref.reason, *ref.forbidden)
	case ref != nil:
		setLimitHeaders(w.Header(), lst, false)
		return nil, refuse(ref.reason, errLimited(w.Header(), ref))
	}
	return lst, nil
}

// limitResponse, the proxies' ModifyResponse step for a request under
// limits, notes the status, sets the x-ratelimit-* headers (the
// gateway's replace the upstream's) and, under a token budget, reads the
// usage as the body is relayed.
func limitResponse(resp *http.Response, lst *limitState) {
	lst.status = resp.StatusCode
	setLimitHeaders(resp.Header, lst, true)
	if len(lst.reservations) == 0 {
		return
	}
	ct := resp.Header.Get("Content-Type")
	sse := len(ct) >= len("text/event-stream") && strings.EqualFold(ct[:len("text/event-stream")], "text/event-stream")
	lst.usage = newUsageScanner(resp.Body, sse)
	resp.Body = lst.usage
	if sse && lst.strip {
		resp.Body = &usageStripper{src: lst.usage.ReadCloser, u: lst.usage}
	}
	if d := lst.drainer; d != nil {
		d.reading.Store(true)
		resp.Body = &drainBody{ReadCloser: resp.Body, d: d, lst: lst}
	}
}
