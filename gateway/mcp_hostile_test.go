package gateway

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scopegate/scopegate/config"
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
		// Odd names: each is refused before any rule or template sees it,
		// or judged as the exact name it is.
		{"name with space (scope injection)", call(`x tool:search`), nil, 400, -32602},
		{"name with quote (challenge injection)", call(`x\" scope=\"tool:search`), nil, 400, -32602},
		{"name with backslash", call(`search\\x`), nil, 400, -32602},
		{"name with CR LF", call(`search\r\nX-Injected: 1`), nil, 400, -32602},
		{"name with DEL", call("search\u007f"), nil, 400, -32602},
		{"name with C1 control", call(`search\u0085`), nil, 400, -32602},
		{"name with line separator", call(`search\u2028`), nil, 400, -32602},
		{"name of 129 bytes", call(strings.Repeat("s", 129)), nil, 400, -32602},
		{"empty name", call(""), nil, 400, -32602},
		{"name not a string", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":["search"]}}`, nil, 400, -32602},
		{"case variant of an allowed tool", call("Search"), nil, 403, -32600},
		{"look-alike of an allowed tool (Cyrillic s)", call("ѕearch"), nil, 403, -32600},
		{"allowed tool's name after a no-break space", call("\u00a0search"), nil, 403, -32600},
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
	t.Run("a name that makes no scope names none", func(t *testing.T) {
		// The challenge drops what a scope-token cannot hold: were
		// "tool:\u00a0search" named, the client would read tool:search.
		resp := r.do("POST", "/mcp", tok, strings.NewReader(call("\u00a0search")), hdrs...)
		if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 403 || strings.Contains(ch, "scope=") {
			t.Errorf("status %d challenge %q; want 403 without scope=", resp.StatusCode, ch)
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
		// Chunked, without a Content-Length: the cap holds while reading.
		resp = r.do("POST", "/mcp", tok, io.MultiReader(strings.NewReader(big)), hdrs...)
		if readBody(resp); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked: status %d; want 413", resp.StatusCode)
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
	// The other way: a session opened by a token without tool:count, used
	// by one holding it, is judged by the new token too (allowed), and a
	// listing on it is filtered for the token of that request.
	resp = r.do("POST", "/mcp", other, strings.NewReader(init), hdrs...)
	sid2 := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid2 == "" {
		t.Fatalf("initialize: status %d session %q", resp.StatusCode, sid2)
	}
	for _, tt := range []struct {
		tok, body, want string
		status          int
	}{
		{first, call, "3", 200},
		{other, call, "", 403},
		{first, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`, `"name":"count"`, 200},
		{other, `{"jsonrpc":"2.0","id":4,"method":"tools/list"}`, `"tools":[]`, 200},
	} {
		resp = r.do("POST", "/mcp", tt.tok, strings.NewReader(tt.body), append(hdrs, "Mcp-Session-Id", sid2)...)
		if body := bodyOf(resp); resp.StatusCode != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s on a reused session: status %d body %s; want %d with %s", tt.body, resp.StatusCode, body, tt.status, tt.want)
		}
	}
	// DELETE ends the session, with the route's scopes.
	for _, id := range []string{sid, sid2} {
		resp = r.do("DELETE", "/mcp", first, nil, "Mcp-Session-Id", id)
		if readBody(resp); resp.StatusCode >= 300 {
			t.Errorf("DELETE: status %d; want success", resp.StatusCode)
		}
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

// TestMCPOnlyTransportMethods: a route only partly treated as MCP is a
// bypass. Only a POST's messages are judged, so other methods are refused
// before anything is forwarded: PUT and PATCH by the route table (405 with
// Allow), a GET or DELETE with a body by the MCP reader (400); and a
// route may not list another method.
func TestMCPOnlyTransportMethods(t *testing.T) {
	var reached atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	defer up.Close()
	r := newRig(t, rigOptions{upstreamURL: up.URL, routes: mcpRoute})
	tok := r.token("mcp:use")
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"delete_file","arguments":{"query":"q"}}}`
	for _, tt := range []struct {
		method string
		body   io.Reader
		hdr    []string
		status int
	}{
		{"PUT", strings.NewReader(body), nil, http.StatusMethodNotAllowed},
		{"PATCH", strings.NewReader(body), nil, http.StatusMethodNotAllowed},
		{"GET", strings.NewReader(body), nil, http.StatusBadRequest},
		{"DELETE", strings.NewReader(body), []string{"Mcp-Session-Id", "x"}, http.StatusBadRequest},
		{"GET", io.MultiReader(strings.NewReader(body)), nil, http.StatusBadRequest}, // chunked
	} {
		resp := r.do(tt.method, "/mcp", tok, tt.body, append([]string{"Content-Type", "application/json", "Accept", "application/json, text/event-stream"}, tt.hdr...)...)
		if resp.StatusCode != tt.status {
			t.Errorf("%s with a tools/call body: status %d (%s); want %d", tt.method, resp.StatusCode, bodyOf(resp), tt.status)
		}
		if tt.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, POST, DELETE" {
			t.Errorf("%s: Allow %q; want the transport's methods", tt.method, resp.Header.Get("Allow"))
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d requests reached the MCP server", n)
	}
	_, err := config.Parse([]byte(fmt.Sprintf(rigConfig, "http://127.0.0.1:1", "http://127.0.0.1:2", "", "", "", "1h", "2s")+`
  - name: mcp
    methods: [POST, PUT]
    path: /mcp
    upstream: models
    mcp: {default: allow}
`), noEnv)
	if err == nil || !strings.Contains(err.Error(), "routes[") || !strings.Contains(err.Error(), `"PUT" is not a method of MCP`) {
		t.Errorf("an MCP route listing PUT: %v; want a config error naming it", err)
	}
}

// TestMCPBatchedListingNotPassedUnfiltered: with batches allowed, a
// listing inside a batch is answered by the server in an array the
// filter does not read; the batch is refused and never forwarded, so
// the whole list (delete_file included) never reaches the client.
func TestMCPBatchedListingNotPassedUnfiltered(t *testing.T) {
	var hits atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"search"},{"name":"delete_file"}]}},{"jsonrpc":"2.0","id":2,"result":{}}]`))
	}))
	defer up.Close()
	routes := strings.Replace(mcpRoute, "      default: scopes\n", "      default: scopes\n      allow_batches: true\n", 1)
	r := newRig(t, rigOptions{upstreamURL: up.URL, routes: routes})
	for name, batch := range map[string]string{
		"listing and ping": `[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"ping"}]`,
		"ping and listing": `[{"jsonrpc":"2.0","id":2,"method":"ping"},{"jsonrpc":"2.0","id":1,"method":"tools/list"}]`,
		"listing alone":    `[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]`,
	} {
		t.Run(name, func(t *testing.T) {
			before := hits.Load()
			resp := r.do("POST", "/mcp", r.token("mcp:use", "tool:search"), strings.NewReader(batch), "Content-Type", "application/json")
			body := bodyOf(resp)
			if strings.Contains(body, "delete_file") {
				t.Fatalf("status %d body %q: the unfiltered listing reached the client", resp.StatusCode, body)
			}
			if resp.StatusCode != http.StatusBadRequest || hits.Load() != before {
				t.Errorf("status %d body %q, forwarded %v; want 400, not forwarded", resp.StatusCode, body, hits.Load() != before)
			}
			if code, _, _ := rpcError(t, body); code != -32600 {
				t.Errorf("JSON-RPC code %d; want -32600", code)
			}
		})
	}
}

// TestMCPListingAsksForNoEncoding: a client sending Accept-Encoding gets
// its listing filtered, not a 502: the server is asked for an unencoded
// answer, which the filter can read.
func TestMCPListingAsksForNoEncoding(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const answer = `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"search"},{"name":"delete_file"}]}}`
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			_, _ = zw.Write([]byte(answer))
			_ = zw.Close()
			return
		}
		_, _ = w.Write([]byte(answer))
	}))
	defer up.Close()
	r := newRig(t, rigOptions{upstreamURL: up.URL, routes: mcpRoute})
	resp := r.do("POST", "/mcp", r.token("mcp:use", "tool:search"), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`),
		"Content-Type", "application/json", "Accept-Encoding", "gzip")
	body := bodyOf(resp)
	if resp.StatusCode != 200 || !strings.Contains(body, `"search"`) || strings.Contains(body, "delete_file") {
		t.Errorf("status %d body %q; want 200 with search only", resp.StatusCode, body)
	}
}

// TestMCPResourceTemplatesFiltered: the answer to resources/templates/list
// keeps only the templates the token may read (by the resources rules on
// their uriTemplate), as resources/list keeps only the resources.
func TestMCPResourceTemplatesFiltered(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":{"resourceTemplates":[{"uriTemplate":"file:///public/{path}","name":"public"},{"uriTemplate":"file:///secret/{path}","name":"secret"}]}}`))
	}))
	defer up.Close()
	routes := strings.Replace(mcpRoute, "      default: scopes\n", "      resources:\n        - {uri: \"file:///public/*\", scopes: [\"files:read\"]}\n      default: scopes\n", 1)
	r := newRig(t, rigOptions{upstreamURL: up.URL, routes: routes})
	resp := r.do("POST", "/mcp", r.token("mcp:use", "files:read"), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"resources/templates/list"}`), "Content-Type", "application/json")
	body := bodyOf(resp)
	if resp.StatusCode != 200 || !strings.Contains(body, "file:///public/{path}") || strings.Contains(body, "secret") {
		t.Errorf("status %d body %q; want 200 with the public template only", resp.StatusCode, body)
	}
}
