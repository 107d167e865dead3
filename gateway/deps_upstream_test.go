package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// badUpstream serves h on a loopback httptest server for the test's life.
func badUpstream(t *testing.T, h http.HandlerFunc) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestUpstreamFailures: each way the model backend can fail gives the
// client a JSON error with the contract's status (502 down, 504 timed
// out), never a hang, and an audit record blaming the upstream.
func TestUpstreamFailures(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	closedPort := func() string { return deadUpstream(t) }
	// A 504 comes from the 500ms upstream timeout. The 502 cases get a
	// generous one: on a loaded machine an upstream slower than 500ms to
	// refuse or hang up would otherwise turn the 502 under test into a 504.
	tests := []struct {
		name   string
		url    func() string
		status int
		reason string
	}{
		{"refusing connections", closedPort, 502, string(ReasonUpstreamError)},
		{"hanging", func() string {
			return badUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			})
		}, 504, string(ReasonUpstreamTimeout)},
		{"slow to send headers", func() string {
			return badUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-time.After(2 * time.Second): // four times the timeout
				case <-r.Context().Done():
				}
				w.WriteHeader(200)
			})
		}, 504, string(ReasonUpstreamTimeout)},
		{"closing without an answer", func() string {
			return badUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				c, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					c.Close()
				}
			})
		}, 502, string(ReasonUpstreamError)},
		{"answering garbage", func() string {
			return badUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				c, buf, err := http.NewResponseController(w).Hijack()
				if err == nil {
					_, _ = buf.WriteString("SMTP ready\r\n\r\n")
					_ = buf.Flush()
					c.Close()
				}
			})
		}, 502, string(ReasonUpstreamError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := "30s"
			if tt.status == http.StatusGatewayTimeout {
				timeout = "500ms"
			}
			r := newRig(t, rigOptions{upstreamURL: tt.url(), upstreamTimeout: timeout})
			resp := r.in(t).do("GET", "/v1/models", r.token("models:read"), nil)
			wantStatus(t, resp, tt.status)
			if wa := resp.Header.Get("WWW-Authenticate"); wa != "" {
				t.Errorf("WWW-Authenticate %q; want none", wa)
			}
			a := r.in(t).auditFor(resp.Header.Get("X-Request-Id"))
			if a["reason"] != tt.reason || a["decision"] != decisionError || a["upstream_error"] == nil {
				t.Errorf("audit %v; want decision error, reason %s, upstream_error set", a, tt.reason)
			}
		})
	}
}

// TestUpstreamResetMidStream: an upstream that dies in the middle of a
// streamed answer. The client must see the stream cut (not a clean end it
// would take for the whole answer), and the audit record must blame the
// upstream, not the client.
func TestUpstreamResetMidStream(t *testing.T) {
	url := badUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "data: {\"delta\":\"Hel\"}\n\n")
		http.NewResponseController(w).Flush()
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, not FIN
		}
		c.Close()
	})
	r := newRig(t, rigOptions{upstreamURL: url})
	resp, err := rawStream(r.proxy, "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer "+
		r.token("chat:completions")+"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d; want the upstream's 200", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("the stream ended cleanly after %q; want it cut (unexpected EOF)", body)
	}
	if !strings.Contains(string(body), "Hel") {
		t.Errorf("body %q; want the events sent before the reset", body)
	}
	a := r.auditFor(resp.Header.Get("X-Request-Id"))
	if a["reason"] != string(ReasonUpstreamError) || a["decision"] != decisionError || a["upstream_error"] == nil {
		t.Errorf("audit %v; want decision error, reason upstream_error, upstream_error set", a)
	}
}

// rawStream sends req on a new connection and returns the response with
// its body unread; closing the body closes the connection.
func rawStream(addr, req string) (*http.Response, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{resp.Body, c}
	return resp, nil
}
