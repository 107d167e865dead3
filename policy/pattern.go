package policy

import (
	"fmt"
	"strings"
)

// segKind is the kind of one segment of a path pattern.
type segKind uint8

const (
	segLit   segKind = iota // a literal segment, compared with the decoded request segment
	segWild                 // {name}: any one non-empty segment
	segMulti                // {name...} or a trailing "/": the rest of the path, possibly empty
	segEnd                  // {$}: the trailing slash and nothing after it
)

type segment struct {
	kind segKind
	lit  string // decoded literal, for segLit
	name string // wildcard name; "" for an anonymous trailing "/"
}

// parsePattern parses the path of a net/http pattern: literal segments,
// {name} segments, a final {name...} or trailing "/" (a prefix), and a final
// {$}. Literal segments may be percent-escaped; they must survive
// CanonicalPath, since a literal no canonical path contains could never
// match.
func parsePattern(p string) ([]segment, error) {
	if p == "" {
		return nil, fmt.Errorf("missing path: write a pattern such as /v1/models or /v1/files/{id}")
	}
	if p[0] != '/' {
		if i := strings.IndexByte(p, ' '); i > 0 && strings.Contains(p[i:], "/") {
			return nil, fmt.Errorf("path %q must start with \"/\": list methods under methods:, not in the path", p)
		}
		return nil, fmt.Errorf("path %q must start with \"/\" (host patterns are not supported)", p)
	}
	var segs []segment
	names := map[string]bool{}
	rest := p[1:]
	for {
		if rest == "" {
			// "/" or a trailing slash: a prefix, as in ServeMux.
			return append(segs, segment{kind: segMulti}), nil
		}
		raw, after, more := strings.Cut(rest, "/")
		if raw == "" {
			return nil, fmt.Errorf("path %q has an empty segment (\"//\"): remove the doubled slash", p)
		}
		if !strings.ContainsAny(raw, "{}") {
			_, dec, err := CanonicalPath("/" + raw)
			if err != nil {
				reason := err.Error()
				if pe, ok := err.(*PathError); ok {
					reason = pe.Reason
				}
				return nil, fmt.Errorf("path %q: segment %q can never match a request path (%s)", p, raw, reason)
			}
			segs = append(segs, segment{kind: segLit, lit: dec[1:]})
			if !more {
				return segs, nil
			}
			rest = after
			continue
		}
		if len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' || strings.ContainsAny(raw[1:len(raw)-1], "{}") {
			return nil, fmt.Errorf("path %q: segment %q: a wildcard must be a whole segment, like {id}", p, raw)
		}
		name := raw[1 : len(raw)-1]
		if name == "$" {
			if more {
				return nil, fmt.Errorf("path %q: {$} must be the last segment", p)
			}
			return append(segs, segment{kind: segEnd}), nil
		}
		kind := segWild
		if n, ok := strings.CutSuffix(name, "..."); ok {
			if more {
				return nil, fmt.Errorf("path %q: {%s} must be the last segment", p, name)
			}
			kind, name = segMulti, n
		}
		if !isIdent(name) {
			return nil, fmt.Errorf("path %q: wildcard name %q must be a Go identifier (letters, digits, '_'; not starting with a digit)", p, name)
		}
		if names[name] {
			return nil, fmt.Errorf("path %q: wildcard name %q is used twice: give each wildcard its own name", p, name)
		}
		names[name] = true
		segs = append(segs, segment{kind: kind, name: name})
		if !more {
			return segs, nil
		}
		rest = after
	}
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// relationship is how the sets of requests matched by two patterns relate;
// the names and rules follow net/http's routing.
type relationship uint8

const (
	equivalent   relationship = iota // the same requests
	moreGeneral                      // a strict superset
	moreSpecific                     // a strict subset
	disjoint                         // no request in common
	overlaps                         // some requests in common, neither contains the other
)

func inverse(r relationship) relationship {
	switch r {
	case moreGeneral:
		return moreSpecific
	case moreSpecific:
		return moreGeneral
	}
	return r
}

func combine(r1, r2 relationship) relationship {
	switch r1 {
	case equivalent:
		return r2
	case disjoint:
		return disjoint
	case overlaps:
		if r2 == disjoint {
			return disjoint
		}
		return overlaps
	default: // moreGeneral, moreSpecific
		switch r2 {
		case equivalent:
			return r1
		case inverse(r1):
			return overlaps
		default:
			return r2
		}
	}
}

func compareSegments(s1, s2 segment) relationship {
	switch {
	case s1.kind == segMulti && s2.kind == segMulti:
		return equivalent
	case s1.kind == segMulti:
		return moreGeneral
	case s2.kind == segMulti:
		return moreSpecific
	case s1.kind == segEnd || s2.kind == segEnd:
		// {$} stands for a final empty segment, which only {$} and a
		// multi match.
		if s1.kind == s2.kind {
			return equivalent
		}
		return disjoint
	case s1.kind == segWild && s2.kind == segWild:
		return equivalent
	case s1.kind == segWild:
		return moreGeneral
	case s2.kind == segWild:
		return moreSpecific
	case s1.lit == s2.lit:
		return equivalent
	}
	return disjoint
}

// comparePaths relates the request paths two patterns match.
func comparePaths(p1, p2 []segment) relationship {
	last1, last2 := p1[len(p1)-1], p2[len(p2)-1]
	if len(p1) != len(p2) && last1.kind != segMulti && last2.kind != segMulti {
		return disjoint
	}
	rel := equivalent
	n := min(len(p1), len(p2))
	for i := range n {
		rel = combine(rel, compareSegments(p1[i], p2[i]))
		if rel == disjoint {
			return rel
		}
	}
	switch {
	case len(p1) == len(p2):
		return rel
	case len(p1) < len(p2) && last1.kind == segMulti:
		return combine(rel, moreGeneral)
	case len(p2) < len(p1) && last2.kind == segMulti:
		return combine(rel, moreSpecific)
	}
	return disjoint
}

// compareMethods relates two method entries, "" meaning any method. GET
// does not imply HEAD here: a route matches exactly the methods it lists.
func compareMethods(m1, m2 string) relationship {
	switch {
	case m1 == m2:
		return equivalent
	case m1 == "":
		return moreGeneral
	case m2 == "":
		return moreSpecific
	}
	return disjoint
}

// examplePath returns a decoded request path that both patterns match; they
// must not be disjoint.
func examplePath(p1, p2 []segment) string {
	at := func(p []segment, i int) segment {
		if i < len(p) {
			return p[i]
		}
		return segment{kind: segMulti} // only a multi can have run out
	}
	var b strings.Builder
	for i := 0; i < len(p1) || i < len(p2); i++ {
		s1, s2 := at(p1, i), at(p2, i)
		switch {
		case s1.kind == segEnd || s2.kind == segEnd:
			b.WriteString("/")
			return b.String()
		case s1.kind == segLit:
			b.WriteString("/" + s1.lit)
		case s2.kind == segLit:
			b.WriteString("/" + s2.lit)
		case s1.kind == segMulti && s2.kind == segMulti:
			b.WriteString("/x")
			return b.String()
		default:
			b.WriteString("/x")
		}
	}
	return b.String()
}
