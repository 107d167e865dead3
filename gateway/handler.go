package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/policy"
)

// reqState is everything one request's decision is made of. The audit
// record and the metrics are written from it once the inner handlers have
// returned, so every outcome is recorded alike.
type reqState struct {
	start         time.Time
	requestID     string
	realm         string
	route         *policy.Route
	canonicalPath string
	decodedPath   string
	claims        *token.Claims
	decision      string // allow, deny, error
	reason        Reason
	status        int
	detail        string // client-safe detail of a refusal
	upstreamErr   error
	bytesIn       int64
	bytesOut      int64
}

// Decisions, as the decision label and audit field.
const (
	decisionAllow = "allow"
	decisionDeny  = "deny"
	decisionError = "error"
)

type stateKey struct{}

func stateOf(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	if st == nil {
		st = &reqState{} // never nil: the proxy may be used alone in tests
	}
	return st
}

var statePool = sync.Pool{New: func() any { return new(reqState) }}

// ServeHTTP is the proxy listener's handler: it decides every request and
// forwards only the allowed ones.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := g.runtime.Load()
	st := statePool.Get().(*reqState)
	*st = reqState{start: g.now(), realm: rt.cfg.Server.Realm}
	st.requestID = requestID(r.Header.Get("X-Request-Id"))
	w.Header().Set("X-Request-Id", st.requestID)
	sw := &statusWriter{ResponseWriter: w}
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

// handle runs the chain: canonical path, route, authn, authz, proxy.
func (g *Gateway) handle(rt *runtime, st *reqState, w http.ResponseWriter, r *http.Request) {
	deny := func(reason Reason, e apiError) {
		st.decision, st.reason, st.status, st.detail = decisionDeny, reason, e.status, e.message
		writeError(w, st.realm, e)
	}

	// The request target: origin-form only. Absolute-form and "*" would
	// let the Host the policy saw differ from the one forwarded.
	raw := r.RequestURI
	if raw == "" || raw[0] != '/' {
		deny(ReasonBadRequest, errInvalidRequest("the request target must be an absolute path (origin-form)"))
		return
	}
	rawPath, _, _ := strings.Cut(raw, "?")
	canon, decoded, err := policy.CanonicalPath(rawPath)
	if err != nil {
		why := "malformed"
		var pe *policy.PathError
		if errors.As(err, &pe) {
			why = pe.Reason
		}
		deny(ReasonBadPath, errInvalidRequest("the request path is refused: "+why))
		return
	}
	st.canonicalPath, st.decodedPath = canon, decoded

	route, _ := rt.table.Match(r.Method, decoded)
	if route == nil {
		deny(ReasonNoRoute, errNoRoute())
		return
	}
	st.route = route

	hasQueryToken := queryHasToken(r.URL.RawQuery)
	if !route.Public {
		tok, err := bearerToken(r.Header)
		switch {
		case errors.Is(err, errNoBearer) && hasQueryToken:
			deny(ReasonTokenInQuery, errInvalidRequest("access tokens in the query string are not accepted; send them in the Authorization header"))
			return
		case errors.Is(err, errNoBearer):
			deny(ReasonMissingToken, errNoCredentials())
			return
		case errors.Is(err, errTwoAuthHeaders):
			deny(ReasonDuplicateAuth, errInvalidRequest(err.Error()))
			return
		case errors.Is(err, errBadBearer):
			deny(string(token.ReasonMalformed), errInvalidToken(err.Error()))
			return
		case err != nil:
			deny(ReasonBadRequest, errInvalidRequest(err.Error()))
			return
		}
		if hasQueryToken {
			deny(ReasonBadRequest, errInvalidRequest("more than one method was used to send an access token"))
			return
		}
		if len(tok) > rt.cfg.Server.MaxTokenBytes {
			deny(string(token.ReasonTooLarge), errInvalidToken("the access token is too large"))
			return
		}
		claims, err := rt.verifier.Verify(r.Context(), tok)
		if err != nil {
			var te *token.Error
			switch {
			case errors.As(err, &te):
				deny(string(te.Reason), errInvalidToken(te.Detail))
			case errors.Is(err, token.ErrKeysUnavailable):
				st.decision, st.reason, st.status = decisionError, ReasonKeysUnavailable, http.StatusServiceUnavailable
				writeError(w, st.realm, errKeysUnavailable())
			default:
				st.decision, st.reason, st.status = decisionError, ReasonKeysUnavailable, http.StatusServiceUnavailable
				g.logger.Warn("token verification failed", zap.String("request_id", st.requestID), zap.Error(err))
				writeError(w, st.realm, errKeysUnavailable())
			}
			return
		}
		st.claims = claims
		if !validHeaderValue(claims.Subject) || !validHeaderValue(claims.ClientID) {
			deny(ReasonBadIdentityClaim, errInvalidToken("the token's sub or client_id contains control characters"))
			return
		}
		if d := route.Decide(claims.Scopes); !d.Allowed {
			deny(ReasonInsufficientScope, errInsufficientScope(route.Scopes, d.Missing))
			return
		}
		st.reason = ReasonAllowed
	} else {
		st.reason = ReasonPublic
	}
	st.decision = decisionAllow

	up := rt.upstreams[route.Upstream]
	limit := rt.cfg.Server.MaxBodyBytes
	if route.MaxBody > 0 {
		limit = route.MaxBody
	}
	if limit > 0 && r.ContentLength > limit {
		deny(ReasonBodyTooLarge, errBodyTooLarge(limit))
		return
	}
	cleanInbound(r.Header, rt.identity, false)
	if r.Body != nil && r.Body != http.NoBody {
		body := r.Body
		if limit > 0 {
			// The server's own writer: through it MaxBytesReader makes
			// net/http close the connection after the 413, rather than
			// keep it for a next request behind an unread body.
			body = http.MaxBytesReader(serverWriter(w), body, limit)
		}
		cr := &countingReader{r: body}
		r.Body = cr
		defer func() { st.bytesIn = cr.n }()
	}
	// A model may start answering before it has read the whole request;
	// without full duplex, net/http would cut the request body short once
	// the response begins.
	_ = http.NewResponseController(w).EnableFullDuplex()
	up.proxy.ServeHTTP(w, r)
	if st.reason == ReasonBodyTooLarge || st.upstreamErr != nil {
		st.decision = decisionError
		if st.reason == ReasonBodyTooLarge {
			st.decision = decisionDeny
		}
	}
}
