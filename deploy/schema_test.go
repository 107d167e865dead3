package deploy_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/config"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite docs/config.schema.json")

const schemaPath = "../docs/config.schema.json"

// TestConfigSchema generates the config's JSON Schema from the Go types
// and fails when docs/config.schema.json differs (-update rewrites it).
func TestConfigSchema(t *testing.T) {
	b, err := json.MarshalIndent(configSchema(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *update {
		if err := os.WriteFile(schemaPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatalf("%v (run: go test ./deploy -run TestConfigSchema -update)", err)
	}
	if !bytes.Equal(got, b) {
		t.Fatal("docs/config.schema.json is stale: the config's Go types changed. Regenerate it with\n\tgo test ./deploy -run TestConfigSchema -update\nand document the change in docs/configuration.md")
	}
}

func readSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", schemaPath, err)
	}
	return s
}

// shippedConfigs are every config in the repository, with the environment
// they are loaded with.
func shippedConfigs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range []string{"../config.example.yaml", "compose/config.yaml", "../internal/demo/demo.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = string(b)
	}
	for _, d := range yamlDocs(t, filepath.Join("kubernetes", "configmap.yaml")) {
		var cm k8sConfigMap
		convert(t, d, &cm)
		out["kubernetes/configmap.yaml"] = cm.Data["config.yaml"]
	}
	return out
}

// TestSchemaAcceptsShippedConfigs validates every config the repository
// ships against the schema, and loads each with config.Parse, so that the
// schema is neither stricter nor looser than the loader on them.
func TestSchemaAcceptsShippedConfigs(t *testing.T) {
	schema := readSchema(t)
	env := map[string]string{"MODEL_API_KEY": "k", "DEMO_ISSUER": "http://127.0.0.1:1", "DEMO_UPSTREAM": "http://127.0.0.1:2", "DEMO_MCP": "http://127.0.0.1:3",
		"DEMO_LISTEN": "127.0.0.1:8080", "DEMO_ADMIN": "127.0.0.1:9090", "DEMO_ADMIN_TOKEN": "demo-admin-0123456789abcdef0123456789"}
	for name, text := range shippedConfigs(t) {
		t.Run(name, func(t *testing.T) {
			var v any
			if err := yaml.Unmarshal([]byte(text), &v); err != nil {
				t.Fatal(err)
			}
			if ps := validate(schema, v, "$"); len(ps) > 0 {
				t.Errorf("schema problems:\n  %s", strings.Join(ps, "\n  "))
			}
			parseConfig(t, name, text, env)
		})
	}
	// Editors find the schema through a modeline naming it relative to
	// the file.
	for _, p := range []string{"../config.example.yaml", "compose/config.yaml"} {
		b, _ := os.ReadFile(p)
		first, _, _ := strings.Cut(string(b), "\n")
		ref, ok := strings.CutPrefix(first, "# yaml-language-server: $schema=")
		if !ok {
			t.Errorf("%s does not start with a yaml-language-server $schema comment", p)
			continue
		}
		if got, _ := filepath.Abs(filepath.Join(filepath.Dir(p), ref)); got != mustAbs(t, schemaPath) {
			t.Errorf("%s names the schema %s; want %s", p, ref, schemaPath)
		}
	}
}

// TestSchemaRefusesBadConfigs shows that the schema and its checker catch
// what editors should flag.
func TestSchemaRefusesBadConfigs(t *testing.T) {
	schema := readSchema(t)
	const base = `
upstreams: {m: {url: "http://127.0.0.1:8000"}}
routes: [{name: r, path: /v1/x, upstream: m, scopes: [a]}]
`
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown top-level key", base + "extra: 1\n", `unknown key "extra"`},
		{"unknown server key", base + "server: {listn: x}\n", `$.server: unknown key "listn"`},
		{"wrong type", base + "server: {max_body_bytes: lots}\n", "$.server.max_body_bytes: lots (string) is not of type integer"},
		{"bad duration", base + "server: {drain_timeout: 30 seconds}\n", "does not match"},
		{"bad algorithm", base + `issuers: [{issuer: "https://i", audiences: [a], algorithms: [HS256]}]` + "\n", "HS256 is not one of"},
		{"issuer without audiences", base + `issuers: [{issuer: "https://i"}]` + "\n", `$.issuers[0]: required key "audiences" is missing`},
		{"upstream without url", "upstreams: {m: {timeout: 5s}}\nroutes: []\n", `$.upstreams.m: required key "url" is missing`},
		{"unknown upstream key", "upstreams: {m: {url: x, header: {}}}\nroutes: []\n", `$.upstreams.m: unknown key "header"`},
		{"no routes", "upstreams: {}\n", `required key "routes" is missing`},
		{"bad route name", "upstreams: {}\nroutes: [{name: 'a b', path: /, upstream: m}]\n", `"a b" does not match`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			if err := yaml.Unmarshal([]byte(tc.yaml), &v); err != nil {
				t.Fatal(err)
			}
			ps := strings.Join(validate(schema, v, "$"), "\n")
			if !strings.Contains(ps, tc.want) {
				t.Errorf("problems %q; want one containing %q", ps, tc.want)
			}
		})
	}
}

// configKeys returns every key path of the config as docs/configuration.md
// writes them: server.listen, issuers[].audiences, upstreams.<name>.url.
func configKeys(typ reflect.Type, prefix string, out *[]string) {
	if typ == durationType {
		return
	}
	switch typ.Kind() {
	case reflect.Struct:
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			*out = append(*out, p)
			configKeys(f.Type, p, out)
		}
	case reflect.Slice:
		configKeys(typ.Elem(), prefix+"[]", out)
	case reflect.Map:
		configKeys(typ.Elem(), prefix+".<name>", out)
	}
}

// TestConfigFieldsDocumented checks that every field of the config's Go
// types has a doc comment, a place in the schema, and an entry in
// docs/configuration.md.
func TestConfigFieldsDocumented(t *testing.T) {
	var keys []string
	configKeys(reflect.TypeFor[config.Config](), "", &keys)
	if len(keys) < 30 {
		t.Fatalf("found %d config keys; the walk is broken", len(keys))
	}
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	schema := readSchema(t)
	for _, k := range keys {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/configuration.md does not document `%s`", k)
		}
		if s := schemaAt(schema, k); s == nil {
			t.Errorf("the schema has no %s", k)
		} else if _, ok := s["description"].(string); !ok {
			t.Errorf("%s has no description (a doc comment on its Go field)", k)
		}
	}
}

// schemaAt returns the schema of a key path written as configKeys does.
func schemaAt(s map[string]any, path string) map[string]any {
	for _, part := range strings.Split(path, ".") {
		name, arrays := strings.CutSuffix(part, "[]")
		if name == "<name>" {
			s, _ = s["additionalProperties"].(map[string]any)
		} else {
			props, _ := s["properties"].(map[string]any)
			s, _ = props[name].(map[string]any)
		}
		if s == nil {
			return nil
		}
		if arrays {
			s, _ = s["items"].(map[string]any)
		}
	}
	return s
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
