package e2e

import (
	"testing"

	"github.com/scopegate/scopegate/internal/issuer"
)

const principalRoutes = `
  - name: fine-tunes
    methods: [POST]
    path: /v1/echo/fine_tuning/jobs
    upstream: models
    scopes: ["fine-tune"]
    principals: [human]
  - name: chat
    methods: [POST]
    path: /v1/echo/chat
    upstream: models
    scopes: ["chat"]
    principals: [human, delegated]
    max_delegation_depth: 1
  - name: files-delete
    methods: [DELETE]
    path: /v1/echo/files/{id}
    upstream: models
    scopes: ["files"]
    principals: [human, machine]
  - name: batch
    methods: [POST]
    path: /v1/echo/batches
    upstream: models
    scopes: ["batch"]
    principals: [machine]
    clients: [etl]
`

func TestPrincipals(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{routes: principalRoutes})
	all := []string{"fine-tune", "chat", "files", "batch"}
	human := e.spec(issuer.AccessTokenSpec{Subject: "alice", ClientID: "web", Scopes: all})
	machine := e.spec(issuer.AccessTokenSpec{ClientID: "etl", Scopes: all})
	machineSubIsClient := e.spec(issuer.AccessTokenSpec{Subject: "etl", ClientID: "etl", Scopes: all})
	otherMachine := e.spec(issuer.AccessTokenSpec{ClientID: "reporting", Scopes: all})
	delegated := e.spec(issuer.AccessTokenSpec{Subject: "alice", ClientID: "agent", Scopes: all,
		Act: map[string]any{"sub": "agent-7", "client_id": "agent"}})
	nested := e.spec(issuer.AccessTokenSpec{Subject: "alice", ClientID: "agent", Scopes: all,
		Act: map[string]any{"sub": "tool-runner", "act": map[string]any{"sub": "agent-7"}}})
	azpMachine := e.spec(issuer.AccessTokenSpec{Scopes: all, Extra: map[string]any{"azp": "etl"}})

	tests := []struct {
		name, method, path, tok string
		status                  int
		reason, principal       string
		depth                   int
	}{
		{"human may fine-tune", "POST", "/v1/echo/fine_tuning/jobs", human, 200, "allowed", "human", 0},
		{"machine may not fine-tune", "POST", "/v1/echo/fine_tuning/jobs", machine, 403, "principal_not_allowed", "machine", 0},
		{"agent may not fine-tune", "POST", "/v1/echo/fine_tuning/jobs", delegated, 403, "principal_not_allowed", "delegated", 1},
		{"agent may chat", "POST", "/v1/echo/chat", delegated, 200, "allowed", "delegated", 1},
		{"agent of an agent may not chat", "POST", "/v1/echo/chat", nested, 403, "delegation_too_deep", "delegated", 2},
		{"machine may not chat", "POST", "/v1/echo/chat", machineSubIsClient, 403, "principal_not_allowed", "machine", 0},
		{"human may delete files", "DELETE", "/v1/echo/files/f1", human, 200, "allowed", "human", 0},
		{"machine may delete files", "DELETE", "/v1/echo/files/f1", machine, 200, "allowed", "machine", 0},
		{"agent may not delete files", "DELETE", "/v1/echo/files/f1", delegated, 403, "principal_not_allowed", "delegated", 1},
		{"etl machine may batch", "POST", "/v1/echo/batches", machine, 200, "allowed", "machine", 0},
		{"azp counts as the client", "POST", "/v1/echo/batches", azpMachine, 200, "allowed", "machine", 0},
		{"other client may not batch", "POST", "/v1/echo/batches", otherMachine, 403, "client_not_allowed", "machine", 0},
		{"human of another client may not batch", "POST", "/v1/echo/batches", human, 403, "client_not_allowed", "human", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.api.Reset()
			var body []byte
			if tt.method == "POST" {
				body = []byte(`{}`)
			}
			r := p.do(tt.method, tt.path, tt.tok, body)
			a := p.audit(r.id())
			if tt.status == 200 {
				if r.StatusCode != 200 {
					t.Fatalf("status %d; want 200 (%s)", r.StatusCode, r.body)
				}
				e.lastRecorded()
			} else {
				wantError(t, r, tt.status, tt.reason) // a Bearer challenge included (RFC 6750 section 3)
				e.noneRecorded(tt.name)
			}
			if a.Reason != tt.reason || a.Principal != tt.principal || a.DelegationDepth != tt.depth {
				t.Errorf("audit reason %v principal %v depth %v; want %q %q %v", a.Reason, a.Principal, a.DelegationDepth, tt.reason, tt.principal, tt.depth)
			}
		})
	}
}
