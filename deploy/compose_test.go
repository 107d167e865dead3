package deploy_test

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type composeService struct {
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Image       string            `yaml:"image"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	ReadOnly    bool              `yaml:"read_only"`
}

// TestCompose checks deploy/compose against its gateway config, the image
// and the Prometheus config: the config loads with the environment the
// service gets and is mounted where the ENTRYPOINT reads it, the published
// ports are the listeners, the upstream and issuer are the mock service's,
// and Prometheus scrapes the admin port with the rules loaded.
func TestCompose(t *testing.T) {
	img := readDockerfile(t)
	docs := yamlDocs(t, "compose/compose.yaml")
	if len(docs) != 1 {
		t.Fatalf("compose.yaml has %d documents; want 1", len(docs))
	}
	var c struct {
		Services map[string]composeService `yaml:"services"`
	}
	convert(t, docs[0], &c)
	gw, mock, prom := c.Services["scopegate"], c.Services["mock"], c.Services["prometheus"]
	if gw.Image == "" || mock.Image == "" || prom.Image == "" {
		t.Fatalf("want services scopegate, mock and prometheus; got %d services", len(c.Services))
	}
	for name, s := range map[string]composeService{"scopegate": gw, "mock": mock} {
		if s.Build == nil || filepath.Join("compose", s.Build.Context, s.Build.Dockerfile) != filepath.Join("..", "deploy", "Dockerfile") {
			t.Errorf("service %s does not build deploy/Dockerfile from the repository root", name)
		}
		if s.Image != gw.Image {
			t.Errorf("service %s image %q; want %q, the gateway's", name, s.Image, gw.Image)
		}
		if !s.ReadOnly {
			t.Errorf("service %s is not read_only: the image must run on a read-only root", name)
		}
	}

	// The gateway's config: mounted at the ENTRYPOINT's path, loads.
	var cfgSource string
	for _, v := range gw.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == img.configPath {
			cfgSource = filepath.Join("compose", parts[0])
		}
	}
	if cfgSource == "" {
		t.Fatalf("no volume of service scopegate is mounted at %s (the ENTRYPOINT's --config)", img.configPath)
	}
	text, err := os.ReadFile(cfgSource)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range envRefs(string(text)) {
		if _, ok := gw.Environment[n]; !ok {
			t.Errorf("the config uses ${%s} but service scopegate has no such environment variable", n)
		}
	}
	cfg := parseConfig(t, cfgSource, string(text), gw.Environment)
	proxyPort, _ := port(t, cfg.Server.Listen)
	adminPort, adminExt := port(t, cfg.Server.AdminListen)
	if !adminExt {
		t.Errorf("admin_listen %q is loopback: Prometheus in another container cannot scrape it", cfg.Server.AdminListen)
	}
	published := map[string]bool{}
	for _, p := range gw.Ports {
		parts := strings.Split(p, ":")
		published[parts[len(parts)-1]] = true
	}
	for _, p := range []int{proxyPort, adminPort} {
		if !published[itoa(p)] {
			t.Errorf("service scopegate publishes %q; want container port %d (the config's listeners)", gw.Ports, p)
		}
	}

	// The upstream and the issuer are the mock service's.
	mockAPI := "http://mock:" + portOf(t, flagValue(mock.Entrypoint, "--listen"))
	for name, u := range cfg.Upstreams {
		if u.URL != mockAPI {
			t.Errorf("upstream %s is %q; want %q, the mock service's --listen", name, u.URL, mockAPI)
		}
	}
	issURL := flagValue(mock.Entrypoint, "--issuer-url")
	if len(cfg.Issuers) != 1 || cfg.Issuers[0].Issuer != issURL {
		t.Fatalf("issuers %+v; want one: %q, the mock's --issuer-url", cfg.Issuers, issURL)
	}
	if u, err := url.Parse(issURL); err != nil || u.Port() != portOf(t, flagValue(mock.Entrypoint, "--issuer-listen")) {
		t.Errorf("--issuer-url %q does not name the port of --issuer-listen", issURL)
	}
	if aud := flagValue(mock.Entrypoint, "--audience"); !slices.Contains(cfg.Issuers[0].Audiences, aud) {
		t.Errorf("the mock's tokens are for audience %q; the config accepts %q", aud, cfg.Issuers[0].Audiences)
	}

	// Prometheus: our scrape config and rules, scraping the admin port.
	mounts := map[string]string{}
	for _, v := range prom.Volumes {
		parts := strings.Split(v, ":")
		mounts[parts[1]] = filepath.Clean(filepath.Join("compose", parts[0]))
	}
	if mounts["/etc/prometheus/prometheus.yml"] != filepath.Join("prometheus", "prometheus.yml") ||
		mounts["/etc/prometheus/rules.yml"] != filepath.Join("prometheus", "rules.yml") {
		t.Errorf("prometheus mounts %v; want deploy/prometheus/prometheus.yml and rules.yml in /etc/prometheus", mounts)
	}
	var pc struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	convert(t, yamlDocs(t, "prometheus/prometheus.yml")[0], &pc)
	if !slices.Equal(pc.RuleFiles, []string{"rules.yml"}) {
		t.Errorf("prometheus.yml rule_files %q; want [rules.yml]", pc.RuleFiles)
	}
	if len(pc.ScrapeConfigs) != 1 || pc.ScrapeConfigs[0].JobName != "scopegate" || pc.ScrapeConfigs[0].MetricsPath != "/metrics" ||
		len(pc.ScrapeConfigs[0].StaticConfigs) != 1 ||
		!slices.Equal(pc.ScrapeConfigs[0].StaticConfigs[0].Targets, []string{"scopegate:" + itoa(adminPort)}) {
		t.Errorf("prometheus.yml scrape configs %+v; want job scopegate scraping scopegate:%d/metrics", pc.ScrapeConfigs, adminPort)
	}
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	p, _ := port(t, addr)
	return itoa(p)
}
