package demo

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/scopegate/scopegate/internal/mockmcp"
)

// checkMCPBlock checks what the welcome text's MCP blocks (7 to 10) promise,
// beyond their status line; got is curl's output, headers included.
func checkMCPBlock(t *testing.T, num, got string) {
	t.Helper()
	has := func(what string, subs ...string) {
		t.Helper()
		for _, s := range subs {
			if !strings.Contains(got, s) {
				t.Errorf("%s: the output lacks %s:\n%s", what, s, got)
			}
		}
	}
	switch num {
	case "7":
		has("initialize", `"serverInfo":{"name":"scopegate-mock-tools"`)
	case "8":
		has("tools/list", `"name":"search"`, `"cacheScope":"private"`, "Cache-Control: private")
		for _, hidden := range []string{"send_email", "delete_file"} {
			if strings.Contains(got, hidden) {
				t.Errorf("tools/list shows %s, which the token may not call:\n%s", hidden, got)
			}
		}
	case "9":
		has("tools/call search", "text/event-stream", `"method":"notifications/progress"`, "3 results for lighthouses")
	case "10":
		has("tools/call send_email", `error="insufficient_scope"`, `scope="mcp:tools tool:send_email"`,
			`"jsonrpc":"2.0","id":4,"error":{"code":-32600,"message":"scopegate: tool send_email needs scope tool:send_email"}`)
		if strings.Contains(got, "sent to") {
			t.Errorf("send_email ran:\n%s", got)
		}
	}
}

// bearer sets the demo token on every request of the MCP SDK's client.
type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

// TestDemoMCPWithSDKClient: the official MCP Go SDK's client, with the
// token the welcome text prints, against the demo's /mcp: the listing
// shows search only, search streams its progress, and send_email fails
// with the gateway's message.
func TestDemoMCPWithSDKClient(t *testing.T) {
	ctx := t.Context()
	d, stop := startDemoWith(t, Options{})
	defer stop()
	var mu sync.Mutex
	var progress int
	c := sdk.NewClient(&sdk.Implementation{Name: "demo-test", Version: "1"}, &sdk.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *sdk.ProgressNotificationClientRequest) { mu.Lock(); progress++; mu.Unlock() },
	})
	cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: d.ProxyURL + "/mcp", MaxRetries: -1,
		HTTPClient: &http.Client{Transport: bearer(d.Token(TokenScopes...))}}, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer cs.Close()
	lt, err := cs.ListTools(ctx, nil)
	if err != nil || len(lt.Tools) != 1 || lt.Tools[0].Name != mockmcp.ToolSearch {
		t.Errorf("ListTools = %+v, %v; want search only", lt, err)
	}
	p := &sdk.CallToolParams{Name: mockmcp.ToolSearch, Arguments: map[string]any{"query": "lighthouses"}}
	p.SetProgressToken(1)
	res, err := cs.CallTool(ctx, p)
	if err != nil || res.Content[0].(*sdk.TextContent).Text != "3 results for lighthouses" {
		t.Errorf("CallTool(search) = %+v, %v", res, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := progress
		mu.Unlock()
		if n == mockmcp.Results || time.Now().After(deadline) {
			if n != mockmcp.Results {
				t.Errorf("%d progress notifications; want %d", n, mockmcp.Results)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: mockmcp.ToolSendEmail, Arguments: map[string]any{"to": "bob@example.com"}})
	if err == nil || !strings.Contains(err.Error(), "scopegate: tool send_email needs scope tool:send_email") {
		t.Errorf("CallTool(send_email) error %v; want the gateway's refusal", err)
	}
}
