package e2e

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/testkit"
)

// TestSIGHUPStorm: 12 SIGHUPs alternating two configs (the second changes
// the upstream's transport) under concurrent requests and SSE streams:
// no request fails, no stream is cut, and every decision names one of the
// two configs. Each reload waits for a decision under the config it
// loaded, so that the requests run through all of them.
func TestSIGHUPStorm(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{streamDelay: 20 * time.Millisecond}, cfg{})
	base := e.config(cfg{})
	other := strings.Replace(base, "    headers:\n", "    timeout: 100s\n    headers:\n", 1)
	if other == base {
		t.Fatal("the second config is the first")
	}
	chatTok, readTok := e.token("chat:completions"), e.token("models:read")
	stop := make(chan struct{})
	stopWorkers := sync.OnceFunc(func() { close(stop) })
	defer stopWorkers() // on a failure too: no worker outlives the test
	var wg sync.WaitGroup
	var done, bad atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var req *http.Request
				if w%2 == 0 {
					req, _ = http.NewRequest("POST", p.url("/v1/chat/completions"), strings.NewReader(streamBody))
					req.Header.Set("Authorization", "Bearer "+chatTok)
					req.Header.Set("Content-Type", "application/json")
				} else {
					req, _ = http.NewRequest("GET", p.url("/v1/models"), nil)
					req.Header.Set("Authorization", "Bearer "+readTok)
				}
				resp, err := p.client.Do(req)
				if err != nil {
					bad.Add(1)
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || w%2 == 0 && !bytes.Contains(b, []byte("data: [DONE]")) {
					bad.Add(1)
				}
				done.Add(1)
				time.Sleep(10 * time.Millisecond) // load, not a flood: the log is read below
			}
		}()
	}
	reloaded := func() int { return strings.Count(p.stdout(), `"msg":"config reloaded"`) }
	// The config in force, as /metrics names it (set before the reload is
	// logged), and how many decisions were made under a config.
	infoRe := regexp.MustCompile(`(?m)^scopegate_config_info\{hash="([0-9a-f]+)"\} 1$`)
	inForce := func() string {
		m := infoRe.FindStringSubmatch(string(p.adminGet("/metrics").body))
		if m == nil {
			t.Fatal("/metrics lacks scopegate_config_info")
		}
		return m[1]
	}
	decisionsUnder := func(h string) int {
		n := 0
		for _, m := range p.auditRecords() {
			if m.Msg == "decision" && m.ConfigHash == h {
				n++
			}
		}
		return n
	}
	for i := range 12 {
		text := base
		if i%2 == 0 {
			text = other
		}
		if err := os.WriteFile(p.configPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		n := reloaded()
		p.signal(syscall.SIGHUP)
		if !testkit.Wait(30*time.Second, func() bool { return reloaded() > n }) {
			t.Fatalf("reload %d not logged", i)
		}
		// The next reload waits for a decision under this config: the
		// requests run through every reload, and both configs decide
		// some, however fast the reloads are next to the requests.
		h := inForce()
		before := decisionsUnder(h)
		if !testkit.Wait(30*time.Second, func() bool { return decisionsUnder(h) > before }) {
			t.Fatalf("no decision under config %s within 30s of reload %d", h, i)
		}
	}
	stopWorkers()
	wg.Wait()
	if n := bad.Load(); n != 0 {
		t.Errorf("%d of %d requests failed or were cut during 12 reloads", n, done.Load())
	}
	hashes := map[string]bool{}
	for _, m := range p.auditRecords() {
		if m.Msg != "decision" {
			continue
		}
		h := m.ConfigHash
		if h == "" {
			t.Fatalf("a decision without config_hash: %v", m)
		}
		hashes[h] = true
	}
	if len(hashes) < 2 || len(hashes) > 3 { // the first config, then the two alternating
		t.Errorf("decisions under %d configs; want the 2 or 3 loaded", len(hashes))
	}
}
