package interop

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/mockapi"
	"github.com/scopegate/scopegate/internal/testkit"
)

// audience is the resource every test config protects.
const audience = "https://models.scopegate.test"

// streamDelay is the mock API's pause between server-sent events.
const streamDelay = 30 * time.Millisecond

// routes is the route table of every test config.
const routes = `
  - name: models
    methods: [GET]
    path: /v1/models
    upstream: models
    scopes: ["models:read"]
  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat:completions"]
    models:
      rules: [{model: "*", scopes: []}]
    limits:
      - name: daily
        tokens: {budget: 1000000, per: 24h}
  - name: embeddings
    methods: [POST]
    path: /v1/embeddings
    upstream: models
    scopes: ["embeddings:create"]
    limits:
      - name: hourly
        requests: {rate: 1, per: 1h}
  - name: images
    methods: [POST]
    path: /v1/images/generations
    upstream: models
    scopes: ["generate:images"]
`

// gatewayProc is a running `scopegate serve` in front of a mock model API.
type gatewayProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	api    *mockapi.API
	proxy  string // base URL
	admin  string // base URL
	client *http.Client

	mu     sync.Mutex
	out    bytes.Buffer // stdout and stderr
	lines  chan string
	tokens []string // checked against out at cleanup
	exited chan struct{}
}

// syncWriter serializes the child's writes to out.
type syncWriter struct{ g *gatewayProc }

func (w syncWriter) Write(b []byte) (int, error) {
	w.g.mu.Lock()
	defer w.g.mu.Unlock()
	return w.g.out.Write(b)
}

// startGateway starts scopegate with issuerBlock (YAML lines of one issuer
// list entry, indented by 4) and waits until /readyz answers 200.
func startGateway(t *testing.T, issuerBlock string) *gatewayProc {
	t.Helper()
	return startGatewayWith(t, issuerBlock, "127.0.0.1:0", "")
}

// startGatewayWith is startGateway with the proxy's listen address and
// extra top-level YAML.
func startGatewayWith(t *testing.T, issuerBlock, listen, extra string) *gatewayProc {
	t.Helper()
	return startGatewaySpec(t, gatewaySpec{issuer: issuerBlock, listen: listen, extra: extra})
}

// gatewaySpec is what startGatewaySpec puts in the config besides the mock
// model API and the route table: the issuer block (YAML lines of one issuer
// list entry, indented by 4), the proxy's listen address, more upstreams
// and routes (YAML lines indented by 2) and extra top-level YAML.
type gatewaySpec struct {
	issuer, listen, upstreams, routes, extra string
}

// startGatewaySpec starts scopegate as spec says and waits until /readyz
// answers 200.
func startGatewaySpec(t *testing.T, spec gatewaySpec) *gatewayProc {
	t.Helper()
	issuerBlock, listen, extra := spec.issuer, spec.listen, spec.extra
	api := mockapi.New(mockapi.Options{StreamDelay: streamDelay})
	apiSrv := httptest.NewServer(api.Handler())
	t.Cleanup(apiSrv.Close)
	cfg := fmt.Sprintf(`server:
  listen: %q
  admin_listen: "localhost:0"
  drain_timeout: 10s
issuers:
  - %s
upstreams:
  models:
    url: %q
    headers:
      Authorization: "Bearer upstream-key"
%sroutes:%s%s
%s`, listen, strings.TrimSpace(issuerBlock), apiSrv.URL, spec.upstreams, routes, spec.routes, extra)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gatewayProc{t: t, api: api, lines: make(chan string, 1024), exited: make(chan struct{})}
	g.cmd = exec.Command(scopegateBin, "serve", "--config", path)
	g.cmd.Stderr = syncWriter{g}
	stdout, err := g.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go g.read(stdout)
	t.Cleanup(func() {
		g.stop()
		g.checkNoTokens()
		if t.Failed() {
			t.Logf("config:\n%s\nscopegate output:\n%s", cfg, g.output())
		}
	})
	deadline := time.After(15 * time.Second)
	for g.proxy == "" {
		select {
		case l := <-g.lines:
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "listening" {
				g.proxy = "http://" + m["proxy"].(string)
				g.admin = "http://" + m["admin"].(string)
			}
		case <-g.exited:
			t.Fatalf("scopegate exited at start:\n%s", g.output())
		case <-deadline:
			t.Fatalf("scopegate did not log \"listening\" within 15s:\n%s", g.output())
		}
	}
	g.client = &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(g.client.CloseIdleConnections)
	if !testkit.Wait(20*time.Second, func() bool {
		resp, err := g.client.Get(g.admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatalf("scopegate /readyz not 200 within 20s:\n%s", g.output())
	}
	return g
}

func (g *gatewayProc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		l := sc.Text()
		g.mu.Lock()
		g.out.WriteString(l + "\n")
		g.mu.Unlock()
		select {
		case g.lines <- l:
		default: // nobody waits for lines after start
		}
	}
	_ = g.cmd.Wait()
	close(g.exited)
}

func (g *gatewayProc) output() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.String()
}

