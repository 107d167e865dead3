package config

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Warnings lists what in a valid config is likely a mistake without being
// wrong: `scopegate check` prints them (and still exits 0), `serve` logs
// them at start.
func (cfg *Config) Warnings() []string {
	var out []string
	names := make([]string, 0, len(cfg.Upstreams))
	for n := range cfg.Upstreams {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		u, err := url.Parse(cfg.Upstreams[name].URL)
		if err != nil {
			continue
		}
		prefix := strings.TrimRight(u.Path, "/")
		if prefix == "" {
			continue
		}
		last := prefix[strings.LastIndexByte(prefix, '/'):] // e.g. "/v1"
		for _, r := range cfg.Routes {
			if r.Upstream == name && (r.Path == last || strings.HasPrefix(r.Path, last+"/")) {
				out = append(out, fmt.Sprintf("upstreams.%s.url ends in %q and route %q's path starts with it too: the upstream's path prefixes every forwarded path, so %s reaches the upstream as %s%s; drop %q from the url if that is not meant",
					name, last, r.Name, r.Path, prefix, r.Path, last))
				break
			}
		}
	}
	if cfg.ResourceMetadata == nil {
		for i, r := range cfg.Routes {
			if r.MCP != nil && !r.Public {
				// MCP authorization (2025-06-18 and later): a server's 401
				// names its RFC 9728 metadata, which is how a client finds
				// the authorization server at all.
				out = append(out, fmt.Sprintf("routes[%d] (%s) is an MCP endpoint but resource_metadata is not set: its 401s name no metadata, so MCP clients cannot discover the authorization server (the MCP authorization specification requires the server to name it)", i, r.Name))
			}
		}
	}
	return append(out, cfg.introspectionWarnings()...)
}
