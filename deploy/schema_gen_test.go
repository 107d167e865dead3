package deploy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/dpop"
	gwtoken "github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/policy"
)

// Sources whose doc comments describe the config's types and fields.
var schemaSources = []string{"../config/config.go", "../config/sender.go", "../config/tracing.go", "../config/state.go", "../config/metadata.go", "../config/signals.go", "../config/introspection.go", "../config/limits.go",
	"../policy/compile.go", "../policy/sender.go", "../policy/limitconfig.go"}

// schemaExtra adds keywords the Go types cannot say, keyed "Type.Field";
// a nil value removes the keyword (a default that depends on another key).
var schemaExtra = map[string]map[string]any{
	"IssuerConfig.Algorithms": {"items": map[string]any{"type": "string", "enum": toAny(gwtoken.DefaultAlgorithms)}},
	"RouteConfig.Name":        {"pattern": `^[A-Za-z0-9_.-]+$`},
	"RouteConfig.Mode":        {"enum": []any{policy.ModeEnforce, policy.ModeShadow}, "default": policy.ModeEnforce},
	"TLSConfig.MinVersion":    {"enum": []any{"1.2", "1.3"}, "default": "1.2"},
	"AuditConfig.Burst":       {"default": nil},
	"TLSConfig.ClientAuth":    {"enum": []any{"none", "request", "require"}, "default": "none"},
	"DPoPConfig.Algorithms":   {"items": map[string]any{"type": "string", "enum": toAny(dpop.DefaultAlgorithms)}},
	"SenderConstraint.DPoP":   {"enum": []any{policy.SenderRequired, policy.SenderAllowed, policy.SenderOff}},
	"SenderConstraint.MTLS":   {"enum": []any{policy.SenderRequired, policy.SenderAllowed, policy.SenderOff}},
	// An optional block: its defaults apply once it is present.
	"IntrospectionConfig.AuthMethod":     {"enum": []any{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}},
	"IntrospectionConfig.Timeout":        {"default": "2s"},
	"IntrospectionConfig.CacheTTL":       {"default": "1m0s"},
	"IntrospectionConfig.MaxConcurrency": {"default": 16},
}

// schemaRequired lists the keys validation requires, by type.
var schemaRequired = map[string][]string{
	"Config":              {"upstreams", "routes"},
	"IssuerConfig":        {"issuer", "audiences"},
	"UpstreamConfig":      {"url"},
	"RouteConfig":         {"name", "path", "upstream"},
	"PrivateKeyJWTConfig": {"key_file"},
}

// durationPattern matches what time.ParseDuration accepts.
const durationPattern = `^[-+]?(0|([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+)$`

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// docComments reads "Type" and "Type.Field" doc comments from Go sources.
func docComments(t *testing.T) map[string]string {
	t.Helper()
	docs := map[string]string{}
	fset := token.NewFileSet()
	for _, src := range schemaSources {
		f, err := parser.ParseFile(fset, src, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, s := range gd.Specs {
				ts := s.(*ast.TypeSpec)
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				docs[ts.Name.Name] = oneLine(doc.Text())
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				for _, fl := range st.Fields.List {
					for _, n := range fl.Names {
						docs[ts.Name.Name+"."+n.Name] = oneLine(fl.Doc.Text())
					}
				}
			}
		}
	}
	return docs
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// configSchema builds the JSON Schema of config.Config from its types,
// its yaml tags, its doc comments and the defaults ApplyDefaults sets.
func configSchema(t *testing.T) map[string]any {
	t.Helper()
	docs := docComments(t)
	defaults := config.Config{
		Issuers:   []config.IssuerConfig{{}},
		Upstreams: map[string]config.UpstreamConfig{"u": {}},
	}
	defaults.ApplyDefaults()
	s := typeSchema(t, reflect.TypeFor[config.Config](), reflect.ValueOf(defaults), docs)
	root := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "https://raw.githubusercontent.com/scopegate/scopegate/main/docs/config.schema.json",
		"title":       "scopegate configuration",
		"description": "The YAML configuration of scopegate (docs/configuration.md). Generated from the Go types by deploy/schema_test.go: go test ./deploy -run TestConfigSchema -update. Any string may use ${NAME} to read an environment variable.",
	}
	for k, v := range s {
		if k != "description" {
			root[k] = v
		}
	}
	return root
}

