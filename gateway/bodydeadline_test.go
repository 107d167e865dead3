package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSlowAnswerOutlivesBodyReadTimeout: once the request body is in,
// body_read_timeout no longer applies: an upstream that answers long after
// it (a model thinking) is relayed, for bodies of known length and chunked.
// The timeout must still cover the client's own gap between headers and
// body: a chunked body goes out in a write of its own after the headers,
// and on a loaded machine that write can come 100ms later.
func TestSlowAnswerOutlivesBodyReadTimeout(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(1500 * time.Millisecond) // well past the 500ms body_read_timeout
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer up.Close()
	r := newRig(t, rigOptions{server: "  body_read_timeout: 500ms", upstreamURL: up.URL, upstreamTimeout: "10s"})
	tok := r.token("embeddings:create")
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader(`{"model":"m","input":"x"}`)
		if chunked {
			body = io.MultiReader(body)
		}
		resp := r.do("POST", "/v1/embeddings", tok, body, "Content-Type", "application/json")
		got := bodyOf(resp)
		if resp.StatusCode != http.StatusOK || got != `{"ok":true}` {
			t.Errorf("chunked %v: status %d body %q; want 200 and the upstream's answer", chunked, resp.StatusCode, got)
		}
	}
}

// TestBodyDeadlineOnRuntimeClock: the body read deadline is an instant on
// the runtime's clock, whatever clock the gateway is given: with Deps.Now a
// day behind, a request whose body comes at once is still read (a deadline
// taken from the injected clock would already have passed).
func TestBodyDeadlineOnRuntimeClock(t *testing.T) {
	yesterday := time.Now().Add(-24 * time.Hour)
	r := newRig(t, rigOptions{server: "  body_read_timeout: 5s", now: func() time.Time { return yesterday }})
	// Larger than what the server reads along with the headers, so that
	// the body is read from the socket, under the deadline.
	body := `{"model":"gpt-4o","input":"x"}` + strings.Repeat(" ", 60000)
	resp := r.do("POST", "/v1/embeddings", r.token("embeddings:create"), strings.NewReader(body), "Content-Type", "application/json")
	if got := bodyOf(resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d body %q; want 200", resp.StatusCode, got)
	}
}
