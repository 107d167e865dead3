package deploy_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// PromQL is read here with a few regular expressions rather than the
// Prometheus parser (a large module): enough to find metric names in the
// queries we write, and tested below on the constructs they use.
var (
	reString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	reMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	reRange    = regexp.MustCompile(`\[[^\[\]]*\]`)
	reGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	reVariable = regexp.MustCompile(`\$\{?\w+\}?`)
	reIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	reLabelVal = regexp.MustCompile(`^\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,`)
)

var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
	"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true, "atan2": true,
}

// metricNames returns the metric names a PromQL expression selects.
func metricNames(expr string) []string {
	s := reString.ReplaceAllString(expr, `""`)
	s = reMatchers.ReplaceAllString(s, " ")
	s = reRange.ReplaceAllString(s, " ")
	s = reGrouping.ReplaceAllString(s, " ")
	s = reVariable.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range reIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if loc[0] > 0 && (isDigit(s[loc[0]-1]) || s[loc[0]-1] == '.') {
			continue // the exponent or unit of a number: 1e3, 5m
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function or an aggregation
		}
		if promqlKeywords[strings.ToLower(name)] {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return slices.Compact(names)
}

// variableMetric returns the metric a Grafana variable query reads:
// label_values(metric{...}, label) names one, label_values(label) none, and
// anything else is PromQL.
func variableMetric(query string) []string {
	s := reString.ReplaceAllString(query, `""`)
	s = reMatchers.ReplaceAllString(s, "")
	if m := reLabelVal.FindStringSubmatch(s); m != nil {
		return []string{m[1]}
	}
	if strings.HasPrefix(strings.TrimSpace(s), "label_values(") {
		return nil
	}
	return metricNames(query)
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		name, expr string
		want       []string
	}{
		{"bare", `up`, []string{"up"}},
		{"matchers with braces and keywords in values", `up{job="a{b} or c", instance=~"$instance"} == 0`, []string{"up"}},
		{"rate over a grafana range", `rate(scopegate_requests_total{route=~"$route"}[$__rate_interval])`, []string{"scopegate_requests_total"}},
		{"aggregation with by before", `sum by (route, code) (rate(x_total[5m]))`, []string{"x_total"}},
		{"aggregation with by after", `sum(rate(x_total[5m])) by (le)`, []string{"x_total"}},
		{"histogram quantile", `histogram_quantile(0.99, sum by (le) (rate(h_bucket{decision="deny"}[5m]))) > 0.5`, []string{"h_bucket"}},
		{"set operators and on", "a > 0\nunless on (job, issuer)\nb > 0", []string{"a", "b"}},
		{"or of two metrics", `k == 0 or r == 0`, []string{"k", "r"}},
		{"numbers and time", `(time() - ts) > 3.6e3 and ts > 0`, []string{"ts"}},
		{"division and bool", `a / ignoring(code) group_left b == bool 1`, []string{"a", "b"}},
		{"offset", `x offset 5m`, []string{"x"}},
		{"sort and increase over range", `sort_desc(sum by (route, reason) (increase(r_total[$__range])))`, []string{"r_total"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
				t.Errorf("metricNames(%q) = %q; want %q", tc.expr, got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"label values of a metric", `label_values(scopegate_build_info{job=~"$job"}, instance)`, []string{"scopegate_build_info"}},
		{"label values of a label", `label_values(job)`, nil},
		{"query", `query_result(up{job="x"})`, []string{"up"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := variableMetric(tc.query); !slices.Equal(got, tc.want) {
				t.Errorf("variableMetric(%q) = %q; want %q", tc.query, got, tc.want)
			}
		})
	}
}

// query is one PromQL expression and where it was found.
type query struct{ where, expr string }

// dashboardQueries returns every panel query and variable query of the
// Grafana dashboard, walking the JSON so that nested rows are included.
func dashboardQueries(t *testing.T) (panels, variables []query) {
	t.Helper()
	b, err := os.ReadFile("grafana/scopegate.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana/scopegate.json: %v", err)
	}
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch v := v.(type) {
		case map[string]any:
			if title, ok := v["title"].(string); ok {
				where = title
			}
			if e, ok := v["expr"].(string); ok {
				panels = append(panels, query{where, e})
			}
			for k, c := range v {
				if k != "templating" {
					walk(c, where)
				}
			}
		case []any:
			for _, c := range v {
				walk(c, where)
			}
		}
	}
	walk(dash, "dashboard")
	tmpl, _ := dash["templating"].(map[string]any)
	list, _ := tmpl["list"].([]any)
	for _, v := range list {
		m, _ := v.(map[string]any)
		if m["type"] != "query" {
			continue
		}
		name, _ := m["name"].(string)
		switch q := m["query"].(type) {
		case string:
			variables = append(variables, query{"$" + name, q})
		case map[string]any:
			s, _ := q["query"].(string)
			variables = append(variables, query{"$" + name, s})
		}
	}
	return panels, variables
}

// ruleFile is the part of a Prometheus rule file the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile("prometheus/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("prometheus/rules.yml: %v", err)
	}
	return rf
}
