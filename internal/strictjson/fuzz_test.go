package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeObject compares DecodeObject with tokenwise, the reader it
// replaced (encoding/json's Decoder token by token, a duplicate seen as a
// name already in the map): both must accept the same texts with the same
// values, and refuse the same texts. Where both refuse, the reason may
// differ only when the text has two faults (a duplicate or depth beyond
// MaxDepth in text that is also not valid JSON is reported as invalid).
// Seeds: testdata/fuzz/FuzzDecodeObject and the rows below.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[1,"x",{"c":null}],"d":true}`,
		`{"exp":1,"\u0065xp":2}`,    // escaped duplicate
		`{"a":{"x":1},"a":{"y":1}}`, // duplicate whose values are objects
		`{"a":"\ud800","\ud800":1}`, // lone surrogates decode to U+FFFD
		`{"\ud800":1,"\udc00":2}`,   // ... so these two names are one
		`{"a:b":"c:d","e":"\":"}`,   // colons inside strings
		`{"a":[{"b":1},{"b":2}]}`,   // the same name in sibling objects
		`{"n":-0.5e+10,"m":1E2}`,    // numbers kept as written
		`{} x`, `[] x`, `{"a":1`, `"x"`, ` `, `{}{}`,
		`{"a":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gerr := DecodeObject(data)
		want, werr := tokenwise(data)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("DecodeObject(%q) error %v; the token reader's %v", data, gerr, werr)
		}
		if gerr == nil {
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("DecodeObject(%q) = %#v; the token reader gives %#v", data, got, want)
			}
			return
		}
		if !errors.Is(gerr, werr) && json.Valid(data) {
			t.Fatalf("DecodeObject(%q) error %v; the token reader's %v", data, gerr, werr)
		}
	})
}

func tokenwise(data []byte) (map[string]any, error) {
	if !utf8.Valid(data) {
		return nil, ErrBadUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, ErrBadJSON
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, ErrNotObject
	}
	m, err := refObject(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrTrailing
	}
	return m, nil
}

func refValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, ErrBadJSON
	}
	if d, ok := tok.(json.Delim); ok {
		switch d {
		case '{':
			return refObject(dec, depth+1)
		case '[':
			return refArray(dec, depth+1)
		}
		return nil, ErrBadJSON
	}
	return tok, nil // string, json.Number, bool or nil
}

func refObject(dec *json.Decoder, depth int) (map[string]any, error) {
	if depth > MaxDepth {
		return nil, ErrTooDeep
	}
	m := make(map[string]any, 8)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, ErrBadJSON
		}
		k, ok := tok.(string)
		if !ok {
			return nil, ErrBadJSON
		}
		if _, dup := m[k]; dup {
			return nil, ErrDuplicate
		}
		v, err := refValue(dec, depth)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, ErrBadJSON
	}
	return m, nil
}

func refArray(dec *json.Decoder, depth int) ([]any, error) {
	if depth > MaxDepth {
		return nil, ErrTooDeep
	}
	var a []any
	for dec.More() {
		v, err := refValue(dec, depth)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return nil, ErrBadJSON
	}
	if a == nil {
		a = []any{}
	}
	return a, nil
}
