package demo

import (
	"strings"
	"testing"
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
