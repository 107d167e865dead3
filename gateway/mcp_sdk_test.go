package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// bearer adds a token to every request of the MCP SDK's client.
type bearer struct {
	tok  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return b.base.RoundTrip(r)
}

type searchIn struct {
	Query string `json:"query"`
}

// newMCPServer is the official Go SDK's server with three tools.
func newMCPServer(t *testing.T) *httptest.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "tools", Version: "1"}, nil)
	text := func(s string) *sdk.CallToolResult {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: s}}}
	}
	sdk.AddTool(s, &sdk.Tool{Name: "search", Description: "search"}, func(_ context.Context, _ *sdk.CallToolRequest, in searchIn) (*sdk.CallToolResult, any, error) {
		return text("found " + in.Query), nil, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "delete_file"}, func(context.Context, *sdk.CallToolRequest, searchIn) (*sdk.CallToolResult, any, error) {
		return text("deleted"), nil, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "count"}, func(context.Context, *sdk.CallToolRequest, searchIn) (*sdk.CallToolResult, any, error) {
		return text("3"), nil, nil
	})
	srv := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	t.Cleanup(srv.Close)
	return srv
}

const mcpRoute = `
  - name: mcp
    path: /mcp
    upstream: models
    scopes: ["mcp:use"]
    mcp:
      tools:
        - {name: "search*", scopes: ["tool:search"]}
        - {name: delete_file, deny: true}
      default: scopes
`

// TestMCPSDKThroughGateway: the SDK's client, through the gateway, to the
// SDK's server (answering tool calls as SSE streams): the listing shows the
// allowed tools only, an allowed call works, a refused one surfaces our
// JSON-RPC error in the SDK.
func TestMCPSDKThroughGateway(t *testing.T) {
	up := newMCPServer(t)
	r := newRig(t, rigOptions{upstreamURL: up.URL, routes: mcpRoute})
	ctx := t.Context()
	connect := func(scopes ...string) *sdk.ClientSession {
		c := sdk.NewClient(&sdk.Implementation{Name: "client", Version: "1"}, nil)
		hc := &http.Client{Transport: bearer{r.token(scopes...), r.client.Transport}}
		cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: "http://" + r.proxy + "/mcp", HTTPClient: hc, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		t.Cleanup(func() { _ = cs.Close() })
		return cs
	}
	cs := connect("mcp:use", "tool:search")
	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	var names []string
	for _, tl := range lt.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"search"}) {
		t.Errorf("listed %v; want [search] (count needs tool:count, delete_file is denied)", names)
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "search", Arguments: map[string]any{"query": "q"}})
	if err != nil || len(res.Content) != 1 || res.Content[0].(*sdk.TextContent).Text != "found q" {
		t.Fatalf("CallTool(search) = %+v, %v; want found q", res, err)
	}
	for _, tool := range []string{"delete_file", "count"} {
		_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: map[string]any{"query": "q"}})
		if err == nil || !strings.Contains(err.Error(), "scopegate: tool "+tool) {
			t.Errorf("CallTool(%s) error %v; want the gateway's refusal", tool, err)
		}
	}
	cs2 := connect("mcp:use", "tool:count")
	if res, err := cs2.CallTool(ctx, &sdk.CallToolParams{Name: "count", Arguments: map[string]any{"query": "q"}}); err != nil || res.Content[0].(*sdk.TextContent).Text != "3" {
		t.Errorf("CallTool(count) with tool:count = %+v, %v; want 3", res, err)
	}
}
