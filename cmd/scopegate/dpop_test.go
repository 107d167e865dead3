package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/demo"
)

// TestMain lets the test binary stand in for scopegate in the commands
// the tests paste into bash (through a "scopegate" symlink to it).
func TestMain(m *testing.M) {
	if os.Getenv("SCOPEGATE_TEST_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// asScopegate returns the environment under which "scopegate" in a bash
// command runs this test binary.
func asScopegate(t *testing.T) []string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(self, filepath.Join(dir, "scopegate")); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "SCOPEGATE_TEST_AS_MAIN=1")
}

// TestTokenDPoP runs the demo, mints a DPoP-bound token with
// `scopegate token --dpop`, and pastes the request it prints into bash:
// it works each time (a fresh proof each run); the token alone, as Bearer
// or with a used proof, is refused.
func TestTokenDPoP(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *demo.Demo, 1)
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Options{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", Ready: func(d *demo.Demo) { ready <- d }})
	}()
	var d *demo.Demo
	select {
	case d = <-ready:
	case err := <-done:
		t.Fatalf("demo stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not become ready")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo Run: %v", err)
		}
	}()
	var out, errOut bytes.Buffer
	if code := run([]string{"token", "--dpop", "--scope", "models:read"}, &out, &errOut); code != 0 {
		t.Fatalf("token --dpop: exit %d: %s", code, errOut.String())
	}
	tok := strings.TrimSpace(out.String())
	script := regexp.MustCompile(`(?ms)^TOKEN=.*?\n\n`).FindString(errOut.String())
	if script == "" || !strings.Contains(script, "TOKEN="+tok) {
		t.Fatalf("no request printed for the token:\n%s", errOut.String())
	}
	env := asScopegate(t)
	bash := func(s string) string {
		t.Helper()
		cmd := exec.Command("bash", "-c", strings.Replace(s, "curl ", "curl -s -S -i --max-time 20 ", -1))
		cmd.Env = env
		got, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, got)
		}
		return string(got)
	}
	for i := range 2 {
		if got := bash(script); !strings.HasPrefix(got, "HTTP/1.1 200") {
			t.Fatalf("run %d of the printed request:\n%s", i+1, got)
		}
	}
	// The same proof twice: the second is a replay.
	fixed := `TOKEN=` + tok + `
P=$(scopegate dpop-proof --key "$XDG_RUNTIME_DIR/scopegate-demo/dpop-key.pem" --method GET --url ` + d.ProxyURL + `/v1/models --token "$TOKEN")
curl ` + d.ProxyURL + `/v1/models -H "Authorization: DPoP $TOKEN" -H "DPoP: $P" -o /dev/null
curl ` + d.ProxyURL + `/v1/models -H "Authorization: DPoP $TOKEN" -H "DPoP: $P"`
	if got := bash(fixed); !strings.Contains(got, "HTTP/1.1 401") || !strings.Contains(got, `error="invalid_dpop_proof"`) {
		t.Fatalf("a replayed proof:\n%s", got)
	}
	if got := bash(`curl ` + d.ProxyURL + `/v1/models -H "Authorization: Bearer ` + tok + `"`); !strings.HasPrefix(got, "HTTP/1.1 401") {
		t.Fatalf("the DPoP-bound token as Bearer:\n%s", got)
	}
}

func TestDPoPProofRefusals(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"dpop-proof", "--url", "http://127.0.0.1/x"}, &out, &errOut); code != 2 {
		t.Fatalf("no key: exit %d", code)
	}
	if code := run([]string{"dpop-proof", "--key", filepath.Join(t.TempDir(), "none.pem"), "--url", "http://127.0.0.1/x"}, &out, &errOut); code != 1 {
		t.Fatalf("missing key file: exit %d", code)
	}
	if out.Len() != 0 {
		t.Fatalf("stdout %q", out.String())
	}
}
