package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/config"
	"go.yaml.in/yaml/v3"
)

// image is what the tests read from deploy/Dockerfile.
type image struct {
	entrypoint []string
	configPath string // the value of --config in the ENTRYPOINT
	expose     map[int]bool
	user       string
}

func readDockerfile(t *testing.T) image {
	t.Helper()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	img := image{expose: map[int]bool{}}
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "ENTRYPOINT "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "ENTRYPOINT ")), &img.entrypoint); err != nil {
				t.Fatalf("Dockerfile: ENTRYPOINT is not a JSON array: %v", err)
			}
		case strings.HasPrefix(line, "EXPOSE "):
			for _, f := range strings.Fields(strings.TrimPrefix(line, "EXPOSE ")) {
				p, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("Dockerfile: EXPOSE %q", f)
				}
				img.expose[p] = true
			}
		case strings.HasPrefix(line, "USER "):
			img.user = strings.TrimPrefix(line, "USER ")
		}
	}
	for i, a := range img.entrypoint {
		if a == "--config" && i+1 < len(img.entrypoint) {
			img.configPath = img.entrypoint[i+1]
		}
	}
	if img.configPath == "" {
		t.Fatalf("Dockerfile: ENTRYPOINT %q has no --config PATH", img.entrypoint)
	}
	return img
}

func TestDockerfile(t *testing.T) {
	img := readDockerfile(t)
	if want := []string{"/scopegate", "serve", "--config", "/etc/scopegate/config.yaml"}; strings.Join(img.entrypoint, " ") != strings.Join(want, " ") {
		t.Errorf("ENTRYPOINT %q; want %q (docs/operations.md documents it)", img.entrypoint, want)
	}
	if !img.expose[8080] || !img.expose[9090] {
		t.Errorf("EXPOSE %v; want 8080 and 9090", img.expose)
	}
	if !strings.HasPrefix(img.user, "nonroot") {
		t.Errorf("USER %q; want nonroot", img.user)
	}
	b, _ := os.ReadFile("Dockerfile")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "-X main.commit=", "gcr.io/distroless/static-debian12:nonroot"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// yamlDocs decodes every document of a multi-document YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	return docs
}

// convert re-decodes a generic YAML value into a typed one.
func convert(t *testing.T, in, out any) {
	t.Helper()
	b, err := yaml.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

var reEnvRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// envRefs returns the ${NAME} references of a config text.
func envRefs(text string) []string {
	var names []string
	for _, m := range reEnvRef.FindAllStringSubmatch(text, -1) {
		names = append(names, m[1])
	}
	return names
}

// parseConfig runs config.Parse on a config with the given environment.
func parseConfig(t *testing.T, where, text string, env map[string]string) *config.Compiled {
	t.Helper()
	cfg, err := config.Parse([]byte(text), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("%s: the config does not load: %v", where, err)
	}
	return cfg
}

// port returns the port of a host:port address, and whether its host is
// reachable from outside the container (not loopback).
func port(t *testing.T, addr string) (int, bool) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	return n, !loopback
}

func itoa(n int) string { return strconv.Itoa(n) }
