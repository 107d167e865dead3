package gateway

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scopegate/scopegate/internal/testkit"
)

// goldenMetrics are the metric families TestMetricsGolden fixes. Those
// whose values depend on the run (config hash, process and Go runtime)
// are checked apart.
var goldenMetrics = []string{
	"scopegate_requests_total",
	"scopegate_request_duration_seconds",
	"scopegate_refusals_total",
	"scopegate_would_deny_total",
	"scopegate_in_flight_requests",
	"scopegate_upstream_duration_seconds",
	"scopegate_upstream_errors_total",
	"scopegate_audit_dropped_total",
	"scopegate_jwks_keys",
	"scopegate_jwks_last_success_timestamp_seconds",
	"scopegate_issuer_ready",
	"scopegate_jwks_refresh_total",
	"scopegate_config_reloads_total",
	"scopegate_build_info",
}

// TestMetricsGolden runs a fixed sequence of requests under a fixed clock
// and compares the metrics with testdata/metrics.golden through
// testutil.GatherAndCompare (-update rewrites the file from a scrape of
// /metrics). The issuer URL and Go version are placeholders in the file.
func TestMetricsGolden(t *testing.T) {
	w := newWorld(t, "")
	testkit.WaitFor(t, "the first JWKS refresh to be counted", func() bool {
		return testutil.ToFloat64(w.gw.metrics.refreshes.WithLabelValues(w.iss.URL(), "scheduled", "success")) == 1
	})
	chat := w.token("chat:completions")
	w.do("POST", "/v1/chat/completions", chat)
	w.do("POST", "/v1/chat/completions", chat)
	w.do("POST", "/v1/chat/completions", "")
	w.do("POST", "/v1/chat/completions", w.token("models:read"))
	w.do("GET", "/nowhere/secret-path", chat)
	w.do("POST", "/v1/images/generations", chat)
	w.do("GET", "/public/x", "")
	w.do("GET", "/v1/broken", chat)
	w.iss.Rotate() // a new kid: the gateway refreshes its keys once to learn it
	w.do("POST", "/v1/chat/completions", w.token("chat:completions"))
	if err := w.gw.Reload(w.gw.Config()); err != nil {
		t.Fatal(err)
	}

	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	path := filepath.Join("testdata", "metrics.golden")
	if *update {
		rec := httptest.NewRecorder()
		w.gw.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		text := keepFamilies(rec.Body.String(), goldenMetrics)
		text = strings.ReplaceAll(text, w.iss.URL(), "ISSUER")
		text = strings.ReplaceAll(text, `goversion="`+goVersion+`"`, `goversion="GOVERSION"`)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	want := strings.ReplaceAll(string(b), "ISSUER", w.iss.URL())
	want = strings.ReplaceAll(want, "GOVERSION", goVersion)
	if err := testutil.GatherAndCompare(w.reg, strings.NewReader(want), goldenMetrics...); err != nil {
		t.Error(err)
	}
	if strings.Contains(string(b), "secret-path") || strings.Contains(string(b), "alice") || strings.Contains(string(b), w.iss.CurrentKID()) {
		t.Error("a raw path, subject or kid is a label value")
	}
	// The config hash is an info metric with exactly one series.
	if n := testutil.CollectAndCount(w.gw.metrics.config); n != 1 {
		t.Errorf("scopegate_config_info has %d series; want 1", n)
	}
}

// keepFamilies keeps the lines of the named metric families of a text
// exposition.
func keepFamilies(text string, names []string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		name := line
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name = rest
		} else if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name = rest
		}
		for _, n := range names {
			if strings.HasPrefix(name, n+" ") || strings.HasPrefix(name, n+"{") ||
				strings.HasPrefix(name, n+"_bucket{") || strings.HasPrefix(name, n+"_sum") || strings.HasPrefix(name, n+"_count") {
				b.WriteString(line)
				break
			}
		}
	}
	return b.String()
}

func TestRegisterRuntime(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := RegisterRuntime(reg); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total"} {
		n, err := testutil.GatherAndCount(reg, name)
		if err != nil || n == 0 {
			t.Errorf("%s: %d series, %v; want it registered", name, n, err)
		}
	}
}
