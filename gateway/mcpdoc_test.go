package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/testkit"
)

// TestMCPDocExample runs the complete example of docs/mcp.md as written
// (only the issuer's and the MCP server's URLs replaced by test ones) and
// checks what the page says of it: the listing, the forwarded call, and
// the refusal, header and body, byte for byte.
func TestMCPDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/mcp.md")
	if err != nil {
		t.Fatal(err)
	}
	page := string(doc)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(page, -1)
	if len(blocks) == 0 {
		t.Fatal("docs/mcp.md has no yaml block")
	}
	example := blocks[0][1]

	iss, err := issuer.New(issuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	issSrv := httptest.NewServer(iss.Handler())
	defer issSrv.Close()
	iss.SetURL(issSrv.URL)
	s := sdk.NewServer(&sdk.Implementation{Name: "doc", Version: "1"}, nil)
	for _, name := range []string{"search_web", "search_news", "sum", "delete_file"} {
		sdk.AddTool(s, &sdk.Tool{Name: name}, func(context.Context, *sdk.CallToolRequest, searchIn) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: name + " ran"}}}, nil, nil
		})
	}
	up := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, &sdk.StreamableHTTPOptions{Stateless: true}))
	defer up.Close()
	for _, must := range []string{`"https://idp.example.com"`, `"http://127.0.0.1:9000"`} {
		if !strings.Contains(example, must) {
			t.Fatalf("the example no longer names %s; update this test", must)
		}
	}
	y := strings.ReplaceAll(example, `"https://idp.example.com"`, `"`+issSrv.URL+`"`)
	y = strings.ReplaceAll(y, `"http://127.0.0.1:9000"`, `"`+up.URL+`"`)
	cfg, err := config.Parse([]byte(y), noEnv)
	if err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	g, err := New(ctx, cfg, Deps{Logger: zap.NewNop(), Audit: zap.NewNop(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	testkit.WaitFor(t, "keys", g.Ready)
	tok := iss.AccessToken(issuer.AccessTokenSpec{Subject: "alice", ClientID: "agent",
		Audience: []string{"https://tools.example.com/mcp"}, Scopes: []string{"mcp:use", "tool:search"}})
	post := func(body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json, text/event-stream")
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		return w
	}
	call := func(name string) string {
		return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"` + name + `","arguments":{"query":"q"}}}`
	}

	// "tools/list shows search_* tools only"
	w := post(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	var names []string
	for _, m := range regexp.MustCompile(`"name":"([^"]+)"`).FindAllStringSubmatch(w.Body.String(), -1) {
		names = append(names, m[1])
	}
	slices.Sort(names)
	if w.Code != 200 || !slices.Equal(names, []string{"search_news", "search_web"}) {
		t.Errorf("tools/list: %d, tools %v; want search_news and search_web", w.Code, names)
	}
	// "tools/call of search_web is forwarded"
	if w := post(call("search_web")); w.Code != 200 || !strings.Contains(w.Body.String(), "search_web ran") {
		t.Errorf("tools/call search_web: %d %s; want it forwarded", w.Code, w.Body)
	}
	// "tools/call of sum is refused:" and the answer printed below it.
	_, after, _ := strings.Cut(page, "is refused:\n\n")
	printed, _, _ := strings.Cut(after, "\n\nThe MCP SDKs")
	var lines []string
	for _, l := range strings.Split(printed, "\n") {
		lines = append(lines, strings.TrimPrefix(l, "    "))
	}
	status, rest := lines[0], lines[1:]
	var header []string
	i := 0
	for ; i < len(rest) && rest[i] != ""; i++ {
		if strings.HasPrefix(rest[i], "  ") {
			header[len(header)-1] += " " + strings.TrimSpace(rest[i])
		} else {
			header = append(header, rest[i])
		}
	}
	body := strings.Join(rest[i+1:], "\n")
	w = post(call("sum"))
	if got := "HTTP/1.1 " + http.StatusText(w.Code); status != "HTTP/1.1 403 Forbidden" || w.Code != 403 {
		t.Errorf("status %q; the page prints %q", got, status)
	}
	for _, h := range header {
		k, v, _ := strings.Cut(h, ": ")
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s:\n got  %s\n page %s", k, got, v)
		}
	}
	if got, _ := io.ReadAll(w.Body); strings.TrimSpace(string(got)) != body {
		t.Errorf("body:\n got  %s\n page %s", got, body)
	}
}
