package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/scopegate/scopegate/policy"
)

// ServeHTTP is the proxy listener's handler: it decides every request and
// forwards only the allowed ones.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := g.runtime.Load()
	rt.enter()
	defer rt.leave()
	st := statePool.Get().(*reqState)
	*st = reqState{start: g.now(), realm: rt.cfg.Server.Realm, configHash: rt.cfg.Hash}
	st.requestID = requestID(r.Header.Get("X-Request-Id"))
	w.Header().Set("X-Request-Id", st.requestID)
	st.traceID = traceIDOf(r.Header)
	st.sw = statusWriter{ResponseWriter: w}
	sw := &st.sw
	var span trace.Span
	if g.tracing.on() {
		r, span = g.tracing.startServer(rt, st, r)
	}
	g.metrics.inFlight.Inc()
	defer func() {
		// abort cuts the connection once the request is recorded: a
		// response already under way must not look complete to the client.
		abort := false
		if p := recover(); p != nil {
			abort = sw.wroteHeader
			switch {
			case p == http.ErrAbortHandler && st.upstreamErr != nil && r.Context().Err() == nil:
				// The upstream failed mid-response (reset, cut stream).
				st.reason, st.decision = ReasonUpstreamError, decisionError
			case p == http.ErrAbortHandler:
				st.reason, st.decision, st.status = ReasonClientClosed, decisionError, 499
			default:
				// The stack goes to the operator log only; the client gets
				// the JSON error and never a trace.
				g.logger.Error("panic serving request", zap.String("request_id", st.requestID),
					zap.String("panic", fmt.Sprint(p)), zap.Stack("stack"))
				st.reason, st.decision = ReasonInternal, decisionError
				if !sw.wroteHeader {
					writeError(sw, st.realm, errInternal())
				}
			}
		}
		g.metrics.inFlight.Dec()
		if st.status == 0 {
			st.status = sw.status()
		}
		st.bytesOut = sw.written
		if span != nil {
			g.tracing.endServer(st, r.Method, span)
		}
		g.finish(rt, st, r)
		statePool.Put(st)
		if abort {
			panic(http.ErrAbortHandler)
		}
	}()
	if hook := g.testHook.Load(); hook != nil {
		(*hook)(r)
	}
	g.handle(rt, st, sw, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
}

// handle runs the request path in its order (gateway/doc.go): the route,
// the decision, the forwarding. Each stage answers nothing itself; a
// refusal comes back as a value and is answered here.
func (g *Gateway) handle(rt *runtime, st *reqState, w http.ResponseWriter, r *http.Request) {
	st.in = wrapBody(&st.inBody, w, r, rt.cfg.Server.BodyReadTimeout.D())
	route, params, ref := g.route(rt, st, w, r)
	if ref == nil && route != nil {
		ref = g.decide(rt, st, r, route, params)
	}
	if ref == nil && route != nil {
		ref = g.forward(rt, st, w, r, route)
	}
	if ref != nil {
		g.answer(w, rt, st, ref)
	}
}

// route reads the request target and finds its route: the header size,
// the origin-form target, the canonical path (refusing what cannot be
// made one), the RFC 9728 metadata the gateway answers itself (then
// route is nil, and so is the refusal), the route table and its aliases.
func (g *Gateway) route(rt *runtime, st *reqState, w http.ResponseWriter, r *http.Request) (*policy.Route, policy.Params, *refusal) {
	if limit := rt.cfg.Server.MaxHeaderBytes; headerBytes(r) > limit {
		return nil, policy.Params{}, refuse(ReasonHeadersTooLarge, errHeadersTooLarge(limit))
	}
	// The request target: origin-form only. Absolute-form and "*" would
	// let the Host the policy saw differ from the one forwarded.
	raw := r.RequestURI
	if raw == "" || raw[0] != '/' {
		return nil, policy.Params{}, refuse(ReasonBadRequest, errInvalidRequest("the request target must be an absolute path (origin-form)"))
	}
	rawPath, _, _ := strings.Cut(raw, "?")
	canon, decoded, err := policy.CanonicalPath(rawPath)
	if err != nil {
		why := "malformed"
		var pe *policy.PathError
		if errors.As(err, &pe) {
			why = pe.Reason
		}
		return nil, policy.Params{}, refuse(ReasonBadPath, errInvalidRequest("the request path is refused: "+why))
	}
	st.canonicalPath, st.decodedPath = canon, decoded
	if g.serveMetadata(rt, st, w, r) {
		return nil, policy.Params{}, nil
	}
	var route *policy.Route
	var params policy.Params
	if !policy.NeverForwarded(r.Method) {
		route, params = rt.cfg.Table.Match(r.Method, decoded)
	}
	if route == nil {
		// A path that exists under other methods is a 405 with Allow
		// (RFC 9110 section 15.5.6); TRACE and TRACK are always refused.
		// Routes are configuration, not secrets: an unauthenticated
		// client learns that a path exists, as a 401 would tell it.
		if allow := rt.cfg.Table.Allow(decoded); len(allow) > 0 || policy.NeverForwarded(r.Method) {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return nil, policy.Params{}, refuse(ReasonMethodNotAllowed, errMethodNotAllowed(r.Method))
		}
		return nil, policy.Params{}, refuse(ReasonNoRoute, errNoRoute())
	}
	st.route = route
	if rt.cfg.Server.RouteAliases != "allow" {
		if other := aliasOf(rt.cfg.Table, r.Method, decoded, route); other != nil {
			return nil, policy.Params{}, refuse(ReasonRouteAlias, errInvalidRequest("the path is another spelling (trailing slash or letter case) of a path of route "+
				other.Name+"; send it as that route's path"))
		}
		if other := methodAliasOf(rt.cfg.Table, r.Method, decoded, route); other != nil {
			return nil, policy.Params{}, refuse(ReasonRouteAlias, errInvalidRequest("the method is another spelling (letter case) of a method of route "+
				other.Name+"; send it in upper case"))
		}
	}
	return route, params, nil
}

