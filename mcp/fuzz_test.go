package mcp

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzCheckJSON holds the hand-written validator to encoding/json's: what
// it accepts is valid JSON, and valid UTF-8 JSON it refuses is refused only
// for a duplicate name or depth. ParseBody and FilterListing never panic.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":[1,-2.5e+3,true,null,"\u00e9\n"]}}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, // a batch
		`{"a":1,"\u0061":2}`,                         // an escaped duplicate
		`{"a":01}`, `{"a":1.}`, `{"a":"\x"}`, `{"a":1}}`, `"\ud800"`, ` 0 `, `{"a":[}`,
		`{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo"}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkJSON(b)
		if err == nil && !json.Valid(b) {
			t.Fatalf("checkJSON accepted invalid JSON %q", b)
		}
		if err != nil && utf8.Valid(b) && json.Valid(b) && !errors.Is(err, ErrDuplicate) && !errors.Is(err, ErrTooDeep) {
			t.Fatalf("checkJSON refused valid JSON %q: %v", b, err)
		}
		_, _ = ParseBody(b, true)
		_, _ = FilterListing(b, "tools/list", func(string, string) bool { return false })
		_, _ = FilterSSE(b, "tools/list", func(string, string) bool { return false })
	})
}
