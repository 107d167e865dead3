package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/internal/issuer"
)

const audience = "https://models.example.com"

// proc is one child process serving HTTP.
type proc struct {
	name  string
	cmd   *exec.Cmd
	url   string // proxy base URL
	admin string // scopegate's admin base URL; "" for others
	stats string // the baseline's memory stats URL; "" for others
}

type env struct {
	upstream, baseline, gateway *proc
	// gatewayRedis is a second scopegate with state.redis (the revocation
	// list and the DPoP replay cache in a real redis-server); nil when
	// redis-server is not installed.
	gatewayRedis     *proc
	redis            *exec.Cmd
	issES, issRS     *issuer.Issuer
	servers          []*httptest.Server
	repeated         func(int) string
	freshES, freshRS func(int) string
	dpop             dpopClient
	gc               *gcTrace // nil without -gctrace
	lastRPS          map[string]float64
	// opaque is an opaque token the ES256 issuer's introspection endpoint
	// (served here) answers active: after the first request, the
	// introspection cache's case.
	opaque func(int) string
	intro  *httptest.Server
	// redisAddr is gatewayRedis's redis-server, for counting its calls.
	redisAddr string
}

// startEnv starts the issuers, the upstream, the baseline and scopegate,
// and mints the tokens.
func startEnv(ctx context.Context, o options, dir string) (*env, error) {
	e := &env{lastRPS: map[string]float64{}}
	if o.gctrace {
		e.gc = newGCTrace()
	}
	var err error
	if e.issES, err = e.startIssuer(issuer.ES256); err != nil {
		return nil, err
	}
	if e.issRS, err = e.startIssuer(issuer.RS256); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if e.upstream, err = startChild(ctx, "upstream", self, "-role", "upstream"); err != nil {
		return nil, err
	}
	if e.baseline, err = e.startChildGC(ctx, o, "baseline", self, "-role", "baseline", "-target", e.upstream.url); err != nil {
		e.stop()
		return nil, err
	}
	e.startIntrospection()
	if e.gateway, err = e.startGateway(ctx, o, dir, "scopegate", ""); err != nil {
		e.stop()
		return nil, err
	}
	if err := e.startRedisGateway(ctx, o, dir); err != nil {
		e.stop()
		return nil, err
	}
	if e.dpop, err = newDPoPClient(e.issES); err != nil {
		e.stop()
		return nil, err
	}
	fmt.Printf("minting %d ES256 and %d RS256 tokens ...\n", o.pool, o.pool)
	one := e.mint(e.issES, "repeated")
	e.repeated = func(int) string { return one }
	es, rs := e.pool(e.issES, o.pool), e.pool(e.issRS, o.pool)
	e.freshES = func(i int) string { return es[i%len(es)] }
	e.freshRS = func(i int) string { return rs[i%len(rs)] }
	e.opaque = func(int) string { return "opaque-load-token" }
	return e, nil
}

