// Package strictjson decodes JSON objects strictly, for security decisions:
// exact member names, duplicates refused at any depth, numbers kept as
// json.Number, invalid UTF-8 and trailing data refused. The token verifier
// and the DPoP proof verifier read every claim through it.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/scopegate/scopegate/internal/jsonwalk"
)

// MaxDepth bounds nesting in headers, payloads and JWKs.
const MaxDepth = 32

// The ways DecodeObject refuses its input; none quotes the input.
var (
	ErrNotObject = errors.New("not a JSON object")
	ErrDuplicate = errors.New("duplicate member name")
	ErrBadJSON   = errors.New("invalid JSON")
	ErrTooDeep   = errors.New("JSON nested too deeply")
	ErrBadUTF8   = errors.New("invalid UTF-8")
	ErrTrailing  = errors.New("data after the JSON object")
)

// DecodeObject parses data as exactly one JSON object, strictly: invalid
// UTF-8 (which encoding/json would silently replace), duplicate member names
// at any depth (where encoding/json keeps the last), nesting deeper than
// MaxDepth and trailing data are refused. Numbers are json.Number. The
// errors it returns are package sentinels that never quote the input.
//
// The text is checked by encoding/json (json.Valid) and then built in one
// walk over it (package jsonwalk); string literals with escapes are
// decoded by encoding/json, so that names and values are exactly those
// any encoding/json reader of the same text sees. A fifth of the
// allocations and time of reading token by token with json.Decoder.
func DecodeObject(data []byte) (map[string]any, error) {
	if !utf8.Valid(data) {
		return nil, ErrBadUTF8
	}
	if !json.Valid(data) {
		return nil, classify(data)
	}
	i := jsonwalk.SkipSpace(data, 0)
	if data[i] != '{' { // valid JSON is not empty
		return nil, ErrNotObject
	}
	v, _, err := value(data, i, 0)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// classify names what is wrong with text json.Valid refused: a first value
// followed by more (trailing data, or a non-object), or no value at all.
func classify(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var first json.RawMessage
	if err := dec.Decode(&first); err != nil {
		return ErrBadJSON
	}
	if first[0] != '{' {
		return ErrNotObject
	}
	return ErrTrailing
}

// value builds the value at b[i] of valid JSON text and returns it with
// the index after it.
func value(b []byte, i, depth int) (any, int, error) {
	switch b[i] {
	case '{':
		return object(b, i, depth+1)
	case '[':
		return array(b, i, depth+1)
	case '"':
		end := jsonwalk.StringEnd(b, i)
		return jsonwalk.String(b[i:end]), end, nil
	case 't':
		return true, i + 4, nil
	case 'f':
		return false, i + 5, nil
	case 'n':
		return nil, i + 4, nil
	}
	end := jsonwalk.ValueEnd(b, i)
	return json.Number(b[i:end]), end, nil
}

func object(b []byte, i, depth int) (any, int, error) {
	if depth > MaxDepth {
		return nil, 0, ErrTooDeep
	}
	m := make(map[string]any, 8)
	i = jsonwalk.SkipSpace(b, i+1)
	for b[i] != '}' {
		end := jsonwalk.StringEnd(b, i)
		k := jsonwalk.String(b[i:end])
		if _, dup := m[k]; dup {
			return nil, 0, ErrDuplicate
		}
		i = jsonwalk.SkipSpace(b, jsonwalk.SkipSpace(b, end)+1) // past the ':'
		v, next, err := value(b, i, depth)
		if err != nil {
			return nil, 0, err
		}
		m[k] = v
		if i = jsonwalk.SkipSpace(b, next); b[i] == ',' {
			i = jsonwalk.SkipSpace(b, i+1)
		}
	}
	return m, i + 1, nil
}

func array(b []byte, i, depth int) (any, int, error) {
	if depth > MaxDepth {
		return nil, 0, ErrTooDeep
	}
	a := []any{}
	i = jsonwalk.SkipSpace(b, i+1)
	for b[i] != ']' {
		v, next, err := value(b, i, depth)
		if err != nil {
			return nil, 0, err
		}
		a = append(a, v)
		if i = jsonwalk.SkipSpace(b, next); b[i] == ',' {
			i = jsonwalk.SkipSpace(b, i+1)
		}
	}
	return a, i + 1, nil
}
