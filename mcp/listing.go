package mcp

import (
	"bytes"
	"errors"

	"github.com/scopegate/scopegate/internal/jsonwalk"
)

// ErrBadListing is returned for a listing the gateway cannot read; the
// gateway answers 502 and never passes it on unfiltered.
var ErrBadListing = errors.New("the MCP server's listing could not be read")

// listKinds maps a listing method to its result member, the kind passed to
// the allowed function, and the member naming each item.
var listKinds = map[string][3]string{
	"tools/list":     {"tools", "tool", "name"},
	"prompts/list":   {"prompts", "prompt", "name"},
	"resources/list": {"resources", "resource", "uri"},
	// A template is judged by its uriTemplate, as completion/complete
	// judges it: the rules' globs see the template text.
	"resources/templates/list": {"resourceTemplates", "resource", "uriTemplate"},
}

// IsListing reports whether method's answer is filtered.
func IsListing(method string) bool { _, ok := listKinds[method]; return ok }

// FilterListing drops from a JSON-RPC response to method (tools/list,
// prompts/list, resources/list) the items allowed refuses, keeping every
// other byte as the server sent it. An error response passes unchanged. A
// body that is not a strict JSON-RPC response with the listing array, or an
// item without a string name, is ErrBadListing.
func FilterListing(body []byte, method string, allowed func(kind, name string) bool) ([]byte, error) {
	lk, ok := listKinds[method]
	if !ok {
		return nil, ErrBadListing
	}
	if checkJSON(body) != nil {
		return nil, ErrBadListing
	}
	i := jsonwalk.SkipSpace(body, 0)
	if body[i] != '{' {
		return nil, ErrBadListing
	}
	var buf [8]member
	var result *member
	for _, m := range members(body, i, buf[:0]) {
		switch {
		case m.name == "error":
			return body, nil
		case m.name == "result":
			result = &m
		case caseVariant(m.name, topMembers):
			return nil, ErrBadListing
		}
	}
	if result == nil || body[result.start] != '{' {
		return nil, ErrBadListing
	}
	var list, scope *member
	for _, m := range members(body, result.start, buf[:0]) {
		switch {
		case m.name == lk[0]:
			list = &m
		case m.name == "cacheScope":
			scope = &m
		case caseVariant(m.name, []string{lk[0], "cacheScope"}):
			// Some decoders read "CacheScope" as cacheScope: a variant
			// could undo the private mark, or carry another list.
			return nil, ErrBadListing
		}
	}
	if list == nil || body[list.start] != '[' {
		return nil, ErrBadListing
	}
	els := elements(body, list.start, make([][2]int, 0, 128))
	out := make([]byte, 0, len(body)+len(privateScope))
	// The filtered result is this caller's: its cacheScope (the cache
	// hint of newer protocol revisions, "public" when absent) becomes
	// "private", in place or added first in the result.
	if scope == nil {
		out = append(out, body[:result.start+1]...)
		out = append(out, privateScope...)
		out = append(out, ',')
		out = append(out, body[result.start+1:list.start+1]...)
	} else if scope.start < list.start {
		out = append(out, body[:scope.start]...)
		out = append(out, privateValue...)
		out = append(out, body[scope.end:list.start+1]...)
	} else {
		out = append(out, body[:list.start+1]...)
	}
	first := true
	for _, e := range els {
		if body[e[0]] != '{' {
			return nil, ErrBadListing
		}
		name, found := "", false
		for _, m := range members(body, e[0], buf[:0]) {
			if m.name == lk[2] {
				if body[m.start] != '"' {
					return nil, ErrBadListing
				}
				name, found = jsonwalk.String(body[m.start:m.end]), true
			} else if caseVariant(m.name, lk[2:]) {
				// {"name":"search","Name":"delete_file"} is delete_file to
				// a case-insensitive decoder.
				return nil, ErrBadListing
			}
		}
		if !found {
			return nil, ErrBadListing
		}
		if !allowed(lk[1], name) {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, body[e[0]:e[1]]...)
	}
	out = append(out, ']')
	if scope != nil && scope.start > list.start {
		out = append(out, body[list.end:scope.start]...)
		out = append(out, privateValue...)
		return append(out, body[scope.end:]...), nil
	}
	return append(out, body[list.end:]...), nil
}

// The cache hint of a filtered listing.
const (
	privateValue = `"private"`
	privateScope = `"cacheScope":` + privateValue
)

// FilterSSE filters a text/event-stream answer to a listing request: every
// event whose data is a JSON-RPC response is filtered by FilterListing and
// written back as data lines; other events (notifications, server
// requests) pass unchanged. The stream must be whole and readable, else
// ErrBadListing.
func FilterSSE(stream []byte, method string, allowed func(kind, name string) bool) ([]byte, error) {
	var out bytes.Buffer
	stream = bytes.ReplaceAll(stream, []byte("\r\n"), []byte("\n"))
	for _, ev := range bytes.SplitAfter(stream, []byte("\n\n")) {
		if len(ev) == 0 {
			continue
		}
		var data [][]byte
		var other [][]byte
		for _, line := range bytes.Split(bytes.TrimRight(ev, "\n"), []byte("\n")) {
			if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				data = append(data, bytes.TrimPrefix(v, []byte(" ")))
			} else {
				other = append(other, line)
			}
		}
		payload := bytes.Join(data, []byte("\n"))
		// Events without data, or with empty data (the priming event of a
		// resumable stream), and messages with a method pass.
		if len(bytes.TrimSpace(payload)) == 0 || !isResponse(payload) {
			out.Write(ev)
			continue
		}
		f, err := FilterListing(payload, method, allowed)
		if err != nil {
			return nil, err
		}
		for _, l := range other {
			out.Write(l)
			out.WriteByte('\n')
		}
		// The filtered JSON keeps the server's bytes, newlines included:
		// each line is a data line of its own.
		for _, l := range bytes.Split(f, []byte("\n")) {
			out.WriteString("data: ")
			out.Write(l)
			out.WriteByte('\n')
		}
		out.WriteByte('\n')
	}
	return out.Bytes(), nil
}

// isResponse reports whether payload reads as a JSON-RPC response; an
// unreadable payload counts as one, so that FilterListing refuses it.
func isResponse(payload []byte) bool {
	if checkJSON(payload) != nil {
		return true
	}
	i := jsonwalk.SkipSpace(payload, 0)
	if payload[i] != '{' {
		return true
	}
	var buf [8]member
	for _, m := range members(payload, i, buf[:0]) {
		if m.name == "method" {
			return false
		}
	}
	return true
}
