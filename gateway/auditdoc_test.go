package gateway

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestAuditDocumented: docs/audit.md documents every reason code the
// gateway and the token package define, and every field the golden
// records carry.
func TestAuditDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var codes []string
	for _, file := range []string{"errors.go", "token/errors.go"} {
		codes = append(codes, reasonConstants(t, file)...)
	}
	if len(codes) < 30 {
		t.Fatalf("found only %d reason constants; the parser missed some", len(codes))
	}
	for _, c := range codes {
		if !strings.Contains(doc, "| `"+c+"` |") {
			t.Errorf("reason code %q is not in the docs/audit.md tables", c)
		}
	}
	golden, err := os.ReadFile("testdata/audit_records.golden")
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{"upstream_error": true, "since": true, "dropped": true}
	for _, line := range strings.Split(strings.TrimSpace(string(golden)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		for k := range m {
			fields[k] = true
		}
	}
	for f := range fields {
		if !strings.Contains(doc, "`"+f+"`") {
			t.Errorf("audit field %q is not documented in docs/audit.md", f)
		}
	}
	for _, d := range []string{decisionAllow, decisionDeny, decisionWouldDeny, decisionError} {
		if !strings.Contains(doc, "| `"+d+"` |") {
			t.Errorf("decision %q is not in the docs/audit.md table", d)
		}
	}
}

// reasonConstants returns the values of the constants named Reason* in a
// Go file.
func reasonConstants(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Reason") || i >= len(vs.Values) {
				continue
			}
			if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					out = append(out, s)
				}
			}
		}
		return true
	})
	return out
}
