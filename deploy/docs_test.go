package deploy_test

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestAlertRulesDocumented checks every alert has a severity, a summary,
// and a runbook link to its own section of docs/operations.md.
func TestAlertRulesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if h, ok := strings.CutPrefix(line, "### "); ok {
			anchors[githubAnchor(h)] = true
		}
	}
	var names []string
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			t.Run(r.Alert, func(t *testing.T) {
				if s := r.Labels["severity"]; s != "warning" && s != "critical" {
					t.Errorf("severity %q; want warning or critical", s)
				}
				if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Error("summary or description annotation missing")
				}
				want := "docs/operations.md#" + githubAnchor(r.Alert)
				if got := r.Annotations["runbook"]; got != want {
					t.Errorf("runbook %q; want %q", got, want)
				}
				if !anchors[githubAnchor(r.Alert)] {
					t.Errorf("docs/operations.md has no \"### %s\" section", r.Alert)
				}
			})
		}
	}
	sort.Strings(names)
	t.Logf("alerts: %s", strings.Join(names, ", "))
}

// githubAnchor is the fragment GitHub gives a Markdown heading.
func githubAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// TestMetricsDocumented checks that docs/operations.md documents every
// scopegate metric the binary exposes, and names no other.
func TestMetricsDocumented(t *testing.T) {
	exposed := exposedMetrics(t)
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("\\| `(scopegate_[a-z0-9_]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	for n := range exposed {
		if !strings.HasPrefix(n, "scopegate_") {
			continue
		}
		base := n
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suf); ok && exposed[b+"_bucket"] {
				base = b
			}
		}
		if !documented[base] {
			t.Errorf("docs/operations.md has no metrics table row for %s", base)
			documented[base] = true // report it once, not per series suffix
		}
	}
	for _, m := range regexp.MustCompile(`scopegate_[a-z0-9_]+`).FindAllString(string(doc), -1) {
		if !exposed[m] {
			t.Errorf("docs/operations.md names %s, which scopegate does not expose", m)
		}
	}
}
