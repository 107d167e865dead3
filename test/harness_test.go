// Package e2e holds end-to-end tests of scopegate: every test starts the
// real binary (built once by TestMain) in front of a real OIDC issuer
// (internal/issuer) and a real recording model API (internal/mockapi),
// talks to it over TCP, and reads its JSON logs.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/mockapi"
	"github.com/scopegate/scopegate/internal/testkit"
)

// binPath is the scopegate binary built by TestMain.
var binPath string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "scopegate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "scopegate")
	args := []string{"build", "-o", binPath}
	// SCOPEGATE_E2E_RACE=1 builds the gateway with the race detector too
	// (slower: use it when hunting races, not in the default run).
	if os.Getenv("SCOPEGATE_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/scopegate")
	cmd := exec.Command("go", args...)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building scopegate: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// audience is the audience every test config accepts.
const audience = "https://models.scopegate.test"

// adminListen is the admin listener of test configs.
const adminListen = "127.0.0.1:0"

// upstreamSecret is the credential the gateway sets for the upstream.
const upstreamSecret = "Bearer upstream-provider-key"

// env is one test's world: an issuer, a mock model API, and the tokens
// minted for the test (so that the logs can be searched for them).
type env struct {
	t      *testing.T
	iss    *issuer.Issuer
	issSrv *httptest.Server
	api    *mockapi.API
	apiSrv *httptest.Server

	mu     sync.Mutex
	tokens []string
}

type envOptions struct {
	streamDelay time.Duration
	streamPace  <-chan struct{} // mockapi.Options.StreamPace
	issuerDown  bool            // the issuer is down before the gateway starts
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	iss, err := issuer.New(issuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	iss.SetDown(o.issuerDown)
	issSrv := httptest.NewServer(iss.Handler())
	t.Cleanup(issSrv.Close)
	iss.SetURL(issSrv.URL)
	delay := o.streamDelay
	if delay == 0 {
		delay = -1
	}
	api := mockapi.New(mockapi.Options{StreamDelay: delay, StreamPace: o.streamPace})
	apiSrv := httptest.NewServer(api.Handler())
	t.Cleanup(apiSrv.Close)
	return &env{t: t, iss: iss, issSrv: issSrv, api: api, apiSrv: apiSrv}
}

// remember records a token so that the logs are searched for it.
func (e *env) remember(tok string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens = append(e.tokens, tok)
	return tok
}

// token mints a valid access token for sub "alice", client "cli" with the
// given scopes.
func (e *env) token(scopes ...string) string {
	return e.remember(e.iss.AccessToken(issuer.AccessTokenSpec{
		Subject: "alice", ClientID: "cli", Audience: []string{audience}, Scopes: scopes,
	}))
}

// spec mints an access token from a spec whose audience defaults to ours.
func (e *env) spec(s issuer.AccessTokenSpec) string {
	if s.Audience == nil {
		s.Audience = []string{audience}
	}
	return e.remember(e.iss.AccessToken(s))
}

// cfg describes a test config; config() renders it.
type cfg struct {
	issuerExtra string // extra YAML lines of the issuer, indented by 4
	serverExtra string // extra YAML lines of server, indented by 2
	routes      string // the routes block; "" means defaultRoutes
	upstreams   string // more upstreams beside models, indented by 2
}

const defaultRoutes = `
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
  - name: images
    methods: [POST]
    path: /v1/images/generations
    upstream: models
    scopes: ["generate:images"]
  - name: echo
    path: /v1/echo/{rest...}
    upstream: models
    scopes: ["echo"]
  - name: status
    methods: [GET]
    path: /public/{rest...}
    upstream: models
    public: true
`

func (e *env) config(c cfg) string {
	routes := c.routes
	if routes == "" {
		routes = defaultRoutes
	}
	return fmt.Sprintf(`server:
  listen: "127.0.0.1:0"
  admin_listen: %q
  drain_timeout: 20s
%s
issuers:
  - issuer: %q
    audiences: [%q]
    min_refresh_interval: 1s
%s
upstreams:
  models:
    url: %q
    headers:
      Authorization: %q
%s
routes:%s`, adminListen, c.serverExtra, e.iss.URL(), audience, c.issuerExtra, e.apiSrv.URL, upstreamSecret, c.upstreams, routes)
}

// writeConfig writes text to a new file in t.TempDir and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// proc is a running `scopegate serve`.
type proc struct {
	t          *testing.T
	cmd        *exec.Cmd
	configPath string
	proxy      string // host:port
	admin      string // host:port
	client     *http.Client

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever lines grow or the process exits
	lines   []string      // stdout lines
	stderr  bytes.Buffer
	exited  bool
	exitErr error
}

// lockedWriter lets the exec package write stderr under p.mu.
type lockedWriter struct{ p *proc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.stderr.Write(b)
}

// start runs `scopegate serve --config path` and waits for its "listening"
// line. At cleanup it sends SIGTERM, expects exit code 0, and checks that
// no token minted by e appears in the output.
func start(t *testing.T, e *env, path string) *proc {
	t.Helper()
	p := &proc{t: t, configPath: path, changed: make(chan struct{})}
	p.cmd = exec.Command(binPath, "serve", "--config", path)
	p.cmd.Stderr = lockedWriter{p}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.read(stdout)
	t.Cleanup(func() {
		p.stop()
		if e != nil {
			checkNoTokens(t, e, p)
		}
		if t.Failed() {
			t.Logf("scopegate stdout:\n%s\nstderr:\n%s", p.stdout(), p.stderrText())
		}
	})
	line, ok := p.waitLine(10*time.Second, func(m map[string]any) bool { return m["msg"] == "listening" })
	if !ok {
		t.Fatalf("scopegate did not log \"listening\" within 10s\nstdout:\n%s\nstderr:\n%s", p.stdout(), p.stderrText())
	}
	p.proxy, _ = line["proxy"].(string)
	p.admin, _ = line["admin"].(string)
	if p.proxy == "" || p.admin == "" {
		t.Fatalf("listening line without addresses: %v", line)
	}
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}
	p.client = &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(tr.CloseIdleConnections)
	return p
}

