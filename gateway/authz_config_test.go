package gateway

import (
	"strings"
	"testing"
)

func TestAuthorizationConfigErrors(t *testing.T) {
	tests := []struct{ name, extra, route, want string }{
		{"unknown models key", "", "    models: {scope_templat: \"m:{model}\"}\n", `routes[0].models.scope_templat: unknown key (did you mean "scope_template"?)`},
		{"unknown rule key", "", "    models: {rules: [{model: a, scope: [x]}]}\n", `routes[0].models.rules[0].scope: unknown key`},
		{"model rule problem", "", "    models: {}\n", "routes[0].models: give exactly one of scope_template"},
		{"principal problem", "", "    principals: [bot]\n", `routes[0].principals[0]: "bot" is not a principal kind`},
		{"metadata without resource", "resource_metadata: {resource_name: x}\n", "", "resource_metadata.resource: is required"},
		{"metadata http resource", "resource_metadata: {resource: \"http://models.example.com\"}\n", "", "resource_metadata.resource"},
		{"metadata query", "resource_metadata: {resource: \"https://models.example.com/?a=b\"}\n", "", "without query"},
		{"metadata body method", "resource_metadata: {resource: \"https://m.example.com\", bearer_methods_supported: [query]}\n", "", `"query" is not accepted`},
		{"metadata bad doc url", "resource_metadata: {resource: \"https://m.example.com\", resource_documentation: \"docs\"}\n", "", "resource_documentation"},
		{"metadata unknown key", "resource_metadata: {resource: \"https://m.example.com\", scopes: [a]}\n", "", "resource_metadata.scopes: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(minimal+tt.route+tt.extra), noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %v; want one containing %q", err, tt.want)
			}
		})
	}
}

func TestResourceMetadataDefaults(t *testing.T) {
	src := minimal + `    models: {rules: [{model: gpt-4o, scopes: ["model:gpt-4o"]}], default: "model:other chat:completions"}
resource_metadata:
  resource: "https://models.example.com/api/"
`
	cfg, err := Parse([]byte(src), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	rm := newResourceMetadata(cfg)
	if rm.url != "https://models.example.com/.well-known/oauth-protected-resource/api" {
		t.Errorf("metadata url %q", rm.url)
	}
	if got := strings.Join(rm.base["scopes_supported"].([]string), " "); got != "chat:completions model:gpt-4o model:other" {
		t.Errorf("scopes_supported %q", got)
	}
	if got := rm.base["authorization_servers"].([]string); len(got) != 1 || got[0] != "https://idp.example.com" {
		t.Errorf("authorization_servers %q", got)
	}
}
