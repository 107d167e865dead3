package mcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func allowTools(names ...string) func(kind, name string) bool {
	return func(kind, name string) bool {
		for _, n := range names {
			if n == name {
				return true
			}
		}
		return false
	}
}

func toolNames(t *testing.T, body []byte) []string {
	t.Helper()
	var r struct {
		Result struct {
			Tools []struct{ Name string } `json:"tools"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("filtered listing is not JSON: %v: %s", err, body)
	}
	var out []string
	for _, x := range r.Result.Tools {
		out = append(out, x.Name)
	}
	return out
}

func TestFilterListing(t *testing.T) {
	body := `{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"search","inputSchema":{"type":"object"}}, {"name":"delete_file","description":"x"},{"name":"echo"}],"nextCursor":"c"}}`
	got, err := FilterListing([]byte(body), "tools/list", allowTools("search", "echo"))
	if err != nil {
		t.Fatal(err)
	}
	if n := fmt.Sprint(toolNames(t, got)); n != "[search echo]" {
		t.Errorf("got tools %s; want [search echo]", n)
	}
	if !strings.Contains(string(got), `"nextCursor":"c"`) {
		t.Errorf("the rest of the result was lost: %s", got)
	}
	none, err := FilterListing([]byte(body), "tools/list", allowTools())
	if err != nil || string(none) != `{"jsonrpc":"2.0","id":2,"result":{"cacheScope":"private","tools":[],"nextCursor":"c"}}` {
		t.Errorf("got %s, %v; want an empty tools array", none, err)
	}
	errResp := `{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"no"}}`
	if got, err := FilterListing([]byte(errResp), "tools/list", allowTools()); err != nil || string(got) != errResp {
		t.Errorf("an error response was changed: %s %v", got, err)
	}
}

// TestFilterListingFailsClosed: every unreadable listing is an error (the
// gateway's 502), never passed on unfiltered.
func TestFilterListingFailsClosed(t *testing.T) {
	for name, body := range map[string]string{
		"not json":         `{"jsonrpc":"2.0","id":2,"result":{"tools":[`,
		"duplicate name":   `{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","name":"delete_file"}]}}`,
		"duplicate tools":  `{"jsonrpc":"2.0","id":2,"result":{"tools":[],"tools":[{"name":"delete_file"}]}}`,
		"duplicate result": `{"jsonrpc":"2.0","id":2,"result":{"tools":[]},"result":{"tools":[{"name":"x"}]}}`,
		"case variant":     `{"jsonrpc":"2.0","id":2,"result":{"tools":[]},"Result":{"tools":[{"name":"x"}]}}`,
		"nameless tool":    `{"jsonrpc":"2.0","id":2,"result":{"tools":[{"title":"x"}]}}`,
		"name not string":  `{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":["x"]}]}}`,
		"tools not array":  `{"jsonrpc":"2.0","id":2,"result":{"tools":{"name":"x"}}}`,
		"no result":        `{"jsonrpc":"2.0","id":2}`,
		"tool not object":  `{"jsonrpc":"2.0","id":2,"result":{"tools":["x"]}}`,
		"invalid utf8":     "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[{\"name\":\"\xff\"}]}}",
		"trailing":         `{"jsonrpc":"2.0","id":2,"result":{"tools":[]}} {}`,
		"name variant":     `{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","Name":"delete_file"}]}}`,
		"tools variant":    `{"jsonrpc":"2.0","id":2,"result":{"tools":[],"Tools":[{"name":"delete_file"}]}}`,
		"scope variant":    `{"jsonrpc":"2.0","id":2,"result":{"tools":[],"cacheScope":"public","CacheScope":"public"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := FilterListing([]byte(body), "tools/list", allowTools("echo")); !errors.Is(err, ErrBadListing) {
				t.Errorf("got %s, %v; want ErrBadListing", got, err)
			}
		})
	}
}

// TestFilterListingMarksPrivate: a filtered listing is the caller's own, so
// its cacheScope hint (newer protocol revisions; "public" when absent)
// says "private", wherever the server put it, and nothing else changes.
func TestFilterListingMarksPrivate(t *testing.T) {
	for name, tt := range map[string]struct{ in, want string }{
		"absent": {`{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo"},{"name":"rm"}]}}`,
			`{"jsonrpc":"2.0","id":2,"result":{"cacheScope":"private","tools":[{"name":"echo"}]}}`},
		"before the list": {`{"jsonrpc":"2.0","id":2,"result":{"ttlMs":60000, "cacheScope" : "public","tools":[{"name":"rm"},{"name":"echo"}]}}`,
			`{"jsonrpc":"2.0","id":2,"result":{"ttlMs":60000, "cacheScope" : "private","tools":[{"name":"echo"}]}}`},
		"after the list": {`{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo"},{"name":"rm"}],"cacheScope":"public","ttlMs":0}}`,
			`{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo"}],"cacheScope":"private","ttlMs":0}}`},
		"not a string": {`{"jsonrpc":"2.0","id":2,"result":{"tools":[],"cacheScope":{"a":1}}}`,
			`{"jsonrpc":"2.0","id":2,"result":{"tools":[],"cacheScope":"private"}}`},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := FilterListing([]byte(tt.in), "tools/list", allowTools("echo"))
			if err != nil || string(got) != tt.want {
				t.Errorf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestFilterListingResourcesByURI(t *testing.T) {
	body := `{"jsonrpc":"2.0","id":2,"result":{"resources":[{"uri":"file:///public/a","name":"a"},{"uri":"file:///etc/passwd","name":"public"}]}}`
	got, err := FilterListing([]byte(body), "resources/list", func(kind, name string) bool {
		return kind == "resource" && strings.HasPrefix(name, "file:///public/")
	})
	if err != nil || strings.Contains(string(got), "passwd") || !strings.Contains(string(got), "file:///public/a") {
		t.Errorf("got %s, %v; want only file:///public/a", got, err)
	}
}

func TestFilterSSE(t *testing.T) {
	stream := "id: 0\ndata:\n\n" +
		"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"data\":\"tools: delete_file\"}}\n\n" +
		"event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\r\ndata: \"result\":{\"tools\":[{\"name\":\"echo\"},{\"name\":\"delete_file\"}]}}\r\n\r\n"
	got, err := FilterSSE([]byte(stream), "tools/list", allowTools("echo"))
	if err != nil {
		t.Fatal(err)
	}
	want := "id: 0\ndata:\n\n" +
		"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"data\":\"tools: delete_file\"}}\n\n" +
		"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\ndata: \"result\":{\"cacheScope\":\"private\",\"tools\":[{\"name\":\"echo\"}]}}\n\n"
	if string(got) != want {
		t.Errorf("got %q; want %q", got, want)
	}
	bad := "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[{\"name\":\"echo\"},{\"name\":\"rm\"}\n\n"
	if _, err := FilterSSE([]byte(bad), "tools/list", allowTools("echo")); !errors.Is(err, ErrBadListing) {
		t.Errorf("a truncated SSE listing gave %v; want ErrBadListing", err)
	}
}
