package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const mcpMetadata = `resource_metadata:
  resource: "https://tools.example.com/mcp"
`

func rpcError(t *testing.T, body string) (code int, id string, msg string) {
	t.Helper()
	var e struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.JSONRPC != "2.0" {
		t.Fatalf("body %q is not a JSON-RPC error: %v", body, err)
	}
	return e.Error.Code, string(e.ID), e.Error.Message
}

// TestMCPHostile: the Bad input on the wire, through the gateway
// to the SDK's server.
func TestMCPHostile(t *testing.T) {
	up := newMCPServer(t)
	r := newRig(t, rigOptions{upstreamURL: up.URL, routes: mcpRoute + mcpMetadata})
	tok := r.token("mcp:use", "tool:search")
	call := func(name string) string {
		return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"` + name + `","arguments":{"query":"q"}}}`
	}
	hdrs := []string{"Content-Type", "application/json", "Accept", "application/json, text/event-stream"}
	tests := []struct {
		name    string
		body    string
		hdr     []string
		status  int
		rpcCode int
	}{
		{"refused tool", call("count"), nil, 403, -32600},
		{"denied tool", call("delete_file"), nil, 403, -32600},
		{"batch hides a call", `[{"jsonrpc":"2.0","id":1,"method":"ping"},` + call("delete_file") + `]`, nil, 400, -32600},
		{"duplicate name", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"search","name":"delete_file"}}`, nil, 400, -32600},
		{"case variant", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"search","Name":"delete_file"}}`, nil, 400, -32602},
		{"escaped duplicate", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"search","n\u0061me":"delete_file"}}`, nil, 400, -32600},
		{"trailing message", call("search") + call("delete_file"), nil, 400, -32700},
		{"odd tool name", call(`search\u0000x`), nil, 400, -32602},
		{"header mismatch", call("search"), []string{"Mcp-Method", "tools/call", "Mcp-Name", "delete_file"}, 400, -32020},
		{"method header mismatch", call("delete_file"), []string{"Mcp-Method", "ping"}, 400, -32020},
		{"headers alone decide nothing", call("delete_file"), []string{"Mcp-Method", "tools/call", "Mcp-Name", "delete_file"}, 403, -32600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := r.do("POST", "/mcp", tok, strings.NewReader(tt.body), append(append([]string{}, hdrs...), tt.hdr...)...)
			body := bodyOf(resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%s); want %d", resp.StatusCode, body, tt.status)
			}
			code, _, _ := rpcError(t, body)
			if code != tt.rpcCode {
				t.Errorf("JSON-RPC code %d; want %d", code, tt.rpcCode)
			}
			if tt.status == 403 {
				ch := resp.Header.Get("WWW-Authenticate")
				for _, want := range []string{`error="insufficient_scope"`, `resource_metadata="`} {
					if !strings.Contains(ch, want) {
						t.Errorf("challenge %q lacks %s", ch, want)
					}
				}
			}
		})
	}
	t.Run("challenge names the missing tool scope and echoes the id", func(t *testing.T) {
		resp := r.do("POST", "/mcp", tok, strings.NewReader(call("count")), hdrs...)
		body := bodyOf(resp)
		if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `scope="mcp:use tool:count"`) {
			t.Errorf("challenge %q; want scope=\"mcp:use tool:count\"", ch)
		}
		if _, id, msg := rpcError(t, body); id != "7" || !strings.Contains(msg, "tool:count") {
			t.Errorf("id %s message %q; want id 7 and the scope named", id, msg)
		}
	})
	t.Run("media type", func(t *testing.T) {
		for _, ct := range []string{"text/plain", "application/json; charset=utf-16", "application/x-www-form-urlencoded"} {
			resp := r.do("POST", "/mcp", tok, strings.NewReader(call("search")), "Content-Type", ct)
			if readBody(resp); resp.StatusCode != http.StatusUnsupportedMediaType {
				t.Errorf("Content-Type %q: status %d; want 415", ct, resp.StatusCode)
			}
		}
	})
	t.Run("oversized body", func(t *testing.T) {
		big := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"` + strings.Repeat("a", 1<<20) + `"}}}`
		resp := r.do("POST", "/mcp", tok, strings.NewReader(big), hdrs...)
		if readBody(resp); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d; want 413", resp.StatusCode)
		}
	})
	t.Run("audit names method and tool", func(t *testing.T) {
		readBody(r.do("POST", "/mcp", tok, strings.NewReader(call("count")), hdrs...))
		found := false
		for _, e := range r.logs.All() {
			m := e.ContextMap()
			if m["mcp_method"] == "tools/call" && m["mcp_tool"] == "count" && m["decision"] == "deny" {
				found = true
			}
		}
		if !found {
			t.Error("no audit record with mcp_method tools/call, mcp_tool count, decision deny")
		}
	})
}

// TestMCPSessionReusedByAnotherToken: a session opened by one token gives
// another token nothing: every request is judged by its own token.
func TestMCPSessionReusedByAnotherToken(t *testing.T) {
	up := newMCPServer(t)
	r := newRig(t, rigOptions{upstreamURL: up.URL, routes: mcpRoute})
	hdrs := []string{"Content-Type", "application/json", "Accept", "application/json, text/event-stream"}
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	first := r.token("mcp:use", "tool:count")
	resp := r.do("POST", "/mcp", first, strings.NewReader(init), hdrs...)
	readBody(resp)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: status %d session %q", resp.StatusCode, sid)
	}
	other := r.token("mcp:use")
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"count","arguments":{"query":"q"}}}`
	for range 2 {
		resp = r.do("POST", "/mcp", other, strings.NewReader(call), append(hdrs, "Mcp-Session-Id", sid)...)
		if readBody(resp); resp.StatusCode != http.StatusForbidden {
			t.Errorf("count with the session of a token holding tool:count, by a token without it: status %d; want 403", resp.StatusCode)
		}
	}
	// DELETE ends the session, with the route's scopes.
	resp = r.do("DELETE", "/mcp", first, nil, "Mcp-Session-Id", sid)
	if readBody(resp); resp.StatusCode >= 300 {
		t.Errorf("DELETE: status %d; want success", resp.StatusCode)
	}
}

