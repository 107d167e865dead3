package deploy_test

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
)

// validate checks v (as decoded from YAML or JSON) against the subset of
// JSON Schema configSchema emits: type, properties, additionalProperties
// (false or a schema), required, items, enum and pattern. It returns every
// problem, each with the path of the value.
func validate(s map[string]any, v any, path string) []string {
	var ps []string
	bad := func(format string, args ...any) { ps = append(ps, path+": "+fmt.Sprintf(format, args...)) }
	if typ, ok := s["type"].(string); ok && !hasType(v, typ) {
		bad("%v (%T) is not of type %s", v, v, typ)
		return ps
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		bad("%v is not one of %v", v, enum)
	}
	if pat, ok := s["pattern"].(string); ok {
		if str, _ := v.(string); !regexp.MustCompile(pat).MatchString(str) {
			bad("%q does not match %s", str, pat)
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := v[r]; !ok {
				bad("required key %q is missing", r)
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps2, ok := props[k].(map[string]any); ok {
				ps = append(ps, validate(ps2, v[k], path+"."+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					bad("unknown key %q", k)
				}
			case map[string]any:
				ps = append(ps, validate(ap, v[k], path+"."+k)...)
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range v {
				ps = append(ps, validate(items, e, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return ps
}

func hasType(v any, typ string) bool {
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "integer":
		switch n := v.(type) {
		case int, int64, uint64:
			return true
		case float64:
			return n == float64(int64(n))
		}
		return false
	case "number":
		switch v.(type) {
		case int, int64, uint64, float64:
			return true
		}
		return false
	}
	return false
}

func asStrings(v any) []string {
	var out []string
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	case []string:
		out = v
	}
	return out
}
