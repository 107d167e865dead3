package policy

import (
	"fmt"
	"slices"
)

// MCPMethods are the methods of the Streamable HTTP transport, and the
// methods of a route with an mcp block when it lists none: a POST of
// JSON-RPC (judged), GET for the server's stream and DELETE to end a
// session. Any other method (a PUT or PATCH of JSON-RPC) would reach the
// server unjudged, so such a route refuses it (405 with Allow) and may not
// list it.
var MCPMethods = []string{"POST", "GET", "DELETE"}

// mcpMethods returns the methods of an MCP route, reporting any listed
// method the transport does not use.
func mcpMethods(at string, listed []string, report func(field, format string, args ...any)) []string {
	if len(listed) == 0 {
		return slices.Clone(MCPMethods)
	}
	for k, m := range listed {
		if !slices.Contains(MCPMethods, m) && m != "HEAD" {
			report(fmt.Sprintf("%s.methods[%d]", at, k), "%q is not a method of MCP's Streamable HTTP transport (POST, GET, DELETE): the gateway judges only a POST's messages, so it would reach the server unjudged", m)
		}
	}
	return slices.Clone(listed)
}

// MCPConfig is the `mcp:` block of a route.
type MCPConfig struct {
	// Tools are per-tool rules, first match wins. Default: none.
	Tools []MCPRule `yaml:"tools" json:"tools,omitempty"`
	// Resources are rules for resources/read (and resources/subscribe,
	// resources/unsubscribe) matched against the URI. Default: none.
	Resources []MCPRule `yaml:"resources" json:"resources,omitempty"`
	// Prompts are rules for prompts/get matched against the prompt name.
	// Default: none.
	Prompts []MCPRule `yaml:"prompts" json:"prompts,omitempty"`
	// ScopeTemplate makes the scope a tool, resource or prompt needs from
	// its name when Default is "scopes": "{name}" is replaced by the name.
	// Default: "tool:{name}" (for prompts "prompt:{name}", for resources
	// "resource:{name}" with the URI as name).
	ScopeTemplate string `yaml:"scope_template" json:"scope_template,omitempty"`
	// Default decides a tool, resource or prompt no rule names, and a
	// method the gateway does not know: "deny" (the default), "allow" (the
	// route's scopes suffice) or "scopes" (the scope made by ScopeTemplate
	// is needed).
	Default string `yaml:"default" json:"default,omitempty"`
	// AllowBatches accepts a JSON array of messages when every element is
	// judged and allowed. Default: false (the 2025-06-18 revision removed
	// JSON-RPC batching; an array is refused with -32600).
	AllowBatches bool `yaml:"allow_batches" json:"allow_batches,omitempty"`
	// MaxArgumentBytes bounds the tool arguments that conditions see as
	// mcp.arguments; larger arguments are absent (a condition reading them
	// fails, and so denies). Default: 16384.
	MaxArgumentBytes int `yaml:"max_argument_bytes" json:"max_argument_bytes,omitempty"`
	// MaxBodyBytes caps a POSTed JSON-RPC body, as models.max_body_bytes
	// caps a model body: larger ones get 413. Default: 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes,omitempty"`
	// AllowedOrigins are the origins ("https://app.example.com", scheme,
	// host and port only) a browser may call this endpoint from. The
	// Streamable HTTP transport has servers validate the Origin header
	// against DNS rebinding and answer 403 to one that is present and not
	// valid: a request whose Origin is not listed ("null" included) is
	// refused before its token is looked at. Requests without Origin
	// (every client that is not a browser) are not affected. Default:
	// none, so every request that carries an Origin is refused.
	AllowedOrigins []string `yaml:"allowed_origins" json:"allowed_origins,omitempty"`
}

// MCPRule names tools, prompts (Name) or resources (URI) by a glob in which
// `*` matches any run of characters (`/` included) and every other
// character stands for itself, and says what they need.
type MCPRule struct {
	Name string `yaml:"name" json:"name,omitempty"`
	URI  string `yaml:"uri" json:"uri,omitempty"`
	// Scopes are needed, all of them, on top of the route's. Default: none.
	Scopes []string `yaml:"scopes" json:"scopes,omitempty"`
	// Deny refuses what the rule names whatever the scopes. Default: false.
	Deny bool `yaml:"deny" json:"deny,omitempty"`
}
