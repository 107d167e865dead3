package policy

import (
	"slices"
	"strings"
	"testing"
)

func mustCompile(t testing.TB, routes ...RouteConfig) *Table {
	t.Helper()
	tab, err := Compile(routes, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestMatch(t *testing.T) {
	tab := mustCompile(t,
		rt("chat", "POST /v1/chat/completions", "chat"),
		rt("models-list", "GET /v1/models", "read"),
		rt("model-get", "GET /v1/models/{model}", "read"),
		rt("model-any", "/v1/models/{model}", "admin"),
		rt("model-delete", "DELETE /v1/models/{model}", "admin"),
		rt("files", "/v1/files/{path...}", "files"),
		rt("files-meta", "GET /v1/files/{id}/meta", "files"),
		rt("org-user", "/v1/orgs/{org}/users/{user}", "org"),
		rt("org-me", "/v1/orgs/{org}/users/me", "org"),
		rt("exact-slash", "/v1/dir/{$}", "dir"),
		rt("dir-item", "/v1/dir/{name}", "dir"),
		rt("public-prefix", "GET /public/", "x"),
		rt("root", "/{$}"),
		rt("backtrack-lit", "GET /bt/a/b"),
		rt("backtrack-wild", "/bt/{x}/c"),
		rt("unicode", "/café"),
	)
	tests := []struct {
		method, path string
		want         string // route name; "" for none
		params       map[string]string
	}{
		{"POST", "/v1/chat/completions", "chat", nil},
		{"GET", "/v1/chat/completions", "", nil},
		{"POST", "/v1/chat/completions/", "", nil},
		{"POST", "/v1/chat", "", nil},
		{"POST", "/V1/chat/completions", "", nil},
		{"GET", "/v1/models", "models-list", nil},
		{"HEAD", "/v1/models", "", nil},
		{"GET", "/v1/models/gpt", "model-get", map[string]string{"model": "gpt"}},
		{"PUT", "/v1/models/gpt", "model-any", map[string]string{"model": "gpt"}},
		{"DELETE", "/v1/models/gpt", "model-delete", nil},
		{"GET", "/v1/models/", "", nil},
		{"GET", "/v1/files/a/b/c", "files", map[string]string{"path": "a/b/c"}},
		{"GET", "/v1/files/", "files", map[string]string{"path": ""}},
		{"GET", "/v1/files", "", nil},
		{"GET", "/v1/files/x/meta", "files-meta", map[string]string{"id": "x"}},
		{"POST", "/v1/files/x/meta", "files", map[string]string{"path": "x/meta", "id": ""}},
		{"GET", "/v1/files/x/meta/", "files", nil},
		{"GET", "/v1/orgs/o/users/me", "org-me", map[string]string{"org": "o", "user": ""}},
		{"GET", "/v1/orgs/o/users/u", "org-user", map[string]string{"org": "o", "user": "u"}},
		{"GET", "/v1/dir/", "exact-slash", nil},
		{"GET", "/v1/dir/x", "dir-item", map[string]string{"name": "x"}},
		{"GET", "/v1/dir", "", nil},
		{"GET", "/public/", "public-prefix", nil},
		{"GET", "/public/a/b", "public-prefix", nil},
		{"POST", "/public/a", "", nil},
		{"GET", "/", "root", nil},
		{"GET", "/nope", "", nil},
		// GET /bt/a/c: the literal branch /bt/a has no route for c, so the
		// matcher backtracks into /bt/{x}/c.
		{"GET", "/bt/a/c", "backtrack-wild", map[string]string{"x": "a"}},
		{"GET", "/bt/a/b", "backtrack-lit", nil},
		// The literal route refuses POST: keep looking, then give up.
		{"POST", "/bt/a/b", "", nil},
		{"GET", "/café", "unicode", nil},
		{"GET", "", "", nil},
		{"GET", "v1/models", "", nil},
		{"GET", "/v1//models", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r, p := tab.Match(tt.method, tt.path)
			got := ""
			if r != nil {
				got = r.Name
			}
			if got != tt.want {
				t.Fatalf("Match(%q, %q) = %q; want %q", tt.method, tt.path, got, tt.want)
			}
			for name, want := range tt.params {
				if v := p.Get(name); v != want {
					t.Errorf("Params.Get(%q) = %q; want %q", name, v, want)
				}
			}
		})
	}
}

func TestParams(t *testing.T) {
	var zero Params
	if zero.Get("x") != "" {
		t.Error("zero Params has a value")
	}
	for range zero.All() {
		t.Error("zero Params yields a value")
	}
	tab := mustCompile(t, rt("a", "/a/{x}/b/{y}/{rest...}"))
	_, p := tab.Match("GET", "/a/1/b/2/3/4/")
	var got []string
	for n, v := range p.All() {
		got = append(got, n+"="+v)
	}
	if want := "x=1 y=2 rest=3/4/"; join(got) != want {
		t.Errorf("All() = %q; want %q", join(got), want)
	}
	for n := range p.All() {
		if n != "x" {
			t.Errorf("All() continued after break, at %q", n)
		}
		break
	}
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out
}

func TestMatchNilTable(t *testing.T) {
	var tab *Table
	if r, _ := tab.Match("GET", "/"); r != nil {
		t.Errorf("nil table matched %v", r)
	}
}

func TestMatchAllocs(t *testing.T) {
	tab := mustCompile(t, rt("a", "GET /v1/models"), rt("b", "/v1/models/{id}"), rt("c", "/v1/files/{p...}"))
	for _, path := range []string{"/v1/models", "/v1/models/x", "/v1/files/a/b", "/nope"} {
		allocs := testing.AllocsPerRun(100, func() {
			r, p := tab.Match("GET", path)
			if r != nil {
				_ = p.Get("id")
			}
		})
		if allocs != 0 {
			t.Errorf("Match(%q) allocates %v times", path, allocs)
		}
	}
}

func TestMatchConcurrent(t *testing.T) {
	tab := invariantTable(t)
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 1000 {
				if r, p := tab.Match("GET", "/v1/models/x"); r == nil || p.Get("id") != "x" {
					t.Error("concurrent Match failed")
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}

func TestAllow(t *testing.T) {
	tab := mustCompile(t,
		RouteConfig{Name: "chat", Methods: []string{"POST"}, Path: "/v1/chat/completions", Upstream: "u", Scopes: []string{}},
		RouteConfig{Name: "models", Methods: []string{"GET", "HEAD"}, Path: "/v1/models", Upstream: "u", Scopes: []string{}},
		RouteConfig{Name: "model", Methods: []string{"DELETE"}, Path: "/v1/models/{id}", Upstream: "u", Scopes: []string{}},
		RouteConfig{Name: "echo", Path: "/echo/{rest...}", Upstream: "u", Scopes: []string{}},
	)
	tests := []struct {
		path string
		want []string
	}{
		{"/v1/chat/completions", []string{"POST"}},
		{"/v1/models", []string{"GET", "HEAD"}},
		{"/v1/models/gpt-4o", []string{"DELETE"}},
		{"/echo/a/b", StandardMethods},
		{"/nowhere", nil},
		{"/v1/models/a/b", nil},
	}
	for _, tt := range tests {
		if got := tab.Allow(tt.path); !slices.Equal(got, tt.want) {
			t.Errorf("Allow(%q) = %q; want %q", tt.path, got, tt.want)
		}
	}
}

func TestTraceRefusedInConfig(t *testing.T) {
	for _, m := range []string{"TRACE", "TRACK", "CONNECT"} {
		_, err := Compile([]RouteConfig{{Name: "r", Methods: []string{m}, Path: "/x", Upstream: "u", Scopes: []string{}}}, nil)
		if err == nil || !strings.Contains(err.Error(), "never forwarded") {
			t.Errorf("methods: [%s]: err %v; want it refused", m, err)
		}
	}
}
