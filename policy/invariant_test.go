package policy

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// invariantTable is a table with literals, wildcards, rest wildcards, {$}
// and method-specific routes, for the path invariant tests.
func invariantTable(t testing.TB) *Table {
	return mustCompile(t,
		rt("chat", "POST /v1/chat/completions", "chat"),
		rt("models", "GET /v1/models", "read"),
		rt("model", "/v1/models/{id}", "read"),
		rt("files", "/v1/files/{path...}", "files"),
		rt("dir", "/v1/dir/{$}"),
		rt("cafe", "/v1/café/{x}"),
		RouteConfig{Name: "space", Path: "/v1/a b/{x}", Upstream: "models", Scopes: []string{}},
		rt("pct", "/v1/100%25/{x}"),
		rt("root", "/{$}"),
		rt("admin", "/admin/{rest...}", "admin"),
	)
}

// pathPieces are fragments a generated path is made of, chosen for the
// encodings and near misses they exercise.
var pathPieces = []string{
	"/", "/", "/", "v1", "models", "files", "chat", "completions", "dir", "admin", "café", "caf%C3%A9", "caf%c3%a9",
	"%6Dodels", "%6dodels", "a", "b", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "\\", "%00", "%0a", ";", "%3b",
	"%20", " ", "%25", "100", "%", "%4", "%zz", "~", "%7E", "-", ":", "@", "+", "%2B", "?", "#", "%3F", "[", "é", "\xff",
	"%C2%85", "%252e", "x", "X", "%41",
}

func randEscapedPath(rng *rand.Rand) string {
	var b strings.Builder
	if rng.IntN(20) != 0 {
		b.WriteByte('/')
	}
	for range rng.IntN(10) {
		b.WriteString(pathPieces[rng.IntN(len(pathPieces))])
	}
	return b.String()
}

// TestCanonicalMatchInvariant checks that the route chosen for a request
// does not depend on how its path was spelt: whenever CanonicalPath
// accepts a path, the canonical form canonicalizes to itself, and the
// decoded forms of both match the same route.
func TestCanonicalMatchInvariant(t *testing.T) {
	tab := invariantTable(t)
	rng := rand.New(rand.NewPCG(5, 6))
	accepted, matched := 0, 0
	for range 200000 {
		in := randEscapedPath(rng)
		c, d, err := CanonicalPath(in)
		if err != nil {
			continue
		}
		accepted++
		checkCanonical(t, in, c, d)
		c2, d2, _ := CanonicalPath(c)
		for _, m := range []string{"GET", "POST"} {
			r1, p1 := tab.Match(m, d)
			r2, p2 := tab.Match(m, d2)
			if r1 != r2 {
				t.Fatalf("%s %q: decoded %q matches %v but canonical %q matches %v", m, in, d, r1, c2, r2)
			}
			if r1 != nil {
				matched++
				for n, v := range p1.All() {
					if p2.Get(n) != v {
						t.Fatalf("%q: param %s = %q, then %q", in, n, v, p2.Get(n))
					}
				}
			}
		}
	}
	t.Logf("%d paths accepted, %d matches", accepted, matched)
	if accepted < 1000 || matched < 100 {
		t.Errorf("generator too weak: %d accepted, %d matched", accepted, matched)
	}
}
