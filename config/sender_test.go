package config

import (
	"fmt"
	"strings"
	"testing"
)

// TestSenderConfigValidated: each sender-constraint mistake is reported
// naming its key.
func TestSenderConfigValidated(t *testing.T) {
	base := func(extra, issuerExtra, routeExtra string) string {
		return fmt.Sprintf(`issuers:
  - issuer: "https://idp.example.com"
    audiences: ["https://models.example.com"]
%s
upstreams:
  models:
    url: "http://127.0.0.1:8000"
routes:
  - name: chat
    path: /v1/chat/completions
    upstream: models
    scopes: []
%s
%s`, issuerExtra, routeExtra, extra)
	}
	for _, tt := range []struct {
		name, extra, issuer, route, want string
	}{
		{"required without base URL", "", "", "    sender_constraint: {dpop: required}", "routes[0].sender_constraint.dpop: DPoP needs dpop.public_base_url"},
		{"allowed without base URL", "", "    sender_constraint: {dpop: allowed}", "", "issuers[0].sender_constraint.dpop: DPoP needs dpop.public_base_url"},
		{"unknown mode", "", "", "    sender_constraint: {dpop: maybe}", `routes[0].sender_constraint.dpop: "maybe" is not a mode`},
		{"mtls required without certificates", "", "", "    sender_constraint: {mtls: required}", "routes[0].sender_constraint.mtls: certificate-bound tokens need client certificates"},
		{"base URL with query", "dpop:\n  public_base_url: \"https://m.example.com/?a=1\"", "", "", "dpop.public_base_url: must be an absolute"},
		{"plain http base URL", "dpop:\n  public_base_url: \"http://m.example.com\"", "", "", "dpop.public_base_url: must be https"},
		{"HS256 proofs", "dpop:\n  public_base_url: \"https://m.example.com\"\n  algorithms: [HS256]", "", "", `dpop.algorithms[0]: "HS256" is not an accepted proof algorithm`},
		{"short nonce secret", "dpop:\n  public_base_url: \"https://m.example.com\"\n  nonce: {secret: short}", "", "", "dpop.nonce.secret: must be at least 32 bytes"},
		{"header without trusted proxies", "mtls:\n  trust_client_cert_header: true", "", "", "mtls.trust_client_cert_header: needs server.trusted_proxies"},
		{"unknown key", "dpop:\n  public_base_url: \"https://m.example.com\"\n  max_ages: 1s", "", "", "max_ages"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(base(tt.extra, tt.issuer, tt.route)), noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v; want %q", err, tt.want)
			}
		})
	}
	cfg, err := Parse([]byte(base("dpop:\n  public_base_url: \"https://m.example.com/gw\"", "    sender_constraint: {dpop: required, mtls: allowed}", "    sender_constraint: {dpop: \"off\"}")), noEnv)
	if err != nil {
		t.Fatalf("a good config: %v", err)
	}
	if d := cfg.DPoP; d.MaxAge.D().String() != "1m0s" || d.MaxFuture.D().String() != "5s" || d.MaxProofBytes != 8192 {
		t.Fatalf("defaults: %+v", d)
	}
}
