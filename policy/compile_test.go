package policy

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// rt builds a protected route from "METHODS pattern" ("GET,POST /a") or a
// bare pattern (any method).
func rt(name, spec string, scopes ...string) RouteConfig {
	rc := RouteConfig{Name: name, Path: spec, Upstream: "models", Scopes: append([]string{}, scopes...)}
	if ms, p, ok := strings.Cut(spec, " "); ok {
		rc.Methods, rc.Path = strings.Split(ms, ","), p
	}
	return rc
}

func knownUpstream(name string) bool { return name == "models" || name == "files" }

func TestCompileErrorsGolden(t *testing.T) {
	routes := []RouteConfig{
		{Name: "", Path: "/a", Upstream: "models", Scopes: []string{"s"}},
		{Name: "bad name!", Path: "/b", Upstream: "models", Scopes: []string{"s"}},
		{Name: "dup", Path: "/c", Upstream: "models", Scopes: []string{"s"}},
		{Name: "dup", Path: "/d", Upstream: "models", Scopes: []string{"s"}},
		{Name: "lower", Methods: []string{"get", "POST", "POST", "G T", ""}, Path: "/e", Upstream: "models", Scopes: []string{}},
		{Name: "nopath", Upstream: "models", Scopes: []string{}},
		{Name: "method-in-path", Path: "GET /f", Upstream: "models", Scopes: []string{}},
		{Name: "host", Path: "example.com/f", Upstream: "models", Scopes: []string{}},
		{Name: "doubled", Path: "/g//h", Upstream: "models", Scopes: []string{}},
		{Name: "dots", Path: "/g/../h", Upstream: "models", Scopes: []string{}},
		{Name: "halfwild", Path: "/g/x{id}", Upstream: "models", Scopes: []string{}},
		{Name: "restmid", Path: "/g/{rest...}/x", Upstream: "models", Scopes: []string{}},
		{Name: "dollarmid", Path: "/g/{$}/x", Upstream: "models", Scopes: []string{}},
		{Name: "badwild", Path: "/g/{1x}", Upstream: "models", Scopes: []string{}},
		{Name: "twice", Path: "/g/{id}/{id}", Upstream: "models", Scopes: []string{}},
		{Name: "slash", Path: "/g/a%2Fb", Upstream: "models", Scopes: []string{}},
		{Name: "noupstream", Path: "/i", Scopes: []string{}},
		{Name: "unknownupstream", Path: "/j", Upstream: "nope", Scopes: []string{}},
		{Name: "public-scoped", Path: "/k", Upstream: "models", Public: true, Scopes: []string{"s"}},
		{Name: "noscopes", Path: "/l", Upstream: "models"},
		{Name: "badscopes", Path: "/m", Upstream: "models", Scopes: []string{"", "  ", "a b", "a\"b", "ok", "ok", "é"}},
		{Name: "dup-route", Path: "/c", Upstream: "files", Scopes: []string{}},
		{Name: "get-any-b", Methods: []string{"GET"}, Path: "/{x}/b", Upstream: "files", Scopes: []string{}},
		{Name: "ambiguous", Path: "/a/{y}", Upstream: "files", Scopes: []string{}},
	}
	_, err := Compile(routes, knownUpstream)
	if err == nil {
		t.Fatal("Compile succeeded; want errors")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("error %T does not join errors", err)
	}
	for _, e := range joined.Unwrap() {
		var ce *ConfigError
		if !errors.As(e, &ce) || !strings.HasPrefix(ce.Field, "routes[") {
			t.Errorf("problem %q is not a *ConfigError naming a route field", e)
		}
	}
	golden(t, "compile_errors.golden", err.Error()+"\n")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("got:\n%s\nwant (%s):\n%s", got, path, want)
	}
}

func TestCompileNoRoutes(t *testing.T) {
	_, err := Compile(nil, knownUpstream)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "routes" {
		t.Fatalf("Compile(nil) = %v; want a ConfigError on routes", err)
	}
}

