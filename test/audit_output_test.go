package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/testkit"
)

// TestAuditToOwnFile: with audit.output naming a file, the records go
// there and only there, the operational log keeps stdout, SIGHUP reopens
// the file after rotation, and no token reaches either.
func TestAuditToOwnFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	path := filepath.Join(t.TempDir(), "audit.log")
	text := e.config(cfg{routes: defaultRoutes + "audit:\n  output: " + path + "\n"})
	p := start(t, e, writeConfig(t, text))
	if !p.waitReady(10 * time.Second) {
		t.Fatal("/readyz not 200 within 10s")
	}
	tok := e.token("models:read")
	first := p.do("GET", "/v1/models", tok, nil, "Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").id()
	denied := p.do("GET", "/v1/models", "", nil).id()

	readRecords := func(file string) map[string]testkit.AuditRecord {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]testkit.AuditRecord{}
		for _, m := range testkit.AuditRecords(t, string(b)) {
			if m.RequestID != "" {
				out[m.RequestID] = m
			}
		}
		return out
	}
	var recs map[string]testkit.AuditRecord
	if !testkit.Wait(5*time.Second, func() bool {
		recs = readRecords(path)
		return recs[first].Has("request_id") && recs[denied].Has("request_id")
	}) {
		t.Fatalf("the audit file lacks the records of %s and %s: %v", first, denied, recs)
	}
	if a := recs[first]; a.Decision != "allow" || a.Sub != "alice" || a.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("allowed request's record: %v", a)
	}
	if a := recs[denied]; a.Decision != "deny" || a.Reason != "missing_token" {
		t.Errorf("refused request's record: %v", a)
	}
	for _, m := range p.records() {
		if m["logger"] == "audit" || m["msg"] == "decision" {
			t.Errorf("an audit record went to stdout: %v", m)
		}
	}
	if !strings.Contains(p.stdout(), `"msg":"listening"`) {
		t.Errorf("the operational log is not on stdout")
	}

	// Rotation: move the file away, SIGHUP, and the next record goes to a
	// new file at the configured path.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	if _, ok := p.waitLine(10*time.Second, func(m map[string]any) bool { return m["msg"] == "config reloaded" }); !ok {
		t.Fatal("no \"config reloaded\" line after SIGHUP")
	}
	after := p.do("GET", "/v1/models", tok, nil).id()
	if !testkit.Wait(5*time.Second, func() bool {
		_, err := os.Stat(path)
		return err == nil && readRecords(path)[after].Has("request_id")
	}) {
		t.Errorf("after rotation and SIGHUP, the record of %s is not in the new file", after)
	}
	if readRecords(path + ".1")[after].Has("request_id") {
		t.Errorf("after SIGHUP a record still went to the rotated file")
	}
	p.stop()
	for _, f := range []string{path, path + ".1"} {
		b, _ := os.ReadFile(f)
		for _, seg := range strings.Split(tok, ".") {
			if strings.Contains(string(b), seg) {
				t.Errorf("%s holds a token segment", f)
			}
		}
	}
}

// TestBufferedAuditFlushedOnStop: with audit.flush_interval, records wait
// in memory, and a clean stop (SIGTERM) writes every one of them.
func TestBufferedAuditFlushedOnStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	path := filepath.Join(t.TempDir(), "audit.log")
	text := e.config(cfg{routes: defaultRoutes + "audit:\n  output: " + path + "\n  flush_interval: 10s\n"})
	p := start(t, e, writeConfig(t, text))
	if !p.waitReady(10 * time.Second) {
		t.Fatal("/readyz not 200 within 10s")
	}
	tok := e.token("models:read")
	var ids []string
	for range 5 {
		ids = append(ids, p.do("GET", "/v1/models", tok, nil).id())
	}
	ids = append(ids, p.do("GET", "/v1/models", "", nil).id())
	p.signal(syscall.SIGTERM)
	if exited, err := p.wait(20 * time.Second); !exited || err != nil {
		t.Fatalf("after SIGTERM: exited %v, err %v; want a clean exit", exited, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !bytes.Contains(b, []byte(`"request_id":"`+id+`"`)) {
			t.Errorf("the record of request %s was lost on a clean stop", id)
		}
	}
}
