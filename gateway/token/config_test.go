package token

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestOptionsValidation(t *testing.T) {
	ok := IssuerConfig{Issuer: "https://idp.example", Audiences: []string{"a"}}
	for _, tt := range []struct {
		name   string
		mutate func(*Options)
		want   string // "" = valid
	}{
		{"valid", func(*Options) {}, ""},
		{"loopback http", func(o *Options) { o.Issuers[0].Issuer = "http://localhost:8080" }, ""},
		{"ipv6 loopback http", func(o *Options) { o.Issuers[0].JWKSURI = "http://[::1]:8080/jwks" }, ""},
		{"insecure allowed", func(o *Options) { o.Issuers[0].Issuer = "http://idp.internal"; o.Issuers[0].AllowInsecureHTTP = true }, ""},
		{"no issuers", func(o *Options) { o.Issuers = nil }, "issuers"},
		{"http issuer", func(o *Options) { o.Issuers[0].Issuer = "http://idp.example" }, "issuers[0].issuer"},
		{"http jwks", func(o *Options) { o.Issuers[0].JWKSURI = "http://idp.example/jwks" }, "issuers[0].jwks_uri"},
		{"ftp jwks", func(o *Options) { o.Issuers[0].JWKSURI = "ftp://idp.example/jwks" }, "issuers[0].jwks_uri"},
		{"relative issuer", func(o *Options) { o.Issuers[0].Issuer = "idp.example" }, "issuers[0].issuer"},
		{"no audiences", func(o *Options) { o.Issuers[0].Audiences = nil }, "issuers[0].audiences"},
		{"alg none", func(o *Options) { o.Issuers[0].Algorithms = []string{"none"} }, "issuers[0].algorithms"},
		{"alg HS256", func(o *Options) { o.Issuers[0].Algorithms = []string{"RS256", "HS256"} }, "issuers[0].algorithms"},
		{"alg unknown", func(o *Options) { o.Issuers[0].Algorithms = []string{"rs256"} }, "issuers[0].algorithms"},
		{"negative leeway", func(o *Options) { o.Issuers[0].Leeway = -time.Second }, "issuers[0].leeway"},
		{"negative staleness", func(o *Options) { o.Issuers[0].MaxStaleness = -1 }, "issuers[0].max_staleness"},
		{"duplicate issuer", func(o *Options) { o.Issuers = append(o.Issuers, o.Issuers[0]) }, "issuers[1].issuer"},
		{"negative max bytes", func(o *Options) { o.MaxTokenBytes = -1 }, "max_token_bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Issuers: []IssuerConfig{ok}}
			o.Issuers[0].Audiences = []string{"a"}
			tt.mutate(&o)
			err := o.validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want+":") {
				t.Fatalf("validate = %v; want a problem naming %q", err, tt.want)
			}
			if _, err := New(context.Background(), o); err == nil {
				t.Fatal("New accepted the bad config")
			}
		})
	}
	t.Run("all problems at once", func(t *testing.T) {
		o := Options{Issuers: []IssuerConfig{{Issuer: "http://idp.example", Algorithms: []string{"none"}}}}
		err := o.validate()
		for _, want := range []string{"issuers[0].issuer", "issuers[0].audiences", "issuers[0].algorithms"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("validate = %v; want %q in it", err, want)
			}
		}
	})
}
