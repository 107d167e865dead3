package demo

import (
	"os"
	"testing"
)

// TestMain keeps every test's demo state out of the user's own: a test
// must never overwrite or remove the state of a demo the user is running
// (`make test` beside `make demo`).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scopegate-demo-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_RUNTIME_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
