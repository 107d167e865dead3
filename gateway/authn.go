package gateway

import (
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/internal/header"
)

// refusal is why a protected route's checks refuse a request: the answer
// to send, and the decision and reason to record. The handler sends it,
// or, on a shadow route, forwards the request as would_deny.
type refusal struct {
	decision string // decisionDeny, or decisionError when keys are unavailable
	reason   Reason
	err      apiError
}

// refuseWith makes the refusal of reason.
func refuseWith(reason Reason, e apiError) *refusal {
	decision := decisionDeny
	if reason == ReasonKeysUnavailable || reason == ReasonDPoPStoreDown {
		decision = decisionError
	}
	return &refusal{decision: decision, reason: reason, err: e}
}

// authenticate extracts and verifies the request's bearer token and sets
// st.claims. It reports whether the token is good; on false it has called
// refuse, which records the refusal (it does not answer the client).
func (g *Gateway) authenticate(rt *runtime, st *reqState, r *http.Request, refuse func(Reason, apiError)) bool {
	hasQueryToken := queryHasToken(r.URL.RawQuery)
	tok, scheme, err := credentials(r.Header)
	switch {
	case errors.Is(err, errNoBearer) && hasQueryToken:
		refuse(ReasonTokenInQuery, errInvalidRequest("access tokens in the query string are not accepted; send them in the Authorization header"))
		return false
	case errors.Is(err, errNoBearer):
		refuse(ReasonMissingToken, errNoCredentials())
		return false
	case errors.Is(err, errTwoAuthHeaders):
		refuse(ReasonDuplicateAuth, errInvalidRequest(err.Error()))
		return false
	case errors.Is(err, errBadBearer):
		refuse(string(token.ReasonMalformed), errInvalidToken(err.Error()))
		return false
	case err != nil:
		refuse(ReasonBadRequest, errInvalidRequest(err.Error()))
		return false
	}
	if hasQueryToken {
		refuse(ReasonBadRequest, errInvalidRequest("more than one method was used to send an access token"))
		return false
	}
	if len(tok) > rt.cfg.Server.MaxTokenBytes {
		refuse(string(token.ReasonTooLarge), errInvalidToken("the access token is too large"))
		return false
	}
	vctx, span := childSpan(r.Context(), "token.verify")
	claims, err := rt.verifier.Verify(vctx, tok)
	endChild(span, verifyFailure(err))
	if err != nil {
		var te *token.Error
		switch {
		case errors.As(err, &te):
			refuse(string(te.Reason), errInvalidToken(te.Detail))
		case errors.Is(err, token.ErrKeysUnavailable):
			refuse(ReasonKeysUnavailable, errKeysUnavailable())
		default:
			g.logger.Warn("token verification failed", zap.String("request_id", st.requestID), zap.Error(err))
			refuse(ReasonKeysUnavailable, errKeysUnavailable())
		}
		return false
	}
	st.claims, st.scopes = claims, strings.Join(claims.Scopes, " ")
	if !header.ValidValue(claims.Subject) || !header.ValidValue(claims.ClientID) {
		refuse(ReasonBadIdentityClaim, errInvalidToken("the token's sub or client_id contains control characters"))
		return false
	}
	if !g.checkSender(rt, st, r, tok, scheme, claims, refuse) {
		return false
	}
	// Every request, cache hit included: revoked since is refused.
	return g.checkRevocation(rt, claims, refuse)
}
