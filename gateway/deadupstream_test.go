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
)

// deadUpstream returns a loopback address on which nothing listens.
func deadUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
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
	cases := []struct {
		name string
		url  func(t *testing.T) string
		want int
	}{
		{"refused", deadUpstream, http.StatusBadGateway},
		{"reset", resettingUpstream, http.StatusBadGateway},
		{"hanging", hangingUpstream, http.StatusGatewayTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{upstreamURL: tc.url(t), upstreamTimeout: "300ms"})
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
