package policy

import (
	"fmt"
	"testing"
)

// benchTable has n routes: the three the benchmark requests, and filler
// shaped like real APIs (literals, wildcards, rest wildcards, methods).
func benchTable(b *testing.B, n int) *Table {
	routes := []RouteConfig{
		rt("chat", "POST /v1/chat/completions", "chat"),
		rt("model", "GET /v1/models/{id}", "read"),
		rt("files", "/v1/files/{path...}", "files"),
	}
	for i := 0; len(routes) < n; i++ {
		switch i % 3 {
		case 0:
			routes = append(routes, rt(fmt.Sprint("svc", i), fmt.Sprintf("GET /svc%d/items/{id}", i)))
		case 1:
			routes = append(routes, rt(fmt.Sprint("svc", i), fmt.Sprintf("/v1/svc%d/{rest...}", i)))
		default:
			routes = append(routes, rt(fmt.Sprint("svc", i), fmt.Sprintf("POST /v1/models/{id}/svc%d", i)))
		}
	}
	tab, err := Compile(routes, nil)
	if err != nil {
		b.Fatal(err)
	}
	return tab
}

func BenchmarkMatch(b *testing.B) {
	requests := []struct{ name, method, path string }{
		{"literal", "POST", "/v1/chat/completions"},
		{"param", "GET", "/v1/models/gpt-4o"},
		{"rest", "GET", "/v1/files/a/b/c.txt"},
		{"miss", "GET", "/v2/unknown/path"},
	}
	for _, n := range []int{10, 1000, 10000} {
		tab := benchTable(b, n)
		for _, rq := range requests {
			b.Run(fmt.Sprintf("routes=%d/%s", n, rq.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					r, p := tab.Match(rq.method, rq.path)
					if (r == nil) != (rq.name == "miss") {
						b.Fatal("unexpected match result")
					}
					_ = p
				}
			})
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprint("routes=", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				benchTable(b, n)
			}
		})
	}
}

func BenchmarkCanonicalPath(b *testing.B) {
	for _, bc := range []struct{ name, path string }{
		{"plain", "/v1/chat/completions"},
		{"escaped", "/v1/files/caf%C3%A9/a%20b/%6Dodel"},
		{"refused", "/v1/%2e%2e/admin"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _, _ = CanonicalPath(bc.path)
			}
		})
	}
}
