package mcp

import (
	"bytes"
	"errors"
	"unicode/utf8"

	"github.com/scopegate/scopegate/internal/jsonwalk"
)

// MaxDepth bounds the nesting of a JSON-RPC message or listing.
const MaxDepth = 32

// Errors of the strict reader. They never quote the input.
var (
	ErrBadUTF8   = errors.New("not valid UTF-8")
	ErrBadJSON   = errors.New("not valid JSON")
	ErrDuplicate = errors.New("a member name appears twice in one object")
	ErrTooDeep   = errors.New("JSON nested too deeply")
)

// checkJSON validates b as exactly one JSON value (RFC 8259: no trailing
// data), of valid UTF-8, at most MaxDepth deep, with no object holding the
// same member name twice once unescaped. One pass, no allocation for
// names without escapes: reading a 2 KiB call takes a few microseconds.
func checkJSON(b []byte) error {
	if !utf8.Valid(b) {
		return ErrBadUTF8
	}
	i, err := scanValue(b, jsonwalk.SkipSpace(b, 0), 0)
	if err != nil {
		return err
	}
	if jsonwalk.SkipSpace(b, i) != len(b) {
		return ErrBadJSON
	}
	return nil
}

// scanValue validates the value at b[i] and returns the index after it.
func scanValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, ErrBadJSON
	}
	switch c := b[i]; {
	case c == '{':
		if depth >= MaxDepth {
			return 0, ErrTooDeep
		}
		var keys [16][]byte
		seen := keys[:0]
		i = jsonwalk.SkipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, nil
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return 0, ErrBadJSON
			}
			end, err := scanString(b, i)
			if err != nil {
				return 0, err
			}
			k := b[i+1 : end-1]
			if bytes.IndexByte(k, '\\') >= 0 {
				k = []byte(jsonwalk.String(b[i:end]))
			}
			for _, s := range seen {
				if bytes.Equal(s, k) {
					return 0, ErrDuplicate
				}
			}
			seen = append(seen, k)
			i = jsonwalk.SkipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return 0, ErrBadJSON
			}
			if i, err = scanValue(b, jsonwalk.SkipSpace(b, i+1), depth+1); err != nil {
				return 0, err
			}
			i = jsonwalk.SkipSpace(b, i)
			if i < len(b) && b[i] == '}' {
				return i + 1, nil
			}
			if i >= len(b) || b[i] != ',' {
				return 0, ErrBadJSON
			}
			i = jsonwalk.SkipSpace(b, i+1)
		}
	case c == '[':
		if depth >= MaxDepth {
			return 0, ErrTooDeep
		}
		i = jsonwalk.SkipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			if i, err = scanValue(b, i, depth+1); err != nil {
				return 0, err
			}
			i = jsonwalk.SkipSpace(b, i)
			if i < len(b) && b[i] == ']' {
				return i + 1, nil
			}
			if i >= len(b) || b[i] != ',' {
				return 0, ErrBadJSON
			}
			i = jsonwalk.SkipSpace(b, i+1)
		}
	case c == '"':
		return scanString(b, i)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(b, i)
	}
	return 0, ErrBadJSON
}

func literal(b []byte, i int, lit string) (int, error) {
	if !bytes.HasPrefix(b[i:], []byte(lit)) {
		return 0, ErrBadJSON
	}
	return i + len(lit), nil
}

// scanString validates the string at b[i] == '"' (no raw control
// characters, only JSON's escapes) and returns the index after it.
func scanString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, nil
		case c < 0x20:
			return 0, ErrBadJSON
		case c == '\\':
			j++
			if j >= len(b) {
				return 0, ErrBadJSON
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) {
					return 0, ErrBadJSON
				}
				for _, h := range b[j+1 : j+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return 0, ErrBadJSON
					}
				}
				j += 4
			default:
				return 0, ErrBadJSON
			}
		}
	}
	return 0, ErrBadJSON
}

// scanNumber validates the number at b[i] (RFC 8259 grammar).
func scanNumber(b []byte, i int) (int, error) {
	digits := func(j int) int {
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return 0, ErrBadJSON
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, ErrBadJSON
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, ErrBadJSON
		}
		i = j
	}
	return i, nil
}

// member is one member of an object: its unescaped name and the span of
// its value.
type member struct {
	name       string
	start, end int
}

// knownNames are the member names of JSON-RPC messages and listings that
// members returns without allocating: a listing of 100 tools has some 300
// member names.
var knownNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"jsonrpc", "method", "id", "params", "result", "error", "name", "uri", "arguments",
		"_meta", "tools", "prompts", "resources", "nextCursor", "cacheScope", "ttlMs", "title", "description",
		"inputSchema", "outputSchema", "annotations", "icons", "mimeType", "size", "progressToken"} {
		m[n] = n
	}
	return m
}()

// memberName is the unescaped name of the string literal lit.
func memberName(lit []byte) string {
	if n, ok := knownNames[string(lit[1:len(lit)-1])]; ok { // no allocation
		return n
	}
	return jsonwalk.String(lit)
}

// members lists the members of the object at b[i] (checked by checkJSON).
func members(b []byte, i int, out []member) []member {
	i = jsonwalk.SkipSpace(b, i+1)
	for b[i] != '}' {
		end := jsonwalk.StringEnd(b, i)
		k := memberName(b[i:end])
		i = jsonwalk.SkipSpace(b, jsonwalk.SkipSpace(b, end)+1)
		vend := jsonwalk.ValueEnd(b, i)
		out = append(out, member{k, i, vend})
		i = jsonwalk.SkipSpace(b, vend)
		if b[i] == ',' {
			i = jsonwalk.SkipSpace(b, i+1)
		}
	}
	return out
}

// elements lists the spans of the array at b[i] (checked by checkJSON).
func elements(b []byte, i int, out [][2]int) [][2]int {
	i = jsonwalk.SkipSpace(b, i+1)
	for b[i] != ']' {
		vend := jsonwalk.ValueEnd(b, i)
		out = append(out, [2]int{i, vend})
		i = jsonwalk.SkipSpace(b, vend)
		if b[i] == ',' {
			i = jsonwalk.SkipSpace(b, i+1)
		}
	}
	return out
}
