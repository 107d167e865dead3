package deploy_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobody is the uid and gid the binary runs under when the test runs as
// root (the image itself uses distroless's nonroot, 65532).
const nobody = 65534

// TestStaticBinary builds the binary the way deploy/Dockerfile does and
// checks what the image relies on: it is statically linked (it runs on
// distroless/static), it holds no build path (-trimpath), the version is
// stamped, and it runs as a non-root user from a read-only directory,
// serving /healthz and exiting 0 on SIGTERM.
func TestStaticBinary(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the image is linux; this test reads ELF")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "scopegate-static-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o755); _ = os.RemoveAll(dir) })
	bin := filepath.Join(dir, "scopegate")
	build := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version=v9.8.7-test -X main.commit=c0ffee1",
		"-o", bin, "./cmd/scopegate")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	t.Run("statically linked", func(t *testing.T) {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("the binary has a PT_INTERP program header: it needs a dynamic loader")
			}
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			t.Fatal(err)
		}
		if len(libs) > 0 {
			t.Errorf("the binary needs shared libraries %q", libs)
		}
	})
	t.Run("trimpath", func(t *testing.T) {
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(root+"/")) {
			t.Errorf("the binary contains the build path %s: build with -trimpath", root)
		}
	})

	// The config lives in the same read-only directory: a config of
	// public routes only needs no issuer.
	cfg := `server:
  listen: "127.0.0.1:0"
  admin_listen: "localhost:0"
  drain_timeout: 5s
upstreams:
  models: {url: "http://127.0.0.1:9"}
routes:
  - {name: status, methods: [GET], path: "/public/{rest...}", upstream: models, public: true}
`
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o444); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bin, dir} {
		if err := os.Chmod(p, 0o555); err != nil {
			t.Fatal(err)
		}
	}
	asNonRoot := func(cmd *exec.Cmd) {
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/usr/bin:/bin"} // no HOME, no TMPDIR: nothing to write to
		if os.Getuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		}
	}
	if os.Getuid() != 0 {
		t.Logf("not root: running the binary as uid %d (already non-root)", os.Getuid())
	}

	t.Run("version as non-root", func(t *testing.T) {
		cmd := exec.Command(bin, "version")
		asNonRoot(cmd)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("scopegate version: %v\n%s", err, out)
		}
		want := regexp.MustCompile(`^scopegate v9\.8\.7-test \(commit c0ffee1, go1\.\d+[^)]*\)\n$`)
		if !want.Match(out) {
			t.Errorf("scopegate version printed %q; want it to match %s", out, want)
		}
	})

	t.Run("serve as non-root from a read-only directory", func(t *testing.T) {
		if os.Getuid() == 0 {
			probe := exec.Command("/bin/sh", "-c", "touch probe")
			asNonRoot(probe)
			if probe.Run() == nil {
				t.Fatal("the non-root user could write to the directory: the test would prove nothing")
			}
		}
		cmd := exec.Command(bin, "serve", "--config", "config.yaml")
		asNonRoot(cmd)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		admin := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var rec struct{ Msg, Admin string }
				if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
					admin <- rec.Admin
				}
			}
			_, _ = io.Copy(io.Discard, stdout)
			done <- cmd.Wait()
		}()
		var addr string
		select {
		case addr = <-admin:
		case err := <-done:
			t.Fatalf("scopegate serve exited early: %v\n%s", err, stderr.String())
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("scopegate serve did not log \"listening\" within 60s\n%s", stderr.String())
		}
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"ok"`) {
			t.Errorf("GET /healthz: %d %s; want 200 {\"status\":\"ok\"}", resp.StatusCode, body)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("scopegate serve after SIGTERM: %v; want exit 0\n%s", err, stderr.String())
			}
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("scopegate serve did not exit within 60s of SIGTERM")
		}
	})
}
