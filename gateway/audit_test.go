package gateway

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/testkit"
)

const validTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestAuditGolden fixes the audit record schema: one record of each kind,
// under a fixed clock and fixed request ids, against
// testdata/audit_records.golden (go test -run TestAuditGolden -update
// rewrites it; review the diff: a changed field is a schema change).
func TestAuditGolden(t *testing.T) {
	w := newWorld(t, "")
	delegated := w.iss.AccessToken(issuer.AccessTokenSpec{
		Subject: "alice", ClientID: "cli", Audience: []string{testAudience}, Scopes: []string{"chat:completions"},
		Extra: map[string]any{"jti": "jti-delegated"},
		Act: map[string]any{"sub": "agent-7", "client_id": "agent-app",
			"act": map[string]any{"sub": "orchestrator", "client_id": "orch"}},
	})
	chat := w.token("chat:completions")
	reads := w.token("models:read")
	expired := w.iss.AccessToken(issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli", Audience: []string{testAudience},
		Scopes: []string{"chat:completions"}, TTL: -time.Hour})

	steps := []struct {
		id, method, target, tok string
		hdr                     []string
		status                  int
	}{
		{"req-allow-delegated", "POST", "/v1/chat/completions", delegated, []string{"Traceparent", validTraceparent}, 200},
		{"req-allow", "GET", "/v1/models/gpt-4o", reads, nil, 200},
		{"req-public", "GET", "/public/health", "", nil, 200},
		{"req-no-token", "POST", "/v1/chat/completions", "", nil, 401},
		{"req-expired", "POST", "/v1/chat/completions", expired, nil, 401},
		{"req-scope", "POST", "/v1/chat/completions", reads, []string{"Traceparent", "00-BAD"}, 403},
		{"req-no-route", "GET", "/v1/files", chat, nil, 404},
		{"req-bad-path", "GET", "/v1/%2e%2e/models/x", chat, nil, 400},
		{"req-shadow", "POST", "/v1/images/generations", chat, nil, 200},
	}
	for _, s := range steps {
		rec := w.do(s.method, s.target, s.tok, append([]string{"X-Request-Id", s.id}, s.hdr...)...)
		if rec.Code != s.status {
			t.Errorf("%s: status %d; want %d (%s)", s.id, rec.Code, s.status, rec.Body)
		}
		if got := rec.Header().Get("X-Request-Id"); got != s.id {
			t.Errorf("%s: X-Request-Id %q; want it echoed", s.id, got)
		}
	}
	got := strings.ReplaceAll(w.audit.String(), w.iss.URL(), "http://issuer.test")
	// The config names the test's ephemeral ports: its hash is the running
	// gateway's, checked here, then fixed for the golden file.
	hash := w.gw.runtime.Load().cfg.Hash
	if n := strings.Count(got, `"config_hash":"`+hash+`"`); n != len(steps) {
		t.Errorf("%d records carry config_hash %s; want all %d", n, hash, len(steps))
	}
	got = strings.ReplaceAll(got, hash, "0123456789abcdef")
	golden(t, "audit_records.golden", got)
	for _, tok := range []string{delegated, chat, reads, expired} {
		assertNoToken(t, w.audit.String(), tok)
	}
}

// assertNoToken fails if text holds the token or any of its segments.
func assertNoToken(t *testing.T, text, tok string) {
	t.Helper()
	for i, part := range append([]string{tok}, strings.Split(tok, ".")...) {
		if len(part) >= 8 && strings.Contains(text, part) {
			t.Errorf("the audit output holds part %d of a token (%.12s...)", i, part)
		}
	}
}

func TestAuditRecordFields(t *testing.T) {
	w := newWorld(t, "")
	tok := w.iss.AccessToken(issuer.AccessTokenSpec{
		Subject: "alice", ClientID: "cli", Audience: []string{testAudience}, Scopes: []string{"chat:completions"},
		Act: map[string]any{"sub": "agent-7", "client_id": "agent-app"},
	})
	w.do("POST", "/v1/chat/completions", tok, "X-Request-Id", "r1", "Traceparent", validTraceparent)
	a := w.record("r1")
	checks := []struct {
		field     string
		got, want any
	}{
		{"audit_v", a.V, AuditSchemaVersion},
		{"trace_id", a.TraceID, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"route", a.Route, "chat"},
		{"path_template", a.PathTemplate, "/v1/chat/completions"},
		{"decision", a.Decision, "allow"},
		{"reason", a.Reason, "allowed"},
		{"upstream", a.Upstream, "models"},
		{"sub", a.Sub, "alice"},
		{"client_id", a.ClientID, "cli"},
		{"scopes", a.Scopes, "chat:completions"},
		{"required_scopes", a.RequiredScopes, "chat:completions"},
		{"ts", a.Get("ts"), epoch.Format(time.RFC3339Nano)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v; want %v", c.field, c.got, c.want)
		}
	}
	if want := []testkit.Actor{{Sub: "agent-7", ClientID: "agent-app"}}; !slices.Equal(a.Act, want) {
		t.Errorf("act = %v; want %v", a.Act, want)
	}
	if _, ok := a.Get("jti").(string); !ok {
		t.Errorf("no jti in %v", a.Fields)
	}
}

