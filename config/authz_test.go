package config

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
