package gateway

import (
	"strings"
	"testing"

	"github.com/scopegate/scopegate/config"
)

func TestResourceMetadataDefaults(t *testing.T) {
	src := minimal + `    models: {rules: [{model: gpt-4o, scopes: ["model:gpt-4o"]}], default: "model:other chat:completions"}
resource_metadata:
  resource: "https://models.example.com/api/"
`
	cfg, err := config.Parse([]byte(src), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	rm := newResourceMetadata(cfg.Config)
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
