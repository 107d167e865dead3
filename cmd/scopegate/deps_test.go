package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryLinksNoTestCode: the scopegate binary carries no test support
// (httptest servers and recorders, the testing package, the project's own
// test helpers) and no net/http/pprof, whose import alone registers
// handlers on the default mux.
func TestBinaryLinksNoTestCode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/scopegate/scopegate/cmd/scopegate").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := map[string]bool{
		"net/http/httptest": true, "testing": true, "net/http/pprof": true,
		"github.com/scopegate/scopegate/internal/testkit":   true,
		"github.com/scopegate/scopegate/internal/redistest": true,
	}
	for _, p := range strings.Fields(string(out)) {
		if forbidden[p] || strings.HasSuffix(p, "/testutil") || strings.Contains(p, "zaptest") {
			t.Errorf("the binary links %s", p)
		}
	}
}
