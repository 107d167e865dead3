package token

import "strings"

// isMachineToken reports whether a token's claims mark it as issued to a
// client acting for itself (the client credentials grant, a service
// account), beyond what the gateway infers from sub and client id. These
// are the markers the providers of docs/idp/ put in such tokens:
//
//   - Auth0: gty "client-credentials";
//   - Microsoft Entra: the optional claim idtyp "app"; without it, an
//     app-only token is one with no scp (it carries roles instead) and
//     the Entra-only claim appidacr (v1) or azpacr (v2);
//   - Keycloak: a service account's preferred_username is
//     "service-account-<client id>", a prefix Keycloak reserves;
//
// and any claim/value of the issuer's MachineClaims (a string claim equal
// to the value, or an array claim containing it). Okta, Cognito and Hydra
// put the client id in sub, which the gateway already reads as a machine.
// The claims are the issuer's, signed: a client cannot set them.
func isMachineToken(m map[string]any, cfg *IssuerConfig) bool {
	if s, _ := m["gty"].(string); s == "client-credentials" {
		return true
	}
	if s, _ := m["idtyp"].(string); s == "app" {
		return true
	}
	if _, scp := m["scp"]; !scp {
		if _, ok := m["appidacr"]; ok {
			return true
		}
		if _, ok := m["azpacr"]; ok {
			return true
		}
	}
	if s, _ := m["preferred_username"].(string); strings.HasPrefix(s, "service-account-") {
		return true
	}
	for name, want := range cfg.MachineClaims {
		switch v := m[name].(type) {
		case string:
			if v == want {
				return true
			}
		case []any:
			for _, e := range v {
				if s, _ := e.(string); s == want {
					return true
				}
			}
		}
	}
	return false
}