func TestAuditPathTemplateNotRawPath(t *testing.T) {
	w := newWorld(t, "")
	w.do("GET", "/v1/models/secret-model-name", w.token("models:read"), "X-Request-Id", "r1")
	if out := w.audit.String(); strings.Contains(out, "secret-model-name") {
		t.Errorf("the raw path is in the audit record: %s", out)
	}
	if got := w.record("r1").PathTemplate; got != "/v1/models/{id}" {
		t.Errorf("path_template %v; want /v1/models/{id}", got)
	}
}

// TestAuditFlood: under a flood of refusals every request is answered and
// counted, refusal records stop at the cap, allowed requests are all
// recorded, and a summary says how many records were dropped.
func TestAuditFlood(t *testing.T) {
	w := newWorld(t, "audit:\n  max_records_per_second: 5\n  burst: 5\n")
	good := w.token("chat:completions")
	const flood, workers = 200, 4
	var wg sync.WaitGroup
	var bad atomic.Int64
	for k := range workers {
		wg.Go(func() {
			for i := range flood / workers {
				if rec := w.do("POST", "/v1/chat/completions", ""); rec.Code != 401 {
					bad.Add(1)
				}
				if i == 0 {
					w.do("POST", "/v1/chat/completions", good, "X-Request-Id", fmt.Sprintf("allowed-%d", k))
				}
			}
		})
	}
	wg.Wait()
	if n := bad.Load(); n > 0 {
		t.Fatalf("%d flood requests were not answered 401", n)
	}
	count := func(msg, decision string) int {
		n := 0
		for _, m := range w.records() {
			if m.Msg == msg && (decision == "" || m.Decision == decision) {
				n++
			}
		}
		return n
	}
	// The clock stands still: the bucket never refills.
	if got := count(auditMsgDecision, "deny"); got != 5 {
		t.Errorf("%d deny records; want the burst, 5", got)
	}
	if got := count(auditMsgDecision, "allow"); got != 4 {
		t.Errorf("%d allow records; want all 4", got)
	}
	if got := testutil.ToFloat64(w.gw.metrics.auditDropped.WithLabelValues("deny")); got != flood-5 {
		t.Errorf("scopegate_audit_dropped_total{decision=deny} = %v; want %d", got, flood-5)
	}
	if got := testutil.ToFloat64(w.gw.metrics.requests.WithLabelValues("chat", "POST", "401", "deny")); got != flood {
		t.Errorf("scopegate_requests_total for the flood = %v; want %d (counts are never capped)", got, flood)
	}
	if got := count(auditMsgDropped, ""); got != 0 {
		t.Errorf("%d summaries before the summary interval passed; want 0", got)
	}
	w.clock.Advance(auditSummaryInterval)
	w.do("POST", "/v1/chat/completions", "", "X-Request-Id", "after")
	w.record("after") // the bucket refilled
	var summary *testkit.AuditRecord
	for _, m := range w.records() {
		if m.Msg == auditMsgDropped {
			summary = &m
		}
	}
	if summary == nil {
		t.Fatalf("no audit_dropped summary after the interval:\n%s", w.audit.String())
	}
	if d := summary.Dropped; len(d) != 2 || d["deny"] != flood-5 || d["error"] != 0 {
		t.Errorf("summary dropped = %v; want deny %d, error 0", summary.Dropped, flood-5)
	}
	if summary.Get("since") != epoch.Format(time.RFC3339) {
		t.Errorf("summary since = %v; want %s", summary.Get("since"), epoch.Format(time.RFC3339))
	}
}

func TestAuditNoCap(t *testing.T) {
	w := newWorld(t, "audit:\n  max_records_per_second: -1\n")
	for range 50 {
		w.do("POST", "/v1/chat/completions", "")
	}
	if n := len(w.records()); n != 50 {
		t.Errorf("%d records; want 50 with no cap", n)
	}
}

// TestAuditFileOutput: records go to their own file, reopened on reload
// (log rotation), and a reload naming another output is refused.
func TestAuditFileOutput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	w := newWorld(t, "")
	cfg := recompile(t, w.gw.Config(), func(c *config.Config) { c.Audit.Output = path })
	stdout := &syncBuffer{}
	gw, err := New(t.Context(), cfg, Deps{Stdout: stdout, Stderr: stdout, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	w.gw = gw
	w.do("POST", "/v1/chat/completions", "", "X-Request-Id", "first")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := gw.Reload(cfg); err != nil {
		t.Fatalf("reload: %v", err)
	}
	w.do("POST", "/v1/chat/completions", "", "X-Request-Id", "second")
	for _, c := range []struct{ file, id string }{{path + ".1", "first"}, {path, "second"}} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"request_id":"`+c.id+`"`) || strings.Count(string(b), "\n") != 1 {
			t.Errorf("%s holds %q; want exactly the record of %s", c.file, b, c.id)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode: %v %v; want 0600", fi.Mode(), err)
	}
	if stdout.String() != "" {
		t.Errorf("records also went to stdout: %s", stdout)
	}
	other := recompile(t, cfg, func(c *config.Config) { c.Audit.Output = "stdout" })
	if err := gw.Reload(other); err == nil || !strings.Contains(err.Error(), "audit.output") {
		t.Errorf("reload with another audit output: %v; want it refused", err)
	}
}
