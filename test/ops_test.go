package e2e

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/testkit"
)

const embeddingsRoute = `
  - name: embeddings
    methods: [POST]
    path: /v1/embeddings
    upstream: models
    scopes: ["embeddings:create"]
`

func TestSIGHUPReload(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{streamDelay: 100 * time.Millisecond}, cfg{})
	embBody := []byte(`{"model":"text-embedding-3-small","input":"hello"}`)
	embTok := e.token("embeddings:create")
	readTok := e.token("models:read")
	listTok := e.token("models:list")
	if r := p.do("POST", "/v1/embeddings", embTok, embBody); r.StatusCode != 404 {
		t.Fatalf("before reload: embeddings status %d; want 404", r.StatusCode)
	}
	if r := p.do("GET", "/v1/models", readTok, nil); r.StatusCode != 200 {
		t.Fatalf("before reload: models status %d; want 200", r.StatusCode)
	}

	// An in-flight stream survives the reload.
	streamDone := make(chan []sseEvent, 1)
	firstEvent := make(chan struct{})
	var once sync.Once
	first := func() { once.Do(func() { close(firstEvent) }) }
	chatTok := e.token("chat:completions")
	go func() {
		defer first()
		req, _ := http.NewRequest("POST", p.url("/v1/chat/completions"), strings.NewReader(streamBody))
		req.Header.Set("Authorization", "Bearer "+chatTok)
		resp, err := p.client.Do(req)
		if err != nil {
			streamDone <- nil
			return
		}
		defer resp.Body.Close()
		evs, _ := readSSE(resp.Body, time.Now(), first)
		streamDone <- evs
	}()
	<-firstEvent

	routes := strings.Replace(defaultRoutes, `scopes: ["models:read"]`, `scopes: ["models:list"]`, 1) + embeddingsRoute
	good := e.config(cfg{routes: routes})
	if err := os.WriteFile(p.configPath, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	if _, ok := p.waitLine(10*time.Second, func(m map[string]any) bool { return m["msg"] == "config reloaded" }); !ok {
		t.Fatalf("no \"config reloaded\" log within 10s of SIGHUP")
	}
	if r := p.do("POST", "/v1/embeddings", embTok, embBody); r.StatusCode != 200 {
		t.Errorf("after reload: embeddings status %d body %s; want 200", r.StatusCode, r.body)
	}
	if r := p.do("GET", "/v1/models", readTok, nil); r.StatusCode != 403 {
		t.Errorf("after reload: models with the old scope: status %d; want 403", r.StatusCode)
	}
	if r := p.do("GET", "/v1/models", listTok, nil); r.StatusCode != 200 {
		t.Errorf("after reload: models with the new scope: status %d; want 200", r.StatusCode)
	}
	evs := <-streamDone
	if len(evs) == 0 || evs[len(evs)-1].data != "[DONE]" {
		t.Errorf("the stream in flight during the reload got %d events, last %v; want it to complete", len(evs), evs[max(len(evs)-1, 0):])
	}
	if r := p.adminGet("/readyz"); r.StatusCode != 200 {
		t.Errorf("/readyz after reload: %d; want 200 (keys kept)", r.StatusCode)
	}

	// Broken configs are refused and the running one stays.
	for _, bad := range []string{
		good + "\nbogus_key: 1\n",
		strings.Replace(good, "upstream: models\n    scopes: [\"embeddings:create\"]", "upstream: nowhere\n    scopes: [\"embeddings:create\"]", 1),
		"server: [unclosed\n",
	} {
		if err := os.WriteFile(p.configPath, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		failures := countLines(p, "config reload failed")
		p.signal(syscall.SIGHUP)
		if !testkit.Wait(10*time.Second, func() bool { return countLines(p, "config reload failed") > failures }) {
			t.Fatalf("no reload failure logged within 10s for a broken config:\n%s", bad)
		}
		if r := p.do("POST", "/v1/embeddings", embTok, embBody); r.StatusCode != 200 {
			t.Errorf("after a failed reload: embeddings status %d; want 200 (the old config stays)", r.StatusCode)
		}
		if r := p.do("GET", "/v1/models", readTok, nil); r.StatusCode != 403 {
			t.Errorf("after a failed reload: models with models:read: status %d; want 403", r.StatusCode)
		}
	}
	if n := countLines(p, "config reload failed"); n != 3 {
		t.Errorf("%d reload failures logged; want 3", n)
	}
	// Every failure is counted, a file that does not load as much as one
	// that loads and is refused: the reload-failure alert reads this.
	metrics := string(p.adminGet("/metrics").body)
	for _, want := range []string{
		`scopegate_config_reloads_total{result="failure"} 3`,
		`scopegate_config_reloads_total{result="success"} 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// countLines counts JSON log lines whose msg starts with msg.
func countLines(p *proc, msg string) int {
	n := 0
	for _, m := range p.records() {
		if s, _ := m["msg"].(string); strings.HasPrefix(s, msg) {
			n++
		}
	}
	return n
}

// TestSIGTERMDrain: SIGTERM while a stream is in flight (the mock model
// API holds its next event until the checks are done): new connections
// are refused, /readyz says 503, the process stays until the stream ends
// with [DONE], then exits 0 having audited it.
func TestSIGTERMDrain(t *testing.T) {
	t.Parallel()
	pace := make(chan struct{})
	e, p := serve(t, envOptions{streamPace: pace}, cfg{})
	req, _ := http.NewRequest("POST", p.url("/v1/chat/completions"), strings.NewReader(streamBody))
	req.Header.Set("Authorization", "Bearer "+e.token("chat:completions"))
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d; want 200", resp.StatusCode)
	}
	var refusedDuringDrain, readyzDuringDrain, streamOpenAtCheck = false, 0, false
	evs, err := readPaced(resp.Body, pace, func() {
		p.signal(syscall.SIGTERM)
		if _, ok := p.waitLine(5*time.Second, func(m map[string]any) bool { return m["msg"] == "draining" }); !ok {
			t.Errorf("no \"draining\" log within 5s of SIGTERM")
		}
		refusedDuringDrain = testkit.Wait(2*time.Second, func() bool { return dialRefused(p.proxy) })
		if r, err := http.Get("http://" + p.admin + "/readyz"); err == nil {
			readyzDuringDrain = r.StatusCode
			r.Body.Close()
		}
		p.mu.Lock()
		streamOpenAtCheck = !p.exited
		p.mu.Unlock()
	})
	if err != nil {
		t.Errorf("the stream in flight at SIGTERM: %v", err)
	}
	if len(evs) < 8 || evs[len(evs)-1] != "[DONE]" {
		t.Fatalf("the stream in flight at SIGTERM got %d events, last %v; want it to complete with [DONE]", len(evs), evs[max(len(evs)-1, 0):])
	}
	if !refusedDuringDrain {
		t.Errorf("new connections were still accepted 2s after SIGTERM")
	}
	if !streamOpenAtCheck {
		t.Errorf("the process exited before the stream was done")
	}
	if readyzDuringDrain != 0 && readyzDuringDrain != 503 {
		t.Errorf("/readyz while draining: %d; want 503 (or the admin listener closed)", readyzDuringDrain)
	}
	exited, err := p.wait(15 * time.Second)
	if !exited {
		t.Fatalf("scopegate did not exit within 15s after the stream ended")
	}
	if err != nil {
		t.Errorf("exit after SIGTERM: %v; want exit code 0", err)
	}
	if _, ok := p.waitLine(time.Second, func(m map[string]any) bool {
		return m["msg"] == "decision" && m["route"] == "chat" && m["status"] == 200.0
	}); !ok {
		t.Errorf("no audit record of the drained stream")
	}
}

// runCheck runs `scopegate check --config path`.
func runCheck(t *testing.T, path string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binPath, "check", "--config", path)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return code, o.String(), e.String()
}

// lineOf is the 1-based line of the first line of text containing s.
func lineOf(text, s string) int {
	for n, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return n + 1
		}
	}
	return 0
}

func TestCheckCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	good := e.config(cfg{})
	code, out, errOut := runCheck(t, writeConfig(t, good))
	if code != 0 {
		t.Fatalf("check of a good config: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"models", "/v1/models", "chat", "/v1/chat/completions", "images", "generate:images", "status", "/public/{rest...}", "echo"} {
		if !strings.Contains(out, want) {
			t.Errorf("route table lacks %q:\n%s", want, out)
		}
	}

	for _, tc := range []struct {
		name   string
		text   string
		key    string // must be named in the output
		lineAt string // the output names the line holding this text
		bug    string // a known gateway bug makes this case fail
	}{
		{"unknown key", e.config(cfg{serverExtra: "  bogus_key: 1"}), "bogus_key", "bogus_key", ""},
		{"unknown issuer key", e.config(cfg{issuerExtra: "    audience: [x]"}), "audience", "    audience: [x]", ""},
		{"route with an unknown upstream",
			strings.Replace(good, "upstream: models\n    scopes: [\"chat:completions\"]", "upstream: nowhere\n    scopes: [\"chat:completions\"]", 1),
			"upstream", "upstream: nowhere", ""},
		{"issuer without audiences", strings.Replace(good, "    audiences: [\""+audience+"\"]\n", "", 1), "audiences", "", ""},
		{"bad duration", e.config(cfg{issuerExtra: "    refresh_interval: 5 minutes"}), "issuers[0].refresh_interval", "    refresh_interval: 5 minutes", ""},
		{"bad server duration", e.config(cfg{serverExtra: "  idle_timeout: forever"}), "server.idle_timeout", "idle_timeout: forever", ""},
		{"duplicate route", e.config(cfg{routes: defaultRoutes + "  - name: models\n    path: /v1/other\n    upstream: models\n"}), "name", "", ""},
		{"http issuer not loopback", strings.Replace(good, "issuer: \""+e.iss.URL()+"\"", "issuer: \"http://idp.example.com\"", 1), "issuer", "http://idp.example.com", ""},
		{"YAML syntax error", good + "\nroutes: [unclosed\n", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.text == good {
				t.Fatal("test case did not change the config")
			}
			code, out, errOut := runCheck(t, writeConfig(t, tc.text))
			all := out + errOut
			if code == 0 {
				t.Fatalf("check exit 0; want non-zero\n%s", all)
			}
			if tc.key != "" && !strings.Contains(all, tc.key) {
				t.Errorf("output does not name %q:\n%s", tc.key, all)
			}
			if tc.lineAt != "" {
				n := lineOf(tc.text, tc.lineAt)
				if !regexp.MustCompile(`\bline ` + strconv.Itoa(n) + `\b`).MatchString(all) {
					t.Errorf("output does not name line %d (%q):\n%s", n, strings.TrimSpace(tc.lineAt), all)
				}
			}
			if !strings.Contains(all, "line") && tc.name == "YAML syntax error" {
				t.Errorf("a YAML syntax error without its line:\n%s", all)
			}
		})
	}

	// serve refuses the same bad config and exits non-zero.
	bad := writeConfig(t, e.config(cfg{serverExtra: "  bogus_key: 1"}))
	cmd := exec.Command(binPath, "serve", "--config", bad)
	out2, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Errorf("serve with a bad config: %v; want a non-zero exit\n%s", err, out2)
	} else if !strings.Contains(string(out2), "bogus_key") {
		t.Errorf("serve with a bad config does not name the key:\n%s", out2)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	tok := e.token("models:read")
	p.do("GET", "/v1/models", tok, nil)
	p.do("GET", "/v1/models", tok, nil)
	p.do("GET", "/v1/models", "", nil)
	p.do("POST", "/v1/images/generations", tok, []byte(`{"prompt":"x"}`))
	p.do("GET", "/nowhere", tok, nil)
	want := []struct {
		labels map[string]string
		min    float64
	}{
		{map[string]string{"route": "models", "method": "GET", "code": "200", "decision": "allow"}, 2},
		{map[string]string{"route": "models", "method": "GET", "code": "401", "decision": "deny"}, 1},
		{map[string]string{"route": "images", "method": "POST", "code": "403", "decision": "deny"}, 1},
		{map[string]string{"method": "GET", "code": "404", "decision": "deny"}, 1},
	}
	var body string
	ok := testkit.Wait(5*time.Second, func() bool {
		r := p.adminGet("/metrics")
		if r.StatusCode != 200 {
			return false
		}
		body = string(r.body)
		for _, w := range want {
			if metricValue(body, "scopegate_requests_total", w.labels) < w.min {
				return false
			}
		}
		return true
	})
	if !ok {
		var lines []string
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "scopegate_requests_total") {
				lines = append(lines, l)
			}
		}
		t.Errorf("scopegate_requests_total lacks the expected series; got:\n%s", strings.Join(lines, "\n"))
	}
	// No raw path or subject in any label.
	if strings.Contains(body, "/nowhere") || strings.Contains(body, `"alice"`) {
		t.Errorf("/metrics carries a raw path or a subject as a label")
	}
	if r := p.adminGet("/healthz"); r.StatusCode != 200 {
		t.Errorf("/healthz: %d; want 200", r.StatusCode)
	}
	// The admin endpoints are not on the proxy listener.
	if r := p.do("GET", "/metrics", "", nil); r.StatusCode != 404 || strings.Contains(string(r.body), "scopegate_requests_total") {
		t.Errorf("/metrics on the proxy listener: %d; want 404", r.StatusCode)
	}
}

// metricValue sums the samples of name whose labels include want.
func metricValue(body, name string, want map[string]string) float64 {
	sum := -1.0
	for _, l := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(l, name+"{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		match := true
		for k, v := range want {
			if !strings.Contains(","+labels+",", ","+k+"=\""+v+"\",") {
				match = false
			}
		}
		if !match {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		if sum < 0 {
			sum = 0
		}
		sum += f
	}
	return sum
}

func TestAuditTrail(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	good := e.token("models:read", "echo")
	expired := e.spec(issuer.AccessTokenSpec{Subject: "alice", Scopes: []string{"models:read"}, TTL: -time.Hour})
	wrongAud := e.spec(issuer.AccessTokenSpec{Subject: "alice", Scopes: []string{"models:read"}, Audience: []string{"https://other"}})
	idTok := e.remember(e.iss.IDToken("alice", audience))
	parts := strings.Split(good, ".")
	tampered := e.remember(parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4] + "AAAA")
	crlf := e.spec(issuer.AccessTokenSpec{Subject: "alice\r\nX-Evil: 1", Scopes: []string{"models:read"}})

	type sent struct {
		what           string
		id             string
		status         int
		route          string
		decision       string
		sub, client_id string
	}
	var reqs []sent
	add := func(what string, r response, route, decision, sub string) {
		t.Helper()
		reqs = append(reqs, sent{what, r.id(), r.StatusCode, route, decision, sub, ""})
	}
	add("allowed", p.do("GET", "/v1/models", good, nil), "models", "allow", "alice")
	add("allowed echo", p.do("POST", "/v1/echo/x", good, []byte(`{"a":1}`)), "echo", "allow", "alice")
	add("public", p.do("GET", "/public/x?access_token="+good, "", nil), "status", "", "")
	add("no token", p.do("GET", "/v1/models", "", nil), "models", "deny", "")
	add("expired", p.do("GET", "/v1/models", expired, nil), "models", "deny", "")
	add("wrong aud", p.do("GET", "/v1/models", wrongAud, nil), "models", "deny", "")
	add("ID token", p.do("GET", "/v1/models", idTok, nil), "models", "deny", "")
	add("tampered", p.do("GET", "/v1/models", tampered, nil), "models", "deny", "")
	add("CR LF in sub", p.do("GET", "/v1/models", crlf, nil), "models", "deny", "")
	add("insufficient scope", p.do("POST", "/v1/images/generations", good, []byte(`{"prompt":"x"}`)), "images", "deny", "alice")
	add("no route", p.do("GET", "/v1/nope", good, nil), "", "deny", "")
	add("token in query", p.do("GET", "/v1/models?access_token="+good, "", nil), "models", "deny", "")
	add("bad path", raw(t, p.proxy, "GET /v1/%2e%2e/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+good+"\r\nConnection: close\r\n\r\n"), "", "deny", "")
	add("two Authorization", raw(t, p.proxy, "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+good+"\r\nAuthorization: Bearer "+expired+"\r\nConnection: close\r\n\r\n"), "models", "deny", "")

	ids := map[string]bool{}
	for _, s := range reqs {
		t.Run(s.what, func(t *testing.T) {
			if ids[s.id] {
				t.Errorf("request id %q reused", s.id)
			}
			ids[s.id] = true
			a := p.audit(s.id)
			for _, k := range []string{"request_id", "route", "decision", "reason", "status", "ts"} {
				if !a.Has(k) {
					t.Errorf("audit record lacks %q: %v", k, a)
				}
			}
			if !a.Has("duration_ms") {
				t.Errorf("audit record lacks a duration: %v", a)
			}
			if a.Status != s.status {
				t.Errorf("audit status %v; the client got %d", a.Status, s.status)
			}
			if s.route != "" && a.Route != s.route {
				t.Errorf("audit route %v; want %s", a.Route, s.route)
			}
			if s.decision != "" && a.Decision != s.decision {
				t.Errorf("audit decision %v; want %s (record %v)", a.Decision, s.decision, a)
			}
			if r := a.Reason; r == "" {
				t.Errorf("audit reason empty: %v", a)
			}
			if s.sub != "" && (a.Sub != s.sub || a.ClientID != "cli") {
				t.Errorf("audit sub/client_id %v/%v; want %s/cli", a.Sub, a.ClientID, s.sub)
			}
			if s.decision == "allow" {
				if sc := a.Scopes; !hasFields(sc, "models:read", "echo") {
					t.Errorf("audit scopes %q; want the granted scopes", sc)
				}
			}
		})
	}
	// One record per request, and no others.
	var n int
	for _, m := range p.auditRecords() {
		if m.Msg == "decision" {
			n++
		}
	}
	if n != len(reqs) {
		t.Errorf("%d decision records for %d requests", n, len(reqs))
	}
	// Stop the process so that everything it writes is searched for tokens.
	p.stop()
	checkNoTokens(t, e, p)
	out := p.stdout() + p.stderrText()
	if strings.Contains(out, "\nX-Evil") {
		t.Errorf("a CR/LF claim was written raw into the logs")
	}
}

func TestBothListenersOnEphemeralPorts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	text := strings.Replace(e.config(cfg{}), "admin_listen: \""+adminListen+"\"", "admin_listen: \"127.0.0.1:0\"", 1)
	p := start(t, e, writeConfig(t, text))
	if p.proxy == p.admin {
		t.Fatalf("proxy and admin on the same address %s", p.proxy)
	}
	if !p.waitReady(10 * time.Second) {
		t.Errorf("/readyz not 200 within 10s")
	}
}
