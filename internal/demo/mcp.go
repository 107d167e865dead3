package demo

import "fmt"

// mcpCommands are the welcome text's MCP blocks (7 to 10): the JSON-RPC
// a client of the Streamable HTTP transport POSTs, with the token of the
// other blocks (it holds mcp:tools and tool:search, not tool:send_email).
// The MCP server behind /mcp is stateless, so each command works alone.
func mcpCommands(proxy string) string {
	const hdrs = `-H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream'`
	return fmt.Sprintf(`# 7. MCP: initialize with the MCP server behind /mcp (200; the answer is a
#    server-sent event, as the Streamable HTTP transport allows)
curl -s %[1]s/mcp %[2]s \
  -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'

# 8. MCP: the tool list shows only what the token may call: search (send_email
#    needs tool:send_email; delete_file is denied to every token)
curl -s %[1]s/mcp %[2]s \
  -d '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'

# 9. MCP: allowed, the tool search (the token holds tool:search), streamed with progress
curl -N %[1]s/mcp %[2]s \
  -d '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search","arguments":{"query":"lighthouses"},"_meta":{"progressToken":1}}}'

# 10. MCP: refused, 403 insufficient_scope: send_email needs tool:send_email; the
#     challenge names it, and the body is a JSON-RPC error that MCP clients show
curl -i %[1]s/mcp %[2]s \
  -d '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"send_email","arguments":{"to":"bob@example.com"}}}'

`, proxy, hdrs)
}
