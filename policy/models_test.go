package policy

import (
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// compileYAML compiles a YAML route list.
func compileYAML(t *testing.T, src string) (*Table, error) {
	t.Helper()
	var routes []RouteConfig
	if err := yaml.Unmarshal([]byte(src), &routes); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	return Compile(routes, knownUpstream)
}

func mustCompileYAML(t *testing.T, src string) *Table {
	t.Helper()
	tb, err := compileYAML(t, src)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tb
}

func routeNamed(t *testing.T, tb *Table, name string) *Route {
	t.Helper()
	for _, r := range tb.Routes() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no route %q", name)
	return nil
}

const modelRoutes = `
- name: chat
  methods: [POST]
  path: /v1/chat/completions
  upstream: models
  scopes: [chat]
  models:
    rules:
      - {model: gpt-4o-mini, scopes: []}
      - {model: gpt-4o, scopes: [model:gpt-4o]}
      - {model: "gpt-4o*", scopes: [model:gpt-4o-family]}
      - {model: "meta-llama/*", scopes: [model:llama]}
      - {model: "*-preview", scopes: [model:preview]}
- name: images
  methods: [POST]
  path: /v1/images/generations
  upstream: models
  scopes: [images]
  models:
    scope_template: "model:{model}"
- name: embeddings
  methods: [POST]
  path: /v1/embeddings
  upstream: models
  scopes: [embed]
  models:
    rules:
      - {model: text-embedding-3-large, scopes: [embed:large]}
    default: embed:small
- name: retrieve
  methods: [GET]
  path: /v1/models/{model...}
  upstream: models
  scopes: []
  models:
    source: path
    rules: [{model: "*", scopes: []}]
- name: list
  methods: [GET]
  path: /v1/models
  upstream: models
  scopes: [models:read]
  models:
    list: true
    rules_from: [chat, images]
`

func TestDecideModel(t *testing.T) {
	tb := mustCompileYAML(t, modelRoutes)
	tests := []struct {
		route, model string
		granted      []string
		listed       bool
		allowed      bool
		missing      []string
	}{
		{"chat", "gpt-4o-mini", []string{"chat"}, true, true, nil},
		{"chat", "gpt-4o-mini", nil, true, false, []string{"chat"}},
		{"chat", "gpt-4o", []string{"chat"}, true, false, []string{"model:gpt-4o"}},
		{"chat", "gpt-4o", []string{"chat", "model:gpt-4o"}, true, true, nil},
		{"chat", "gpt-4o", []string{"chat", "model:gpt-4o-family"}, true, false, []string{"model:gpt-4o"}},          // exact beats glob
		{"chat", "gpt-4o-2024-08-06", []string{"chat", "model:gpt-4o-family"}, true, true, nil},                     // first glob
		{"chat", "gpt-4o-preview", []string{"chat", "model:preview"}, true, false, []string{"model:gpt-4o-family"}}, // config order among globs
		{"chat", "meta-llama/Llama-3/8B", []string{"chat", "model:llama"}, true, true, nil},                         // '*' spans '/'
		{"chat", "GPT-4O-MINI", []string{"chat"}, false, false, nil},                                                // case-sensitive
		{"chat", "o1", []string{"chat", "model:o1"}, false, false, nil},                                             // default deny
		{"chat", "gpt-4o-mini ", []string{"chat"}, true, false, []string{"model:gpt-4o-family"}},                    // not the exact rule
		{"images", "dall-e-3", []string{"images", "model:dall-e-3"}, true, true, nil},
		{"images", "dall-e-3", []string{"images", "model:dall-e-2"}, true, false, []string{"model:dall-e-3"}},
		{"images", "dall e", []string{"images", "model:dall e"}, false, false, nil}, // not a scope token
		{"images", "", []string{"images", "model:"}, false, false, nil},
		{"embeddings", "text-embedding-3-large", []string{"embed", "embed:small"}, true, false, []string{"embed:large"}},
		{"embeddings", "other", []string{"embed", "embed:small"}, true, true, nil},
		{"embeddings", "other", []string{"embed"}, true, false, []string{"embed:small"}},
		{"retrieve", "anything/at/all", nil, true, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.route+"/"+tt.model+"/"+strings.Join(tt.granted, "+"), func(t *testing.T) {
			d := routeNamed(t, tb, tt.route).DecideModel(tt.model, tt.granted)
			if d.Listed != tt.listed || d.Allowed != tt.allowed || !slices.Equal(d.Missing, tt.missing) {
				t.Errorf("DecideModel(%q, %q) = %+v; want listed %v allowed %v missing %q", tt.model, tt.granted, d, tt.listed, tt.allowed, tt.missing)
			}
		})
	}
}

func TestListAllows(t *testing.T) {
	tb := mustCompileYAML(t, modelRoutes)
	list := routeNamed(t, tb, "list")
	tests := []struct {
		model   string
		granted []string
		want    bool
	}{
		{"gpt-4o-mini", []string{"models:read", "chat"}, true},
		{"gpt-4o-mini", []string{"models:read"}, false}, // cannot call chat at all
		{"gpt-4o", []string{"models:read", "chat"}, false},
		{"gpt-4o", []string{"chat", "model:gpt-4o"}, true},
		{"dall-e-3", []string{"images", "model:dall-e-3"}, true},
		{"dall-e-3", []string{"chat", "model:dall-e-3"}, false},
		{"text-embedding-3-small", []string{"chat", "images", "embed"}, false}, // embeddings is not in rules_from
	}
	for _, tt := range tests {
		if got := list.ListAllows(tt.model, tt.granted); got != tt.want {
			t.Errorf("ListAllows(%q, %q) = %v; want %v", tt.model, tt.granted, got, tt.want)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true},
		{"*", "a/b", true},
		{"a*", "a", true},
		{"a*", "ba", false},
		{"*a", "ba", true},
		{"*a", "ab", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a*a", "a", false}, // prefix and suffix must not overlap
		{"ab*ba", "aba", false},
		{"x?y", "xzy", false}, // '?' is literal
		{"x?y", "x?y", true},
		{"[a]", "a", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.name); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v; want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestCompileModelErrors(t *testing.T) {
	tests := []struct {
		name, models, path, want string
	}{
		{"both template and rules", `{scope_template: "m:{model}", rules: [{model: a, scopes: []}]}`, "/v1/x", "exactly one of scope_template"},
		{"neither", `{source: body}`, "/v1/x", "exactly one of scope_template"},
		{"template without placeholder", `{scope_template: "m:x"}`, "/v1/x", "does not contain {model}"},
		{"template bad scope", `{scope_template: "m {model}"}`, "/v1/x", "whitespace"},
		{"default with template", `{scope_template: "m:{model}", default: allow}`, "/v1/x", "default only applies with rules"},
		{"bad source", `{source: header, scope_template: "m:{model}"}`, "/v1/x", "not a model source"},
		{"path param missing", `{source: path, scope_template: "m:{model}"}`, "/v1/x/{id}", "no wildcard {model}"},
		{"param with body", `{param: id, scope_template: "m:{model}"}`, "/v1/x/{id}", "param only applies with source: path"},
		{"cap with path", `{source: path, param: id, max_body_bytes: 10, scope_template: "m:{model}"}`, "/v1/x/{id}", "only applies with source: body"},
		{"negative cap", `{max_body_bytes: -1, scope_template: "m:{model}"}`, "/v1/x", "must not be negative"},
		{"rule without scopes", `{rules: [{model: a}]}`, "/v1/x", "missing scopes"},
		{"rule empty model", `{rules: [{model: "", scopes: []}]}`, "/v1/x", "model name is empty"},
		{"duplicate rule", `{rules: [{model: a, scopes: []}, {model: a, scopes: [b]}]}`, "/v1/x", "already listed as rules[0]"},
		{"bad default scope", `{rules: [{model: a, scopes: []}], default: "x\"y"}`, "/v1/x", "default is deny, allow"},
		{"rules_from without list", `{rules_from: [a], scope_template: "m:{model}"}`, "/v1/x", "only applies to a list route"},
		{"list without rules", `{list: true}`, "/v1/x", "needs rules_from"},
		{"list with source", `{list: true, source: body, rules_from: [other]}`, "/v1/x", "reads no model from its request"},
		{"list from unknown", `{list: true, rules_from: [nope]}`, "/v1/x", "no route is named \"nope\""},
		{"list from list", `{list: true, rules_from: [r]}`, "/v1/x", "has no model rules to borrow"},
		{"list from plain", `{list: true, rules_from: [other]}`, "/v1/x", "has no model rules to borrow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "- {name: other, path: /other, upstream: models, scopes: []}\n" +
				"- {name: r, path: \"" + tt.path + "\", upstream: models, scopes: [], models: " + tt.models + "}\n"
			_, err := compileYAML(t, src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile error = %v; want one containing %q", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), "routes[1].models") {
				t.Errorf("error %v does not name routes[1].models", err)
			}
		})
	}
}

func TestCompileModelDefaults(t *testing.T) {
	tb := mustCompileYAML(t, modelRoutes)
	chat := routeNamed(t, tb, "chat").Models
	if chat.Source != ModelSourceBody || chat.MaxBodyBytes != DefaultModelBodyBytes {
		t.Errorf("chat: source %q, max_body_bytes %d; want body, %d", chat.Source, chat.MaxBodyBytes, DefaultModelBodyBytes)
	}
	if r := routeNamed(t, tb, "retrieve").Models; r.Source != ModelSourcePath || r.Param != "model" {
		t.Errorf("retrieve: source %q, param %q; want path, model", r.Source, r.Param)
	}
	if l := routeNamed(t, tb, "list").Models; len(l.RulesFrom) != 2 || l.RulesFrom[0].Name != "chat" || l.RulesFrom[1].Name != "images" {
		t.Errorf("list: rules_from resolved to %v; want chat, images", l.RulesFrom)
	}
}

func BenchmarkDecideModel(b *testing.B) {
	var routes []RouteConfig
	if err := yaml.Unmarshal([]byte(modelRoutes), &routes); err != nil {
		b.Fatal(err)
	}
	tb, err := Compile(routes, knownUpstream)
	if err != nil {
		b.Fatal(err)
	}
	chat, images := tb.Routes()[0], tb.Routes()[1]
	granted := []string{"chat", "images", "model:gpt-4o-family", "model:dall-e-3"}
	b.Run("rules exact", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = chat.DecideModel("gpt-4o-mini", granted)
		}
	})
	b.Run("rules glob", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = chat.DecideModel("gpt-4o-2024-08-06", granted)
		}
	})
	b.Run("template", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = images.DecideModel("dall-e-3", granted)
		}
	})
}
