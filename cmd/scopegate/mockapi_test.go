package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestMockAPICommandErrors covers what the hidden mockapi command does
// with bad arguments; the serving itself is tested in internal/demo.
func TestMockAPICommandErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"unknown flag", []string{"mockapi", "--nope"}, 2, "flag provided but not defined"},
		{"unusable listener", []string{"mockapi", "--listen", "not-an-address"}, 1, "scopegate mockapi:"},
		{"unusable issuer listener", []string{"mockapi", "--listen", "127.0.0.1:0", "--issuer-listen", "nowhere"}, 1, "scopegate mockapi:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("exit code %d; want %d (stderr %q)", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.inStderr) {
				t.Errorf("stderr %q; want it to contain %q", stderr.String(), tc.inStderr)
			}
		})
	}
	var stdout, stderr bytes.Buffer
	run([]string{"help"}, &stdout, &stderr)
	if strings.Contains(stdout.String(), "mockapi") {
		t.Error("help lists mockapi; it is hidden (for local trials only)")
	}
}