// TestMCPListingUnreadableIs502: a listing the gateway cannot read is never
// passed on unfiltered.
func TestMCPListingUnreadableIs502(t *testing.T) {
	for name, answer := range map[string]string{
		"duplicate tools": `{"jsonrpc":"2.0","id":1,"result":{"tools":[],"tools":[{"name":"delete_file"}]}}`,
		"truncated":       `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"delete_file"}`,
	} {
		t.Run(name, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(answer))
			}))
			defer up.Close()
			r := newRig(t, rigOptions{upstreamURL: up.URL, routes: mcpRoute})
			resp := r.do("POST", "/mcp", r.token("mcp:use"), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`), "Content-Type", "application/json")
			if body := bodyOf(resp); resp.StatusCode != http.StatusBadGateway || strings.Contains(body, "delete_file") {
				t.Errorf("status %d body %q; want 502 without the listing", resp.StatusCode, body)
			}
		})
	}
}

// TestMCPConditions: conditions see mcp.method, mcp.tool and the bounded
// arguments.
func TestMCPConditions(t *testing.T) {
	up := newMCPServer(t)
	route := `
  - name: mcp
    path: /mcp
    upstream: models
    scopes: ["mcp:use"]
    conditions:
      - "mcp.method != 'tools/call' || (mcp.tool == 'search' && mcp.arguments.query != 'secret')"
    mcp:
      default: allow
      max_argument_bytes: 64
`
	r := newRig(t, rigOptions{upstreamURL: up.URL, routes: route})
	tok := r.token("mcp:use")
	hdrs := []string{"Content-Type", "application/json", "Accept", "application/json, text/event-stream"}
	for _, tt := range []struct {
		name, body string
		status     int
	}{
		{"allowed", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"ok"}}}`, 200},
		{"argument refused", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"secret"}}}`, 403},
		{"tool refused", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"count","arguments":{"query":"ok"}}}`, 403},
		{"arguments over the bound", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"` + strings.Repeat("x", 80) + `"}}}`, 403},
		{"protocol method", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := r.do("POST", "/mcp", tok, strings.NewReader(tt.body), hdrs...)
			if body := bodyOf(resp); resp.StatusCode != tt.status {
				t.Errorf("status %d (%s); want %d", resp.StatusCode, body, tt.status)
			}
		})
	}
}

// TestMCPUnauthorizedNamesResourceMetadata: an MCP client without a token
// finds the authorization server from the 401's resource_metadata.
func TestMCPUnauthorizedNamesResourceMetadata(t *testing.T) {
	up := newMCPServer(t)
	r := newRig(t, rigOptions{upstreamURL: up.URL, routes: mcpRoute + mcpMetadata})
	resp := r.do("POST", "/mcp", "", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`), "Content-Type", "application/json")
	readBody(resp)
	ch := resp.Header.Get("WWW-Authenticate")
	_, after, ok := strings.Cut(ch, `resource_metadata="`)
	if resp.StatusCode != http.StatusUnauthorized || !ok {
		t.Fatalf("status %d challenge %q; want 401 with resource_metadata", resp.StatusCode, ch)
	}
	u, _, _ := strings.Cut(after, `"`)
	_, path, _ := strings.Cut(strings.TrimPrefix(u, "https://"), "/")
	resp = r.do("GET", "/"+path, "", nil)
	var md struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	if err := json.Unmarshal([]byte(bodyOf(resp)), &md); err != nil || md.Resource != "https://tools.example.com/mcp" || len(md.AuthorizationServers) == 0 {
		t.Errorf("metadata at %s: %+v, %v; want the resource and its authorization server", path, md, err)
	}
}
