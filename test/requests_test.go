package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/testkit"
)

func TestNoRoute404(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	tok := e.token("models:read", "chat:completions", "generate:images", "echo")
	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/unknown"},
		{"GET", "/v1/models/gpt-4o"},       // only /v1/models is routed
		{"GET", "/admin"},                  // nothing else is routed
		{"GET", "/metrics"},                // admin endpoints never on the proxy
		{"GET", "/readyz"},                 // idem
		{"GET", "/v1/echo"},                // /v1/echo/{rest...} does not match it (net/http patterns)
		{"DELETE", "/v1/chat/completions"}, // method not routed
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := p.do(tc.method, tc.path, tok, nil)
			if tc.method == "DELETE" && r.StatusCode == 405 {
				wantError(t, r, 405, "")
				return
			}
			wantError(t, r, 404, "")
			if w := r.Header.Get("Www-Authenticate"); w != "" {
				t.Errorf("WWW-Authenticate %q on 404; want none", w)
			}
			if a := p.audit(r.id()); a.Decision != "deny" || a.Status != 404 {
				t.Errorf("audit %v; want deny 404", a)
			}
		})
	}
	e.noneRecorded("unrouted requests")
}

func TestMalformedRequests400(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	tok := e.token("models:read", "echo")

	t.Run("two Authorization headers", func(t *testing.T) {
		r := raw(t, p.proxy, "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+
			"\r\nAuthorization: Bearer "+tok+"\r\nConnection: close\r\n\r\n")
		wantError(t, r, 400, "")
		if w := r.Header.Get("Www-Authenticate"); !strings.Contains(w, `error="invalid_request"`) {
			t.Errorf("WWW-Authenticate %q; want error=\"invalid_request\"", w)
		}
		if a := p.audit(r.id()); a.Decision != "deny" || a.Status != 400 {
			t.Errorf("audit %v; want deny 400", a)
		}
	})
	t.Run("second Authorization header empty", func(t *testing.T) {
		r := raw(t, p.proxy, "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+
			"\r\nAuthorization: \r\nConnection: close\r\n\r\n")
		if r.StatusCode != 400 && r.StatusCode != 401 {
			t.Errorf("status %d; want 400 (or 401), never a pass", r.StatusCode)
		}
	})

	for _, path := range []string{
		"/v1/../admin",
		"/v1/../v1/models",
		"/v1/%2e%2e/v1/models",
		"/v1/%2E%2E/x",
		"/v1/./models",
		"/v1/%2e/models",
		"//v1/models",
		"/v1//models",
		"/v1/models%2F..",
		"/v1/echo/a%2Fb",
		"/v1/echo/a%5Cb",
		"/v1/echo/a\\b",
		"/v1/models;x=1",
		"/v1/echo/%00",
		"/v1/echo/%zz",
		"/v1/echo/x.",
	} {
		t.Run("path "+path, func(t *testing.T) {
			r := raw(t, p.proxy, "GET "+path+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\nConnection: close\r\n\r\n")
			if loc := r.Header.Get("Location"); loc != "" {
				t.Errorf("Location %q; want no redirect", loc)
			}
			if r.id() == "" && r.StatusCode == 400 {
				return // refused by net/http before the gateway's handler
			}
			wantError(t, r, 400, "")
			if a := p.audit(r.id()); a.Decision != "deny" || a.Status != 400 {
				t.Errorf("audit %v; want deny 400", a)
			}
		})
	}
	for _, target := range []string{"http://evil.example/v1/models", "*"} {
		t.Run("target "+target, func(t *testing.T) {
			r := raw(t, p.proxy, "GET "+target+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\nConnection: close\r\n\r\n")
			if r.StatusCode != 400 {
				t.Errorf("status %d; want 400", r.StatusCode)
			}
		})
	}
	e.noneRecorded("malformed requests")

	// The canonical form of a percent-encoded path is forwarded as decided.
	r := raw(t, p.proxy, "GET /v1/echo/caf%C3%A9 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\nConnection: close\r\n\r\n")
	if r.StatusCode != 200 {
		t.Fatalf("GET /v1/echo/caf%%C3%%A9: status %d body %s; want 200", r.StatusCode, r.body)
	}
	if rec := e.lastRecorded(); rec.Path != "/v1/echo/café" {
		t.Errorf("upstream path %q (raw %q); want /v1/echo/café", rec.Path, rec.RawPath)
	}
}

func TestLargeBody(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	tok := e.token("echo")
	body := make([]byte, 8<<20)
	if _, err := rand.Read(body); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	want := hex.EncodeToString(sum[:])

	// One connection for the three requests, written and read here: the
	// gateway must keep it open after each. (http.Transport's reuse is
	// no measure of that: it gives a connection up when its own write
	// goroutine has not reported the request written within 50ms of the
	// response's end, which a loaded machine can take.)
	conn, err := net.DialTimeout("tcp", p.proxy, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second)) // a hang guard only
	br := bufio.NewReader(conn)
	send := func(n int, rd io.Reader, length int64) {
		t.Helper()
		req, _ := http.NewRequest("POST", p.url(fmt.Sprintf("/v1/echo/upload/%d", n)), rd)
		req.ContentLength = length
		if length < 0 {
			req.TransferEncoding = []string{"chunked"}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/octet-stream")
		if err := req.Write(conn); err != nil {
			t.Fatalf("request %d: writing it on the connection of request 1: %v", n, err)
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("request %d: no response on the connection of request 1: %v", n, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d body %.300s (%v)", n, resp.StatusCode, b, err)
		}
		if resp.Close {
			t.Fatalf("request %d: the gateway closes the keep-alive connection (Connection: close)", n)
		}
	}
	check := func(n int, wantLen int64) {
		t.Helper()
		var found bool
		for _, rec := range e.api.Requests() {
			if rec.Path == fmt.Sprintf("/v1/echo/upload/%d", n) {
				found = true
				if rec.BodyLen != int64(len(body)) || rec.BodySHA256 != want {
					t.Errorf("request %d: upstream got %d bytes sha256 %s; want %d bytes %s", n, rec.BodyLen, rec.BodySHA256, len(body), want)
				}
				if rec.ContentLength != wantLen {
					t.Errorf("request %d: upstream Content-Length %d; want %d", n, rec.ContentLength, wantLen)
				}
			}
		}
		if !found {
			t.Errorf("request %d never reached the upstream", n)
		}
	}
	send(1, bytes.NewReader(body), int64(len(body)))
	check(1, int64(len(body)))
	// The second on the same keep-alive connection, chunked this time.
	send(2, io.MultiReader(bytes.NewReader(body)), -1)
	check(2, -1)
	// And a third, with a length again, still on the same connection.
	send(3, bytes.NewReader(body), int64(len(body)))
	check(3, int64(len(body)))
}

// TestTraceNeverForwarded: TRACE (and TRACK) would echo the request, with
// whatever the gateway added, back to the client; they are refused with
// 405 on every path, even on a route that allows any method.
func TestTraceNeverForwarded(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	tok := e.token("echo")
	for _, m := range []string{"TRACE", "TRACK", "trace"} {
		for _, path := range []string{"/v1/echo/x", "/public/status", "/nowhere"} {
			r := raw(t, p.proxy, m+" "+path+" HTTP/1.1\r\nHost: gateway.test\r\nAuthorization: Bearer "+tok+"\r\n\r\n")
			if r.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: status %d; want 405", m, path, r.StatusCode)
			}
			if a := p.audit(r.id()); a.Reason != "method_not_allowed" {
				t.Errorf("%s %s: audit reason %v; want method_not_allowed", m, path, a.Reason)
			}
		}
	}
	e.noneRecorded("TRACE")

	// A path that exists under another method: 405 with Allow, not 404.
	r := p.do("GET", "/v1/chat/completions", tok, nil)
	wantError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
	if got := r.Header.Get("Allow"); got != "POST" {
		t.Errorf("Allow %q; want POST", got)
	}
	r = p.do("GET", "/v2/nothing", tok, nil)
	wantError(t, r, http.StatusNotFound, "route_not_found")
	e.noneRecorded("405 and 404")
}

func TestSpoofedHeaders(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	tok := e.token("echo")
	req := "POST /v1/echo/spoof HTTP/1.1\r\n" +
		"Host: gateway.test\r\n" +
		"Authorization: Bearer " + tok + "\r\n" +
		"X-Auth-Subject: mallory\r\n" +
		"X-Auth-Client-Id: evil-client\r\n" +
		"X-Auth-Scopes: admin\r\n" +
		"x_auth_subject: mallory\r\n" +
		"X_Auth_Client_Id: evil-client\r\n" +
		"x-auth_scopes: admin\r\n" +
		"Connection: keep-alive, X-Auth-Subject, X-Auth-Scopes\r\n" +
		"X-Forwarded-For: 203.0.113.9\r\n" +
		"X-Forwarded-Host: evil.example\r\n" +
		"X-Forwarded-Proto: https\r\n" +
		"Forwarded: for=203.0.113.9;host=evil.example\r\n" +
		"X-Real-IP: 203.0.113.9\r\n" +
		"X-HTTP-Method-Override: DELETE\r\n" +
		"X-HTTP-Method: DELETE\r\n" +
		"X-Method-Override: DELETE\r\n" +
		"X_HTTP_Method_Override: DELETE\r\n" +
		"X-Original-URL: /evil/admin\r\n" +
		"X_Original_URL: /evil/admin\r\n" +
		"X-Rewrite-URL: /evil/admin\r\n" +
		"X-Original-URI: /evil/admin\r\n" +
		"X-Forwarded-Uri: /evil/admin\r\n" +
		"X-Forwarded-Prefix: /evil\r\n" +
		"X-Forwarded-Path: /evil/admin\r\n" +
		"X-Envoy-Original-Path: /evil/admin\r\n" +
		"X-Keep-Me: yes\r\n" +
		"Content-Length: 2\r\n\r\n{}"
	r := raw(t, p.proxy, req)
	if r.StatusCode != 200 {
		t.Fatalf("status %d body %s; want 200", r.StatusCode, r.body)
	}
	rec := e.lastRecorded()
	h := rec.Header
	if rec.Method != "POST" {
		t.Errorf("upstream method %s; want POST", rec.Method)
	}
	want := map[string]string{"x-auth-subject": "alice", "x-auth-client-id": "cli", "x-auth-scopes": "echo"}
	for k, vs := range h {
		n := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		if w, ok := want[n]; ok {
			if k != http.CanonicalHeaderKey(n) || len(vs) != 1 || vs[0] != w {
				t.Errorf("upstream header %q = %q; want only %s: %s set by the gateway", k, vs, http.CanonicalHeaderKey(n), w)
			}
		}
		switch n {
		case "x-http-method-override", "x-http-method", "x-method-override", "x-original-url", "x-rewrite-url",
			"x-original-uri", "x-forwarded-uri", "x-forwarded-prefix", "x-forwarded-path", "x-envoy-original-path":
			t.Errorf("upstream got method- or URL-override header %s: %q", k, vs)
		}
		for _, v := range vs {
			if strings.Contains(v, "203.0.113.9") || strings.Contains(v, "evil") || strings.Contains(v, "mallory") {
				t.Errorf("upstream header %s = %q carries a spoofed value", k, v)
			}
		}
	}
	for n, w := range want {
		if h.Get(n) != w {
			t.Errorf("upstream %s %q; want %q (set by the gateway despite Connection)", n, h.Get(n), w)
		}
	}
	if got := h.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q; want [127.0.0.1] (the TCP peer)", got)
	}
	if got := h.Values("X-Real-Ip"); len(got) > 1 || len(got) == 1 && got[0] != "127.0.0.1" {
		t.Errorf("X-Real-Ip %q; want the TCP peer or nothing", got)
	}
	if h.Get("X-Keep-Me") != "yes" {
		t.Errorf("X-Keep-Me %q; ordinary headers must pass", h.Get("X-Keep-Me"))
	}
}

func TestQueryToken(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	tok := e.token("models:read")
	// The token only in the query: refused, never forwarded.
	r := p.do("GET", "/v1/models?access_token="+tok, "", nil)
	if r.StatusCode != 400 && r.StatusCode != 401 {
		t.Errorf("token in query only: status %d; want 400 or 401", r.StatusCode)
	}
	// Header and query: the query copy never reaches the upstream.
	for _, q := range []string{"access_token=" + tok + "&x=1", "x=1&ACCESS_TOKEN=" + tok, "x=1&access%5Ftoken=" + tok} {
		r = p.do("GET", "/v1/models?"+q, tok, nil)
		if r.StatusCode == 200 {
			if rq := e.lastRecorded().RawQuery; rq != "x=1" {
				t.Errorf("%s: upstream query %q; want x=1", q, rq)
			}
		} else if r.StatusCode != 400 {
			t.Errorf("%s: status %d; want 400 or a forward without the token", q, r.StatusCode)
		}
	}
	// A public route: forwarded without the query token.
	r = p.do("GET", "/public/status?a=1&access_token="+tok+"&b=2", "", nil)
	if r.StatusCode == 200 {
		if rq := e.lastRecorded().RawQuery; rq != "a=1&b=2" {
			t.Errorf("public: upstream query %q; want a=1&b=2", rq)
		}
	} else if r.StatusCode != 400 {
		t.Errorf("public with query token: status %d; want 200 without it or 400", r.StatusCode)
	}
	for _, rec := range e.api.Requests() {
		if strings.Contains(rec.RawQuery, tok) || strings.Contains(strings.ToLower(rec.RawQuery), "access") {
			t.Errorf("upstream got query %q; want no access_token", rec.RawQuery)
		}
	}
}

func TestUpgradeNotRelayed(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	tok := e.token("models:read", "echo")
	for _, tc := range []struct{ name, hdrs string }{
		{"h2c", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"},
		{"websocket", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.api.Reset()
			r := raw(t, p.proxy, "GET /v1/echo/up HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\n"+tc.hdrs+"\r\n")
			if r.StatusCode == http.StatusSwitchingProtocols {
				t.Fatalf("status 101: the upgrade was relayed")
			}
			if r.StatusCode != 200 && r.StatusCode != 400 {
				t.Errorf("status %d; want 200 (upgrade dropped) or 400", r.StatusCode)
			}
			for _, rec := range e.api.Requests() {
				for k, vs := range rec.Header {
					switch strings.ToLower(k) {
					case "upgrade", "http2-settings":
						t.Errorf("upstream got %s: %q", k, vs)
					case "connection":
						for _, v := range vs {
							if strings.Contains(strings.ToLower(v), "upgrade") {
								t.Errorf("upstream got Connection: %s", v)
							}
						}
					}
				}
			}
		})
	}
}

// sseEvent is one data line of a stream and when it arrived.
type sseEvent struct {
	data string
	at   time.Duration
}

// readSSE reads data: lines until EOF; onFirst, if set, runs after the
// first event.
func readSSE(body io.Reader, start time.Time, onFirst func()) ([]sseEvent, error) {
	br := bufio.NewReader(body)
	var evs []sseEvent
	for {
		line, err := br.ReadString('\n')
		if line = strings.TrimRight(line, "\r\n"); line != "" {
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				evs = append(evs, sseEvent{d, time.Since(start)})
				if len(evs) == 1 && onFirst != nil {
					onFirst()
				}
			}
		}
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, fmt.Errorf("reading stream after %d events: %w", len(evs), err)
		}
	}
}

