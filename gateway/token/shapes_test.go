package token

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestProviderShapeOptions checks the IssuerConfig options for provider
// token shapes (client_id_claims, accept_client_id_as_audience,
// required_claims, and scope_claims for role objects) at their edges; the
// providers' own shapes are in providers_test.go.
func TestProviderShapeOptions(t *testing.T) {
	k := newKey(t, "p256", "ec1", "ES256", "ES256")
	type row struct {
		name       string
		cfg        func(*IssuerConfig)
		changes    map[string]any
		wantReason Reason // "" = accepted
		wantScopes []string
		wantClient string
	}
	rows := []row{
		{name: "roles_ignored_unless_listed", changes: map[string]any{"scope": nil, "roles": []any{"admin"}},
			wantScopes: nil, wantClient: testClient},
		{name: "roles_merged_when_listed", cfg: func(c *IssuerConfig) { c.ScopeClaims = []string{"roles"} },
			changes: map[string]any{"roles": []any{"Chat.Completions"}}, wantScopes: []string{"generate:images", "read", "Chat.Completions"}, wantClient: testClient},
		{name: "scope_array_refused", changes: map[string]any{"scope": []any{"a"}}, wantReason: ReasonBadClaim},
		{name: "object_member_names_are_scopes", cfg: func(c *IssuerConfig) { c.ScopeClaims = []string{"urn:zitadel:iam:org:project:roles"} },
			changes:    map[string]any{"urn:zitadel:iam:org:project:roles": map[string]any{"b": map[string]any{"1": "x"}, "a": map[string]any{}}},
			wantScopes: []string{"generate:images", "read", "a", "b"}, wantClient: testClient},
		{name: "object_member_with_space_skipped", cfg: func(c *IssuerConfig) { c.ScopeClaims = []string{"roles"} },
			changes: map[string]any{"roles": map[string]any{"a b": true}}, wantScopes: []string{"generate:images", "read"}, wantClient: testClient},
		{name: "scp_object_refused", changes: map[string]any{"scp": map[string]any{"admin": true}}, wantReason: ReasonBadClaim},
		{name: "client_id_claims_order", cfg: func(c *IssuerConfig) { c.ClientIDClaims = []string{"cid", "client_id"} },
			changes: map[string]any{"cid": "okta-client"}, wantScopes: []string{"generate:images", "read"}, wantClient: "okta-client"},
		{name: "client_id_claims_replace_defaults", cfg: func(c *IssuerConfig) { c.ClientIDClaims = []string{"cid"} },
			changes: map[string]any{"azp": "x"}, wantScopes: []string{"generate:images", "read"}, wantClient: ""},
		{name: "allowed_clients_use_client_id_claims", cfg: func(c *IssuerConfig) {
			c.ClientIDClaims, c.AllowedClients = []string{"appid"}, []string{"app-1"}
		}, changes: map[string]any{"appid": "app-2"}, wantReason: ReasonClientNotAllowed},
		{name: "no_aud_refused_by_default", changes: map[string]any{"aud": nil}, wantReason: ReasonBadAudience},
		{name: "no_aud_client_id_as_audience", cfg: func(c *IssuerConfig) {
			c.AcceptClientIDAsAudience, c.Audiences = true, []string{testClient}
		}, changes: map[string]any{"aud": nil}, wantScopes: []string{"generate:images", "read"}, wantClient: testClient},
		{name: "no_aud_other_client_refused", cfg: func(c *IssuerConfig) {
			c.AcceptClientIDAsAudience, c.Audiences = true, []string{"another-client"}
		}, changes: map[string]any{"aud": nil}, wantReason: ReasonBadAudience},
		{name: "aud_present_is_judged_by_aud", cfg: func(c *IssuerConfig) {
			c.AcceptClientIDAsAudience, c.Audiences = true, []string{testClient}
		}, changes: map[string]any{"aud": "https://elsewhere.example.com"}, wantReason: ReasonBadAudience},
		{name: "required_claim_present", cfg: func(c *IssuerConfig) { c.RequiredClaims = map[string]string{"token_use": "access"} },
			changes: map[string]any{"token_use": "access"}, wantScopes: []string{"generate:images", "read"}, wantClient: testClient},
		{name: "required_claim_absent", cfg: func(c *IssuerConfig) { c.RequiredClaims = map[string]string{"token_use": "access"} },
			wantReason: ReasonRequiredClaim},
		{name: "required_claim_other_value", cfg: func(c *IssuerConfig) { c.RequiredClaims = map[string]string{"typ": "Bearer"} },
			changes: map[string]any{"typ": "bearer"}, wantReason: ReasonRequiredClaim},
		{name: "required_claim_not_a_string", cfg: func(c *IssuerConfig) { c.RequiredClaims = map[string]string{"ver": "1"} },
			changes: map[string]any{"ver": 1}, wantReason: ReasonRequiredClaim},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			s := newSetup(t, r.cfg, k)
			c, err := s.v.Verify(context.Background(), mint(t, k, nil, with(s.clock.Now(), r.changes)))
			if r.wantReason != "" {
				if got := reasonOf(err); got != r.wantReason {
					t.Fatalf("reason %q (%v); want %q", got, err, r.wantReason)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !slices.Equal(c.Scopes, r.wantScopes) {
				t.Errorf("scopes %q; want %q", c.Scopes, r.wantScopes)
			}
			if c.ClientID != r.wantClient {
				t.Errorf("client %q; want %q", c.ClientID, r.wantClient)
			}
		})
	}
}

func TestProviderShapeOptionsValidation(t *testing.T) {
	for _, r := range []struct {
		name  string
		cfg   func(*IssuerConfig)
		field string
	}{
		{"empty_client_id_claim", func(c *IssuerConfig) { c.ClientIDClaims = []string{""} }, "client_id_claims"},
		{"empty_required_value", func(c *IssuerConfig) { c.RequiredClaims = map[string]string{"typ": ""} }, "required_claims"},
		{"empty_required_name", func(c *IssuerConfig) { c.RequiredClaims = map[string]string{"": "x"} }, "required_claims"},
	} {
		t.Run(r.name, func(t *testing.T) {
			ic := IssuerConfig{Issuer: issuerURL, Audiences: []string{testAud}}
			r.cfg(&ic)
			_, err := New(context.Background(), Options{Issuers: []IssuerConfig{ic}})
			if err == nil || !strings.Contains(err.Error(), "issuers[0]."+r.field) {
				t.Fatalf("error %v; want one naming issuers[0].%s", err, r.field)
			}
		})
	}
}
