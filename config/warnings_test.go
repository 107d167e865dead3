package config

import (
	"strings"
	"testing"
)

// An MCP route without resource_metadata cannot tell a client where its
// authorization server is (MCP authorization: the 401 names the RFC 9728
// metadata): a warning, since the config is otherwise valid.
func TestMCPWithoutResourceMetadataWarns(t *testing.T) {
	const base = `issuers:
  - issuer: "https://a.example.com"
    audiences: ["x"]
upstreams:
  tools: {url: "http://127.0.0.1:9000"}
routes:
  - {name: tools, path: /mcp, upstream: tools, scopes: [], mcp: {default: allow}}
`
	for _, tc := range []struct {
		name, extra string
		warn        bool
	}{
		{"without metadata", "", true},
		{"with metadata", "resource_metadata:\n  resource: \"https://tools.example.com/mcp\"\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(base+tc.extra), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			w := strings.Join(cfg.Warnings(), "\n")
			if got := strings.Contains(w, "routes[0] (tools) is an MCP endpoint but resource_metadata is not set"); got != tc.warn {
				t.Errorf("warnings %q; want the MCP metadata warning: %v", w, tc.warn)
			}
		})
	}
}
