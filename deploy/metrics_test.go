package deploy_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestQueriesUseExposedMetrics checks every metric name in the dashboard's
// queries and the alert rules against what the binary serves on /metrics.
func TestQueriesUseExposedMetrics(t *testing.T) {
	exposed := exposedMetrics(t)
	panels, variables := dashboardQueries(t)
	if len(panels) < 20 || len(variables) < 3 {
		t.Fatalf("found %d panel queries and %d variable queries in the dashboard; the walk is broken", len(panels), len(variables))
	}
	var all []query
	all = append(all, panels...)
	for _, v := range variables {
		for _, n := range variableMetric(v.expr) {
			all = append(all, query{v.where, n})
		}
	}
	rules := readRules(t)
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			all = append(all, query{"alert " + r.Alert, r.Expr})
			alerts++
		}
	}
	if alerts < 7 {
		t.Fatalf("found %d alert rules; want the 7 kinds docs/operations.md describes", alerts)
	}
	used := map[string]bool{}
	for _, q := range all {
		names := metricNames(q.expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric found in %q", q.where, q.expr)
		}
		for _, n := range names {
			used[n] = true
			if !exposed[n] {
				t.Errorf("%s: %s is not a metric scopegate exposes (query %q)", q.where, n, q.expr)
			}
		}
	}
	// Every scopegate family should be on the dashboard or in a rule.
	for n := range exposed {
		if strings.HasPrefix(n, "scopegate_") && !used[n] && !used[n+"_bucket"] && !strings.HasSuffix(n, "_sum") && !strings.HasSuffix(n, "_count") && !strings.HasSuffix(n, "_bucket") {
			t.Errorf("%s is exposed but neither the dashboard nor the alert rules use it", n)
		}
	}
}

// TestDashboardQueriesParse has promtool parse every dashboard query, with
// Grafana's range variables filled in. Skipped when promtool is missing
// (make promtool installs it; make test runs that first).
func TestDashboardQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed: `make promtool` installs it (Debian package prometheus)")
	}
	panels, variables := dashboardQueries(t)
	repl := strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$__interval", "1m")
	type rule struct {
		Alert string `yaml:"alert"`
		Expr  string `yaml:"expr"`
	}
	var rules []rule
	for i, q := range panels {
		rules = append(rules, rule{fmt.Sprintf("Q%d", i), repl.Replace(q.expr)})
	}
	for i, v := range variables {
		if !strings.HasPrefix(strings.TrimSpace(v.expr), "label_values(") {
			rules = append(rules, rule{fmt.Sprintf("V%d", i), repl.Replace(v.expr)})
		}
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard_rules.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("%d rules found", len(rules)); !strings.Contains(string(out), want) {
		t.Fatalf("promtool output %q; want %q", out, want)
	}
}
