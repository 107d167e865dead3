package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestMCPResumedListingNotUnfiltered: a server with resumable streams
// (an event store) replays a POST's stream to a GET with Last-Event-ID,
// and the gateway relays a GET's stream as it comes: a client must not
// fetch its filtered tools/list again that way, unfiltered.
func TestMCPResumedListingNotUnfiltered(t *testing.T) {
	s := sdk.NewServer(&sdk.Implementation{Name: "tools", Version: "1"}, nil)
	for _, name := range []string{"search", "delete_file"} {
		sdk.AddTool(s, &sdk.Tool{Name: name}, func(context.Context, *sdk.CallToolRequest, searchIn) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{}, nil, nil
		})
	}
	up := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s },
		&sdk.StreamableHTTPOptions{EventStore: sdk.NewMemoryEventStore(nil)}))
	t.Cleanup(up.Close)
	r := newRig(t, rigOptions{upstreamURL: up.URL, routes: mcpRoute})
	tok := r.token("mcp:use", "tool:search")
	hdrs := []string{"Content-Type", "application/json", "Accept", "application/json, text/event-stream"}
	resp := r.do("POST", "/mcp", tok, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`), hdrs...)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d session %q %s", resp.StatusCode, sid, bodyOf(resp))
	}
	hdrs = append(hdrs, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", "2025-11-25")
	t.Cleanup(func() { r.do("DELETE", "/mcp", tok, nil, "Mcp-Session-Id", sid) })
	r.do("POST", "/mcp", tok, strings.NewReader(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), hdrs...)
	resp = r.do("POST", "/mcp", tok, strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`), hdrs...)
	listing := bodyOf(resp)
	if resp.StatusCode != 200 || !strings.Contains(listing, `"search"`) || strings.Contains(listing, "delete_file") {
		t.Fatalf("tools/list: %d %q; want the filtered listing", resp.StatusCode, listing)
	}
	m := regexp.MustCompile(`(?m)^id: ?(\S+)_(\d+)`).FindStringSubmatch(listing)
	if m == nil {
		t.Fatalf("tools/list stream %q has no event id", listing)
	}
	idx, _ := strconv.Atoi(m[2])
	for last := idx - 1; last <= idx; last++ {
		if last < 0 {
			continue
		}
		resp = r.do("GET", "/mcp", tok, nil, "Accept", "text/event-stream", "Mcp-Session-Id", sid, "Mcp-Protocol-Version", "2025-11-25",
			"Last-Event-ID", m[1]+"_"+strconv.Itoa(last))
		body := bodyOf(resp)
		if strings.Contains(body, "delete_file") {
			t.Fatalf("GET with Last-Event-ID %s_%d: %d %q: the unfiltered listing was replayed", m[1], last, resp.StatusCode, body)
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET with Last-Event-ID %s_%d: %d %q; want 400", m[1], last, resp.StatusCode, body)
		}
	}
	// In any spelling an upstream may read as Last-Event-ID.
	resp = r.do("GET", "/mcp", tok, nil, "Accept", "text/event-stream", "Mcp-Session-Id", sid, "Last_Event_ID", m[1]+"_0")
	if body := bodyOf(resp); resp.StatusCode != http.StatusBadRequest || strings.Contains(body, "delete_file") {
		t.Errorf("GET with Last_Event_ID: %d %q; want 400", resp.StatusCode, body)
	}
}
