// Sampling is deprecated as of MCP 2026-07-28 (SEP-2577) but works, and is
// sent, through the deprecation window: the gateway must still pass it.
//
//lint:file-ignore SA1019 the test exercises deprecated sampling on purpose

package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/scopegate/scopegate/internal/testkit"
)

// TestMCPGetStreamPassesUnchanged: on the GET stream the server sends
// requests to the client (sampling, elicitation); they reach the client
// byte for byte, each event as soon as the server flushed it, and the
// client's token does not reach the server.
func TestMCPGetStreamPassesUnchanged(t *testing.T) {
	events := []string{
		// CRLF, an id, a comment and a two-line data field: nothing is
		// normalized on the GET stream.
		": keep-alive\r\nid: 41\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"method\":\"sampling/createMessage\",\r\ndata: \"params\":{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":\"tools/call delete_file\"}}],\"maxTokens\":5}}\r\n\r\n",
		"id: 42\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"s2\",\"method\":\"elicitation/create\",\"params\":{\"message\":\"ok?\",\"requestedSchema\":{\"type\":\"object\",\"properties\":{}}}}\n\n",
		"data: {\"jsonrpc\":\"2.0\",\"id\":\"s3\",\"result\":{\"tools\":[{\"name\":\"delete_file\"}]}}\n\n",
	}
	next := make(chan struct{})
	authSeen := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authSeen <- r.Header.Get("Authorization")
		if r.Method != http.MethodGet {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for i, ev := range events {
			_, _ = io.WriteString(w, ev)
			w.(http.Flusher).Flush()
			if i == 0 {
				// The rest waits until the client has read the first
				// event through the gateway: a buffering gateway hangs.
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
			}
		}
	}))
	defer up.Close()
	r := newRig(t, rigOptions{upstreamURL: up.URL, routes: mcpRoute})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a guard against a hang, not a measurement
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.scheme+"://"+r.proxy+"/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+r.token("mcp:use"))
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", "s-1")
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q; want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	first := make([]byte, len(events[0]))
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("reading the first event before the server sent more: %v", err)
	}
	if string(first) != events[0] {
		t.Errorf("first event %q; want %q unchanged", first, events[0])
	}
	close(next)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if want := events[1] + events[2]; string(rest) != want {
		t.Errorf("rest of the stream %q; want %q unchanged", rest, want)
	}
	if a := <-authSeen; a != "" {
		t.Errorf("the MCP server got Authorization %q; want none (no token passthrough)", a)
	}
}

// TestMCPSDKServerRequests: with the SDK on both sides, the server's
// sampling and elicitation requests reach the client on its standalone
// GET stream, and the client's answers (JSON-RPC responses POSTed back)
// pass: a response calls nothing.
func TestMCPSDKServerRequests(t *testing.T) {
	sessions := make(chan *sdk.ServerSession, 1)
	s := sdk.NewServer(&sdk.Implementation{Name: "asks", Version: "1"}, &sdk.ServerOptions{
		InitializedHandler: func(_ context.Context, req *sdk.InitializedRequest) { sessions <- req.Session },
	})
	up := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	defer up.Close()
	r := newRig(t, rigOptions{upstreamURL: up.URL, routes: mcpRoute})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a guard against a hang
	defer cancel()
	c := sdk.NewClient(&sdk.Implementation{Name: "client", Version: "1"}, &sdk.ClientOptions{
		CreateMessageHandler: func(_ context.Context, req *sdk.CreateMessageRequest) (*sdk.CreateMessageResult, error) {
			in := req.Params.Messages[0].Content.(*sdk.TextContent).Text
			return &sdk.CreateMessageResult{Model: "m", Role: "assistant", Content: &sdk.TextContent{Text: "echo " + in}}, nil
		},
		ElicitationHandler: func(_ context.Context, req *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
			return &sdk.ElicitResult{Action: "accept", Content: map[string]any{"answer": req.Params.Message}}, nil
		},
	})
	hc := &http.Client{Transport: bearer{r.token("mcp:use"), r.client.Transport}}
	cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: r.scheme + "://" + r.proxy + "/mcp", HTTPClient: hc, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer cs.Close()
	var ss *sdk.ServerSession
	select {
	case ss = <-sessions:
	case <-ctx.Done():
		t.Fatal("the server never saw the client initialized")
	}
	msg, err := ss.CreateMessage(ctx, &sdk.CreateMessageParams{MaxTokens: 5,
		Messages: []*sdk.SamplingMessage{{Role: "user", Content: &sdk.TextContent{Text: "hi"}}}})
	if err != nil || msg.Content.(*sdk.TextContent).Text != "echo hi" {
		t.Errorf("sampling through the gateway: %+v, %v; want the client's answer", msg, err)
	}
	el, err := ss.Elicit(ctx, &sdk.ElicitParams{Message: "proceed?",
		RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"answer": map[string]any{"type": "string"}}}})
	if err != nil || el.Action != "accept" || el.Content["answer"] != "proceed?" {
		t.Errorf("elicitation through the gateway: %+v, %v; want accepted", el, err)
	}
	// The answers' audit records are written after the gateway answered
	// the client, so possibly after the server got them.
	testkit.WaitFor(t, "the audit records of the client's two answers", func() bool {
		n := 0
		for _, a := range r.audits() {
			if a["route"] == "mcp" && a["decision"] == "allow" && a["method"] == "POST" && a["mcp_method"] == nil {
				n++
			}
		}
		return n == 2
	})
}
