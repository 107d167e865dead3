package token

import "testing"

func TestIsMachineToken(t *testing.T) {
	cfg := &IssuerConfig{MachineClaims: map[string]string{"token_kind": "service", "groups": "robots"}}
	tests := []struct {
		name   string
		claims map[string]any
		want   bool
	}{
		{"auth0 client credentials", map[string]any{"gty": "client-credentials"}, true},
		{"auth0 password grant", map[string]any{"gty": "password"}, false},
		{"entra idtyp app", map[string]any{"idtyp": "app", "scp": "x"}, true},
		{"entra idtyp user", map[string]any{"idtyp": "user", "scp": "x"}, false},
		{"entra v1 app-only", map[string]any{"appidacr": "1", "roles": []any{"R"}}, true},
		{"entra v2 app-only", map[string]any{"azpacr": "1", "roles": []any{"R"}}, true},
		{"entra v2 delegated", map[string]any{"azpacr": "0", "scp": "Chat.Read"}, false},
		{"keycloak service account", map[string]any{"preferred_username": "service-account-batch"}, true},
		{"keycloak user", map[string]any{"preferred_username": "alice"}, false},
		{"configured string", map[string]any{"token_kind": "service"}, true},
		{"configured array", map[string]any{"groups": []any{"staff", "robots"}}, true},
		{"configured other value", map[string]any{"token_kind": "user", "groups": []any{"staff"}}, false},
		{"configured claim of another type", map[string]any{"token_kind": true}, false},
		{"nothing", map[string]any{"sub": "alice"}, false},
	}
	for _, tt := range tests {
		if got := isMachineToken(tt.claims, cfg); got != tt.want {
			t.Errorf("%s: isMachineToken = %v; want %v", tt.name, got, tt.want)
		}
	}
}
