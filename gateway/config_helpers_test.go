package gateway

import (
	"flag"
	"testing"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite golden files")

func noEnv(string) (string, bool) { return "", false }

func golden(t *testing.T, name, got string) { testkit.Golden(t, name, got, *update) }

// minimal is the smallest valid config: one issuer, one upstream, one route.
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

// recompile compiles a copy of c's config changed by mutate: a Compiled
// is immutable, so a test that reloads a changed config builds a new one.
// The copy is shallow: mutate replaces maps and slices, never edits them.
func recompile(tb testing.TB, c *config.Compiled, mutate func(*config.Config)) *config.Compiled {
	tb.Helper()
	cp := *c.Config
	mutate(&cp)
	out, err := config.Compile(&cp)
	if err != nil {
		tb.Fatalf("recompiling: %v", err)
	}
	return out
}
