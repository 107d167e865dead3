package conditions

import (
	"strings"
	"testing"
)

func TestKeyExpr(t *testing.T) {
	env, err := NewKeyEnv()
	if err != nil {
		t.Fatal(err)
	}
	in := NewKeyInput(claimsOf(t, `{"org":"acme","team":{"id":7},"groups":["a"],"long":"`+strings.Repeat("x", MaxKeyBytes+1)+`","empty":""}`))
	for _, tt := range []struct {
		src, want string
		wantErr   bool
	}{
		{"claims.org", "acme", false},
		{"claims.team.id", "7", false},
		{"claims.org + '/' + string(claims.team.id)", "acme/7", false},
		{"has(claims.tenant) ? claims.tenant : 'none'", "none", false},
		{"claims.tenant", "", true},
		{"claims.groups", "", true},
		{"claims.long", "", true},
		{"claims.empty", "", true},
	} {
		p, err := env.Compile(tt.src)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.src, err)
		}
		got, err := p.Eval(in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Eval(%q) = %q, %v; want %q, error %v", tt.src, got, err, tt.want, tt.wantErr)
		}
	}
	for _, src := range []string{"request.headers['x-org']", "claims.org == 'a'", "", "mcp.tool"} {
		if _, err := env.Compile(src); err == nil {
			t.Errorf("Compile(%q) succeeded; want an error (only string expressions over claims)", src)
		}
	}
}
