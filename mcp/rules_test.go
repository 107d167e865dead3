package mcp

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func scopes(s ...string) func(string) bool {
	return func(x string) bool { return slices.Contains(s, x) }
}

func call(t *testing.T, body string) Message {
	t.Helper()
	ms, err := ParseBody([]byte(body), false)
	if err != nil {
		t.Fatal(err)
	}
	return ms[0]
}

func tool(name string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q}}`, name)
}

func TestDecide(t *testing.T) {
	tbl, err := Compile(Config{
		Tools: []Rule{
			{Name: "search_*", Scopes: []string{"tool:search"}},
			{Name: "delete_*", Deny: true},
			{Name: "echo"},
		},
		Resources: []Rule{{URI: "file:///public/*", Scopes: []string{"files:read"}}},
		Prompts:   []Rule{{Name: "greet", Scopes: []string{"prompt:greet"}}},
		Default:   "scopes",
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, body string
		has        []string
		allow      bool
		missing    string
	}{
		{"rule allows", tool("search_web"), []string{"tool:search"}, true, ""},
		{"rule needs scope", tool("search_web"), nil, false, "tool:search"},
		{"deny rule beats scopes", tool("delete_file"), []string{"tool:delete_file"}, false, ""},
		{"rule without scopes", tool("echo"), nil, true, ""},
		{"template scope held", tool("sum"), []string{"tool:sum"}, true, ""},
		{"template scope missing", tool("sum"), []string{"tool:sum2"}, false, "tool:sum"},
		{"case differs", tool("Search_web"), []string{"tool:search"}, false, "tool:Search_web"},
		{"glob star in name is literal", tool("search_*"), []string{"tool:search"}, true, ""},
		// A challenge keeps only scope-token characters: "tool:\u00a0sum"
		// would be named as tool:sum, another tool's scope.
		{"non-ASCII name makes no scope", tool("\u00a0sum"), []string{"tool:sum"}, false, ""},
		{"non-ASCII name not granted by its own odd scope", tool("café"), []string{"tool:café"}, false, ""},
		{"initialize", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`, nil, true, ""},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}`, nil, true, ""},
		{"response", `{"jsonrpc":"2.0","id":9,"result":{}}`, nil, true, ""},
		{"unknown method denied", `{"jsonrpc":"2.0","id":1,"method":"tools/Call","params":{"name":"rm"}}`, nil, false, ""},
		{"resource allowed", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///public/a/b"}}`, []string{"files:read"}, true, ""},
		{"resource other", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///etc/passwd"}}`, []string{"files:read"}, false, "resource:file:///etc/passwd"},
		{"subscribe judged like read", `{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"file:///etc/passwd"}}`, []string{"files:read"}, false, "resource:file:///etc/passwd"},
		{"prompt", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"greet"}}`, []string{"prompt:greet"}, true, ""},
		{"prompt missing", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"greet"}}`, nil, false, "prompt:greet"},
		// completion/complete suggests the arguments of a prompt or a
		// resource template: judged as that prompt or resource.
		{"completion of a prompt", `{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"greet"},"argument":{"name":"a","value":""}}}`, []string{"prompt:greet"}, true, ""},
		{"completion of a prompt not held", `{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"greet"},"argument":{"name":"a","value":""}}}`, nil, false, "prompt:greet"},
		{"completion of a resource template", `{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"file:///public/{path}"},"argument":{"name":"path","value":""}}}`, []string{"files:read"}, true, ""},
		{"completion of another resource template", `{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"file:///etc/{path}"},"argument":{"name":"path","value":""}}}`, []string{"files:read"}, false, "resource:file:///etc/{path}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tbl.Decide(call(t, tt.body), scopes(tt.has...))
			if d.Allow != tt.allow || d.Missing != tt.missing {
				t.Errorf("got %+v; want allow %v missing %q", d, tt.allow, tt.missing)
			}
		})
	}
}

