// Package interop proves scopegate against independently written software:
// real authorization servers (Ory Hydra, panva's oidc-provider) issuing
// tokens through real OAuth 2.0 flows; the official OpenAI Go SDK as a
// client; the official MCP Go SDK as client (with its own OAuth support)
// and server (mcp_test.go). It is a separate Go module, so that Hydra's
// large dependency graph never reaches scopegate's own go.mod.
//
// TestMain builds the scopegate binary from the root module, and Hydra
// (github.com/ory/hydra/v2, a tool of this module) once into .cache/bin,
// reused on later runs. The oidc-provider tests need node and the npm
// packages of oidc-provider/ (installed with `npm ci` when missing).
package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// hydraVersion is the Hydra the tests build; it must match go.mod's tool.
const hydraVersion = "v2.3.0"

var (
	// scopegateBin is the scopegate binary built by TestMain.
	scopegateBin string
	// hydraBin is the cached Hydra binary; "" if it could not be built.
	hydraBin string
	// hydraErr says why Hydra is not available.
	hydraErr error
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "scopegate-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	scopegateBin = filepath.Join(dir, "scopegate")
	cmd := exec.Command("go", "build", "-o", scopegateBin, "./cmd/scopegate")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building scopegate: %v\n%s", err, out)
		return 1
	}
	hydraBin, hydraErr = buildHydra()
	return m.Run()
}

// buildHydra builds Hydra into .cache/bin/hydra-<version> unless it is
// there already. SQLite support (for DSN=memory) needs cgo and the sqlite
// build tags, as Hydra's own Makefile builds it.
func buildHydra() (string, error) {
	abs, err := filepath.Abs(filepath.Join(".cache", "bin", "hydra-"+hydraVersion))
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(abs); err == nil && fi.Mode().IsRegular() {
		return abs, nil
	}
	start := time.Now()
	tmp := abs + ".tmp"
	cmd := exec.Command("go", "build", "-tags", "sqlite,sqlite_omit_load_extension", "-o", tmp, "github.com/ory/hydra/v2")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building hydra: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, abs); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "built hydra %s in %s\n", hydraVersion, time.Since(start).Round(time.Second))
	return abs, nil
}
