package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting in headers, payloads and JWKs.
const maxJSONDepth = 32

var (
	errNotObject = errors.New("not a JSON object")
	errDuplicate = errors.New("duplicate member name")
	errBadJSON   = errors.New("invalid JSON")
	errTooDeep   = errors.New("JSON nested too deeply")
	errBadUTF8   = errors.New("invalid UTF-8")
	errTrailing  = errors.New("data after the JSON object")
)

// decodeObject parses data as exactly one JSON object, strictly: invalid
// UTF-8 (which encoding/json would silently replace), duplicate member names
// at any depth (where encoding/json keeps the last), nesting deeper than
// maxJSONDepth and trailing data are refused. Numbers are json.Number. The
// errors it returns are package sentinels that never quote the input.
func decodeObject(data []byte) (map[string]any, error) {
	if !utf8.Valid(data) {
		return nil, errBadUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, errBadJSON
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	m, err := readObject(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailing
	}
	return m, nil
}

func readValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, errBadJSON
	}
	if d, ok := tok.(json.Delim); ok {
		switch d {
		case '{':
			return readObject(dec, depth+1)
		case '[':
			return readArray(dec, depth+1)
		}
		return nil, errBadJSON
	}
	return tok, nil // string, json.Number, bool or nil
}

func readObject(dec *json.Decoder, depth int) (map[string]any, error) {
	if depth > maxJSONDepth {
		return nil, errTooDeep
	}
	m := make(map[string]any, 8)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errBadJSON
		}
		k, ok := tok.(string)
		if !ok {
			return nil, errBadJSON
		}
		if _, dup := m[k]; dup {
			return nil, errDuplicate
		}
		v, err := readValue(dec, depth)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errBadJSON
	}
	return m, nil
}

func readArray(dec *json.Decoder, depth int) ([]any, error) {
	if depth > maxJSONDepth {
		return nil, errTooDeep
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
		return nil, errBadJSON
	}
	if a == nil {
		a = []any{}
	}
	return a, nil
}
