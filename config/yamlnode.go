package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a config: the key it concerns, the line
// where YAML put it (0 when unknown) and how to fix it.
type Problem struct {
	Field   string
	Line    int
	Message string
}

func (p Problem) Error() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found in a config, reported at once.
type Problems []Problem

func (ps Problems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Error()
	}
	if len(ps) == 1 {
		return "invalid config: " + msgs[0]
	}
	return fmt.Sprintf("invalid config (%d problems):\n  %s", len(ps), strings.Join(msgs, "\n  "))
}

var configType = reflect.TypeFor[Config]()

// checkKnownKeys walks the YAML tree beside the Go type it decodes into and
// reports every mapping key that no field takes, with its line. yaml.v3's
// KnownFields does the same only on its Decoder, which we cannot use after
// ${ENV} expansion on the node tree.
func checkKnownKeys(n *yaml.Node, path string, t reflect.Type) Problems {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		return Problems{{Field: path, Line: n.Line, Message: "YAML aliases are not supported in the config"}}
	}
	var ps Problems
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // the decoder reports the type error with its line
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				ps = append(ps, Problem{Field: join(path, k.Value), Line: k.Line,
					Message: "unknown key" + suggest(k.Value, fields)})
				continue
			}
			ps = append(ps, checkKnownKeys(v, join(path, k.Value), f)...)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			ps = append(ps, checkKnownKeys(c, fmt.Sprintf("%s[%d]", path, i), t.Elem())...)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			ps = append(ps, checkKnownKeys(n.Content[i+1], join(path, n.Content[i].Value), t.Elem())...)
		}
	}
	return ps
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

// suggest names the valid keys, so a typo is fixed without opening docs.
func suggest(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	lk := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	for _, n := range names {
		if n == lk || editDistance(n, lk) <= 2 {
			return fmt.Sprintf(" (did you mean %q?)", n)
		}
	}
	return " (valid keys: " + strings.Join(names, ", ") + ")"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// expandEnv replaces ${NAME} in every scalar value (never in keys, and never
// by re-parsing text, so a variable's value cannot inject YAML structure).
// ${NAME:-default} falls back to default; "$$" stands for a literal "$".
// An unset variable without a default is a problem.
func expandEnv(n *yaml.Node, path string, lookup func(string) (string, bool)) Problems {
	var ps Problems
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return nil
		}
		v, err := expandString(n.Value, lookup)
		if err != nil {
			return Problems{{Field: path, Line: n.Line, Message: err.Error()}}
		}
		n.Value = v
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			ps = append(ps, expandEnv(n.Content[i+1], join(path, n.Content[i].Value), lookup)...)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			ps = append(ps, expandEnv(c, fmt.Sprintf("%s[%d]", path, i), lookup)...)
		}
	}
	return ps
}

func expandString(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		switch {
		case i+1 < len(s) && s[i+1] == '$':
			b.WriteByte('$')
			i++
		case i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q: write ${NAME}, or $$ for a literal $", s)
			}
			name, def, hasDef := strings.Cut(s[i+2:i+2+end], ":-")
			if !validEnvName(name) {
				return "", fmt.Errorf("invalid environment variable name %q: write ${NAME} or ${NAME:-default}", name)
			}
			v, ok := lookup(name)
			if !ok && hasDef {
				v, ok = def, true
			}
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} for a default)", name, name)
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte('$') // a lone $ is kept as written
		}
	}
	return b.String(), nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// recordLines remembers the line of every key and value by field path.
func recordLines(n *yaml.Node, path string, lines map[string]int) {
	if path != "" {
		if _, ok := lines[path]; !ok {
			lines[path] = n.Line
		}
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			lines[p] = n.Content[i].Line
			recordLines(n.Content[i+1], p, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			recordLines(c, fmt.Sprintf("%s[%d]", path, i), lines)
		}
	}
}

// lineOf finds the line of field, or of its nearest recorded parent.
func (c *Config) lineOf(field string) int {
	for field != "" {
		if l, ok := c.lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return 0
}

// editDistance is the Levenshtein distance of two short keys.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
