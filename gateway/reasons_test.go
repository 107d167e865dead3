package gateway

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestReasonRegistry: every reason code defined anywhere on the request
// path (the gateway, the token, policy and dpop packages) is registered
// once, with a decision and the statuses it answers, and documented in
// docs/audit.md, where the decision of a gateway reason's row is the
// registry's.
func TestReasonRegistry(t *testing.T) {
	b, err := os.ReadFile("../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, file := range append(files, "token/errors.go", "introspect/reasons.go", "../policy/principals.go", "../dpop/errors.go") {
		if !strings.HasSuffix(file, "_test.go") {
			codes = append(codes, reasonConstants(t, file)...)
		}
	}
	if len(codes) < 80 {
		t.Fatalf("found only %d reason constants; the parser missed some", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if seen[c] {
			continue // a constant may name another package's code
		}
		seen[c] = true
		if _, ok := reasonRegistry[Reason(c)]; !ok {
			t.Errorf("reason code %q is not in reasonRegistry", c)
		}
	}
	rows := map[string]string{} // code -> its docs table row
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
		for _, c := range strings.Split(first, ", ") {
			rows[strings.Trim(c, "`")] = line
		}
	}
	for code, info := range reasonRegistry {
		if !seen[string(code)] {
			t.Errorf("registered reason %q is defined by no constant", code)
		}
		row, ok := rows[string(code)]
		if !ok {
			t.Errorf("reason code %q is not in the docs/audit.md tables", code)
			continue
		}
		if info.doc == "" || info.decision == "" {
			t.Errorf("reason %q has no decision or docs line in the registry", code)
		}
		if cols := strings.Split(row, " | "); len(cols) >= 4 && (cols[1] == decisionAllow || cols[1] == decisionDeny || cols[1] == decisionError) {
			if cols[1] != info.decision {
				t.Errorf("reason %q: docs/audit.md says decision %s, the registry %s", code, cols[1], info.decision)
			}
			for _, st := range info.statuses {
				if !strings.Contains(cols[2], strconv.Itoa(st)) {
					t.Errorf("reason %q: docs/audit.md's status column %q lacks %d", code, cols[2], st)
				}
			}
		}
	}
}

// checkRecordsRegistered fails t if an audit record carries a reason the
// registry does not know, or a decision or status other than the reason's:
// every test that runs requests through a rig checks its records.
func checkRecordsRegistered(t testing.TB, records []map[string]any) {
	t.Helper()
	for _, rec := range records {
		if rec["msg"] != nil && rec["msg"] != "decision" {
			continue // revocation and drop-summary records
		}
		reason, _ := rec["reason"].(string)
		decision, _ := rec["decision"].(string)
		info, ok := reasonRegistry[Reason(reason)]
		switch {
		case !ok:
			t.Errorf("audit record with unregistered reason %q", reason)
		case decision == decisionWouldDeny:
		case decision != info.decision:
			t.Errorf("reason %q recorded with decision %q; registered %q", reason, decision, info.decision)
		case info.statuses != nil:
			var status int
			switch v := rec["status"].(type) {
			case int64: // zap's observer
				status = int(v)
			case float64: // decoded JSON
				status = int(v)
			}
			if !slices.Contains(info.statuses, status) {
				t.Errorf("reason %q recorded with status %d; registered %v", reason, status, info.statuses)
			}
		}
	}
}

// checkChallengeRegistered fails t if the WWW-Authenticate error of a
// refusal is not the one its audit record's reason registers.
func checkChallengeRegistered(t testing.TB, rec map[string]any, h http.Header) {
	t.Helper()
	reason, _ := rec["reason"].(string)
	info, ok := reasonRegistry[Reason(reason)]
	if !ok || rec["decision"] == decisionWouldDeny {
		return
	}
	got := ""
	for _, ch := range h.Values("WWW-Authenticate") {
		if _, rest, ok := strings.Cut(ch, `error="`); ok {
			got, _, _ = strings.Cut(rest, `"`)
		}
	}
	if got != info.bearer {
		t.Errorf("reason %q answered with challenge error %q; registered %q", reason, got, info.bearer)
	}
}

// TestAuditDocumented: docs/audit.md documents every field the golden
// records carry, and every decision.
func TestAuditDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
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
