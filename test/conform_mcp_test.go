package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scopegate/scopegate/internal/mockmcp"
)

const mcpRoutes = defaultRoutes + `
  - name: tools
    path: /mcp
    upstream: tools
    scopes: ["mcp:use"]
    mcp:
      tools:
        - {name: delete_file, deny: true}
      default: scopes
      scope_template: "tool:{name}"
      allowed_origins: ["https://app.scopegate.test"]
` + metadataBlock

// rpcError is a JSON-RPC 2.0 error response.
type rpcError struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// TestConformMCP checks an MCP route against the MCP authorization
// specification (2025-06-18, 2025-11-25) and its Streamable HTTP
// transport: 401 naming resource_metadata, 403 insufficient_scope with
// the scope that would help, JSON-RPC error bodies, batches, the
// Mcp-Method / Mcp-Name headers, GET and DELETE, and the Origin header.
func TestConformMCP(t *testing.T) {
	t.Parallel()
	var upCalls atomic.Int64
	mcpSrv := mockmcp.New(mockmcp.Options{Stateless: true, JSONResponse: true})
	var passthrough atomic.Int64 // requests that reached the server with an Authorization header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upCalls.Add(1)
		if r.Header.Get("Authorization") != "" {
			passthrough.Add(1)
		}
		mcpSrv.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	e, p := serve(t, envOptions{}, cfg{routes: mcpRoutes, upstreams: "  tools:\n    url: \"" + up.URL + "\"\n"})
	const metaURL = "https://models.scopegate.test/.well-known/oauth-protected-resource"
	tok := e.token("mcp:use", "tool:search")
	args := map[string]map[string]any{"search": {"query": "q"}, "send_email": {"to": "x"}, "delete_file": {"path": "/p"}}
	call := func(id int, name string) []byte {
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call",
			"params": map[string]any{"name": name, "arguments": args[name]}})
		return b
	}
	post := func(tok string, body []byte, hdr ...string) response {
		h := append([]string{"Accept", "application/json, text/event-stream", "MCP-Protocol-Version", "2025-06-18"}, hdr...)
		return p.do("POST", "/mcp", tok, body, h...)
	}
	wantRPC := func(t *testing.T, r response, status, code int, id string) {
		t.Helper()
		if r.StatusCode != status {
			t.Fatalf("status %d; want %d (body %s)", r.StatusCode, status, r.body)
		}
		var m rpcError
		if err := json.Unmarshal(r.body, &m); err != nil || m.Error == nil {
			t.Fatalf("body %s is not a JSON-RPC error response (%v)", r.body, err)
		}
		if m.JSONRPC != "2.0" || m.Error.Message == "" {
			t.Errorf("body %s: want jsonrpc 2.0 and a message", r.body)
		}
		if code != 0 && m.Error.Code != code {
			t.Errorf("error.code %d; want %d", m.Error.Code, code)
		}
		if string(m.ID) != id {
			t.Errorf("id %s; want %s", m.ID, id)
		}
	}

	t.Run("2025-06-18 authorization: the allowed call is forwarded, without the client's token", func(t *testing.T) {
		r := post(tok, call(1, "search"))
		if r.StatusCode != 200 || !strings.Contains(string(r.body), "3 results for q") {
			t.Fatalf("status %d body %s; want the tool's answer", r.StatusCode, r.body)
		}
		// Token passthrough is forbidden: the MCP server never sees it.
		if passthrough.Load() != 0 {
			t.Error("the MCP server received an Authorization header")
		}
	})
	t.Run("2025-06-18 authorization 2.3.1 / RFC 9728 5.1: 401 names resource_metadata", func(t *testing.T) {
		for _, auth := range []string{"", "not-a-valid-token"} {
			r := post(auth, call(2, "search"))
			if r.StatusCode != 401 {
				t.Fatalf("status %d; want 401", r.StatusCode)
			}
			if got := challengeParams(t, r.Header.Get("Www-Authenticate"))["resource_metadata"]; got != metaURL {
				t.Errorf("token %q: resource_metadata %q; want %q", auth, got, metaURL)
			}
		}
	})
	t.Run("2025-11-25 authorization scope challenge: 403 insufficient_scope with scope", func(t *testing.T) {
		r := post(tok, call(3, "send_email"))
		wantRPC(t, r, 403, 0, "3")
		ch := challengeParams(t, r.Header.Get("Www-Authenticate"))
		if ch["error"] != "insufficient_scope" {
			t.Errorf("error %q; want insufficient_scope", ch["error"])
		}
		if s := strings.Fields(ch["scope"]); !contains(s, "tool:send_email") || !contains(s, "mcp:use") {
			t.Errorf("scope %q; want the route's and the tool's scopes (mcp:use tool:send_email)", ch["scope"])
		}
		if ch["resource_metadata"] != metaURL {
			t.Errorf("resource_metadata %q; want %q", ch["resource_metadata"], metaURL)
		}
	})
	t.Run("403 for a denied tool, never forwarded", func(t *testing.T) {
		n := upCalls.Load()
		r := post(e.token("mcp:use", "tool:delete_file"), call(4, "delete_file"))
		wantRPC(t, r, 403, 0, "4")
		if upCalls.Load() != n {
			t.Error("the MCP server received the denied call")
		}
	})
	t.Run("2025-06-18 basic: a batch is refused -32600", func(t *testing.T) {
		r := post(tok, []byte("["+string(call(5, "search"))+","+string(call(6, "send_email"))+"]"))
		wantRPC(t, r, 400, -32600, "null")
	})
	t.Run("JSON-RPC 2.0 parse error -32700", func(t *testing.T) {
		wantRPC(t, post(tok, []byte(`{"jsonrpc":"2.0","id":7,`)), 400, -32700, "null")
	})
	t.Run("JSON-RPC 2.0 jsonrpc not 2.0: -32600", func(t *testing.T) {
		wantRPC(t, post(tok, []byte(`{"jsonrpc":"1.0","id":8,"method":"tools/list"}`)), 400, -32600, "8")
	})
	for _, tc := range []struct {
		rule string
		hdr  []string
	}{
		{"Mcp-Method other than the body's", []string{"Mcp-Method", "tools/list"}},
		{"Mcp-Name other than the body's", []string{"Mcp-Method", "tools/call", "Mcp-Name", "delete_file"}},
		{"Mcp-Name twice", []string{"Mcp-Name", "search", "Mcp-Name", "search"}},
		{"Mcp-Name in the Base64 sentinel form naming another tool", []string{"Mcp-Name", "=?base64?c2VuZF9lbWFpbA==?="}},
		{"Mcp-Name in a Base64 sentinel that does not decode", []string{"Mcp-Name", "=?base64?%%%?="}},
	} {
		t.Run("SEP-2243 HeaderMismatch -32020: "+tc.rule, func(t *testing.T) {
			wantRPC(t, post(tok, call(9, "search"), tc.hdr...), 400, -32020, "9")
		})
	}
	t.Run("SEP-2243 matching Mcp-Method and Mcp-Name pass", func(t *testing.T) {
		if r := post(tok, call(10, "search"), "Mcp-Method", "tools/call", "Mcp-Name", "search"); r.StatusCode != 200 {
			t.Fatalf("status %d body %s", r.StatusCode, r.body)
		}
	})
	t.Run("SEP-2243 an Mcp-Name in the Base64 sentinel form is decoded", func(t *testing.T) {
		// =?base64?c2VhcmNo?= is "search": how a client sends a name a
		// header cannot hold, and any other name it may choose to.
		if r := post(tok, call(10, "search"), "Mcp-Method", "tools/call", "Mcp-Name", "=?base64?c2VhcmNo?="); r.StatusCode != 200 {
			t.Fatalf("status %d body %s; want the call forwarded", r.StatusCode, r.body)
		}
	})
	for _, m := range []string{"GET", "DELETE"} {
		t.Run("transport: "+m+" needs a token (401 with resource_metadata)", func(t *testing.T) {
			r := p.do(m, "/mcp", "", nil, "Accept", "text/event-stream")
			if r.StatusCode != 401 {
				t.Fatalf("status %d; want 401", r.StatusCode)
			}
			if got := challengeParams(t, r.Header.Get("Www-Authenticate"))["resource_metadata"]; got != metaURL {
				t.Errorf("resource_metadata %q; want %q", got, metaURL)
			}
		})
		t.Run("transport: "+m+" with the route's scopes is forwarded", func(t *testing.T) {
			n := upCalls.Load()
			r := p.do(m, "/mcp", tok, nil, "Accept", "text/event-stream", "Mcp-Session-Id", "s-1")
			if upCalls.Load() != n+1 {
				t.Fatalf("status %d; the MCP server did not receive the %s", r.StatusCode, m)
			}
			if a := p.audit(r.id()); a.Decision != "allow" {
				t.Errorf("audit decision %q; want allow", a.Decision)
			}
		})
	}
	t.Run("transport: a GET with a body is refused", func(t *testing.T) {
		r := p.do("GET", "/mcp", tok, []byte(`{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"send_email"}}`))
		wantRPC(t, r, 400, 0, "null")
	})
	t.Run("transport: PUT is 405 with Allow", func(t *testing.T) {
		r := p.do("PUT", "/mcp", tok, call(12, "search"))
		if r.StatusCode != 405 || !strings.Contains(r.Header.Get("Allow"), "POST") {
			t.Fatalf("status %d Allow %q; want 405 naming POST", r.StatusCode, r.Header.Get("Allow"))
		}
	})
	for _, tc := range []struct {
		rule    string
		tok     string
		origins []string
		status  int
	}{
		{"an allowed Origin passes", tok, []string{"https://app.scopegate.test"}, 200},
		{"an allowed Origin compares by RFC 6454 (case, default port)", tok, []string{"HTTPS://App.Scopegate.Test:443"}, 200},
		{"another Origin is 403", tok, []string{"https://evil.example"}, 403},
		{"a look-alike Origin is 403", tok, []string{"https://app.scopegate.test.evil.example"}, 403},
		{"Origin null is 403", tok, []string{"null"}, 403},
		{"two Origin headers are 403", tok, []string{"https://app.scopegate.test", "https://evil.example"}, 403},
		{"another Origin without a token is 403, not 401", "", []string{"https://evil.example"}, 403},
	} {
		t.Run("2025-11-25 transport 2.0.1 Origin: "+tc.rule, func(t *testing.T) {
			n := upCalls.Load()
			var hdr []string
			for _, o := range tc.origins {
				hdr = append(hdr, "Origin", o)
			}
			r := post(tc.tok, call(13, "search"), hdr...)
			if tc.status == 200 {
				if r.StatusCode != 200 {
					t.Fatalf("status %d; want 200 (body %s)", r.StatusCode, r.body)
				}
				return
			}
			wantRPC(t, r, 403, 0, "null")
			if upCalls.Load() != n {
				t.Error("the MCP server received the request")
			}
			if a := p.audit(r.id()); a.Reason != "mcp_origin_not_allowed" {
				t.Errorf("audit reason %q; want mcp_origin_not_allowed", a.Reason)
			}
		})
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
