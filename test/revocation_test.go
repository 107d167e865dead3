package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/redistest"
	"github.com/scopegate/scopegate/internal/testkit"
)

const e2eAdminToken = "e2e-admin-token-0123456789abcdef0123456789"

// revokeCLI runs `scopegate revoke args...` with the admin token in its
// environment (adminToken "" leaves it unset), stdin as its input.
func revokeCLI(t *testing.T, adminToken, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"revoke"}, args...)...)
	cmd.Env = append(os.Environ(), "SCOPEGATE_ADMIN_TOKEN="+adminToken)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestRevocationAcrossProcesses: two gateway processes share one
// redis-server. A token revoked with `scopegate revoke` through the first
// one's admin API is refused by the second; Redis killed and restarted
// under load costs no gateway restart; a restarted gateway still refuses
// the revoked token.
func TestRevocationAcrossProcesses(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t, envOptions{})
	text := e.config(cfg{}) + `
admin:
  token: "` + e2eAdminToken + `"
state:
  redis:
    url: "` + srv.URL() + `"
    dial_timeout: 2s
    read_timeout: 2s
    write_timeout: 2s
revocation:
  resync_interval: 200ms
  store_timeout: 2s   # generous: a restarted gateway's first sync must not time out on a loaded machine
`
	path := writeConfig(t, text)
	a, b := start(t, e, path), start(t, e, path)
	for _, p := range []*proc{a, b} {
		if !p.waitReady(10 * time.Second) {
			t.Fatal("not ready")
		}
	}
	tok := e.token("chat:completions")
	chat := func(p *proc, tok string) response {
		return p.do("POST", "/v1/chat/completions", tok, []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
	}
	for _, p := range []*proc{a, b} {
		if r := chat(p, tok); r.StatusCode != 200 {
			t.Fatalf("before revocation: %d %s", r.StatusCode, r.body)
		}
	}

	if out, code := revokeCLI(t, "", "", "--admin", a.admin, "sub", "alice"); code != 2 || !strings.Contains(out, "SCOPEGATE_ADMIN_TOKEN") {
		t.Fatalf("revoke without the admin token: exit %d %q; want 2 naming the variable", code, out)
	}
	if out, code := revokeCLI(t, "wrong-wrong-wrong-wrong-wrong-wrong-wrong", "", "--admin", a.admin, "sub", "alice"); code != 1 || !strings.Contains(out, "401") {
		t.Fatalf("revoke with a wrong admin token: exit %d %q; want 1 and 401", code, out)
	}
	out, code := revokeCLI(t, e2eAdminToken, tok, "--admin", a.admin, "--by", "oncall", "token", "-")
	if code != 0 {
		t.Fatalf("revoke token: exit %d: %s", code, out)
	}
	var entry struct {
		ID        string `json:"id"`
		Kind      string `json:"kind"`
		RevokedBy string `json:"revoked_by"`
	}
	if err := json.Unmarshal([]byte(out), &entry); err != nil || entry.Kind != "jti" || entry.RevokedBy != "oncall" {
		t.Fatalf("revoke printed %q; want the jti entry", out)
	}
	if !testkit.Wait(10*time.Second, func() bool { return chat(b, tok).StatusCode == 401 }) {
		t.Fatal("the other gateway still serves the revoked token")
	}
	r := chat(b, tok)
	wantError(t, r, 401, "invalid_token")
	if rec := b.audit(r.id()); rec.Reason != "token_revoked" || !strings.Contains(rec.Detail, "revoked by oncall") {
		t.Fatalf("audit record %v; want reason token_revoked naming who revoked", rec)
	}

	// Redis killed mid-load: fail_open (the default) keeps serving the
	// others, the revoked token stays refused from the local mirror.
	other := e.spec(issuer.AccessTokenSpec{Subject: "bob", ClientID: "cli", Scopes: []string{"chat:completions"}})
	srv.Kill()
	for range 20 {
		if r := chat(a, other); r.StatusCode != 200 {
			t.Fatalf("redis down, fail_open: %d %s", r.StatusCode, r.body)
		}
		wantError(t, chat(b, tok), 401, "invalid_token")
	}
	srv.Restart()
	// The admin API answers 503 (nothing changed) until the client has
	// reconnected; no gateway restart.
	var lastOut string
	if !testkit.Wait(10*time.Second, func() bool {
		var code int
		lastOut, code = revokeCLI(t, e2eAdminToken, "", "--admin", b.admin, "sub", "bob")
		return code == 0
	}) {
		t.Fatalf("revoke sub after the Redis restart: %s", lastOut)
	}
	if !testkit.Wait(10*time.Second, func() bool { return chat(a, other).StatusCode == 401 }) {
		t.Fatal("gateway a never saw the revocation made after the Redis restart")
	}
	out, code = revokeCLI(t, e2eAdminToken, "", "--admin", a.admin, "list")
	if code != 0 || strings.Count(out, `"id"`) != 2 {
		t.Fatalf("list: exit %d %s; want 2 entries", code, out)
	}

	// A restarted gateway refuses the revoked token from its first request.
	a.stop()
	a2 := start(t, e, path)
	if !a2.waitReady(10 * time.Second) {
		t.Fatal("restarted gateway not ready")
	}
	wantError(t, chat(a2, tok), 401, "invalid_token")

	if out, code := revokeCLI(t, e2eAdminToken, "", "--admin", a2.admin, "lift", entry.ID); code != 0 {
		t.Fatalf("lift: exit %d %s", code, out)
	}
	if !testkit.Wait(10*time.Second, func() bool { return chat(b, tok).StatusCode == 200 }) {
		t.Fatal("the lifted token is still refused by the other gateway")
	}
}
