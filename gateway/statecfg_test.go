package gateway

import (
	"errors"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/config"
)

// TestReloadKeepsTheStore: the store is chosen at start; a reload naming
// another is refused and the running config stays.
func TestReloadKeepsTheStore(t *testing.T) {
	w := newWorld(t, adminExtra)
	cfg := recompile(t, w.gw.Config(), func(c *config.Config) {
		c.State.Redis = &config.RedisConfig{URL: "redis://127.0.0.1:1"}
	})
	if err := w.gw.Reload(cfg); !errors.Is(err, errStoreChanged) {
		t.Fatalf("Reload with another store: %v; want refused", err)
	}
	same := recompile(t, w.gw.Config(), func(c *config.Config) { c.Admin.Token = strings.Repeat("n", 40) })
	if err := w.gw.Reload(same); err != nil {
		t.Fatalf("Reload changing the admin token: %v", err)
	}
	if rec := w.admin("GET", revocationsPath, strings.Repeat("n", 40), ""); rec.Code != 200 {
		t.Fatalf("the new admin token after reload: %d", rec.Code)
	}
	if rec := w.admin("GET", revocationsPath, testAdminToken, ""); rec.Code != 401 {
		t.Fatalf("the old admin token after reload: %d; want 401", rec.Code)
	}
}