const streamBody = `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"one two three four five six"}]}`

// TestSSEUnbuffered: a streamed chat completion flows through event by
// event, without timing: the mock model API sends each event only after
// the client has read the one before (StreamPace), so an event the
// gateway held back would stall the exchange. Twice on the same
// connection, with a request body: keep-alive streaming must work both
// times.
func TestSSEUnbuffered(t *testing.T) {
	t.Parallel()
	pace := make(chan struct{})
	e, p := serve(t, envOptions{streamPace: pace}, cfg{})
	tok := e.token("chat:completions")
	// One connection, written and read here (see TestLargeBody).
	conn, err := net.DialTimeout("tcp", p.proxy, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second)) // a stalled exchange fails here
	br := bufio.NewReader(conn)
	for round := range 2 {
		req, _ := http.NewRequest("POST", p.url("/v1/chat/completions"), strings.NewReader(streamBody))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		if err := req.Write(conn); err != nil {
			t.Fatalf("round %d: writing the request on the connection: %v", round, err)
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("round %d: no response on the connection: %v", round, err)
		}
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
			resp.Body.Close()
			t.Fatalf("round %d: status %d Content-Type %q; want 200 text/event-stream", round, resp.StatusCode, ct)
		}
		evs, err := readPaced(resp.Body, pace, nil)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(evs) < 6 || evs[len(evs)-1] != "[DONE]" {
			t.Fatalf("round %d: %d events, last %q; want several ending in [DONE]", round, len(evs), evs[max(len(evs)-1, 0):])
		}
		if resp.Close {
			t.Fatalf("round %d: the gateway closes the keep-alive connection (Connection: close)", round)
		}
		a := p.audit(resp.Header.Get("X-Request-Id"))
		if a.Decision != "allow" || a.Status != 200 || a.Route != "chat" {
			t.Errorf("audit %v; want allow 200 on chat", a)
		}
	}
}

