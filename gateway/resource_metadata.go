package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/scopegate/scopegate/gateway/token"
)

// ResourceMetadataConfig is the `resource_metadata:` block: the OAuth 2.0
// Protected Resource Metadata (RFC 9728) the gateway publishes, so that
// clients and agents find the authorization server without configuration.
// Absent (the default), nothing is published and 401 challenges carry no
// resource_metadata parameter.
type ResourceMetadataConfig struct {
	// Resource is the protected resource's identifier, an https URL
	// (http only on loopback, or with Insecure) without query or fragment,
	// e.g. "https://models.example.com". It is usually the audience tokens
	// are issued for. Required.
	Resource string `yaml:"resource"`
	// AuthorizationServers lists the issuer identifiers of the
	// authorization servers clients may get tokens from. Default: every
	// configured issuer.
	AuthorizationServers []string `yaml:"authorization_servers"`
	// ScopesSupported lists the scopes clients may request for this
	// resource. Default: every scope named by a route (scopes, model rules
	// and model defaults; not those a scope template makes), in config order.
	ScopesSupported []string `yaml:"scopes_supported"`
	// BearerMethodsSupported lists how a token may be sent. Default
	// ["header"], the only method the gateway accepts.
	BearerMethodsSupported []string `yaml:"bearer_methods_supported"`
	// ResourceName is a human-readable name of the resource. Default none.
	ResourceName string `yaml:"resource_name"`
	// ResourceDocumentation is the URL of the resource's documentation for
	// developers. Default none.
	ResourceDocumentation string `yaml:"resource_documentation"`
	// Insecure allows an http:// resource on a host that is not loopback.
	// Default false.
	Insecure bool `yaml:"insecure"`
}

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

func (c *Config) validateResourceMetadata(v *validator) {
	rm := c.ResourceMetadata
	if rm == nil {
		return
	}
	const f = "resource_metadata"
	if rm.Resource == "" {
		v.add(f+".resource", "is required: the resource identifier, e.g. \"https://models.example.com\"")
	} else if u, err := url.Parse(rm.Resource); err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		v.add(f+".resource", "%q must be an absolute URL without query, fragment or user info", rm.Resource)
	} else if err := token.CheckURL(rm.Resource, rm.Insecure); err != nil {
		v.add(f+".resource", "%v", err)
	}
	for i, s := range rm.AuthorizationServers {
		if err := token.CheckURL(s, true); err != nil {
			v.add(fmt.Sprintf("%s.authorization_servers[%d]", f, i), "%v", err)
		}
	}
	for i, m := range rm.BearerMethodsSupported {
		if m != "header" {
			v.add(fmt.Sprintf("%s.bearer_methods_supported[%d]", f, i), "%q is not accepted by the gateway, which takes tokens in the Authorization header only: write header", m)
		}
	}
	if d := rm.ResourceDocumentation; d != "" {
		if u, err := url.Parse(d); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.add(f+".resource_documentation", "%q is not an http(s) URL", d)
		}
	}
}

// newResourceMetadata compiles the block of a valid config; nil without one.
func newResourceMetadata(cfg *Config) *resourceMetadata {
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
func routeScopes(cfg *Config) []string {
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
