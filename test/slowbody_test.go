package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSilentBodiesHoldNoConnection: clients that declare a body and never
// send it get their refusal at once, with the connection closed, whatever
// their number; one with a valid token gets 408 once body_read_timeout
// passes; and a valid request gets through all the while.
func TestSilentBodiesHoldNoConnection(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{serverExtra: "  body_read_timeout: 300ms\n"})
	tok := e.token("echo")
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", p.proxy)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(60 * time.Second)) // a hang guard only
			auth, want := "", http.StatusUnauthorized
			if i%10 == 0 {
				auth, want = "Authorization: Bearer "+tok+"\r\n", http.StatusRequestTimeout
			}
			fmt.Fprintf(c, "POST /v1/echo/x HTTP/1.1\r\nHost: gateway.test\r\n%sContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", auth)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				errs <- fmt.Errorf("conn %d: no response: %w", i, err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				errs <- fmt.Errorf("conn %d: status %d; want %d", i, resp.StatusCode, want)
				return
			}
			if !resp.Close {
				errs <- fmt.Errorf("conn %d: the response does not close the connection", i)
				return
			}
			if _, err := br.ReadByte(); err != io.EOF {
				errs <- fmt.Errorf("conn %d: the connection stayed open (%v)", i, err)
			}
		}()
	}
	// A valid request, meanwhile.
	if r := p.do("POST", "/v1/echo/ok", tok, []byte(`{}`)); r.StatusCode != 200 {
		t.Errorf("a valid request among the silent ones: status %d (%s)", r.StatusCode, r.body)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.lastRecorded()
}

// TestAdminSilentBodiesHoldNoConnection: the admin listener too answers a
// request that declares a body it never sends, and closes the connection,
// instead of waiting for the body to drain it (forever, before).
func TestAdminSilentBodiesHoldNoConnection(t *testing.T) {
	t.Parallel()
	_, p := serve(t, envOptions{}, cfg{})
	for _, tc := range []struct {
		req  string
		want int
	}{
		{"GET /healthz HTTP/1.1\r\nHost: admin.test\r\nContent-Length: 1000\r\n\r\n", http.StatusOK},
		{"GET /metrics HTTP/1.1\r\nHost: admin.test\r\nTransfer-Encoding: chunked\r\n\r\n", http.StatusOK},
		{"POST /readyz HTTP/1.1\r\nHost: admin.test\r\nContent-Length: 1000\r\n\r\n", http.StatusMethodNotAllowed},
	} {
		c, err := net.Dial("tcp", p.admin)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // a hang guard only
		io.WriteString(c, tc.req)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Errorf("%q: no response: %v", tc.req, err)
			c.Close()
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || !resp.Close {
			t.Errorf("%q: status %d, close %v; want %d and close", tc.req, resp.StatusCode, resp.Close, tc.want)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("%q: the connection stayed open (%v)", tc.req, err)
		}
		c.Close()
	}
	if r := p.adminGet("/healthz"); r.StatusCode != http.StatusOK {
		t.Errorf("healthz after the silent bodies: status %d", r.StatusCode)
	}
}

// TestLongStreamOutlivesBodyReadTimeout: body_read_timeout bounds the wait
// for request body bytes only; a stream answered after the body is in runs
// for as long as the upstream streams, with bodies of known length and
// chunked, on one keep-alive connection.
func TestLongStreamOutlivesBodyReadTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	e, p := serve(t, envOptions{streamDelay: 50 * time.Millisecond}, cfg{serverExtra: "  body_read_timeout: 200ms\n"})
	tok := e.token("chat:completions")
	words := strings.Repeat("word ", 40) // the mock echoes ~20 words, one event each: a stream well past the timeout
	body := `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"` + strings.TrimSpace(words) + `"}]}`
	for _, chunked := range []bool{false, true, false} {
		var rd io.Reader = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // no length known: sent chunked
		}
		req, _ := http.NewRequest("POST", p.url("/v1/chat/completions"), rd)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := p.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := readSSE(resp.Body, start, nil)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("chunked %v: %v", chunked, err)
		}
		if resp.StatusCode != 200 || len(evs) < 15 || evs[len(evs)-1].data != "[DONE]" {
			t.Fatalf("chunked %v: status %d, %d events; want 200 and the whole stream to [DONE] (body_read_timeout %v)", chunked, resp.StatusCode, len(evs), timeout)
		}
	}
}
