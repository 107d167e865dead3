// Package mockmcp is a small Model Context Protocol server built with the
// official MCP Go SDK, for `scopegate demo`, the end-to-end tests and the
// load harness: three tools that a route's per-tool rules tell apart. It is
// no production component; its tools touch nothing.
//
//   - search {query}: answers "3 results for <query>", after one progress
//     notification per result when the caller sent a progress token (the
//     answer is then a stream of several server-sent events);
//   - send_email {to, body}: answers "sent to <to>";
//   - delete_file {path}: answers "deleted <path>".
package mockmcp

import (
	"context"
	"fmt"
	"net/http"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tool names.
const (
	ToolSearch     = "search"
	ToolSendEmail  = "send_email"
	ToolDeleteFile = "delete_file"
)

// Results is how many results (and progress notifications) search gives.
const Results = 3

// Options configure New.
type Options struct {
	// Stateless answers every POST on its own, without Mcp-Session-Id (the
	// SDK's stateless mode: no GET stream, no server-to-client requests),
	// so that each request can be tried alone with curl. Default false.
	Stateless bool
	// JSONResponse answers a call with application/json instead of an SSE
	// stream (progress notifications are then not sent). Default false.
	JSONResponse bool
}

type searchIn struct {
	Query string `json:"query" jsonschema:"what to search for"`
}

type emailIn struct {
	To   string `json:"to" jsonschema:"the recipient"`
	Body string `json:"body,omitempty" jsonschema:"the message"`
}

type pathIn struct {
	Path string `json:"path" jsonschema:"the file to delete"`
}

func text(s string) *sdk.CallToolResult {
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: s}}}
}

// NewServer returns the SDK server with the three tools.
func NewServer() *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "scopegate-mock-tools", Version: "1"}, nil)
	sdk.AddTool(s, &sdk.Tool{Name: ToolSearch, Description: "Search the (imaginary) web."},
		func(ctx context.Context, req *sdk.CallToolRequest, in searchIn) (*sdk.CallToolResult, any, error) {
			if tok := req.Params.GetProgressToken(); tok != nil {
				for i := 1; i <= Results; i++ {
					err := req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{
						ProgressToken: tok, Progress: float64(i), Total: Results, Message: fmt.Sprintf("result %d", i),
					})
					if err != nil {
						return nil, nil, err
					}
				}
			}
			return text(fmt.Sprintf("%d results for %s", Results, in.Query)), nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: ToolSendEmail, Description: "Send an e-mail."},
		func(_ context.Context, _ *sdk.CallToolRequest, in emailIn) (*sdk.CallToolResult, any, error) {
			return text("sent to " + in.To), nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: ToolDeleteFile, Description: "Delete a file."},
		func(_ context.Context, _ *sdk.CallToolRequest, in pathIn) (*sdk.CallToolResult, any, error) {
			return text("deleted " + in.Path), nil, nil
		})
	return s
}

// New returns the Streamable HTTP handler of one NewServer.
func New(opts Options) http.Handler {
	s := NewServer()
	return sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s },
		&sdk.StreamableHTTPOptions{Stateless: opts.Stateless, JSONResponse: opts.JSONResponse})
}