func (p *proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, sc.Text())
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	err := p.cmd.Wait()
	p.mu.Lock()
	p.exited, p.exitErr = true, err
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// signal sends sig to the process.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its error (nil: exit 0).
func (p *proc) wait(timeout time.Duration) (exited bool, err error) {
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		done, err, ch := p.exited, p.exitErr, p.changed
		p.mu.Unlock()
		if done {
			return true, err
		}
		select {
		case <-ch:
		case <-deadline:
			return false, nil
		}
	}
}

// stop sends SIGTERM (if still running) and expects exit code 0.
func (p *proc) stop() {
	p.mu.Lock()
	done := p.exited
	p.mu.Unlock()
	if !done {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	exited, err := p.wait(25 * time.Second)
	if !exited {
		_ = p.cmd.Process.Kill()
		p.t.Errorf("scopegate did not exit within 25s of SIGTERM")
		p.wait(5 * time.Second)
		return
	}
	if err != nil && !done {
		p.t.Errorf("scopegate exited with %v after SIGTERM; want exit code 0", err)
	}
}

func (p *proc) stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

func (p *proc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// records returns every stdout line that is a JSON object: the
// operational log and the audit records (auditRecords decodes those).
func (p *proc) records() []map[string]any {
	p.mu.Lock()
	lines := slices.Clone(p.lines)
	p.mu.Unlock()
	var out []map[string]any
	for _, l := range lines {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// waitLine waits for a JSON stdout line satisfying pred (already written
// lines count) and returns it.
func (p *proc) waitLine(timeout time.Duration, pred func(map[string]any) bool) (map[string]any, bool) {
	deadline := time.After(timeout)
	seen := 0
	for {
		p.mu.Lock()
		lines, ch, exited := p.lines[seen:], p.changed, p.exited
		seen = len(p.lines)
		p.mu.Unlock()
		for _, l := range lines {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && pred(m) {
				return m, true
			}
		}
		if exited {
			return nil, false
		}
		select {
		case <-ch:
		case <-deadline:
			return nil, false
		}
	}
}

// auditRecords returns the audit records among the stdout lines, decoded.
func (p *proc) auditRecords() []testkit.AuditRecord {
	return testkit.AuditRecords(p.t, p.stdout())
}

// audits returns the decision records whose request_id is id.
func (p *proc) audits(id string) []testkit.AuditRecord {
	var out []testkit.AuditRecord
	for _, m := range p.auditRecords() {
		if m.Msg == "decision" && m.RequestID == id {
			out = append(out, m)
		}
	}
	return out
}

// audit waits for the decision record of the request with the given id
// and returns it; it fails the test if there is not exactly one.
func (p *proc) audit(id string) testkit.AuditRecord {
	p.t.Helper()
	if id == "" {
		p.t.Fatalf("response without X-Request-Id")
	}
	if _, ok := p.waitLine(5*time.Second, func(m map[string]any) bool {
		return m["msg"] == "decision" && m["request_id"] == id
	}); !ok {
		p.t.Fatalf("no audit record for request %s", id)
	}
	recs := p.audits(id)
	if len(recs) != 1 {
		p.t.Fatalf("%d audit records for request %s; want 1: %v", len(recs), id, recs)
	}
	return recs[0]
}

// url is the proxy URL of path.
func (p *proc) url(path string) string { return "http://" + p.proxy + path }

// response is a fully read response.
type response struct {
	*http.Response
	body []byte
}

func (r response) id() string { return r.Header.Get("X-Request-Id") }

// do sends a request through the gateway with an optional bearer token.
func (p *proc) do(method, path, tok string, body []byte, hdr ...string) response {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, p.url(path), rd)
	if err != nil {
		p.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return p.send(req)
}

// send sends req through the gateway's client and reads the response.
func (p *proc) send(req *http.Request) response {
	p.t.Helper()
	resp, err := p.client.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("%s %s: reading body: %v", req.Method, req.URL.Path, err)
	}
	return response{resp, b}
}

// adminGet GETs a path of the admin listener.
func (p *proc) adminGet(path string) response {
	p.t.Helper()
	resp, err := p.client.Get("http://" + p.admin + path)
	if err != nil {
		p.t.Fatalf("GET admin %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp, b}
}

// raw sends request bytes verbatim on a new connection and reads one
// response.
func raw(t *testing.T, addr, request string) response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", firstLine(request), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp, b}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// wantError checks a gateway-made error: status, JSON content type and the
// OpenAI-shaped body with a non-empty message and type, and the code.
func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d; want %d (body %s)", r.StatusCode, status, r.body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q; want application/json", ct)
	}
	var e struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil {
		t.Fatalf("body %q; want {\"error\":{...}} (%v)", r.body, err)
	}
	for _, k := range []string{"message", "type", "code"} {
		if s, _ := e.Error[k].(string); s == "" {
			t.Errorf("error.%s missing or empty in %s", k, r.body)
		}
	}
	if code != "" && e.Error["code"] != code {
		t.Errorf("error.code %v; want %q (body %s)", e.Error["code"], code, r.body)
	}
	// RFC 6750 section 3: every 401 and every 403 carries a Bearer
	// challenge; a 403 names insufficient_scope, whatever rule refused.
	ch := r.Header.Get("WWW-Authenticate")
	switch status {
	case http.StatusUnauthorized:
		if !strings.HasPrefix(ch, "Bearer ") {
			t.Errorf("401 with WWW-Authenticate %q; want a Bearer challenge", ch)
		}
	case http.StatusForbidden:
		if !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, "error_description=") {
			t.Errorf("403 with WWW-Authenticate %q; want Bearer ..., error=\"insufficient_scope\", error_description=...", ch)
		}
	}
}

// lastRecorded returns the last request the mock API recorded.
func (e *env) lastRecorded() mockapi.Recorded {
	e.t.Helper()
	recs := e.api.Requests()
	if len(recs) == 0 {
		e.t.Fatal("the upstream received no request")
	}
	return recs[len(recs)-1]
}

// noneRecorded fails if the mock API recorded any request.
func (e *env) noneRecorded(what string) {
	e.t.Helper()
	if recs := e.api.Requests(); len(recs) != 0 {
		e.t.Errorf("%s: the upstream received %d request(s), first %s %s; want none", what, len(recs), recs[0].Method, recs[0].RawPath)
	}
}

// noneRecordedOf fails if the mock API recorded a request for path.
func (e *env) noneRecordedOf(path string) {
	e.t.Helper()
	for _, r := range e.api.Requests() {
		if r.Path == path {
			e.t.Errorf("the upstream received %s %s; want no request for it", r.Method, r.RawPath)
			return
		}
	}
}

// checkNoTokens searches everything the process wrote for every token e
// minted, whole and by segment.
func checkNoTokens(t *testing.T, e *env, p *proc) {
	t.Helper()
	e.mu.Lock()
	toks := slices.Clone(e.tokens)
	e.mu.Unlock()
	out := p.stdout() + "\n" + p.stderrText()
	// Every window of partWindow bytes of the output: a token part that
	// long (a prefix of the signature, say) is a part of the token.
	windows := make(map[string]bool, len(out))
	for i := 0; i+partWindow <= len(out); i++ {
		windows[out[i:i+partWindow]] = true
	}
	for _, tok := range toks {
		if strings.Contains(out, tok) {
			t.Errorf("a token was written to the gateway's output: %.40s...", tok)
			continue
		}
	segments:
		for n, seg := range strings.Split(tok, ".") {
			if len(seg) >= 16 && strings.Contains(out, seg) {
				t.Errorf("segment %d of a token was written to the gateway's output: %.40s...", n, seg)
				continue
			}
			for i := 0; i+partWindow <= len(seg); i++ {
				if windows[seg[i:i+partWindow]] {
					t.Errorf("%d bytes of segment %d of a token were written to the gateway's output: %q", partWindow, n, seg[i:i+partWindow])
					continue segments
				}
			}
		}
	}
}

// partWindow is the length of a token part checkNoTokens looks for: long
// enough that base64url text does not match it by chance.
const partWindow = 16

// serve is newEnv + config + start for the common case.
func serve(t *testing.T, o envOptions, c cfg) (*env, *proc) {
	t.Helper()
	e := newEnv(t, o)
	p := start(t, e, writeConfig(t, e.config(c)))
	if !o.issuerDown && !p.waitReady(10*time.Second) {
		t.Fatalf("/readyz not 200 within 10s of start")
	}
	return e, p
}

// waitReady polls /readyz until 200.
func (p *proc) waitReady(timeout time.Duration) bool {
	return testkit.Wait(timeout, func() bool {
		resp, err := p.client.Get("http://" + p.admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}
