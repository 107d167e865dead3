package policy

import (
	"errors"
	"strings"
	"testing"
)

// The seed corpora under testdata/fuzz/ hold the path tricks of
// path_test.go, so that plain `go test` replays them; run
// `go test -fuzz FuzzCanonicalPath ./policy` to search further.

func FuzzCanonicalPath(f *testing.F) {
	f.Add("/v1/chat/completions")
	f.Add("/v1/%6Dodels")
	f.Add("/a%20b/c")
	f.Add("/caf%C3%A9/")
	f.Fuzz(func(t *testing.T, in string) {
		c, d, err := CanonicalPath(in)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("CanonicalPath(%q) error %v does not wrap ErrBadPath", in, err)
			}
			return
		}
		checkCanonical(t, in, c, d)
		if d != "/" && strings.HasSuffix(d, "//") {
			t.Fatalf("decoded %q ends in an empty segment", d)
		}
	})
}

// refMatches reports whether the pattern segments match a decoded path,
// by the definition rather than by the trie.
func refMatches(segs []segment, path string) bool {
	if !strings.HasPrefix(path, "/") {
		return false
	}
	parts := strings.Split(path[1:], "/")
	for k, s := range segs {
		if k >= len(parts) {
			return false
		}
		switch s.kind {
		case segMulti:
			return true
		case segEnd:
			return k == len(parts)-1 && parts[k] == ""
		case segWild:
			if parts[k] == "" {
				return false
			}
		case segLit:
			if parts[k] != s.lit {
				return false
			}
		}
	}
	return len(segs) == len(parts)
}

func refAccepts(r *Route, method string) bool {
	return r.Methods == nil || strings.Contains(","+strings.Join(r.Methods, ",")+",", ","+method+",")
}

func FuzzMatch(f *testing.F) {
	tab := invariantTable(f)
	f.Add("GET", "/v1/models")
	f.Add("POST", "/v1/files/a/b/")
	f.Add("GET", "/v1/dir/")
	f.Fuzz(func(t *testing.T, method, path string) {
		got, params := tab.Match(method, path)
		var candidates []*Route
		for _, r := range tab.Routes() {
			if refAccepts(r, method) && refMatches(r.segs, path) {
				candidates = append(candidates, r)
			}
		}
		if got == nil {
			if len(candidates) > 0 {
				t.Fatalf("Match(%q, %q) = nil; %s matches", method, path, candidates[0])
			}
			return
		}
		if !refAccepts(got, method) || !refMatches(got.segs, path) {
			t.Fatalf("Match(%q, %q) = %s, which does not match", method, path, got)
		}
		for _, r := range candidates {
			if r == got {
				continue
			}
			rel := comparePaths(got.segs, r.segs)
			if rel != moreSpecific && !(rel == equivalent && got.Methods != nil && r.Methods == nil) {
				t.Fatalf("Match(%q, %q) = %s; %s is as specific", method, path, got, r)
			}
		}
		for n, v := range params.All() {
			if strings.Contains(v, "/") && got.segs[len(got.segs)-1].name != n {
				t.Fatalf("param %s = %q spans segments", n, v)
			}
		}
	})
}
