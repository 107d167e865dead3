package issuer

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Paths of the endpoints, relative to the issuer URL.
const (
	discoveryPath = "/.well-known/openid-configuration"
	jwksPath      = "/jwks.json"
)

// Handler returns the HTTP handler of the issuer's endpoints:
//
//	GET {path of URL()}/.well-known/openid-configuration   OIDC discovery
//	GET {path of URL()}/jwks.json                           the public keys
//
// Both answer 503 while SetDown(true) is in effect, other methods 405, and
// other paths 404. Before SetURL is called, discovery names
// "http://" + the request's Host as the issuer.
func (i *Issuer) Handler() http.Handler {
	return http.HandlerFunc(i.serveHTTP)
}

func (i *Issuer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	base := i.URL()
	prefix := ""
	if n := strings.Index(base, "://"); n >= 0 {
		if p := strings.IndexByte(base[n+3:], '/'); p >= 0 {
			prefix = base[n+3+p:]
		}
	}
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok || (rest != discoveryPath && rest != jwksPath) {
		http.NotFound(w, r)
		return
	}
	if rest == jwksPath {
		i.fetches.Add(1)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if i.down.Load() {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "issuer is down", http.StatusServiceUnavailable)
		return
	}
	if base == "" {
		base = "http://" + r.Host
	}
	var body any
	if rest == jwksPath {
		body = i.jwks()
	} else {
		body = i.discovery(base)
	}
	b, err := json.Marshal(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// Verifiers under test must decide their own refresh rate.
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// jwks is the JSON Web Key Set: the Issuer's keys, then any raw entries.
func (i *Issuer) jwks() map[string]any {
	i.mu.RLock()
	defer i.mu.RUnlock()
	keys := make([]any, 0, len(i.keys)+len(i.raw))
	for _, k := range i.keys {
		keys = append(keys, k.jwk())
	}
	for _, raw := range i.raw {
		keys = append(keys, raw)
	}
	return map[string]any{"keys": keys}
}

// discovery is the OpenID Provider Metadata document for issuer base.
func (i *Issuer) discovery(base string) map[string]any {
	i.mu.RLock()
	algs := []string{}
	for _, k := range i.keys {
		algs = append(algs, k.alg)
	}
	i.mu.RUnlock()
	slices.Sort(algs)
	algs = slices.Compact(algs)
	if len(algs) == 0 {
		algs = []string{i.alg}
	}
	return map[string]any{
		"issuer":                                base,
		"jwks_uri":                              base + jwksPath,
		"id_token_signing_alg_values_supported": algs,
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"scopes_supported":                      []string{"openid"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "azp", "nonce", "auth_time", "at_hash", "act"},
	}
}
