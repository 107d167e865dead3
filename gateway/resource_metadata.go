package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/dpop"
	"github.com/scopegate/scopegate/policy"
)

// wellKnownPRM is the RFC 9728 well-known path suffix.
const wellKnownPRM = "/.well-known/oauth-protected-resource"

// resourceMetadata is a compiled resource_metadata block.
type resourceMetadata struct {
	origin   string // scheme://host of the resource
	resource string // the configured identifier, as written
	path     string // its escaped path without a trailing slash
	url      string // its metadata URL (RFC 9728 3.1)
	base     map[string]any
}

// newResourceMetadata compiles the block of a valid config; nil without one.
func newResourceMetadata(cfg *config.Config) *resourceMetadata {
	rm := cfg.ResourceMetadata
	if rm == nil {
		return nil
	}
	u, _ := url.Parse(rm.Resource)
	origin := u.Scheme + "://" + u.Host
	doc := map[string]any{}
	servers := rm.AuthorizationServers
	if len(servers) == 0 {
		for _, is := range cfg.Issuers {
			servers = append(servers, is.Issuer)
		}
	}
	if len(servers) > 0 {
		doc["authorization_servers"] = servers
	}
	scopes := rm.ScopesSupported
	if scopes == nil {
		scopes = routeScopes(cfg)
	}
	if len(scopes) > 0 {
		doc["scopes_supported"] = scopes
	}
	methods := rm.BearerMethodsSupported
	if len(methods) == 0 {
		methods = []string{"header"}
	}
	doc["bearer_methods_supported"] = methods
	if rm.ResourceName != "" {
		doc["resource_name"] = rm.ResourceName
	}
	if rm.ResourceDocumentation != "" {
		doc["resource_documentation"] = rm.ResourceDocumentation
	}
	senderMetadata(cfg, doc)
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	return &resourceMetadata{origin: origin, resource: rm.Resource, path: path, url: origin + wellKnownPRM + path, base: doc}
}

// routeScopes is every scope a route names, first occurrence first.
func routeScopes(cfg *config.Config) []string {
	var out []string
	add := func(ss ...string) {
		for _, s := range ss {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	for _, r := range cfg.Routes {
		add(r.Scopes...)
		if m := r.Models; m != nil {
			for _, rule := range m.Rules {
				add(rule.Scopes...)
			}
			if d := strings.TrimSpace(m.Default); d != "deny" && d != "allow" {
				add(strings.Fields(d)...)
			}
		}
	}
	return out
}

// serveMetadata answers GET (and HEAD) of the well-known path and its
// per-path form. The document at the configured resource's metadata URL
// names that resource as configured; any other path P under the well-known
// prefix names the resource origin + P, so that resource is always the
// identifier the URL was made from (RFC 9728 3.3).
// It reports false when path is not a metadata path.
func (g *Gateway) serveMetadata(rt *runtime, st *reqState, w http.ResponseWriter, r *http.Request) bool {
	rm := rt.metadata
	if rm == nil {
		return false
	}
	rest, ok := strings.CutPrefix(st.canonicalPath, wellKnownPRM)
	if !ok || (rest != "" && rest[0] != '/') {
		return false
	}
	st.reason = ReasonResourceMetadata
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		st.decision, st.status = decisionDeny, http.StatusMethodNotAllowed
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, st.realm, apiError{status: http.StatusMethodNotAllowed, typ: "invalid_request_error", code: "method_not_allowed",
			message: "the protected resource metadata is read with GET"})
		return true
	}
	doc := make(map[string]any, len(rm.base)+1)
	for k, v := range rm.base {
		doc[k] = v
	}
	if rest = strings.TrimSuffix(rest, "/"); rest == rm.path {
		doc["resource"] = rm.resource
	} else {
		doc["resource"] = rm.origin + rest
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic("gateway: encoding resource metadata: " + err.Error()) // cannot happen: strings only
	}
	st.decision, st.status = decisionAllow, http.StatusOK
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(append(b, '\n'))
	}
	return true
}

// senderMetadata adds to the RFC 9728 metadata document what it says of
// sender-constrained tokens (section 2): the DPoP algorithms, whether every
// issuer requires DPoP-bound tokens, and whether certificate-bound tokens
// can be used.
func senderMetadata(cfg *config.Config, doc map[string]any) {
	if cfg.DPoP.PublicBaseURL != "" {
		algs := cfg.DPoP.Algorithms
		if len(algs) == 0 {
			algs = dpop.DefaultAlgorithms
		}
		doc["dpop_signing_alg_values_supported"] = algs
		required := len(cfg.Issuers) > 0
		for _, is := range cfg.Issuers {
			required = required && is.SenderConstraint != nil && is.SenderConstraint.DPoP == policy.SenderRequired
		}
		if required {
			doc["dpop_bound_access_tokens_required"] = true
		}
	}
	if cfg.ClientCertSource() {
		doc["tls_client_certificate_bound_access_tokens"] = true
	}
}