var durationType = reflect.TypeFor[config.Duration]()

// typeSchema is the schema of t; def holds its default value (the zero
// Value when there is none).
func typeSchema(t *testing.T, typ reflect.Type, def reflect.Value, docs map[string]string) map[string]any {
	t.Helper()
	if typ == durationType {
		s := map[string]any{"type": "string", "pattern": durationPattern}
		if def.IsValid() && !def.IsZero() {
			s["default"] = time.Duration(def.Int()).String()
		}
		return s
	}
	switch typ.Kind() {
	case reflect.Struct:
		props := map[string]any{}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				t.Fatalf("%s.%s has no yaml tag", typ.Name(), f.Name)
			}
			var fd reflect.Value
			if def.IsValid() {
				fd = def.Field(i)
			}
			ps := typeSchema(t, f.Type, fd, docs)
			key := typ.Name() + "." + f.Name
			if d := docs[key]; d != "" {
				// Editors show the YAML key, not the Go field name.
				if rest, ok := strings.CutPrefix(d, f.Name); ok && rest != "" && strings.ContainsRune(" ,:", rune(rest[0])) {
					d = name + rest
				}
				ps["description"] = d
			} else if d := elemDescription(ps); d != "" {
				ps["description"] = d // e.g. issuers: the doc of IssuerConfig
			}
			for k, v := range schemaExtra[key] {
				if v == nil {
					delete(ps, k)
				} else {
					ps[k] = v
				}
			}
			props[name] = ps
		}
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if d := docs[typ.Name()]; d != "" {
			s["description"] = d
		}
		if req := schemaRequired[typ.Name()]; len(req) > 0 {
			s["required"] = toAny(req)
		}
		return s
	case reflect.Pointer:
		// An optional block (models:, resource_metadata:): its schema is
		// that of the struct; absent means the documented default.
		var ed reflect.Value
		if def.IsValid() && !def.IsNil() {
			ed = def.Elem()
		}
		return typeSchema(t, typ.Elem(), ed, docs)
	case reflect.Slice:
		var ed reflect.Value
		if def.IsValid() && def.Len() > 0 {
			ed = def.Index(0)
		}
		return map[string]any{"type": "array", "items": typeSchema(t, typ.Elem(), ed, docs)}
	case reflect.Map:
		var ed reflect.Value
		if def.IsValid() && def.Len() > 0 {
			ed = def.MapIndex(def.MapKeys()[0])
		}
		return map[string]any{"type": "object", "additionalProperties": typeSchema(t, typ.Elem(), ed, docs)}
	case reflect.String:
		s := map[string]any{"type": "string"}
		if def.IsValid() && def.String() != "" {
			s["default"] = def.String()
		}
		return s
	case reflect.Bool:
		return map[string]any{"type": "boolean", "default": false}
	case reflect.Int, reflect.Int64:
		s := map[string]any{"type": "integer"}
		if def.IsValid() && def.Int() != 0 {
			s["default"] = def.Int()
		}
		return s
	case reflect.Float64:
		s := map[string]any{"type": "number"}
		if def.IsValid() && def.Float() != 0 {
			s["default"] = def.Float()
		}
		return s
	}
	t.Fatalf("no schema for Go type %s", typ)
	return nil
}

// elemDescription is the description of a list's items or a map's values.
func elemDescription(s map[string]any) string {
	for _, k := range []string{"items", "additionalProperties"} {
		if e, ok := s[k].(map[string]any); ok {
			d, _ := e["description"].(string)
			return d
		}
	}
	return ""
}
