package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scopegate/scopegate/config"
)

func TestOversizedHeaders431(t *testing.T) {
	r := newRig(t, rigOptions{server: "  max_header_bytes: 4096"})
	tok := r.token(allScopes...)
	// net/http allows MaxHeaderBytes plus 4 KiB of slack; 64 KiB is
	// well over either.
	big := strings.Repeat("a", 64<<10)
	for _, tt := range []struct{ name, headers string }{
		{"one big header", "X-Big: " + big + "\r\n"},
		{"many small headers", strings.Repeat("X-Small: "+strings.Repeat("b", 100)+"\r\n", 700)},
		{"big token", "Authorization: Bearer " + tok + big + "\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r.api.Reset()
			resp := r.raw("GET /v1/models HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " + tok + "\r\n" + tt.headers + "Connection: close\r\n\r\n")
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("status %d; want 431", resp.StatusCode)
			}
			if recs := r.checkForwarded(); len(recs) != 0 {
				t.Errorf("upstream got %v; want nothing", paths(recs))
			}
		})
	}
	// Between the configured cap and net/http's hard cap (twice it), the
	// gateway answers itself: the JSON error, audited.
	t.Run("just over the cap: JSON and audited", func(t *testing.T) {
		r.api.Reset()
		resp := r.do("GET", "/v1/models", tok, nil, "X-Big", strings.Repeat("c", 5000))
		wantStatus(t, resp, http.StatusRequestHeaderFieldsTooLarge)
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q; want application/json", ct)
		}
		if a := r.auditFor(resp.Header.Get("X-Request-Id")); a["reason"] != "headers_too_large" {
			t.Errorf("audit reason %v; want headers_too_large", a["reason"])
		}
		if recs := r.checkForwarded(); len(recs) != 0 {
			t.Errorf("upstream got %v; want nothing", paths(recs))
		}
	})
	t.Run("token over max_token_bytes within the header cap", func(t *testing.T) {
		r2 := newRig(t, rigOptions{server: "  max_token_bytes: 512"})
		resp := r2.do("GET", "/v1/models", r2.token("models:read")+strings.Repeat("A", 1024), nil)
		wantStatus(t, resp, 401)
		if a := r2.auditFor(resp.Header.Get("X-Request-Id")); a["reason"] != "too_large" {
			t.Errorf("audit reason %v; want too_large", a["reason"])
		}
		if recs := r2.checkForwarded(); len(recs) != 0 {
			t.Errorf("upstream got %v; want nothing", paths(recs))
		}
	})
}

// TestBodyCaps checks server.max_body_bytes (64 KiB in the rig) and the
// per-route caps (images: 1 KiB, lower; embeddings: 128 KiB, higher), with
// declared and chunked lengths.
func TestBodyCaps(t *testing.T) {
	r := newRig(t, rigOptions{})
	tok := r.token(allScopes...)
	tests := []struct {
		name    string
		path    string
		size    int
		chunked bool
		status  int
	}{
		{"route cap lower: under", "/v1/images/generations", 1000, false, 200},
		{"route cap lower: at", "/v1/images/generations", 1024, false, 200},
		{"route cap lower: over", "/v1/images/generations", 1025, false, 413},
		{"route cap lower: over chunked", "/v1/images/generations", 4096, true, 413},
		{"server cap: under", "/v1/chat/completions", 2000, false, 200},
		{"server cap: over", "/v1/chat/completions", 70000, false, 413},
		{"server cap: over chunked", "/v1/chat/completions", 70000, true, 413},
		{"route cap higher: over the server cap", "/v1/embeddings", 70000, false, 200},
		{"route cap higher: over", "/v1/embeddings", 140000, false, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.api.Reset()
			// A JSON body the mock API parses; padded with spaces.
			body := `{"model":"gpt-4o","prompt":"x","input":"x","messages":[{"role":"user","content":"hi"}]}`
			body += strings.Repeat(" ", tt.size-len(body))
			var rd io.Reader = strings.NewReader(body)
			if tt.chunked {
				rd = struct{ io.Reader }{rd} // hides the length: chunked
			}
			resp := r.in(t).do("POST", tt.path, tok, rd, "Content-Type", "application/json")
			wantStatus(t, resp, tt.status)
			// The upstream may record a cut-off body after the 413 is sent:
			// look only at this request's records.
			recs := byID(r.checkForwarded(), resp.Header.Get("X-Request-Id"))
			if tt.status == 413 {
				if tt.chunked && !resp.Close {
					t.Errorf("413 after a partly read body without Connection: close")
				}
				for _, rec := range recs {
					if rec.BodyLen >= int64(tt.size) {
						t.Errorf("upstream got the whole %d-byte body", rec.BodyLen)
					}
				}
				a := r.auditFor(resp.Header.Get("X-Request-Id"))
				if a["reason"] != string(ReasonBodyTooLarge) || a["status"] != int64(413) {
					t.Errorf("audit %v; want body_too_large 413", a)
				}
				return
			}
			if len(recs) != 1 || recs[0].BodyLen != int64(tt.size) {
				t.Errorf("upstream got %+v; want one request with the %d-byte body", recs, tt.size)
			}
		})
	}
}