// decide authenticates and authorizes a request to a protected route
// (public routes pass). On a shadow route a refusal other than an
// oversized body is recorded as would_deny and the request goes on.
func (g *Gateway) decide(rt *runtime, st *reqState, r *http.Request, route *policy.Route, params policy.Params) *refusal {
	st.decision, st.reason = decisionAllow, ReasonPublic
	ref := checkMCPOrigin(rt, route, r)
	if ref == nil && route.Public {
		return nil
	}
	if ref == nil {
		st.reason = ReasonAllowed
		ref = g.authenticate(rt, st, r)
	}
	if ref == nil {
		ref = authorize(rt, st, r, route, params, rt.cfg.Conditions[route.Index])
	}
	if ref == nil {
		return nil
	}
	rt.sender.challenges(st, r, ref)
	// A body over a cap is refused even on a shadow route, as
	// server.max_body_bytes is.
	if !route.Shadow || ref.reason == ReasonBodyTooLarge {
		return ref
	}
	// A shadow route forwards what it would refuse, recorded as
	// would_deny; the upstream gets no identity headers for it.
	st.decision, st.reason, st.detail = decisionWouldDeny, ref.reason, ref.err.auditText()
	return nil
}

// forward hands a decided request to its upstream: the body cap, the
// usage limits, the inbound header hygiene, then the reverse proxy. A
// refusal comes back only before anything was forwarded.
func (g *Gateway) forward(rt *runtime, st *reqState, w http.ResponseWriter, r *http.Request, route *policy.Route) *refusal {
	up := rt.upstreams[route.Upstream]
	limit := rt.cfg.Server.MaxBodyBytes
	if route.MaxBody > 0 {
		limit = route.MaxBody
	}
	if limit > 0 && r.ContentLength > limit {
		return refuse(ReasonBodyTooLarge, errBodyTooLarge(limit))
	}
	if ls := rt.limits[route.Index]; len(ls) > 0 && st.decision == decisionAllow {
		lst, ref := g.limit(st, w, r, ls)
		if ref != nil {
			return ref
		}
		st.lim = lst
		defer g.settle(st, lst)
		if len(lst.reservations) > 0 && st.model != "" && !up.cfg.NoStreamUsage {
			var problem string
			if lst.strip, problem = injectStreamUsage(r); problem != "" {
				return refuse(ReasonBadBody, errBadBody(problem)) // refunded: nothing was forwarded
			}
		}
		if len(lst.reservations) > 0 {
			r, lst.drainer = startUsageDrain(r, up.cfg.UsageDrainTimeout.D(), up.cfg.UsageDrainMaxBytes)
			defer lst.drainer.end()
		}
	}
	cleanInbound(r.Header, rt.identity, false)
	if r.Body != nil && r.Body != http.NoBody {
		serverBody := r.Body
		body := r.Body
		if limit > 0 {
			// The server's own writer: through it MaxBytesReader makes
			// net/http close the connection after the 413, rather than
			// keep it for a next request behind an unread body.
			body = http.MaxBytesReader(serverWriter(w), body, limit)
		}
		cr := &countingReader{r: body}
		r.Body = cr
		st.body = cr
		defer func() {
			cr.detach()
			st.bytesIn = cr.n.Load()
			drainUnread(serverBody)
		}()
	}
	// A model may start answering before it has read the whole request;
	// without full duplex, net/http would cut the request body short once
	// the response begins.
	_ = http.NewResponseController(w).EnableFullDuplex()
	st.forwarded = true
	up.proxy.ServeHTTP(w, r)
	if st.upstreamErr != nil {
		st.decision = decisionError
	}
	return nil
}

// answer sends ref to the client and records it: the decision its reason
// registers, the status, and the audit's detail.
func (g *Gateway) answer(w http.ResponseWriter, rt *runtime, st *reqState, ref *refusal) {
	e := ref.err
	st.decision, st.reason, st.status, st.detail = decisionOf(ref.reason), ref.reason, e.status, e.auditText()
	if rt.metadata != nil {
		e.resourceMetadata = rt.metadata.url
	}
	refuseConn(w, st.in)
	writeError(w, st.realm, e)
}

// headerBytes is the size of the request line and headers as a client
// sent them over HTTP/1.1, as server.max_header_bytes counts them.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2 + len("Host: ") + len(r.Host) + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n + 2
}
