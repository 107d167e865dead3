package gateway

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/scopegate/scopegate/gateway/introspect"
	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/internal/header"
)

// authenticate extracts and verifies the request's bearer token and sets
// st.claims. It returns nil when the token is good, else the refusal (the
// handler answers it, or forwards the request as would_deny on a shadow
// route).
func (g *Gateway) authenticate(rt *runtime, st *reqState, r *http.Request) *refusal {
	hasQueryToken := queryHasToken(r.URL.RawQuery)
	tok, scheme, err := credentials(r.Header)
	switch {
	case errors.Is(err, errNoBearer) && hasQueryToken:
		return refuse(ReasonTokenInQuery, errInvalidRequest("access tokens in the query string are not accepted; send them in the Authorization header"))
	case errors.Is(err, errNoBearer):
		return refuse(ReasonMissingToken, errNoCredentials())
	case errors.Is(err, errTwoAuthHeaders):
		return refuse(ReasonDuplicateAuth, errInvalidRequest(err.Error()))
	case errors.Is(err, errBadBearer):
		return refuse(Reason(token.ReasonMalformed), errInvalidToken(err.Error()))
	case err != nil:
		return refuse(ReasonBadRequest, errInvalidRequest(err.Error()))
	}
	if hasQueryToken {
		return refuse(ReasonBadRequest, errInvalidRequest("more than one method was used to send an access token"))
	}
	if len(tok) > rt.cfg.Server.MaxTokenBytes {
		return refuse(Reason(token.ReasonTooLarge), errInvalidToken("the access token is too large"))
	}
	vctx, span := childSpan(r.Context(), "token.verify")
	claims, err := g.verifyToken(vctx, rt, st, tok)
	endChild(span, verifyFailure(err))
	if err != nil {
		var te *token.Error
		switch {
		case errors.As(err, &te):
			return refuse(Reason(te.Reason), errInvalidToken(te.Detail))
		case errors.Is(err, introspect.ErrUnavailable):
			return refuse(ReasonIntrospectionUnavailable, errIntrospectionUnavailable())
		case errors.Is(err, token.ErrKeysUnavailable):
			return refuse(ReasonKeysUnavailable, errKeysUnavailable())
		default:
			g.logger.Warn("token verification failed", zap.String("request_id", st.requestID), zap.Error(err))
			return refuse(ReasonKeysUnavailable, errKeysUnavailable())
		}
	}
	st.claims, st.scopes = claims, claims.ScopeList() // joined once per token, not per request
	if !header.ValidValue(claims.Subject) || !header.ValidValue(claims.ClientID) {
		return refuse(ReasonBadIdentityClaim, errInvalidToken("the token's sub or client_id contains control characters"))
	}
	if ref := g.checkSender(rt, st, r, tok, scheme, claims); ref != nil {
		return ref
	}
	// Every request, cache hit included: revoked since is refused.
	return g.checkRevocation(rt, claims)
}