func (g *gatewayProc) stop() {
	select {
	case <-g.exited:
		g.t.Errorf("scopegate exited before the test ended")
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
		if code := g.cmd.ProcessState.ExitCode(); code != 0 {
			g.t.Errorf("scopegate exited with code %d after SIGTERM; want 0", code)
		}
	case <-time.After(20 * time.Second):
		_ = g.cmd.Process.Kill()
		g.t.Errorf("scopegate did not exit within 20s of SIGTERM")
	}
}

// remember records a token the gateway's output must never contain.
func (g *gatewayProc) remember(tok string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tokens = append(g.tokens, tok)
	return tok
}

func (g *gatewayProc) checkNoTokens() {
	out := g.output()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, tok := range g.tokens {
		for n, seg := range strings.Split(tok, ".") {
			if len(seg) >= 16 && strings.Contains(out, seg) {
				g.t.Errorf("segment %d of a token was written to scopegate's output", n)
			}
		}
	}
}

// result is a fully read gateway response.
type result struct {
	status int
	header http.Header
	body   []byte
}

// call sends method path with the bearer token tok (none if "") and a JSON
// body (none if "").
func (g *gatewayProc) call(method, path, tok, body string) result {
	g.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.proxy+path, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+g.remember(tok))
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.client.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return result{resp.StatusCode, resp.Header, b}
}

// chat sends a small non-streaming chat completion with tok.
func (g *gatewayProc) chat(tok string) result {
	g.t.Helper()
	return g.call(http.MethodPost, "/v1/chat/completions", tok, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
}

// want checks the status and, for errors, the code of the JSON error body.
func (r result) want(t *testing.T, what string, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d; want %d (WWW-Authenticate %q, body %s)", what, r.status, status, r.header.Get("WWW-Authenticate"), r.body)
	}
	if code == "" {
		return
	}
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code != code {
		t.Fatalf("%s: body %s; want error code %q", what, r.body, code)
	}
}

// freePort returns a loopback port held for the test, for servers
// that take their port as configuration rather than a listener.
func freePort(t *testing.T) int {
	t.Helper()
	// Held for the test (bound, never listening), so that no other
	// listener is given it before the child process binds it.
	return testkit.ReservePort(t)
}

// waitHTTP polls url until it answers 200.
func waitHTTP(t *testing.T, url string, timeout time.Duration, exited <-chan struct{}) bool {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	defer c.CloseIdleConnections()
	return testkit.Wait(timeout, func() bool {
		select {
		case <-exited:
			return true // the caller sees the exit
		default:
		}
		resp, err := c.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// headerOf decodes a JWT's header, for assertions about what a server sent.
func headerOf(t *testing.T, tok string) map[string]any { t.Helper(); return segment(t, tok, 0) }

// claimsOf decodes a JWT's payload.
func claimsOf(t *testing.T, tok string) map[string]any { t.Helper(); return segment(t, tok, 1) }

func segment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("segment %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("segment %d: %v", i, err)
	}
	return m
}
