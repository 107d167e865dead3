package policy

import (
	"strings"
	"testing"
)

func TestPrincipalKind(t *testing.T) {
	tests := []struct {
		name string
		p    Principal
		want string
	}{
		{"user", Principal{Subject: "alice", ClientID: "app"}, PrincipalHuman},
		{"user without client", Principal{Subject: "alice"}, PrincipalHuman},
		{"no sub", Principal{ClientID: "svc"}, PrincipalMachine},
		{"sub is client", Principal{Subject: "svc", ClientID: "svc"}, PrincipalMachine},
		{"nothing", Principal{}, PrincipalMachine},
		{"act", Principal{Subject: "alice", ClientID: "agent", DelegationDepth: 1}, PrincipalDelegated},
		{"act on a machine", Principal{ClientID: "svc", DelegationDepth: 2}, PrincipalDelegated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Kind(); got != tt.want {
				t.Errorf("Kind() = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestDecidePrincipal(t *testing.T) {
	tb := mustCompileYAML(t, `
- {name: any, path: /any, upstream: models, scopes: []}
- {name: human-only, path: /fine-tunes, upstream: models, scopes: [], principals: [human]}
- {name: no-agents, path: /files, upstream: models, scopes: [], principals: [human, machine]}
- {name: agents, path: /chat, upstream: models, scopes: [], principals: [human, delegated], max_delegation_depth: 1}
- {name: no-delegation, path: /admin, upstream: models, scopes: [], max_delegation_depth: 0}
- {name: clients, path: /batch, upstream: models, scopes: [], clients: [etl, app]}
`)
	human := Principal{Subject: "alice", ClientID: "app"}
	machine := Principal{Subject: "etl", ClientID: "etl"}
	agent := Principal{Subject: "alice", ClientID: "agent", DelegationDepth: 1}
	agentOfAgent := Principal{Subject: "alice", ClientID: "agent", DelegationDepth: 2}
	tests := []struct {
		route  string
		p      Principal
		reason string // "" = allowed
	}{
		{"any", human, ""},
		{"any", machine, ""},
		{"any", agentOfAgent, ""},
		{"human-only", human, ""},
		{"human-only", machine, ReasonPrincipalNotAllowed},
		{"human-only", agent, ReasonPrincipalNotAllowed},
		{"no-agents", machine, ""},
		{"no-agents", agent, ReasonPrincipalNotAllowed},
		{"agents", agent, ""},
		{"agents", machine, ReasonPrincipalNotAllowed},
		{"agents", agentOfAgent, ReasonDelegationTooDeep},
		{"no-delegation", human, ""},
		{"no-delegation", agent, ReasonDelegationTooDeep},
		{"clients", machine, ""},
		{"clients", human, ""},
		{"clients", agent, ReasonClientNotAllowed},
		{"clients", Principal{Subject: "x"}, ReasonClientNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.route+"/"+tt.p.Kind()+"/"+tt.p.ClientID, func(t *testing.T) {
			d := routeNamed(t, tb, tt.route).DecidePrincipal(tt.p)
			if d.Allowed != (tt.reason == "") || d.Reason != tt.reason {
				t.Errorf("DecidePrincipal(%+v) = %+v; want reason %q", tt.p, d, tt.reason)
			}
			if !d.Allowed && d.Detail == "" {
				t.Error("a refusal without detail")
			}
		})
	}
}

func TestCompilePrincipalErrors(t *testing.T) {
	tests := []struct{ name, extra, want string }{
		{"unknown kind", "principals: [robot]", `"robot" is not a principal kind`},
		{"twice", "principals: [human, human]", "listed twice"},
		{"empty principals", "principals: []", "refuses every token"},
		{"empty clients", "clients: []", "refuses every token"},
		{"empty client", `clients: [""]`, "must not be empty"},
		{"negative depth", "max_delegation_depth: -1", "must not be negative"},
		{"public", "public: true, principals: [human]", "a public route has no token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scopes := "scopes: [], "
			if strings.Contains(tt.extra, "public") {
				scopes = ""
			}
			_, err := compileYAML(t, "- {name: r, path: /r, upstream: models, "+scopes+tt.extra+"}\n")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "routes[0]") {
				t.Errorf("Compile error = %v; want one naming routes[0] and containing %q", err, tt.want)
			}
		})
	}
}