// readPaced reads the data: lines of a stream the mock model API paces
// (envOptions.streamPace) until EOF: after each event but [DONE] it lets
// the upstream send the next one. onFirst, if set, runs after the first
// event, while the upstream waits: the stream is in flight meanwhile,
// whatever the time it takes. An event held back on the way stalls the
// exchange and fails it (the client's timeout or deadline).
func readPaced(body io.Reader, pace chan<- struct{}, onFirst func()) ([]string, error) {
	br := bufio.NewReader(body)
	var evs []string
	for {
		line, err := br.ReadString('\n')
		if d, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data: "); ok {
			evs = append(evs, d)
			if len(evs) == 1 && onFirst != nil {
				onFirst()
			}
			if d != "[DONE]" {
				select {
				case pace <- struct{}{}:
				case <-time.After(10 * time.Second):
					return evs, fmt.Errorf("the upstream did not ask for the event after %q within 10s", d)
				}
			}
		}
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, fmt.Errorf("reading stream after %d events (an event held back on the way stalls this exchange): %w", len(evs), err)
		}
	}
}

// dialRefused reports whether a new TCP connection to addr is refused.
func dialRefused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

func TestUpstreamErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	// A closed port (reserved: no other test's listener can take it before
	// the request is refused), and a backend that answers too late.
	closed := "http://" + testkit.ClosedAddr(t)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	routes := defaultRoutes + `
  - name: down
    path: /v1/down
    upstream: down
    public: true
  - name: slow
    path: /v1/slow
    upstream: slow
    public: true
`
	text := e.config(cfg{routes: routes})
	text = strings.Replace(text, "routes:", fmt.Sprintf("  down:\n    url: %q\n  slow:\n    url: %q\n    timeout: 300ms\nroutes:", closed, slow.URL), 1)
	p := start(t, e, writeConfig(t, text))

	r := p.do("GET", "/v1/down", "", nil)
	wantError(t, r, 502, "")
	if a := p.audit(r.id()); a.Status != 502 || a.Route != "down" {
		t.Errorf("audit %v; want 502 on route down", a)
	}
	start := time.Now()
	r = p.do("GET", "/v1/slow", "", nil)
	wantError(t, r, 504, "")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("504 after %v; want about the 300ms timeout", d)
	}
	if a := p.audit(r.id()); a.Status != 504 || a.Route != "slow" {
		t.Errorf("audit %v; want 504 on route slow", a)
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{serverExtra: "  max_body_bytes: 1048576"})
	tok := e.token("echo")
	big := make([]byte, 2<<20)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			var rd io.Reader = bytes.NewReader(big)
			if chunked {
				rd = io.MultiReader(rd)
			}
			req, _ := http.NewRequest("POST", p.url("/v1/echo/big"), rd)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := p.client.Do(req)
			if err != nil {
				// The gateway may close the connection while the client
				// is still sending: acceptable for an oversized body.
				t.Logf("oversized body: %v", err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantError(t, response{resp, b}, 413, "")
		})
	}
	for _, rec := range e.api.Requests() {
		if rec.BodyLen >= int64(len(big)) {
			t.Errorf("the upstream received the whole %d-byte body over max_body_bytes", rec.BodyLen)
		}
	}
	// A body at the limit passes.
	ok := make([]byte, 1<<20)
	if r := p.do("POST", "/v1/echo/ok", tok, ok); r.StatusCode != 200 {
		t.Errorf("a body of exactly max_body_bytes: status %d; want 200", r.StatusCode)
	}
}

func TestUpstreamPathPrefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	text := strings.Replace(e.config(cfg{}), fmt.Sprintf("url: %q", e.apiSrv.URL), fmt.Sprintf("url: %q", e.apiSrv.URL+"/api/base"), 1)
	p := start(t, e, writeConfig(t, text))
	if !p.waitReady(10 * time.Second) {
		t.Fatal("not ready")
	}
	r := p.do("GET", "/v1/echo/a%20b?q=1", e.token("echo"), nil)
	if r.StatusCode != 200 {
		t.Fatalf("status %d body %s; want 200", r.StatusCode, r.body)
	}
	rec := e.lastRecorded()
	if rec.Path != "/api/base/v1/echo/a b" || rec.RawQuery != "q=1" {
		t.Errorf("upstream got path %q (raw %q) query %q; want /api/base/v1/echo/a b, q=1", rec.Path, rec.RawPath, rec.RawQuery)
	}
	if host, _, _ := strings.Cut(strings.TrimPrefix(e.apiSrv.URL, "http://"), "/"); rec.Host != host {
		t.Errorf("upstream Host %q; want the upstream's own %q", rec.Host, host)
	}
}

func TestEarlyResponseWithRequestBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	// A model that starts answering before it has read the request body.
	early := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fmt.Fprint(w, "data: started\n\n")
		_ = http.NewResponseController(w).Flush()
		n, err := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "data: read %d %v\n\n", n, err)
	}))
	t.Cleanup(early.Close)
	routes := defaultRoutes + `
  - name: early
    methods: [POST]
    path: /v1/early
    upstream: early
    scopes: ["echo"]
`
	text := strings.Replace(e.config(cfg{routes: routes}), "routes:", fmt.Sprintf("  early:\n    url: %q\nroutes:", early.URL), 1)
	p := start(t, e, writeConfig(t, text))
	if !p.waitReady(10 * time.Second) {
		t.Fatal("not ready")
	}
	tok := e.token("echo")
	body := make([]byte, 4<<20)
	tr := &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	for round := range 2 {
		req, _ := http.NewRequest("POST", p.url("/v1/early"), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("round %d: status %d err %v body %q", round, resp.StatusCode, err, b)
		}
		if want := fmt.Sprintf("data: started\n\ndata: read %d <nil>\n\n", len(body)); string(b) != want {
			t.Errorf("round %d: body %q; want %q (the whole request body read by the upstream)", round, b, want)
		}
	}
}