// startIntrospection serves an RFC 7662 endpoint for the ES256 issuer that
// answers every token active.
func (e *env) startIntrospection() {
	e.intro = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"active":true,"iss":%q,"sub":"user-1","client_id":"load-client","aud":[%q],"scope":"chat","exp":%d}`,
			e.issES.URL(), audience, time.Now().Add(2*time.Hour).Unix())
	}))
	e.servers = append(e.servers, e.intro)
}

func (e *env) startIssuer(alg string) (*issuer.Issuer, error) {
	iss, err := issuer.New(issuer.Options{Algorithm: alg})
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(iss.Handler())
	e.servers = append(e.servers, srv)
	iss.SetURL(srv.URL)
	return iss, nil
}

func (e *env) mint(iss *issuer.Issuer, jti string) string {
	return iss.AccessToken(issuer.AccessTokenSpec{
		Subject: "user-1", ClientID: "load-client", Audience: []string{audience},
		Scopes: []string{"chat"}, TTL: 2 * time.Hour, Extra: map[string]any{"jti": jti},
	})
}

func (e *env) pool(iss *issuer.Issuer, n int) []string {
	out := make([]string, n)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < n; i += 2 {
				out[i] = e.mint(iss, fmt.Sprint("fresh-", i))
			}
		})
	}
	wg.Wait()
	return out
}

// startChild runs bin with args and reads the bound address (and, if
// there is one after a space, the memory stats URL) from the first line of
// its stdout.
func startChild(ctx context.Context, name, bin string, args ...string) (*proc, error) {
	return startChildWith(ctx, &proc{name: name}, nil, bin, args...)
}

// startChildWith is startChild filling p, with setup applied to the
// command before it starts.
func startChildWith(ctx context.Context, p *proc, setup func(*exec.Cmd), bin string, args ...string) (*proc, error) {
	name := p.name
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = os.Stderr
	if setup != nil {
		setup(cmd)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("%s did not report its address: %w", name, err)
	}
	f := strings.Fields(line)
	p.cmd, p.url = cmd, "http://"+f[0]
	if len(f) > 1 {
		p.stats = "http://" + f[1] + "/memstats"
	}
	return p, nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startGateway starts scopegate as name, with extra appended to its
// config (top-level YAML).
func (e *env) startGateway(ctx context.Context, o options, dir, name, extra string) (*proc, error) {
	listen, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`server:
  listen: %q
  admin_listen: %q
  token_cache:
    max_entries: %d
    disabled: %t
audit:
  flush_interval: %s
dpop:
  public_base_url: "http://%s"
issuers:
  - issuer: %q
    audiences: [%q]
    introspection: {endpoint: %q}
    sender_constraint: {dpop: "off"}
  - issuer: %q
    audiences: [%q]
    sender_constraint: {dpop: "off"}
upstreams:
  models:
    url: %q
routes:
  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat"]
  - name: chat-model
    methods: [POST]
    path: /m/v1/chat/completions
    upstream: models
    scopes: ["chat"]
    models:
      rules:
        - {model: gpt-4o-mini, scopes: []}
        - {model: "gpt-4o*", scopes: ["chat"]}
      default: deny
  - name: chat-limited
    methods: [POST]
    path: /l/v1/chat/completions
    upstream: models
    scopes: ["chat"]
    limits:
      - name: rps
        key: [sub]
        requests: {rate: 1000000, per: 1s, burst: 1000000}
  - name: tools
    methods: [POST]
    path: /mcp
    upstream: models
    scopes: ["chat"]
    mcp:
      tools: [{name: "search_*", scopes: []}]
  - name: chat-dpop
    methods: [POST]
    path: /d/v1/chat/completions
    upstream: models
    scopes: ["chat"]
    sender_constraint: {dpop: required}