func TestRouteMaxBodyBytesValidated(t *testing.T) {
	cfg := minimal + "    max_body_bytes: -5\n"
	_, err := config.Parse([]byte(cfg), noEnv)
	if err == nil || !strings.Contains(err.Error(), "line 14: routes[0].max_body_bytes: must not be negative") {
		t.Errorf("got %v; want routes[0].max_body_bytes named with its line", err)
	}
}

// TestSlowloris trickles header lines slower than read_header_timeout
// allows in total: the server must close the connection before the
// headers are complete, and nothing reaches the upstream.
func TestSlowloris(t *testing.T) {
	r := newRig(t, rigOptions{server: "  read_header_timeout: 500ms"})
	tok := r.token("models:read")
	c, err := net.Dial("tcp", r.proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /v1/models HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer "+tok+"\r\n"); err != nil {
		t.Fatal(err)
	}
	// 100 lines, 50ms apart: 5s in all, ten times the timeout.
	closed := false
	for i := 0; i < 100 && !closed; i++ {
		time.Sleep(50 * time.Millisecond)
		if _, err := fmt.Fprintf(c, "X-Slow-%d: x\r\n", i); err != nil {
			closed = true
		}
	}
	if !closed {
		_, _ = io.WriteString(c, "\r\n")
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	var ne net.Error
	switch {
	case err == nil:
		resp.Body.Close()
		t.Errorf("the slow client got a response (%d): the connection was not cut", resp.StatusCode)
	case errors.As(err, &ne) && ne.Timeout():
		t.Errorf("the connection is still open after the trickle: %v", err)
	}
	if recs := r.checkForwarded(); len(recs) != 0 {
		t.Errorf("upstream got %v; want nothing", paths(recs))
	}
}

// TestManyConnections opens many concurrent connections, allowed and
// refused requests interleaved, plus idle connections that never send:
// every allowed request is forwarded once, no refused one is, and a
// normal client is still served.
func TestManyConnections(t *testing.T) {
	r := newRig(t, rigOptions{})
	good := r.token("models:read")
	bad := r.token("chat:completions") // valid, but without the route's scope
	var idle []net.Conn
	for range 50 {
		c, err := net.Dial("tcp", r.proxy)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	const n = 100
	var wg sync.WaitGroup
	codes := make([]int, 2*n)
	for i := range 2 * n {
		wg.Go(func() {
			tok := good
			if i%2 == 1 {
				tok = bad
			}
			resp, err := rawExchange(r.proxy, "GET /v1/models HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer "+tok+"\r\nConnection: close\r\n\r\n")
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, c := range codes {
		want := 200
		if i%2 == 1 {
			want = 403
		}
		if c != want {
			t.Errorf("request %d: status %d; want %d", i, c, want)
		}
	}
	if recs := r.checkForwarded(); len(recs) != n {
		t.Errorf("upstream got %d requests; want %d", len(recs), n)
	}
	wantStatus(t, r.do("GET", "/v1/models", good, nil), 200)
}
