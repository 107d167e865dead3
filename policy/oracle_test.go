package policy

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// net/http's ServeMux is the reference for the conflict and precedence
// rules Compile and Match implement. These tests compare the two on random
// route tables. Methods are drawn without GET and HEAD, where ServeMux
// deliberately differs (its GET also matches HEAD).

var oracleMethods = []string{"", "POST", "PUT", "DELETE"}

func randPattern(rng *rand.Rand) string {
	var b strings.Builder
	n := rng.IntN(4)
	for i := range n {
		switch rng.IntN(4) {
		case 0, 1:
			b.WriteString("/" + []string{"a", "b"}[rng.IntN(2)])
		default:
			fmt.Fprintf(&b, "/{w%d}", i)
		}
	}
	switch rng.IntN(4) {
	case 0:
		b.WriteString("/")
	case 1:
		b.WriteString("/{rest...}")
	case 2:
		b.WriteString("/{$}")
	default:
		if n == 0 {
			b.WriteString("/a")
		}
	}
	return b.String()
}

func randPath(rng *rand.Rand) string {
	var b strings.Builder
	n := 1 + rng.IntN(5)
	for range n {
		b.WriteString("/" + []string{"a", "b", "c"}[rng.IntN(3)])
	}
	if rng.IntN(3) == 0 {
		b.WriteString("/")
	}
	return b.String()
}

type oracleHandler int

func (oracleHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}

// muxRegister registers the routes on a ServeMux and reports whether it
// panicked on a conflict.
func muxRegister(mux *http.ServeMux, routes []RouteConfig) (conflict bool) {
	defer func() {
		if recover() != nil {
			conflict = true
		}
	}()
	for i, rc := range routes {
		if rc.Methods == nil {
			mux.Handle(rc.Path, oracleHandler(i))
			continue
		}
		for _, m := range rc.Methods {
			mux.Handle(m+" "+rc.Path, oracleHandler(i))
		}
	}
	return false
}

func randRoutes(rng *rand.Rand, n int) []RouteConfig {
	routes := make([]RouteConfig, n)
	for i := range routes {
		routes[i] = RouteConfig{Name: fmt.Sprint("r", i), Path: randPattern(rng), Upstream: "u", Scopes: []string{}}
		if m := oracleMethods[rng.IntN(len(oracleMethods))]; m != "" {
			routes[i].Methods = []string{m}
		}
	}
	return routes
}

func TestCompileAgreesWithServeMux(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var conflicts, fine int
	for range 20000 {
		routes := randRoutes(rng, 2+rng.IntN(3))
		_, err := Compile(routes, nil)
		muxConflict := muxRegister(http.NewServeMux(), routes)
		if (err != nil) != muxConflict {
			var lines []string
			for _, rc := range routes {
				lines = append(lines, describeCfg(rc))
			}
			t.Fatalf("routes %q: Compile error %v; ServeMux conflict %v", lines, err, muxConflict)
		}
		if muxConflict {
			conflicts++
		} else {
			fine++
		}
	}
	t.Logf("%d conflicting tables, %d compatible tables", conflicts, fine)
}

func describeCfg(rc RouteConfig) string {
	return strings.TrimSpace(strings.Join(rc.Methods, ",") + " " + rc.Path)
}

func TestMatchAgreesWithServeMux(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tables, redirects := 0, 0
	for tables < 300 {
		routes := randRoutes(rng, 2+rng.IntN(8))
		tab, err := Compile(routes, nil)
		if err != nil {
			continue
		}
		tables++
		mux := http.NewServeMux()
		if muxRegister(mux, routes) {
			t.Fatalf("ServeMux refused a table Compile accepted: %v", routes)
		}
		for range 50 {
			method := oracleMethods[1+rng.IntN(len(oracleMethods)-1)]
			path := randPath(rng)
			want := -1
			h, pattern := mux.Handler(httptest.NewRequest(method, path, nil))
			if i, ok := h.(oracleHandler); ok {
				want = int(i)
			} else if pattern != "" {
				// ServeMux redirects to add a trailing slash; the
				// gateway does not, so there is nothing to compare.
				redirects++
				continue
			}
			got := -1
			if r, _ := tab.Match(method, path); r != nil {
				got = r.Index
			}
			if got != want {
				var lines []string
				for _, rc := range routes {
					lines = append(lines, describeCfg(rc))
				}
				t.Fatalf("%s %s: Match chose route %d; ServeMux chose %d\nroutes:\n%s", method, path, got, want, strings.Join(lines, "\n"))
			}
		}
	}
	t.Logf("%d tables, %d requests skipped for ServeMux redirects", tables, redirects)
}