%s`, listen, admin, o.cacheMax, o.cacheOff, o.auditFlush, listen, e.issES.URL(), audience, e.intro.URL, e.issRS.URL(), audience, e.upstream.url, extra)
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, o.bin, "serve", "--config", path)
	cmd.Stdout = devnull // the audit log: written, as in production, but not kept
	cmd.Stderr = os.Stderr
	p := &proc{name: name, cmd: cmd, url: "http://" + listen, admin: "http://" + admin}
	if e.gc != nil {
		cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
		cmd.Stderr = e.gc.writer(p)
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("scopegate not ready after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) stop() {
	for _, p := range []*proc{e.gatewayRedis, e.gateway, e.baseline, e.upstream} {
		if p != nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	}
	if e.redis != nil {
		e.redis.Process.Kill()
		e.redis.Wait()
	}
	for _, s := range e.servers {
		s.Close()
	}
}

// verifyCosts measures token.Verifier.Verify alone (no cache) per
// algorithm, against the same issuers: the CPU time of this process
// (getrusage, so GC is included, as it is in the gateway's CPU time)
// divided by the verifications, over at least one second and 500 of them.
// CPU time rather than wall time: the machine may be shared.
func (e *env) verifyCosts() map[string]int64 {
	out := map[string]int64{}
	for alg, iss := range map[string]*issuer.Issuer{"ES256": e.issES, "RS256": e.issRS} {
		v, err := token.New(context.Background(), token.Options{Issuers: []token.IssuerConfig{{Issuer: iss.URL(), Audiences: []string{audience}}}})
		if err != nil {
			panic(err)
		}
		for deadline := time.Now().Add(10 * time.Second); !v.Ready() && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		tok := e.mint(iss, "bench")
		for range 100 { // warm up
			v.Verify(context.Background(), tok)
		}
		cpu0, start, n := selfCPU(), time.Now(), 0
		for n < 500 || time.Since(start) < time.Second {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				panic(err)
			}
			n++
		}
		out[alg] = (selfCPU() - cpu0) / int64(n)
		v.Close()
	}
	return out
}

type scenario struct {
	name, key string
	tok       func(int) string
	// path is the request path; "" is /v1/chat/completions, a route
	// that only checks scopes.
	path string
	// body is the request body; nil is chatBody.
	body []byte
	// dpop sends the DPoP-bound token with a fresh proof per request
	// (tok is unused); redis runs the scenario against the scopegate
	// whose state is in Redis.
	dpop, redis bool
}

// mcpPath is an MCP route: the gateway reads the JSON-RPC body strictly
// and judges the tool (mcpCallBody) by its rules before it forwards it.
const mcpPath = "/mcp"

// mcpCallBody is a tools/call of about 2 KiB, mostly argument text (the
// body of the mcp package's BenchmarkParseBody2K).
var mcpCallBody = []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"search_web","arguments":{"query":"` +
	strings.Repeat("lorem ipsum dolor ", 105) + `","limit":10,"filters":{"lang":"en","safe":true}}}}`)

// modelPath is the route whose scopes depend on the body's model: the
// gateway buffers and reads the JSON body before it forwards it.
const modelPath = "/m/v1/chat/completions"

// limitPath is the route with a request-rate limit per subject (in the
// in-memory store, or Redis on gatewayRedis), set high enough never to
// refuse: what a limit costs.
const limitPath = "/l/v1/chat/completions"

// measurement is one target under one scenario for one round.
type measurement struct {
	n, errors      int
	rps            float64
	lat            []time.Duration // sorted
	p50, p99, p999 time.Duration
	cpuPerReq      float64 // µs of the proxy process's CPU per request
	upstreamCPU    float64 // µs of the upstream's CPU per request
	rssKB          int64   // proxy process VmRSS at the end
	rssAnonKB      int64   // its anonymous memory (heap, stacks)
	rssFileKB      int64   // its file pages (the binary)
	heapInuseMB    float64 // Go heap in use at the end
	allocsPerReq   float64 // the proxy process's allocations per request
	cacheHits      int64
	gc             gcSummary // with -gctrace
	extraProofs    int64     // DPoP proofs minted during the phase (the pool ran out)
}

var chatBody = []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)