func TestCompileRefusesOddScopes(t *testing.T) {
	for _, s := range []string{"", "a b", `a"b`, `a\b`, "tool:café", "a\x7f"} {
		if _, err := Compile(Config{Tools: []Rule{{Name: "x", Scopes: []string{s}}}}); err == nil {
			t.Errorf("scope %q compiled; want an error", s)
		}
	}
	for _, tpl := range []string{"tool {name}", "tool:{name}:é", "tool"} {
		if _, err := Compile(Config{ScopeTemplate: tpl, Default: "scopes"}); err == nil {
			t.Errorf("scope_template %q compiled; want an error", tpl)
		}
	}
	if _, err := Compile(Config{ScopeTemplate: "mcp/{name}.call", Default: "scopes"}); err != nil {
		t.Errorf("scope_template mcp/{name}.call: %v", err)
	}
}

func TestDecideDefaultDeny(t *testing.T) {
	tbl, err := Compile(Config{Tools: []Rule{{Name: "search", Scopes: []string{"s"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := tbl.Decide(call(t, tool("other")), scopes("tool:other")); d.Allow {
		t.Errorf("an unnamed tool was allowed under default deny: %+v", d)
	}
	if d := tbl.Decide(call(t, `{"jsonrpc":"2.0","id":1,"method":"sampling/whatever"}`), scopes()); d.Allow {
		t.Errorf("an unknown method was allowed under default deny")
	}
}

func TestCompileReportsEveryProblem(t *testing.T) {
	_, err := Compile(Config{
		Default:          "maybe",
		ScopeTemplate:    "tool:x",
		MaxArgumentBytes: -1,
		Tools:            []Rule{{}, {Name: "a", Scopes: []string{"a b"}}},
		Resources:        []Rule{{Name: "x"}},
	})
	if err == nil {
		t.Fatal("Compile accepted a bad config")
	}
	for _, want := range []string{"mcp.default", "mcp.scope_template", "mcp.max_argument_bytes", "mcp.tools[0]", "mcp.tools[1].scopes", "mcp.resources[0]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pat, name string
		want      bool
	}{
		{"a", "a", true}, {"a", "ab", false}, {"*", "", true}, {"a*", "a", true},
		{"a*c", "abbbc", true}, {"a*c", "abbbd", false}, {"*/x/*", "p/x/q/r", true},
		{"file:///p/*", "file:///p/../etc", true}, {"a?", "ab", false}, {"[a]", "a", false},
		{"*a*a*a*b", strings.Repeat("a", 10000), false},
	}
	for _, tt := range tests {
		if got := Glob(tt.pat, tt.name); got != tt.want {
			t.Errorf("Glob(%q, %q) = %v; want %v", tt.pat, tt.name, got, tt.want)
		}
	}
}

// TestAllowedAgreesWithDecide: the listing's Allowed (no reasons built)
// decides every name as Decide does a call of it, under every default.
func TestAllowedAgreesWithDecide(t *testing.T) {
	names := []string{"search_web", "search_", "delete_file", "echo", "sum", "Sum", "\u00a0sum", "café", "a/b", "x*y"}
	grants := [][]string{nil, {"tool:search"}, {"tool:sum", "prompt:sum"}, {"tool:search", "tool:delete_file", "tool:echo", "tool:x*y", "tool:a/b"}}
	for _, def := range []string{"deny", "allow", "scopes"} {
		tbl, err := Compile(Config{
			Tools:   []Rule{{Name: "search_*", Scopes: []string{"tool:search"}}, {Name: "delete_*", Deny: true}, {Name: "echo"}},
			Prompts: []Rule{{Name: "s*", Scopes: []string{"prompt:s"}}},
			Default: def,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			for _, g := range grants {
				for kind, method := range map[string]string{"tool": "tools/call", "prompt": "prompts/get"} {
					m := Message{Kind: Request, Method: method, Name: n}
					if got, want := tbl.Allowed(kind, n, scopes(g...)), tbl.Decide(m, scopes(g...)).Allow; got != want {
						t.Errorf("default %s, %s %q, scopes %v: Allowed %v, Decide %v", def, kind, n, g, got, want)
					}
				}
			}
		}
	}
}
