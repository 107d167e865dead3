package gateway

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/policy"
)

// Seed corpora live under testdata/fuzz/<Name>, so that plain `go test`
// replays them; `make fuzz` (FUZZTIME each) searches further.

// FuzzParseBearer: parseBearer never accepts anything but one RFC 6750
// b64token after a case-insensitive "Bearer ", and fails only with its
// sentinel errors.
func FuzzParseBearer(f *testing.F) {
	f.Add("Bearer abc.def.ghi")
	f.Add("bearer  abc==")
	f.Add("Bearer a, Bearer b")
	f.Add("Bearer\tabc")
	f.Add("BearerX abc")
	f.Add("Basic dXNlcjpwYXNz")
	f.Fuzz(func(t *testing.T, v string) {
		tok, err := parseBearer(v)
		if err != nil {
			if tok != "" {
				t.Fatalf("token %q with error %v", tok, err)
			}
			if !errors.Is(err, errNoBearer) && !errors.Is(err, errEmptyBearer) && !errors.Is(err, errTwoAuthHeaders) && !errors.Is(err, errBadBearer) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !isB64Token(tok) || strings.ContainsAny(tok, " \t,") {
			t.Fatalf("accepted %q, not a b64token", tok)
		}
		trimmed := strings.TrimLeft(v, " \t")
		if !strings.EqualFold(trimmed[:7], "bearer ") || strings.Trim(trimmed[7:], " \t") != tok {
			t.Fatalf("parseBearer(%q) = %q: not the credential of the Bearer scheme", v, tok)
		}
		// The same value twice is always refused as two credentials.
		if _, err := bearerToken(http.Header{"Authorization": {v, v}}); !errors.Is(err, errTwoAuthHeaders) {
			t.Fatalf("two headers: %v", err)
		}
	})
}

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
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted config fails Validate: %v", err)
		}
		if cfg.Server.MaxHeaderBytes < 1024 || cfg.Server.MaxBodyBytes <= 0 || cfg.Server.ReadHeaderTimeout <= 0 {
			t.Fatalf("accepted config without its limits: %+v", cfg.Server)
		}
		if _, err := policy.Compile(cfg.Routes, nil); err != nil {
			t.Fatalf("accepted routes do not compile: %v", err)
		}
	})
}
