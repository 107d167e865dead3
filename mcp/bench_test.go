package mcp

import (
	"fmt"
	"strings"
	"testing"
)

// body2K is a tools/call of about 2 KiB, mostly argument text.
var body2K = []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"search_web","arguments":{"query":"` +
	strings.Repeat("lorem ipsum dolor ", 105) + `","limit":10,"filters":{"lang":"en","safe":true}}}}`)

func BenchmarkParseBody2K(b *testing.B) {
	if len(body2K) < 1900 || len(body2K) > 2200 {
		b.Fatalf("body is %d bytes; want about 2 KiB", len(body2K))
	}
	b.SetBytes(int64(len(body2K)))
	b.ReportAllocs()
	for b.Loop() {
		ms, err := ParseBody(body2K, false)
		if err != nil || ms[0].Name != "search_web" {
			b.Fatal(err)
		}
	}
}

func listing100() []byte {
	var sb strings.Builder
	sb.WriteString(`{"jsonrpc":"2.0","id":2,"result":{"tools":[`)
	for i := range 100 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"name":"tool_%d","description":"Does thing number %d with care.","inputSchema":{"type":"object","properties":{"q":{"type":"string"},"n":{"type":"integer"}},"required":["q"]}}`, i, i)
	}
	sb.WriteString(`]}}`)
	return []byte(sb.String())
}

func BenchmarkFilterListing100(b *testing.B) {
	body := listing100()
	tbl, err := Compile(Config{Tools: []Rule{{Name: "tool_1*", Scopes: []string{"tool:one"}}}, Default: "scopes"})
	if err != nil {
		b.Fatal(err)
	}
	has := scopes("tool:one", "tool:tool_5")
	allowed := func(kind, name string) bool { return tbl.Allowed(kind, name, has) }
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FilterListing(body, "tools/list", allowed); err != nil {
			b.Fatal(err)
		}
	}
}
