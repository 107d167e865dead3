package gateway

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/policy"
)

// refusal is why a protected route's token and scope checks refuse a
// request: the answer to send, and the decision and reason to record.
type refusal struct {
	decision string // decisionDeny, or decisionError when keys are unavailable
	reason   Reason
	err      apiError
}

func refuseWith(reason Reason, e apiError) *refusal {
	return &refusal{decision: decisionDeny, reason: reason, err: e}
}

// authorize runs the token and scope checks of a protected route. nil
// means the request is allowed; st.claims is set once the token verified,
// whatever comes after.
func (g *Gateway) authorize(rt *runtime, st *reqState, r *http.Request, route *policy.Route) *refusal {
	hasQueryToken := queryHasToken(r.URL.RawQuery)
	tok, err := bearerToken(r.Header)
	switch {
	case errors.Is(err, errNoBearer) && hasQueryToken:
		return refuseWith(ReasonTokenInQuery, errInvalidRequest("access tokens in the query string are not accepted; send them in the Authorization header"))
	case errors.Is(err, errNoBearer):
		return refuseWith(ReasonMissingToken, errNoCredentials())
	case errors.Is(err, errTwoAuthHeaders):
		return refuseWith(ReasonDuplicateAuth, errInvalidRequest(err.Error()))
	case errors.Is(err, errBadBearer):
		return refuseWith(string(token.ReasonMalformed), errInvalidToken(err.Error()))
	case err != nil:
		return refuseWith(ReasonBadRequest, errInvalidRequest(err.Error()))
	}
	if hasQueryToken {
		return refuseWith(ReasonBadRequest, errInvalidRequest("more than one method was used to send an access token"))
	}
	if len(tok) > rt.cfg.Server.MaxTokenBytes {
		return refuseWith(string(token.ReasonTooLarge), errInvalidToken("the access token is too large"))
	}
	claims, err := rt.verifier.Verify(r.Context(), tok)
	if err != nil {
		var te *token.Error
		if errors.As(err, &te) {
			return refuseWith(string(te.Reason), errInvalidToken(te.Detail))
		}
		if !errors.Is(err, token.ErrKeysUnavailable) {
			g.logger.Warn("token verification failed", zap.String("request_id", st.requestID), zap.Error(err))
		}
		return &refusal{decision: decisionError, reason: ReasonKeysUnavailable, err: errKeysUnavailable()}
	}
	st.claims = claims
	if !validHeaderValue(claims.Subject) || !validHeaderValue(claims.ClientID) {
		return refuseWith(ReasonBadIdentityClaim, errInvalidToken("the token's sub or client_id contains control characters"))
	}
	if d := route.Decide(claims.Scopes); !d.Allowed {
		return refuseWith(ReasonInsufficientScope, errInsufficientScope(route.Scopes, d.Missing))
	}
	return nil
}
