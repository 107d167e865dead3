package config

import (
	"strings"
	"testing"
)

func TestTokenCacheConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string // "" = accepted
		entries int
		bytes   int64
		off     bool
	}{
		{"defaults", "", "", 10000, 16 << 20, false},
		{"set", "  token_cache:\n    max_entries: 5\n    max_bytes: 4096\n", "", 5, 4096, false},
		{"disabled", "  token_cache:\n    disabled: true\n", "", 10000, 16 << 20, true},
		{"negative entries", "  token_cache:\n    max_entries: -1\n", "line 3: server.token_cache.max_entries: must not be negative", 0, 0, false},
		{"negative bytes", "  token_cache:\n    max_bytes: -1\n", "line 3: server.token_cache.max_bytes: must not be negative", 0, 0, false},
		{"unknown key", "  token_cache:\n    max_entry: 5\n", "server.token_cache.max_entry: unknown key", 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte("server:\n"+tc.yaml+minimal), noEnv)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v; want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tcfg := cfg.Server.TokenCache
			if tcfg.MaxEntries != tc.entries || tcfg.MaxBytes != tc.bytes || tcfg.Disabled != tc.off {
				t.Errorf("got %+v; want entries %d, bytes %d, disabled %v", tcfg, tc.entries, tc.bytes, tc.off)
			}
		})
	}
}
