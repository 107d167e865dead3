// Package strictjson decodes JSON objects strictly, for security decisions:
// exact member names, duplicates refused at any depth, numbers kept as
// json.Number, invalid UTF-8 and trailing data refused. The token verifier
// and the DPoP proof verifier read every claim through it.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"
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
func DecodeObject(data []byte) (map[string]any, error) {
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
	m, err := readObject(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrTrailing
	}
	return m, nil
}

func readValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, ErrBadJSON
	}
	if d, ok := tok.(json.Delim); ok {
		switch d {
		case '{':
			return readObject(dec, depth+1)
		case '[':
			return readArray(dec, depth+1)
		}
		return nil, ErrBadJSON
	}
	return tok, nil // string, json.Number, bool or nil
}

func readObject(dec *json.Decoder, depth int) (map[string]any, error) {
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
		v, err := readValue(dec, depth)
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

func readArray(dec *json.Decoder, depth int) ([]any, error) {
	if depth > MaxDepth {
		return nil, ErrTooDeep
	}
	var a []any
	for dec.More() {
		v, err := readValue(dec, depth)
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