func TestCompileConflicts(t *testing.T) {
	tests := []struct {
		name   string
		routes []RouteConfig
		want   string // substring of the error; "" for success
	}{
		{"literal beats wildcard", []RouteConfig{rt("a", "/a/b"), rt("b", "/a/{x}")}, ""},
		{"wildcards crossed", []RouteConfig{rt("a", "/a/{x}"), rt("b", "/{y}/b")}, `ambiguous with routes[0] (a: /a/{x}): a request like "/a/b"`},
		{"method vs path specificity", []RouteConfig{rt("a", "GET /a/{x}"), rt("b", "/a/b")}, `ambiguous with routes[0] (a: GET /a/{x}): a request like "GET /a/b"`},
		{"method and path both more specific", []RouteConfig{rt("a", "GET /a/b"), rt("b", "/a/{x}")}, ""},
		{"method-specific beside any", []RouteConfig{rt("a", "POST /x"), rt("b", "/x")}, ""},
		{"different methods", []RouteConfig{rt("a", "GET /x"), rt("b", "POST /x")}, ""},
		{"GET does not imply HEAD", []RouteConfig{rt("a", "GET /a/{x}"), rt("b", "HEAD /{y}/b")}, ""},
		{"same pattern", []RouteConfig{rt("a", "/x"), rt("b", "/x")}, `duplicate of routes[0] (a: /x)`},
		{"renamed wildcard", []RouteConfig{rt("a", "/f/{id}"), rt("b", "/f/{name}")}, `duplicate of routes[0]`},
		{"method sets intersect", []RouteConfig{rt("a", "GET,POST /x"), rt("b", "PUT,POST /x")}, `duplicate of routes[0] (a: GET,POST /x): both match every request like "POST /x"`},
		{"trailing slash is rest", []RouteConfig{rt("a", "/p/"), rt("b", "/p/{rest...}")}, "duplicate of routes[0]"},
		{"rest vs longer", []RouteConfig{rt("a", "/p/{rest...}"), rt("b", "/p/a/b")}, ""},
		{"rest vs wild prefix", []RouteConfig{rt("a", "/p/{x}/a"), rt("b", "/p/b/{rest...}")}, `ambiguous with routes[0] (a: /p/{x}/a): a request like "/p/b/a"`},
		{"end vs wild", []RouteConfig{rt("a", "/p/{$}"), rt("b", "/p/{x}")}, ""},
		{"end vs rest", []RouteConfig{rt("a", "/p/{$}"), rt("b", "/p/")}, ""},
		{"end twice", []RouteConfig{rt("a", "/p/{$}"), rt("b", "/p/{$}")}, `duplicate of routes[0]`},
		{"root catch-all", []RouteConfig{rt("a", "/"), rt("b", "/{$}"), rt("c", "/a/{x}")}, ""},
		{"catch-all methods vs path", []RouteConfig{rt("a", "GET /"), rt("b", "/a/{x}")}, `ambiguous with routes[0] (a: GET /)`},
		{"exact vs prefix", []RouteConfig{rt("a", "/a"), rt("b", "/a/")}, ""},
		{"escaped literal", []RouteConfig{rt("a", "/v1/%6Dodels"), rt("b", "/v1/models")}, "duplicate of routes[0]"},
		{"three way reports each", []RouteConfig{rt("a", "/a/{x}"), rt("b", "/{y}/b"), rt("c", "/{z}/{w}")}, "ambiguous with routes[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.routes, knownUpstream)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Compile: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Compile succeeded; want error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Compile error:\n%v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCompileYAML(t *testing.T) {
	const doc = `
routes:
  - name: images
    methods: [POST]
    path: /v1/images/generations
    upstream: models
    scopes: ["generate:images"]
  - name: status
    methods: [GET]
    path: /public/{rest...}
    upstream: models
    public: true
  - name: any-token
    path: /v1/models
    upstream: models
    scopes: []
  - name: forgot-scopes
    path: /v1/files
    upstream: files
`
	var cfg struct {
		Routes []RouteConfig `yaml:"routes"`
	}
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	_, err := Compile(cfg.Routes, knownUpstream)
	want := "routes[3].scopes: missing scopes: list the scopes a token needs, write scopes: [] to accept any valid token, or set public: true"
	if err == nil || err.Error() != want {
		t.Fatalf("Compile error = %v; want %q", err, want)
	}
	cfg.Routes = cfg.Routes[:3]
	tab, err := Compile(cfg.Routes, knownUpstream)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range tab.Routes() {
		lines = append(lines, r.String())
	}
	got := strings.Join(lines, "\n")
	want = `images  POST  /v1/images/generations  -> models  scopes: generate:images
status  GET  /public/{rest...}  -> models  public
any-token  ANY  /v1/models  -> models  scopes: (any valid token)`
	if got != want {
		t.Errorf("routes:\n%s\nwant:\n%s", got, want)
	}
}

func TestCompileCopiesConfig(t *testing.T) {
	routes := []RouteConfig{rt("a", "GET /a", "s1")}
	tab, err := Compile(routes, nil)
	if err != nil {
		t.Fatal(err)
	}
	routes[0].Methods[0], routes[0].Scopes[0] = "POST", "other"
	r := tab.Routes()[0]
	if r.Methods[0] != "GET" || r.Scopes[0] != "s1" {
		t.Errorf("route changed with its config: %v", r)
	}
	if got, _ := tab.Match("GET", "/a"); got != r {
		t.Errorf("Match after config change = %v; want %v", got, r)
	}
}
