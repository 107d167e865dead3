package conditions

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func claimsOf(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEval(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	claims := claimsOf(t, `{"sub":"alice","tier":"pro","groups":["team-a","ops"],"quota":5,"ratio":0.5,"org":{"id":"o1"}}`)
	req := Request{Method: "POST", Path: "/v1/chat/completions", Model: "gpt-4o",
		Header: http.Header{"X-Team": {"a"}, "Authorization": {"Bearer secret"}}}
	in := NewInput(claims, req)
	tests := []struct {
		src     string
		want    bool
		wantErr bool
	}{
		{"claims.tier == 'pro'", true, false},
		{"claims.tier == 'free'", false, false},
		{"'team-a' in claims.groups", true, false},
		{"'team-b' in claims.groups", false, false},
		{"claims.quota > 3", true, false},
		{"claims.ratio < 1.0", true, false},
		{"claims.org.id == 'o1'", true, false},
		{"request.method == 'POST' && request.path.startsWith('/v1/')", true, false},
		{"request.model == 'gpt-4o'", true, false},
		{"request.headers['x-team'] == 'a'", true, false},
		{"!('authorization' in request.headers)", true, false},
		{"claims.missing == 'x'", false, true},
		{"has(claims.missing) && claims.missing == 'x'", false, false},
		{"claims.tier == 1", false, false}, // heterogeneous equality is false
		{"claims.groups.all(g, g.size() < 100)", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := env.Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := p.Eval(in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("Eval = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ src, want string }{
		{"claims.tier", "must be a bool"},
		{"1 + 2", "must be a bool"},
		{"claims.tier ==", "Syntax error"},
		{"tokens.tier == 'pro'", "undeclared reference"},
		{"", "empty"},
		{strings.Repeat("true && ", 600) + "true", "longer than"},
	} {
		if _, err := env.Compile(tt.src); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%.40q) error = %v; want one containing %q", tt.src, err, tt.want)
		}
	}
}

func TestCostLimit(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	// A quadratic walk over a large claim exceeds the cost limit.
	list := make([]any, 2000)
	for i := range list {
		list[i] = json.Number("1")
	}
	in := NewInput(map[string]any{"big": list}, Request{})
	p, err := env.Compile("claims.big.all(x, claims.big.all(y, x == y))")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := p.Eval(in); err == nil || ok {
		t.Errorf("Eval = %v, %v; want a cost limit error", ok, err)
	}
}

func BenchmarkEval(b *testing.B) {
	env, err := NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	p, err := env.Compile("claims.tier == 'pro' && 'team-a' in claims.groups")
	if err != nil {
		b.Fatal(err)
	}
	claims := map[string]any{"sub": "alice", "tier": "pro", "groups": []any{"ops", "team-a"}, "exp": json.Number("1700000000")}
	req := Request{Method: "POST", Path: "/v1/chat/completions", Model: "gpt-4o", Header: http.Header{"Content-Type": {"application/json"}}}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := p.Eval(NewInput(claims, req)); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
