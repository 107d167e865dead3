package demo

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDemoPerModelRefusal runs the demo and checks the decisions its
// welcome text promises: gpt-4o-mini streams, gpt-4o is refused, the model
// list shows only gpt-4o-mini, and the 401 names the resource metadata.
func TestDemoPerModelRefusal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *Demo, 1)
	var out bytes.Buffer
	var mu sync.Mutex
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Listen: "127.0.0.1:0", AdminListen: "localhost:0", Out: lockedWriter{&mu, &out},
			Ready: func(d *Demo) { ready <- d }})
	}()
	var d *Demo
	select {
	case d = <-ready:
	case err := <-done:
		t.Fatalf("demo stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("demo not ready within 20s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo exit: %v", err)
		}
	})
	tok := d.Token("models:read", "chat:completions")
	do := func(method, path, body string) (int, http.Header, string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, d.ProxyURL+path, rd)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	if code, h, body := do("POST", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello"}]}`); code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
		t.Errorf("gpt-4o-mini: %d %s; want a 200 stream", code, body)
	}
	if code, h, _ := do("POST", "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}`); code != 403 || !strings.Contains(h.Get("Www-Authenticate"), "model:gpt-4o") {
		t.Errorf("gpt-4o: %d %q; want 403 naming model:gpt-4o", code, h.Get("Www-Authenticate"))
	}
	if code, _, body := do("GET", "/v1/models", ""); code != 200 || !strings.Contains(body, `"gpt-4o-mini"`) || strings.Contains(body, `"gpt-4o"`) || strings.Contains(body, "dall-e") {
		t.Errorf("model list: %d %s; want gpt-4o-mini only", code, body)
	}
	tok = ""
	if code, h, _ := do("GET", "/v1/models", ""); code != 401 || !strings.Contains(h.Get("Www-Authenticate"), `resource_metadata="https://models.scopegate.demo/.well-known/oauth-protected-resource"`) {
		t.Errorf("no token: %d %q; want 401 with resource_metadata", code, h.Get("Www-Authenticate"))
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(out.String(), `"model":"gpt-4o"`) {
		t.Errorf("the welcome text does not show the gpt-4o refusal:\n%s", out.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
