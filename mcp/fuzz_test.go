package mcp

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzCheckJSON holds the hand-written validator to encoding/json's: what
// it accepts is valid JSON, and valid UTF-8 JSON it refuses is refused only
// for a duplicate name or depth. ParseBody and FilterListing never panic,
// and what FilterListing returns is strict JSON.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":[1,-2.5e+3,true,null,"\u00e9\n"]}}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, // a batch
		`{"a":1,"\u0061":2}`,                         // an escaped duplicate
		`{"a":01}`, `{"a":1.}`, `{"a":"\x"}`, `{"a":1}}`, `"\ud800"`, ` 0 `, `{"a":[}`,
		`{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo"}]}}`,
		`{"jsonrpc":"2.0","id":2,"result":{"ttlMs":0,"cacheScope":"public","tools":[{"name":"echo"},{"name":"x"}],"nextCursor":"c"}}`,
		`{"jsonrpc":"2.0","id":2,"result":{"tools":[ {"name":"echo"} ] ,"cacheScope" : {}}}`,
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
		// A filtered listing is itself strict JSON, whichever items go.
		for _, keep := range []bool{false, true} {
			if out, err := FilterListing(b, "tools/list", func(string, string) bool { return keep }); err == nil {
				if err := checkJSON(out); err != nil {
					t.Fatalf("FilterListing(%q) = %q, not strict JSON: %v", b, out, err)
				}
			}
		}
		_, _ = FilterSSE(b, "tools/list", func(string, string) bool { return false })
	})
}
