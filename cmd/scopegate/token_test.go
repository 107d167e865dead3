package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestTokenRefusals(t *testing.T) {
	for _, c := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"real_config", []string{"token", "--config", "config.yaml", "--scope", "chat:completions"}, 2,
			"scopegate token only mints tokens for the demo issuer"},
		{"no_demo", []string{"token", "--scope", "chat:completions"}, 1, "no scopegate demo is running"},
		{"bad_ttl", []string{"token", "--ttl", "-1s"}, 2, "--ttl must be positive"},
		{"stray_argument", []string{"token", "chat:completions"}, 2, "unexpected argument"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("XDG_RUNTIME_DIR", t.TempDir()) // no demo state here
			var out, errOut bytes.Buffer
			if code := run(c.args, &out, &errOut); code != c.wantCode {
				t.Errorf("exit %d; want %d (stderr %q)", code, c.wantCode, errOut.String())
			}
			if !strings.Contains(errOut.String(), c.wantErr) {
				t.Errorf("stderr %q; want it to say %q", errOut.String(), c.wantErr)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q; want nothing", out.String())
			}
		})
	}
}
