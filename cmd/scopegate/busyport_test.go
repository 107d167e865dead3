package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBusyPortSaysWhatToChange: a port in use names the flag or key that
// moves the listener.
func TestBusyPortSaysWhatToChange(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()

	var out, errb bytes.Buffer
	if code := run([]string{"demo", "--listen", busy, "--admin", "127.0.0.1:0"}, &out, &errb); code != 1 {
		t.Fatalf("demo on a busy port: exit %d; want 1 (stderr %s)", code, errb.String())
	}
	if !strings.Contains(errb.String(), "--listen") || !strings.Contains(errb.String(), busy) {
		t.Errorf("demo stderr %q; want it to name %s and --listen", errb.String(), busy)
	}

	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte(`server:
  listen: "`+busy+`"
  admin_listen: "127.0.0.1:0"
upstreams:
  models: {url: "http://127.0.0.1:1"}
routes:
  - {name: status, path: "/public/{rest...}", upstream: models, public: true}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"serve", "--config", cfg}, &out, &errb); code != 1 {
		t.Fatalf("serve on a busy port: exit %d; want 1", code)
	}
	if !strings.Contains(out.String()+errb.String(), "set server.listen to a free address") {
		t.Errorf("serve output %q %q; want it to name server.listen", out.String(), errb.String())
	}
}

// TestCheckWarnsOfDoubledPrefix: an upstream url ending in /v1 beside
// routes that start with /v1 forwards /v1/v1/...: check warns, exit 0.
func TestCheckWarnsOfDoubledPrefix(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte(`upstreams:
  openai: {url: "https://api.openai.example/v1"}
  plain: {url: "http://127.0.0.1:8000"}
routes:
  - {name: chat, path: /v1/chat/completions, upstream: openai, public: true}
  - {name: models, path: /v1/models, upstream: plain, public: true}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"check", "--config", cfg}, &out, &errb); code != 0 {
		t.Fatalf("check: exit %d; want 0 (%s)", code, errb.String())
	}
	if !strings.Contains(errb.String(), `warning: upstreams.openai.url ends in "/v1"`) || strings.Contains(errb.String(), "upstreams.plain") {
		t.Errorf("check stderr %q; want one warning, for upstreams.openai", errb.String())
	}
}
