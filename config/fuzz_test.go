package config

import (
	"errors"
	"strings"
	"testing"
)

// Seed corpora live under testdata/fuzz/<Name>, so that plain `go test`
// replays them; `make fuzz` (FUZZTIME each) searches further.

// FuzzParseConfig: Parse never panics; a refused config is reported as
// Problems (or a YAML syntax / document error), and an accepted one is
// valid, has its defaults and compiles.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("server:\n  tls:\n    cert_file: x\n" + minimal))
	f.Add([]byte("routes:\n  - name: a\n    path: /a\n    upstream: m\n    max_body_bytes: -1\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("server: {listen: ${NOPE}}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 16<<10 {
			return
		}
		cfg, err := Parse(b, func(k string) (string, bool) { return "v-" + k, k != "NOPE" })
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned with an error")
			}
			var ps Problems
			if errors.As(err, &ps) {
				if len(ps) == 0 {
					t.Fatal("empty Problems")
				}
				return
			}
			msg := err.Error()
			if msg != "config is empty" && msg != "config holds more than one YAML document" &&
				!strings.HasPrefix(msg, "parsing config: ") && !strings.HasPrefix(msg, "decoding config: ") {
				t.Fatalf("error is neither Problems nor a YAML error: %v", err)
			}
			return
		}
		if again, err := Compile(cfg.Config); err != nil || again.Hash != cfg.Hash {
			t.Fatalf("an accepted config does not compile again to the same: %v", err)
		}
		if cfg.Server.MaxHeaderBytes < 1024 || cfg.Server.MaxBodyBytes <= 0 || cfg.Server.ReadHeaderTimeout <= 0 {
			t.Fatalf("accepted config without its limits: %+v", cfg.Server)
		}
		if cfg.Table == nil || len(cfg.Table.Routes()) != len(cfg.Routes) {
			t.Fatal("an accepted config without its route table")
		}
	})
}
