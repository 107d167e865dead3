package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckShowsIntrospection: check names an issuer's introspection (its
// endpoint, prefixes and cache_ttl, the revocation delay) and the routes
// that introspect every token.
func TestCheckShowsIntrospection(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte(`issuers:
  - issuer: "https://hydra.example.com/"
    audiences: ["https://models.example.com"]
    introspection: {endpoint: "http://127.0.0.1:4445/admin/oauth2/introspect", token_prefixes: [ory_at_], cache_ttl: 30s}
upstreams:
  models: {url: "http://127.0.0.1:8000"}
routes:
  - {name: chat, path: /v1/chat/completions, upstream: models, scopes: [chat]}
  - {name: tune, path: /v1/fine_tuning/jobs, upstream: models, scopes: [tune], introspect: true}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"check", "--config", cfg}, &out, &errb); code != 0 {
		t.Fatalf("check: exit %d; want 0 (%s)", code, errb.String())
	}
	for _, want := range []string{
		"introspection=http://127.0.0.1:4445/admin/oauth2/introspect  prefixes ory_at_  auth=none  cache_ttl=30s",
		"scopes: tune; every token introspected at its issuer, no cache",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "scopes: chat; every token") {
		t.Errorf("chat is marked as introspecting:\n%s", out.String())
	}
}
