package config

import (
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite golden files")

func noEnv(string) (string, bool) { return "", false }

func golden(t *testing.T, name, got string) { testkit.Golden(t, name, got, *update) }

func TestExampleConfigLoads(t *testing.T) {
	b, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(b, noEnv)
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	if got, want := len(cfg.Routes), 5; got != want {
		t.Errorf("routes: got %d; want %d", got, want)
	}
	if got := cfg.Upstreams["models"].Headers["Authorization"]; got != "Bearer " {
		t.Errorf("Authorization with an unset ${MODEL_API_KEY:-}: got %q; want %q", got, "Bearer ")
	}
}

const minimal = `
issuers:
  - issuer: "https://idp.example.com"
    audiences: ["https://models.example.com"]
upstreams:
  models:
    url: "http://127.0.0.1:8000"
routes:
  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat:completions"]
`

func TestDefaults(t *testing.T) {
	cfg, err := Parse([]byte(minimal), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Server
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", s.Listen, "0.0.0.0:8080"},
		{"admin_listen", s.AdminListen, "127.0.0.1:9090"},
		{"read_header_timeout", s.ReadHeaderTimeout.D(), 10 * time.Second},
		{"max_body_bytes", s.MaxBodyBytes, int64(64 << 20)},
		{"identity subject", s.IdentityHeaders.Subject, "X-Auth-Subject"},
		{"leeway", cfg.Issuers[0].Leeway.D(), 30 * time.Second},
		{"upstream timeout", cfg.Upstreams["models"].Timeout.D(), 300 * time.Second},
		{"token cache entries", s.TokenCache.MaxEntries, 10000},
		{"token cache bytes", s.TokenCache.MaxBytes, int64(16 << 20)},
		{"token cache on", s.TokenCache.Disabled, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v; want %v", c.name, c.got, c.want)
		}
	}
}

// TestConfigErrorsGolden checks that every problem of a bad config is
// reported at once, each naming its key and line.
func TestConfigErrorsGolden(t *testing.T) {
	bad := `
server:
  listen: "nowhere"
  admin_listen: "127.0.0.1:9090"
  idle_timeout: "forever"
  listn: "127.0.0.1:1"
issuers:
  - issuer: "http://idp.example.com"
    audiences: []
    algorithms: [HS256, none, ES256]
  - issuer: "https://idp.example.com"
    jwks_uri: "http://keys.example.com/jwks"
    audiences: ["api"]
upstreams:
  models:
    url: "ftp://example.com"
    headers:
      X-Forwarded-For: "1.2.3.4"
routes:
  - name: chat
    path: /v1/chat/completions
    upstream: modelz
    scopes: ["chat"]
  - name: chat
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat"]
`
	_, err := Parse([]byte(bad), noEnv)
	if err == nil {
		t.Fatal("Parse accepted a bad config")
	}
	golden(t, "config_errors.golden", err.Error()+"\n")
}

func TestUnknownKeysNamedWithLine(t *testing.T) {
	cfg := minimal + "    scope: [\"x\"]\nextra: 1\n"
	_, err := Parse([]byte(cfg), noEnv)
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got %v; want Problems", err)
	}
	got := err.Error()
	for _, want := range []string{"line 14: routes[0].scope: unknown key (did you mean \"scopes\"?)", "line 15: extra: unknown key"} {
		if !strings.Contains(got, want) {
			t.Errorf("got %q; want it to contain %q", got, want)
		}
	}
}

func TestDurationErrorHasLine(t *testing.T) {
	_, err := Parse([]byte("server:\n  idle_timeout: 5 minutes\n"+minimal), noEnv)
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "5 minutes") {
		t.Errorf("got %v; want a duration error on line 2", err)
	}
}

func TestDuplicateKeys(t *testing.T) {
	_, err := Parse([]byte("server:\n  listen: \"127.0.0.1:1\"\n  listen: \"127.0.0.1:2\"\n"+minimal), noEnv)
	if err == nil || !strings.Contains(err.Error(), "already defined") {
		t.Errorf("got %v; want a duplicate key error", err)
	}
}

func TestEnvExpansion(t *testing.T) {
	env := map[string]string{
		"API_KEY": "sk-123",
		"EVIL":    "x\"\nroutes: []",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg := strings.Replace(minimal, `url: "http://127.0.0.1:8000"`,
		"url: \"http://127.0.0.1:8000\"\n    headers:\n      Authorization: \"Bearer ${API_KEY}\"\n      X-Note: \"$${literal} ${EVIL}\"\n      X-Def: \"${UNSET:-fallback}\"", 1)
	c, err := Parse([]byte(cfg), lookup)
	if err == nil {
		t.Fatalf("a header value with a newline from the environment was accepted: %+v", c.Upstreams)
	}
	if !strings.Contains(err.Error(), "upstreams.models.headers.X-Note") {
		t.Errorf("got %v; want the X-Note header named", err)
	}
	env["EVIL"] = "routes: []"
	c, err = Parse([]byte(cfg), lookup)
	if err != nil {
		t.Fatal(err)
	}
	h := c.Upstreams["models"].Headers
	for k, want := range map[string]string{"Authorization": "Bearer sk-123", "X-Note": "${literal} routes: []", "X-Def": "fallback"} {
		if h[k] != want {
			t.Errorf("%s: got %q; want %q", k, h[k], want)
		}
	}
	if len(c.Routes) != 1 {
		t.Errorf("an environment value changed the config's structure: %d routes", len(c.Routes))
	}
	_, err = Parse([]byte(strings.Replace(cfg, "${API_KEY}", "${NOPE}", 1)), lookup)
	if err == nil || !strings.Contains(err.Error(), "NOPE is not set") {
		t.Errorf("got %v; want an unset-variable error", err)
	}
}