// measure drives t with o.conns workers for o.duration, after a short
// warm-up that opens the connections.
func (e *env) measure(t *proc, s scenario, o options) measurement {
	tr := &http.Transport{MaxIdleConnsPerHost: o.conns, MaxConnsPerHost: o.conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var seq atomic.Int64
	path := s.path
	if path == "" {
		path = "/v1/chat/completions"
	}
	var proofs *proofPool
	if s.dpop {
		// Enough for the phase at twice the last rate seen.
		n := int(max(e.lastRPS[t.name+s.key], 3000) * 2 * (o.duration + 300*time.Millisecond).Seconds())
		var err error
		if proofs, err = newProofPool(e.dpop, e.dpopURI(t, path), n); err != nil {
			panic(err)
		}
	}
	do := func() (time.Duration, bool) {
		i := int(seq.Add(1))
		body := s.body
		if body == nil {
			body = chatBody
		}
		req, _ := http.NewRequest("POST", t.url+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if proofs != nil {
			proofs.set(req)
		} else {
			req.Header.Set("Authorization", "Bearer "+s.tok(i))
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), resp.StatusCode == http.StatusOK
	}
	drive(o.conns, 300*time.Millisecond, do) // warm-up
	st0 := e.readStats(t)
	cpu0, up0 := procCPU(t.cmd.Process.Pid), procCPU(e.upstream.cmd.Process.Pid)
	start := time.Now()
	lat, errs := drive(o.conns, o.duration, do)
	elapsed := time.Since(start)
	cpu1, up1 := procCPU(t.cmd.Process.Pid), procCPU(e.upstream.cmd.Process.Pid)
	st1 := e.readStats(t)
	// A scrape allocates in the scraped process too: the cost of one,
	// read from a second one, is taken out.
	scrape := e.readStats(t).mallocs - st1.mallocs
	m := measurement{n: len(lat), errors: errs, lat: lat}
	m.rps = float64(len(lat)) / elapsed.Seconds()
	sortDurations(lat)
	m.p50, m.p99, m.p999 = percentile(lat, .50), percentile(lat, .99), percentile(lat, .999)
	if len(lat) > 0 {
		m.cpuPerReq = float64(cpu1-cpu0) / float64(len(lat)) / 1e3
		m.upstreamCPU = float64(up1-up0) / float64(len(lat)) / 1e3
	}
	m.rssKB, m.rssAnonKB, m.rssFileKB = rssParts(t.cmd.Process.Pid)
	m.heapInuseMB = st1.heapInuse / (1 << 20)
	if len(lat) > 0 {
		m.allocsPerReq = (st1.mallocs - st0.mallocs - scrape) / float64(len(lat))
	}
	m.cacheHits = int64(st1.cacheHits - st0.cacheHits)
	m.gc = e.gc.between(t.name, start, start.Add(elapsed))
	if proofs != nil {
		m.extraProofs = proofs.extra.Load()
	}
	e.lastRPS[t.name+s.key] = m.rps
	return m
}

// dpopURI is the htu of a proof for t: scopegate's dpop.public_base_url
// is its own listen address (the baseline does not read proofs).
func (e *env) dpopURI(t *proc, path string) string {
	if t.admin == "" {
		return e.gateway.url + path
	}
	return t.url + path
}

// drive runs conns workers calling do until d has passed; it returns the
// latencies of the successful calls and the count of failed ones. Each
// worker keeps at most 1<<20 samples.
func drive(conns int, d time.Duration, do func() (time.Duration, bool)) ([]time.Duration, int) {
	deadline := time.Now().Add(d)
	var mu sync.Mutex
	var all []time.Duration
	errs := 0
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			bad := 0
			for time.Now().Before(deadline) && len(lat) < 1<<20 {
				if l, ok := do(); ok {
					lat = append(lat, l)
				} else {
					bad++
				}
			}
			mu.Lock()
			all = append(all, lat...)
			errs += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	return all, errs
}

// measureSSE sends n streaming requests one after another on one
// keep-alive connection and times the first event's arrival.
func (e *env) measureSSE(t *proc, n int) measurement {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	tok := e.repeated(0)
	var lat []time.Duration
	buf := make([]byte, 1)
	for i := range n + 10 {
		req, _ := http.NewRequest("POST", t.url+"/v1/chat/completions?stream=1", bytes.NewReader(chatBody))
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		_, err = io.ReadFull(resp.Body, buf)
		ttfb := time.Since(start)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK && i >= 10 { // the first 10 warm up
			lat = append(lat, ttfb)
		}
	}
	sortDurations(lat)
	return measurement{n: len(lat), lat: lat, p50: percentile(lat, .5), p99: percentile(lat, .99), p999: percentile(lat, .999)}
}
