package policy

import (
	"hash/maphash"
	"strings"
)

// Table is a compiled route table. It is immutable and safe for concurrent
// use.
type Table struct {
	routes []*Route
	root   node
	seed   maphash.Seed // for the trie's literal tables
}

// Routes returns the routes in configuration order.
func (t *Table) Routes() []*Route {
	return append([]*Route(nil), t.routes...)
}

// Match returns the route for a request, or nil if none matches, in which
// case the request must be refused and never forwarded. decodedPath is the
// decoded form returned by CanonicalPath.
//
// Among the routes whose pattern and methods match, the most specific one
// wins, as in net/http's ServeMux: segment by segment a literal beats a
// {name}, which beats a {name...} or trailing "/"; on the same pattern a
// route listing the method beats an any-method route. Compile refuses
// tables where this leaves a tie. The cost depends on the path, not on the
// number of routes, and Match does not allocate.
func (t *Table) Match(method, decodedPath string) (*Route, Params) {
	if t == nil || decodedPath == "" || decodedPath[0] != '/' {
		return nil, Params{}
	}
	r := t.root.lookup(method, decodedPath, 1)
	if r == nil {
		return nil, Params{}
	}
	return r, Params{segs: r.segs, path: decodedPath}
}

// StandardMethods are the methods Allow reports for a route that takes
// any method: RFC 9110's, less CONNECT and TRACE, which the gateway never
// forwards.
var StandardMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// anyMethodProbe is a method no route can list (Compile refuses methods
// that are not tokens of upper-case letters), so that only any-method
// routes match it.
const anyMethodProbe = "\x00"

// Allow returns the methods some route takes on decodedPath, in
// StandardMethods' order followed by other listed methods, or nil when no
// route has the path at all: the Allow header of a 405. A path an
// any-method route takes lists StandardMethods.
func (t *Table) Allow(decodedPath string) []string {
	if r, _ := t.Match(anyMethodProbe, decodedPath); r != nil {
		return StandardMethods
	}
	var out []string
	seen := map[string]bool{}
	for _, r := range t.routes {
		for _, m := range r.Methods {
			if seen[m] {
				continue
			}
			seen[m] = true
			if got, _ := t.Match(m, decodedPath); got != nil {
				out = append(out, m)
			}
		}
	}
	return out
}

// node is a node of the segment trie. A route ends at the node reached by
// its pattern's segments.
type node struct {
	lits  litTable
	wild  *node
	multi *node // a leaf
	end   *node // a leaf
	// anyMethod and byMethod are the routes ending here; byMethod is a
	// short slice searched linearly.
	anyMethod *Route
	byMethod  []methodRoute
	routes    []*Route // every route ending here, for Compile's checks
}

type methodRoute struct {
	method string
	route  *Route
}

// accept returns the route ending at n that takes method, preferring one
// that names it.
func (n *node) accept(method string) *Route {
	for _, mr := range n.byMethod {
		if mr.method == method {
			return mr.route
		}
	}
	return n.anyMethod
}

// lookup matches path[i:], the part after a '/', below n; literal children
// are tried first, then the single wildcard, then the rest wildcard, and a
// branch whose routes refuse the method is backtracked out of.
func (n *node) lookup(method, path string, i int) *Route {
	if j := strings.IndexByte(path[i:], '/'); j >= 0 {
		seg := path[i : i+j]
		if c := n.lits.get(seg); c != nil {
			if r := c.lookup(method, path, i+j+1); r != nil {
				return r
			}
		}
		if n.wild != nil && seg != "" {
			if r := n.wild.lookup(method, path, i+j+1); r != nil {
				return r
			}
		}
	} else if seg := path[i:]; seg == "" {
		if n.end != nil {
			if r := n.end.accept(method); r != nil {
				return r
			}
		}
	} else {
		if c := n.lits.get(seg); c != nil {
			if r := c.accept(method); r != nil {
				return r
			}
		}
		if n.wild != nil {
			if r := n.wild.accept(method); r != nil {
				return r
			}
		}
	}
	if n.multi != nil {
		return n.multi.accept(method)
	}
	return nil
}

// insert adds r under its pattern, creating nodes as needed.
func (n *node) insert(r *Route, seed maphash.Seed) {
	for _, s := range r.segs {
		var next **node
		switch s.kind {
		case segLit:
			n = n.lits.getOrAdd(s.lit, seed)
			continue
		case segWild:
			next = &n.wild
		case segMulti:
			next = &n.multi
		case segEnd:
			next = &n.end
		}
		if *next == nil {
			*next = &node{}
		}
		n = *next
	}
	n.routes = append(n.routes, r)
	if r.Methods == nil {
		if n.anyMethod == nil {
			n.anyMethod = r
		}
		return
	}
next:
	for _, m := range r.Methods {
		for _, mr := range n.byMethod {
			if mr.method == m {
				continue next // a duplicate, which Compile reports
			}
		}
		n.byMethod = append(n.byMethod, methodRoute{m, r})
	}
}

// overlapping calls visit for every route below n whose pattern can match
// a request path that segs[k:] also matches.
func (n *node) overlapping(segs []segment, k int, visit func(*Route)) {
	if k == len(segs) {
		for _, r := range n.routes {
			visit(r)
		}
		return
	}
	switch s := segs[k]; s.kind {
	case segMulti:
		for _, c := range n.children() {
			c.all(visit)
		}
		return
	case segLit:
		if c := n.lits.get(s.lit); c != nil {
			c.overlapping(segs, k+1, visit)
		}
		if n.wild != nil {
			n.wild.overlapping(segs, k+1, visit)
		}
	case segWild:
		n.lits.all(func(c *node) { c.overlapping(segs, k+1, visit) })
		if n.wild != nil {
			n.wild.overlapping(segs, k+1, visit)
		}
	case segEnd:
		if n.end != nil {
			n.end.overlapping(segs, k+1, visit)
		}
	}
	if n.multi != nil {
		n.multi.all(visit)
	}
}

func (n *node) children() []*node {
	var cs []*node
	n.lits.all(func(c *node) { cs = append(cs, c) })
	for _, c := range []*node{n.wild, n.multi, n.end} {
		if c != nil {
			cs = append(cs, c)
		}
	}
	return cs
}

// all calls visit for every route at or below n.
func (n *node) all(visit func(*Route)) {
	for _, r := range n.routes {
		visit(r)
	}
	for _, c := range n.children() {
		c.all(visit)
	}
}
