package token

import "strings"

// IntrospectedClaims judges the members of an active RFC 7662
// introspection response, received from iss's introspection endpoint, by
// the same rules as a JWT's claims: claim types, ID-token markers, times
// (exp required), audience, required claims, allowed clients; scopes from
// scope, scp and the issuer's ScopeClaims; the client id from its
// ClientIDClaims. It returns the same Claims a JWT of that issuer would
// give, or a *Error.
//
// Beyond the JWT rules: an iss member, when present, must equal iss (an
// answer about another issuer's token is refused as unknown_issuer); a
// token_type or token_use naming a refresh or ID token is refused; and,
// when allowMissingAudience is set, a response without aud (or with an
// empty one) passes the audience check, since RFC 7662 makes aud optional.
// A present aud is always judged. m is kept as Claims.Raw: callers must not
// modify it afterwards.
func (v *Verifier) IntrospectedClaims(iss string, m map[string]any, allowMissingAudience bool) (*Claims, error) {
	is := v.issuers[iss]
	if is == nil {
		return nil, refuse(ReasonUnknownIssuer, v.untrustedIssuer(iss))
	}
	if got, ok := m["iss"]; ok {
		s, isStr := got.(string)
		if !isStr || s != iss {
			return nil, refuse(ReasonUnknownIssuer, "the introspection response names another issuer")
		}
	}
	if err := notAccessToken(m); err != nil {
		return nil, err
	}
	c, rerr := readClaims(m, &is.cfg)
	if rerr != nil {
		return nil, rerr
	}
	c.Issuer = iss
	c.Scopes = addClaimScopes(c.Scopes, m, is.scopes)
	if rerr := idTokenClaims(m); rerr != nil {
		return nil, rerr
	}
	if rerr := requiredClaims(m, is.cfg.RequiredClaims); rerr != nil {
		return nil, rerr
	}
	if rerr := is.checkTimes(c, v.now()); rerr != nil {
		return nil, rerr
	}
	if !(allowMissingAudience && len(c.Audience) == 0) {
		if rerr := is.checkAudience(c, m); rerr != nil {
			return nil, rerr
		}
	}
	if len(is.clients) > 0 && !is.clients[c.ClientID] {
		return nil, refuse(ReasonClientNotAllowed, "the token's client is not allowed")
	}
	return c, nil
}

// notAccessToken refuses a response whose token_type (RFC 7662; also RFC
// 8693 token type URIs) or token_use (Ory Hydra, Amazon Cognito) names a
// refresh token or an ID token, or whose token_type is DPoP without the
// cnf.jkt the binding is checked by. Other values ("Bearer", "DPoP" with
// cnf.jkt, "N_A", "access_token") pass.
func notAccessToken(m map[string]any) *Error {
	for _, name := range [2]string{"token_type", "token_use"} {
		v, ok := m[name]
		if !ok {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return refuse(ReasonBadClaim, "member "+name+" is not a string")
		}
		s = strings.ToLower(s)
		if strings.Contains(s, "refresh") || strings.Contains(s, "id_token") || s == "id" {
			return refuse(ReasonNotAccessToken, "the introspected token is not an access token ("+name+")")
		}
		if name == "token_type" && s == "dpop" {
			// RFC 9449 section 6.2: a DPoP-bound token's answer carries
			// cnf.jkt. Without it the binding cannot be checked, and the
			// token must not pass as a bearer token.
			cnf, _ := m["cnf"].(map[string]any)
			if jkt, _ := cnf["jkt"].(string); jkt == "" {
				return refuse(ReasonBadClaim, "the introspection response says the token is DPoP-bound (token_type DPoP) and names no cnf.jkt")
			}
		}
	}
	return nil
}

// LooksLikeJWT reports whether raw has the shape of a compact JWS: three
// non-empty segments of base64url characters. Anything else (an opaque
// token, a JWE) cannot be a JWT access token.
func LooksLikeJWT(raw string) bool {
	if strings.Count(raw, ".") != 2 {
		return false
	}
	_, _, err := split(raw)
	return err == nil
}
