package gateway

import (
	"github.com/scopegate/scopegate/dpop"
	"github.com/scopegate/scopegate/gateway/introspect"
	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/policy"
)

// Reason is a stable code saying why a request was decided as it was: the
// audit record's reason and the refusal metric's label. Codes never change
// meaning; a new rule gets a new code, and a row in reasonRegistry.
type Reason string

// reasonInfo is what a reason code means on the wire and in the audit:
// the registry below is the one list of every code the gateway records,
// checked by TestReasonRegistry against the code and docs/audit.md.
type reasonInfo struct {
	// decision is what the audit record says: decisionAllow,
	// decisionDeny or decisionError (the gateway could not decide).
	decision string
	// statuses are the HTTP statuses the reason answers; none for the
	// allowed reasons, which answer with the upstream's status.
	statuses []int
	// bearer is the RFC 6750 error attribute of the challenge, "" for
	// none (403s carry insufficient_scope: see apiError.challengeError).
	bearer string
	// doc is the one-line meaning, as docs/audit.md explains it.
	doc string
}

// Reasons the gateway decides itself. Token, policy, sender-constraint
// and DPoP proof codes come from their packages and are registered below
// under the same type.
const (
	ReasonAllowed           Reason = "allowed"
	ReasonPublic            Reason = "public"
	ReasonNoRoute           Reason = "no_route"
	ReasonBadPath           Reason = "bad_path"
	ReasonBadRequest        Reason = "invalid_request"
	ReasonMissingToken      Reason = "missing_token"
	ReasonDuplicateAuth     Reason = "duplicate_authorization"
	ReasonTokenInQuery      Reason = "token_in_query"
	ReasonInsufficientScope Reason = "insufficient_scope"
	ReasonKeysUnavailable   Reason = "keys_unavailable"
	ReasonBodyTooLarge      Reason = "body_too_large"
	ReasonHeadersTooLarge   Reason = "headers_too_large"
	ReasonUpstreamError     Reason = "upstream_error"
	ReasonUpstreamTimeout   Reason = "upstream_timeout"
	ReasonClientClosed      Reason = "client_closed"
	ReasonInternal          Reason = "internal_error"
	ReasonBadIdentityClaim  Reason = "bad_identity_claim"
	ReasonResourceMetadata  Reason = "resource_metadata"
	ReasonModelNotAllowed   Reason = "model_not_allowed"
	ReasonBadBody           Reason = "invalid_body"
	ReasonModelList         Reason = "model_list_unfilterable"
	ReasonMethodNotAllowed  Reason = "method_not_allowed"
	// ReasonBodyTimeout: the client stopped sending its request body.
	ReasonBodyTimeout Reason = "body_timeout"
	// ReasonUnsupportedMediaType: a body the gateway judges is not JSON
	// in UTF-8 by its Content-Type (docs/authorization.md).
	ReasonUnsupportedMediaType Reason = "unsupported_media_type"
	// ReasonRouteAlias: the path is another spelling of another route's.
	ReasonRouteAlias Reason = "route_alias"
	// ReasonConditionFailed: one of the route's CEL conditions is false
	// or failed to evaluate.
	ReasonConditionFailed Reason = "condition_failed"
	// ReasonClientNotAllowed: the route's clients list lacks the token's
	// client (403). The issuer's allowed_clients is a token refusal,
	// token.ReasonClientNotAllowed (401), with a code of its own.
	ReasonClientNotAllowed    Reason = policy.ReasonClientNotAllowed
	ReasonPrincipalNotAllowed Reason = policy.ReasonPrincipalNotAllowed
	ReasonDelegationTooDeep   Reason = policy.ReasonDelegationTooDeep
)

// Status sets of the registry.
var (
	s400 = []int{400}
	s401 = []int{401}
	s403 = []int{403}
	s503 = []int{503}
)

