package e2e

import (
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestConformCheckCommand checks CONTRACT "Command line": `check` refuses
// each kind of bad config with a non-zero exit naming the key and its
// line, and accepts what the contract allows. TestCheckCommand has the
// first case of each kind; these are the ones it leaves out (the JWKS URL,
// allow_insecure_http, loopback spellings, nested unknown keys, a duplicate
// method+path, and the line of every refusal).
func TestConformCheckCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	good := e.config(cfg{})
	issLine := `  - issuer: "` + e.iss.URL() + `"`
	withIssuer := func(lines string) string { return strings.Replace(good, issLine, issLine+"\n"+lines, 1) }
	withUpstream := func(lines string) string {
		u := `    url: "` + e.apiSrv.URL + `"`
		return strings.Replace(good, u, u+"\n"+lines, 1)
	}
	for _, tc := range []struct {
		rule   string
		text   string
		ok     bool
		key    string // named in the output
		lineAt string // the output names the line holding this text
	}{
		{"CONTRACT http:// JWKS URL not loopback", withIssuer(`    jwks_uri: "http://idp.example.com/jwks"`), false, "jwks_uri", "jwks_uri: \"http://idp.example.com"},
		{"CONTRACT http:// issuer, a loopback look-alike", strings.Replace(good, e.iss.URL(), "http://127.0.0.1.evil.example", 1), false, "issuer", "http://127.0.0.1.evil.example"},
		{"CONTRACT http:// issuer, a localhost look-alike", strings.Replace(good, e.iss.URL(), "http://localhost.evil.example", 1), false, "issuer", "http://localhost.evil.example"},
		{"CONTRACT allow_insecure_http: true", strings.Replace(good, issLine, `  - issuer: "http://idp.example.com"`+"\n    allow_insecure_http: true", 1), true, "", ""},
		{"CONTRACT http:// on loopback: localhost", strings.Replace(good, e.iss.URL(), "http://localhost:1", 1), true, "", ""},
		{"CONTRACT http:// on loopback: [::1]", strings.Replace(good, e.iss.URL(), "http://[::1]:1", 1), true, "", ""},
		{"CONTRACT http:// on loopback: JWKS", withIssuer(`    jwks_uri: "http://127.0.0.1:1/jwks"`), true, "", ""},
		{"CONTRACT issuer without audiences: line", strings.Replace(good, "    audiences: [\""+audience+"\"]\n", "", 1), false, "audiences", issLine},
		{"CONTRACT issuer with empty audiences", strings.Replace(good, "    audiences: [\""+audience+"\"]", "    audiences: []", 1), false, "audiences", "audiences: []"},
		{"CONTRACT duplicate route name: line", good + "  - name: models\n    path: /v1/other\n    upstream: models\n    scopes: [x]\n", false, "name", "  - name: models\n    path: /v1/other"},
		{"CONTRACT duplicate route: same method and path", good + "  - name: models2\n    methods: [GET]\n    path: /v1/models\n    upstream: models\n    scopes: [x]\n", false, "path", "    path: /v1/models\n    upstream: models\n    scopes: [x]"},
		{"CONTRACT unknown key in a route", strings.Replace(good, "    public: true", "    public: true\n    publik: true", 1), false, "publik", "publik: true"},
		{"CONTRACT unknown key in an upstream", withUpstream("    forward_authorisation: true"), false, "forward_authorisation", "forward_authorisation"},
		{"CONTRACT unparsable duration in an upstream", withUpstream("    timeout: 5 minutes"), false, "timeout", "timeout: 5 minutes"},
		{"CONTRACT unknown top-level key", good + "rotues: []\n", false, "rotues", "rotues"},
		{"CONTRACT algorithms: never none", withIssuer("    algorithms: [none]"), false, "algorithms", "algorithms: [none]"},
		{"CONTRACT algorithms: asymmetric only", withIssuer("    algorithms: [HS256]"), false, "algorithms", "algorithms: [HS256]"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			if tc.text == good {
				t.Fatal("test case did not change the config")
			}
			code, out, errOut := runCheck(t, writeConfig(t, tc.text))
			all := out + errOut
			if tc.ok {
				if code != 0 {
					t.Fatalf("check exit %d; want 0\n%s", code, all)
				}
				return
			}
			if code == 0 {
				t.Fatalf("check exit 0; want non-zero\n%s", all)
			}
			if !strings.Contains(all, tc.key) {
				t.Errorf("output does not name %q:\n%s", tc.key, all)
			}
			if tc.lineAt != "" {
				n := lineOfBlock(tc.text, tc.lineAt)
				if n == 0 {
					t.Fatalf("test case: %q not in the config", tc.lineAt)
				}
				if !regexp.MustCompile(`\bline ` + strconv.Itoa(n) + `\b`).MatchString(all) {
					t.Errorf("output does not name line %d (%q):\n%s", n, strings.TrimSpace(tc.lineAt), all)
				}
			}
		})
	}
	// serve refuses an http:// issuer that is not loopback, naming it.
	bad := writeConfig(t, strings.Replace(good, e.iss.URL(), "http://idp.example.com", 1))
	out, err := exec.Command(binPath, "serve", "--config", bad).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Errorf("serve with an http:// issuer: %v; want a non-zero exit\n%s", err, out)
	} else if !strings.Contains(string(out), "issuers[0].issuer") {
		t.Errorf("serve does not name issuers[0].issuer:\n%s", out)
	}
}

// lineOfBlock is the 1-based line where block (one or more lines) starts
// in text; for a block found several times, the last occurrence.
func lineOfBlock(text, block string) int {
	i := strings.LastIndex(text, block)
	if i < 0 {
		return 0
	}
	return strings.Count(text[:i], "\n") + 1
}

// TestConformVersion checks CONTRACT "Command line": `scopegate version`
// exits 0 and says what it is; an unknown subcommand exits non-zero.
func TestConformVersion(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(binPath, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "scopegate") {
		t.Errorf("scopegate version: %v, output %q; want exit 0 naming scopegate", err, out)
	}
	out, err = exec.Command(binPath, "frobnicate").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Errorf("scopegate frobnicate: %v; want a non-zero exit (output %q)", err, out)
	}
}

// TestConformDefaultConfigPath checks CONTRACT "Command line": without
// --config, check reads ./config.yaml.
func TestConformDefaultConfigPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	dir := filepath.Dir(writeConfig(t, e.config(cfg{})))
	cmd := exec.Command(binPath, "check")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "/v1/models") {
		t.Errorf("check in a directory with config.yaml: %v\n%s", err, out)
	}
	cmd = exec.Command(binPath, "check")
	cmd.Dir = t.TempDir()
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("check without ./config.yaml: exit 0; want non-zero\n%s", out)
	}
}
