package token

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestParseClaimPath(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
		err  string
	}{
		{"roles", []string{"roles"}, ""},
		{"realm_access.roles", []string{"realm_access", "roles"}, ""},
		{"/https:~1~1example.com~1scopes", []string{"https://example.com/scopes"}, ""},
		{"/a.b/c~0d", []string{"a.b", "c~d"}, ""},
		{"", nil, "empty"},
		{"a..b", nil, "empty name"},
		{"a.", nil, "empty name"},
		{"/", nil, "empty name"},
		{"/a//b", nil, "empty name"},
		{"/a~2", nil, "'~'"},
		{"/a~", nil, "'~'"},
	} {
		got, err := ParseClaimPath(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseClaimPath(%q) error = %v; want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseClaimPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestScopeClaims(t *testing.T) {
	k := newKey(t, "rsa2048", "rsa1", "RS256", "RS256")
	s := newSetup(t, func(ic *IssuerConfig) {
		ic.ScopeClaims = []string{"realm_access.roles", "roles", "/https:~1~1example.com~1scopes"}
	}, k)
	now := s.clock.Now()
	for _, tt := range []struct {
		name    string
		changes map[string]any
		want    []string
	}{
		{"scope only", nil, []string{"generate:images", "read"}},
		{"keycloak roles", map[string]any{"realm_access": map[string]any{"roles": []any{"admin", "read"}}}, []string{"generate:images", "read", "admin"}},
		{"entra roles", map[string]any{"roles": []any{"Chat.Use"}}, []string{"generate:images", "read", "Chat.Use"}},
		{"namespaced string", map[string]any{"https://example.com/scopes": "model:gpt-4o model:o1"}, []string{"generate:images", "read", "model:gpt-4o", "model:o1"}},
		{"dotted name is not split as a pointer", map[string]any{"realm_access.roles": []any{"x"}}, []string{"generate:images", "read"}},
		{"role with a space skipped", map[string]any{"roles": []any{"Team Lead", "ok", 5, ""}}, []string{"generate:images", "read", "ok"}},
		{"wrong type ignored", map[string]any{"realm_access": "admin"}, []string{"generate:images", "read"}},
		{"case-sensitive names", map[string]any{"Roles": []any{"x"}}, []string{"generate:images", "read"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := s.v.Verify(context.Background(), mint(t, k, nil, with(now, tt.changes)))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Scopes, tt.want) {
				t.Errorf("Scopes = %q; want %q", c.Scopes, tt.want)
			}
		})
	}
}

func TestScopeClaimsConfig(t *testing.T) {
	_, err := New(context.Background(), Options{Issuers: []IssuerConfig{{
		Issuer: issuerURL, JWKSURI: issuerURL + "/jwks", Audiences: []string{testAud}, ScopeClaims: []string{"a..b"},
	}}})
	if err == nil || !strings.Contains(err.Error(), "scope_claims") {
		t.Errorf("New error = %v; want one naming scope_claims", err)
	}
}
