package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/testkit"
)

// deadUpstream returns a loopback URL that refuses connections, held for
// the test so that no other test's listener is given its port.
func deadUpstream(t *testing.T) string {
	t.Helper()
	return "http://" + testkit.ClosedAddr(t)
}

// resettingUpstream accepts connections and resets them at once.
func resettingUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return "http://" + ln.Addr().String()
}

// hangingUpstream accepts connections, reads what comes, never answers.
func hangingUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return "http://" + ln.Addr().String()
}

// TestNoPanicOnFailedUpstreamWithBody: a POST with a body to an upstream
// that refuses, resets or never answers gets its 502/504 and leaves no
// panic in the log; the client's keep-alive connection stays usable.
func TestNoPanicOnFailedUpstreamWithBody(t *testing.T) {
	// The upstream timeout is short only where it is what ends the
	// request (hanging): elsewhere a loaded machine that took longer than
	// it to refuse or reset would turn the 502 under test into a 504.
	cases := []struct {
		name    string
		url     func(t *testing.T) string
		timeout string
		want    int
	}{
		{"refused", deadUpstream, "30s", http.StatusBadGateway},
		{"reset", resettingUpstream, "30s", http.StatusBadGateway},
		{"hanging", hangingUpstream, "300ms", http.StatusGatewayTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{upstreamURL: tc.url(t), upstreamTimeout: tc.timeout})
			tok := r.token("chat:completions")
			conn, err := net.Dial("tcp", r.proxy)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second)) // a hang guard only
			br := bufio.NewReader(conn)
			body := strings.Repeat(`{"model":"gpt-4o-mini","messages":[]}`, 400)
			for i := range 5 {
				fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", tok, len(body), body)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					for _, e := range r.opLogs.All() {
						t.Logf("log: %s", e.Message)
					}
					t.Fatalf("request %d: %v (the connection was dropped)", i, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Fatalf("request %d: status %d; want %d", i, resp.StatusCode, tc.want)
				}
				if resp.Close {
					break // the server may close; it must not panic
				}
			}
			for _, e := range r.opLogs.All() {
				if strings.Contains(e.Message, "panic") {
					t.Fatalf("the log has a panic: %s", e.Message)
				}
			}
		})
	}
}

// TestBrokenClientBodyIs400: a request body the client broke (bad chunked
// framing, or shorter than its Content-Length) is the client's fault: 400
// invalid_body, audited as a denial, and not an upstream error in the
// metrics that page the upstream's owners.
func TestBrokenClientBodyIs400(t *testing.T) {
	r := newRig(t, rigOptions{upstreamTimeout: "1s"})
	tok := r.token("embeddings:create")
	cases := map[string]string{
		"bad chunk size": "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok +
			"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\nZZ\r\nxx\r\n0\r\n\r\n",
		"chunk without its CRLF": "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok +
			"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			resp := halfClosedExchange(t, r.proxy, req)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d body %s; want 400", resp.StatusCode, bodyOf(resp))
			}
			if !strings.Contains(bodyOf(resp), `"code":"invalid_request"`) {
				t.Errorf("body %s; want the invalid_request JSON error", bodyOf(resp))
			}
		})
	}
	resp, err := http.Get("http://" + r.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), "scopegate_upstream_errors_total{") {
		t.Errorf("a client's broken body was counted as an upstream error:\n%s", grepLines(string(b), "scopegate_upstream_errors_total"))
	}
	if !strings.Contains(string(b), `reason="invalid_body"`) {
		t.Errorf("no refusal counted with reason invalid_body")
	}
}

// halfClosedExchange writes req, closes the connection's write side (the
// client has nothing more to send) and reads one response.
func halfClosedExchange(t *testing.T, addr, req string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second)) // a hang guard only
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	readBody(resp)
	return resp
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
