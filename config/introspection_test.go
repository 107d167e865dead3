package config

import (
	"strings"
	"testing"
	"time"
)

// TestIntrospectionConfig: each problem names its key; an unknown key in
// the block is refused; defaults are documented values.
func TestIntrospectionConfig(t *testing.T) {
	base := func(issuers, routeExtra string) string {
		return `issuers:
` + issuers + `
upstreams:
  models:
    url: "http://127.0.0.1:8000"
routes:
  - name: chat
    path: /v1/chat
    upstream: models
    scopes: []
` + routeExtra
	}
	const one = `  - issuer: "https://a.example.com"
    audiences: ["x"]
    introspection:
      client_id: gw
      client_secret: s
`
	cfg, err := Parse([]byte(base(one, "")), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	ic := cfg.Issuers[0].Introspection
	if ic.Timeout.D() != 2*time.Second || ic.CacheTTL.D() != 60*time.Second || ic.MaxConcurrency != 16 || ic.AuthMethod != "client_secret_basic" {
		t.Fatalf("defaults: %+v", ic)
	}
	cases := []struct{ name, issuers, route, want string }{
		{"two issuers without prefixes", one + `  - issuer: "https://b.example.com"
    audiences: ["x"]
    introspection: {}
`, "", "issuers[0].introspection.token_prefixes"},
		{"overlapping prefixes", `  - issuer: "https://a.example.com"
    audiences: ["x"]
    introspection: {token_prefixes: ["at_"]}
  - issuer: "https://b.example.com"
    audiences: ["x"]
    introspection: {token_prefixes: ["at_b"]}
`, "", "overlaps"},
		{"unknown key", `  - issuer: "https://a.example.com"
    audiences: ["x"]
    introspection: {endpont: "https://a.example.com/i"}
`, "", "endpont"},
		{"plain http endpoint", `  - issuer: "https://a.example.com"
    audiences: ["x"]
    introspection: {endpoint: "http://a.example.com/i"}
`, "", "issuers[0].introspection.endpoint"},
		{"tiny cache_ttl", `  - issuer: "https://a.example.com"
    audiences: ["x"]
    introspection: {cache_ttl: 10ms}
`, "", "issuers[0].introspection.cache_ttl"},
		{"secret without client id", `  - issuer: "https://a.example.com"
    audiences: ["x"]
    introspection: {client_secret: s}
`, "", "issuers[0].introspection.client_secret"},
		{"introspect route without introspection", `  - issuer: "https://a.example.com"
    audiences: ["x"]
`, "    introspect: true\n", "routes[0].introspect"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(base(tc.issuers, tc.route)), noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse: %v; want a problem naming %q", err, tc.want)
			}
		})
	}
}

func TestIntrospectionWarnings(t *testing.T) {
	cfg, err := Parse([]byte(`issuers:
  - issuer: "https://a.example.com"
    audiences: ["x"]
    introspection: {endpoint: "https://a.example.com/i", cache_ttl: 1h}
upstreams:
  models: {url: "http://127.0.0.1:8000"}
routes:
  - {name: chat, path: /v1/chat, upstream: models, scopes: []}
`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(cfg.Warnings(), "\n")
	for _, want := range []string{"issuers[0].introspection.cache_ttl is 1h0m0s", "auth_method none on a non-loopback endpoint"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q; want %q", w, want)
		}
	}
}