// reasonRegistry is every reason code, with what it answers.
var reasonRegistry = map[Reason]reasonInfo{
	ReasonAllowed:               {decisionAllow, nil, "", "a valid token with every required scope"},
	ReasonPublic:                {decisionAllow, nil, "", "a public route: no token needed"},
	ReasonNoRoute:               {decisionDeny, []int{404}, "", "no route matches the canonical path under any method"},
	ReasonUnsupportedMediaType:  {decisionDeny, []int{415}, "", "a judged body is not declared as JSON in UTF-8"},
	ReasonRouteAlias:            {decisionDeny, s400, "invalid_request", "the path is another spelling of another route's path"},
	ReasonBodyTimeout:           {decisionDeny, []int{408}, "", "the client stopped sending its request body"},
	ReasonMethodNotAllowed:      {decisionDeny, []int{405}, "", "routes have the path but none takes the method; TRACE, TRACK and CONNECT"},
	ReasonBadPath:               {decisionDeny, s400, "invalid_request", "the path cannot be canonicalized safely"},
	ReasonBadRequest:            {decisionDeny, s400, "invalid_request", "a malformed request"},
	ReasonMissingToken:          {decisionDeny, s401, "", "a protected route and no bearer token"},
	ReasonDuplicateAuth:         {decisionDeny, s400, "invalid_request", "two Authorization headers, or several credentials in one"},
	ReasonTokenInQuery:          {decisionDeny, s400, "invalid_request", "an access_token query parameter"},
	ReasonInsufficientScope:     {decisionDeny, s403, "insufficient_scope", "a valid token without every required scope"},
	ReasonTokenRevoked:          {decisionDeny, s401, "invalid_token", "the token is on the revocation list"},
	ReasonRevocationUnavailable: {decisionDeny, s503, "", "the revocation list is out of sync and fail_closed"},
	ReasonBadIdentityClaim:      {decisionDeny, s401, "invalid_token", "sub or client_id holds control characters"},
	ReasonHeadersTooLarge:       {decisionDeny, []int{431}, "", "the request line and headers are over server.max_header_bytes"},
	ReasonBodyTooLarge:          {decisionDeny, []int{413}, "", "the body is over its cap"},
	ReasonClientNotAllowed:      {decisionDeny, s403, "insufficient_scope", "the token's client is not in the route's clients"},
	ReasonPrincipalNotAllowed:   {decisionDeny, s403, "insufficient_scope", "the token's kind is not in the route's principals"},
	ReasonDelegationTooDeep:     {decisionDeny, s403, "insufficient_scope", "the act chain is longer than max_delegation_depth"},
	ReasonModelNotAllowed:       {decisionDeny, s403, "insufficient_scope", "no model rule allows the requested model"},
	ReasonBadBody:               {decisionDeny, []int{400, 415}, "", "a model could not be read from the body"},
	ReasonConditionFailed:       {decisionDeny, s403, "insufficient_scope", "a CEL condition of the route is false or failed"},
	ReasonRateLimited:           {decisionDeny, []int{429}, "", "a request-rate limit refused the request"},
	ReasonBudgetExceeded:        {decisionDeny, []int{429}, "", "a token or cost budget has no room for the request"},
	ReasonLimitStoreUnavailable: {decisionDeny, s503, "", "the store of a fail-closed limit failed"},
	ReasonModelNotPriced:        {decisionDeny, s403, "insufficient_scope", "a cost budget has no price for the requested model"},
	ReasonLimitKey:              {decisionDeny, s403, "insufficient_scope", "a limit's key_expr failed for the token's claims"},
	ReasonResourceMetadata:      {decisionAllow, []int{200, 405}, "", "the gateway answered RFC 9728 metadata itself"},
	ReasonModelList:             {decisionError, []int{502}, "", "a model list could not be filtered"},
	ReasonKeysUnavailable:       {decisionError, s503, "", "the issuer's signing keys are not available"},
	// Introspection (docs/introspection.md).
	ReasonIntrospectionUnavailable:             {decisionError, s503, "", "the issuer's introspection endpoint gave no usable answer"},
	Reason(introspect.ReasonInactive):          tokenReason("the introspection endpoint says the token is not active"),
	Reason(introspect.ReasonNotIntrospectable): tokenReason("a route with introspect: true, an issuer without introspection"),
	Reason(token.ReasonNotAccessToken):         tokenReason("the introspection answer names a refresh or ID token"),
	// upstream_error answers 502, or keeps the upstream's status when the
	// upstream broke the connection after its headers.
	ReasonUpstreamError:     {decisionError, nil, "", "the upstream could not be reached or broke the connection"},
	ReasonUpstreamTimeout:   {decisionError, []int{504}, "", "the upstream did not answer within its timeout"},
	ReasonClientClosed:      {decisionError, []int{499}, "", "the client went away before the answer"},
	ReasonInternal:          {decisionError, []int{500}, "", "a bug in the gateway"},
	ReasonMCPBadMessage:     {decisionDeny, s400, "", "an MCP body is not one well-formed JSON-RPC message"},
	ReasonMCPHeaderMismatch: {decisionDeny, s400, "", "Mcp-Method or Mcp-Name differs from the body"},
	ReasonMCPNotAllowed:     {decisionDeny, s403, "insufficient_scope", "the token may not call this MCP method, tool, resource or prompt"},
	ReasonMCPListing:        {decisionError, []int{502}, "", "an MCP listing could not be filtered"},
	ReasonMCPOrigin:         {decisionDeny, s403, "insufficient_scope", "an MCP request from a browser origin the route does not allow"},

	// Token refusals: 401 invalid_token.
	Reason(token.ReasonMalformed):        tokenReason("not a strict three-part JWS of JSON objects"),
	Reason(token.ReasonTooLarge):         tokenReason("longer than server.max_token_bytes"),
	Reason(token.ReasonUnsupportedAlg):   tokenReason("alg none, HS*, unknown, or not allowed"),
	Reason(token.ReasonAlgKeyMismatch):   tokenReason("no key fits the token's alg"),
	Reason(token.ReasonHeaderKey):        tokenReason("the header names a key itself"),
	Reason(token.ReasonCrit):             tokenReason("the header has crit"),
	Reason(token.ReasonUnknownIssuer):    tokenReason("iss absent or not a configured issuer"),
	Reason(token.ReasonUnknownKID):       tokenReason("kid not in the issuer's JWKS"),
	Reason(token.ReasonBadSignature):     tokenReason("the signature does not verify"),
	Reason(token.ReasonMissingExp):       tokenReason("no exp"),
	Reason(token.ReasonExpired):          tokenReason("exp is past"),
	Reason(token.ReasonNotYetValid):      tokenReason("nbf is in the future"),
	Reason(token.ReasonIssuedInFuture):   tokenReason("iat is in the future"),
	Reason(token.ReasonBadClaim):         tokenReason("a claim of the wrong type or form"),
	Reason(token.ReasonBadAudience):      tokenReason("aud absent or without a configured audience"),
	Reason(token.ReasonClientNotAllowed): tokenReason("the client is not in the issuer's allowed_clients"),
	Reason(token.ReasonIDTokenType):      tokenReason("a typ header of an ID token"),
	Reason(token.ReasonIDTokenAudience):  tokenReason("aud names the token's own client: an ID token"),
	Reason(token.ReasonIDTokenClaims):    tokenReason("claims of an ID or refresh token"),
	Reason(token.ReasonTypRequired):      tokenReason("require_at_jwt and typ is not at+jwt"),
	Reason(token.ReasonRequiredClaim):    tokenReason("a required claim is absent or another value"),

	// Sender constraints (DPoP, mTLS).
	ReasonBadConfirmation:   tokenReason("cnf is malformed or names an unknown method"),
	ReasonDPoPDowngrade:     tokenReason("a DPoP-bound token sent as Bearer"),
	ReasonDPoPNotAccepted:   tokenReason("a DPoP-bound token where DPoP is off"),
	ReasonDPoPUnboundToken:  tokenReason("the DPoP scheme with an unbound token"),
	ReasonDPoPRequired:      tokenReason("an unbound token where DPoP is required"),
	ReasonDPoPStoreDown:     {decisionError, s503, "", "the replay cache did not answer"},
	ReasonMTLSNotAccepted:   tokenReason("a certificate-bound token where mTLS is off"),
	ReasonMTLSNoCertificate: tokenReason("a certificate-bound token without a client certificate"),
	ReasonMTLSCertMismatch:  tokenReason("the client certificate is not the token's"),
	ReasonMTLSRequired:      tokenReason("an unbound token where mTLS is required"),
	dpop.ReasonMissing:      proofReason("no DPoP header"),
	dpop.ReasonMultiple:     proofReason("more than one DPoP header"),
	dpop.ReasonTooLarge:     proofReason("the proof is over dpop.max_proof_bytes"),
	dpop.ReasonMalformed:    proofReason("not a compact JWS of strict JSON objects"),
	dpop.ReasonType:         proofReason("typ is not dpop+jwt"),
	dpop.ReasonAlg:          proofReason("alg is not accepted"),
	dpop.ReasonKey:          proofReason("the jwk is absent or unusable"),
	dpop.ReasonSignature:    proofReason("the signature does not verify"),
	dpop.ReasonMethod:       proofReason("htm is not the request's method"),
	dpop.ReasonURI:          proofReason("htu is not the request's URL"),
	dpop.ReasonIssuedAt:     proofReason("iat is out of the window"),
	dpop.ReasonAccessToken:  proofReason("ath is absent or not the token's hash"),
	dpop.ReasonKeyMismatch:  proofReason("the proof's key is not the token's cnf.jkt"),
	dpop.ReasonReplay:       proofReason("the proof's jti was seen within the window"),
	dpop.ReasonMissingClaim: proofReason("htm, htu, jti or iat absent or mistyped"),
	dpop.ReasonNonce:        {decisionDeny, s401, "use_dpop_nonce", "a current server nonce is required"},
}

func tokenReason(doc string) reasonInfo { return reasonInfo{decisionDeny, s401, "invalid_token", doc} }

func proofReason(doc string) reasonInfo {
	return reasonInfo{decisionDeny, s401, "invalid_dpop_proof", doc}
}

// decisionOf is the audit decision of a refusal for reason: error when
// the gateway could not decide (keys, a store unavailable), else deny.
func decisionOf(reason Reason) string {
	if reasonRegistry[reason].decision == decisionError {
		return decisionError
	}
	return decisionDeny
}
