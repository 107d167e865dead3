package policy

import (
	"strings"
	"testing"
)

func TestRouteMode(t *testing.T) {
	tests := []struct {
		name       string
		mode       string
		public     bool
		wantShadow bool
		wantErr    string // a substring of the error; "" for success
	}{
		{name: "default is enforce", mode: "", wantShadow: false},
		{name: "enforce", mode: ModeEnforce, wantShadow: false},
		{name: "shadow", mode: ModeShadow, wantShadow: true},
		{name: "unknown mode", mode: "audit", wantErr: `routes[0].mode: unknown mode "audit"`},
		{name: "mode is case-sensitive", mode: "Shadow", wantErr: `unknown mode "Shadow"`},
		{name: "public shadow", mode: ModeShadow, public: true, wantErr: "routes[0].mode: a public route refuses nothing"},
		{name: "public enforce", mode: ModeEnforce, public: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := RouteConfig{Name: "r", Path: "/v1/x", Upstream: "models", Mode: tt.mode, Public: tt.public}
			if !tt.public {
				rc.Scopes = []string{"s"}
			}
			table, err := Compile([]RouteConfig{rc}, knownUpstream)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r, _ := table.Match("GET", "/v1/x")
			if r == nil {
				t.Fatal("no match")
			}
			if r.Shadow != tt.wantShadow {
				t.Errorf("Shadow = %t; want %t", r.Shadow, tt.wantShadow)
			}
		})
	}
}
