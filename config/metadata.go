package config

import (
	"fmt"
	"net/url"

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
