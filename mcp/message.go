package mcp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/scopegate/scopegate/internal/jsonwalk"
)

// Kind tells a JSON-RPC request, notification and response apart.
type Kind int

// The kinds of JSON-RPC message.
const (
	Request      Kind = iota + 1 // method and id
	Notification                 // method, no id
	Response                     // result or error, and id; no method
)

// MaxNameBytes bounds a tool or prompt name (the MCP specification's tool
// names are 1 to 128 characters).
const MaxNameBytes = 128

// Message is what the gateway judges of one JSON-RPC message.
type Message struct {
	Kind   Kind
	Method string // "" for a response
	// ID is the raw JSON of the id member (a string or a number), echoed
	// in a refusal; nil for a notification.
	ID json.RawMessage
	// Name is params.name of tools/call and prompts/get.
	Name string
	// URI is params.uri of resources/read, resources/subscribe and
	// resources/unsubscribe.
	URI string
	// Arguments is the raw JSON object params.arguments of tools/call
	// (nil when absent); see DecodeArguments.
	Arguments json.RawMessage
}

// ProtocolError is a refusal of the body itself, with the JSON-RPC code the
// answer carries (-32700 parse error, -32600 invalid request, -32602
// invalid params). Its message never quotes the input.
type ProtocolError struct {
	Code int
	Msg  string
	ID   json.RawMessage // the id, when one could be read
}

func (e *ProtocolError) Error() string { return e.Msg }

// JSON-RPC 2.0 error codes.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
)

// ErrBatch is returned (wrapped in a ProtocolError) for a JSON array when
// batches are not allowed.
var ErrBatch = errors.New("JSON-RPC batches are not accepted: send one message per request")

// ParseBody reads a POSTed body: one JSON-RPC message, or, when
// allowBatch, a non-empty array of them (the 2025-06-18 revision of MCP
// removed batching, so the gateway refuses arrays by default). Every
// element of a batch is returned, so that every one is judged.
func ParseBody(b []byte, allowBatch bool) ([]Message, error) {
	if err := checkJSON(b); err != nil {
		code := CodeParseError
		if errors.Is(err, ErrDuplicate) || errors.Is(err, ErrTooDeep) {
			code = CodeInvalidRequest
		}
		return nil, &ProtocolError{Code: code, Msg: "the request body is not strict JSON: " + err.Error()}
	}
	i := jsonwalk.SkipSpace(b, 0)
	switch b[i] {
	case '{':
		m, err := parseMessage(b, i)
		if err != nil {
			return nil, err
		}
		return []Message{m}, nil
	case '[':
		if !allowBatch {
			return nil, &ProtocolError{Code: CodeInvalidRequest, Msg: ErrBatch.Error()}
		}
		els := elements(b, i, nil)
		if len(els) == 0 {
			return nil, &ProtocolError{Code: CodeInvalidRequest, Msg: "an empty JSON-RPC batch"}
		}
		out := make([]Message, 0, len(els))
		for _, e := range els {
			if b[e[0]] != '{' {
				return nil, &ProtocolError{Code: CodeInvalidRequest, Msg: "a batch element is not a JSON-RPC object"}
			}
			m, err := parseMessage(b, e[0])
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		}
		return out, nil
	}
	return nil, &ProtocolError{Code: CodeInvalidRequest, Msg: "the request body is not a JSON-RPC object"}
}

// topMembers are the member names a decision reads at the top level; a
// case variant of one ("Method") is refused, as some servers' decoders
// read it as the member itself.
var topMembers = []string{"jsonrpc", "method", "id", "params", "result", "error"}

// paramMembers likewise in params.
var paramMembers = []string{"name", "uri", "arguments"}

func caseVariant(name string, known []string) bool {
	for _, k := range known {
		if name != k && strings.EqualFold(name, k) {
			return true
		}
	}
	return false
}

func parseMessage(b []byte, i int) (Message, error) {
	var buf [8]member
	var m Message
	var version, params, result, errv []byte
	hasMethod := false
	for _, mb := range members(b, i, buf[:0]) {
		v := b[mb.start:mb.end]
		switch mb.name {
		case "jsonrpc":
			version = v
		case "method":
			if v[0] != '"' {
				return m, &ProtocolError{Code: CodeInvalidRequest, Msg: `"method" must be a string`}
			}
			hasMethod, m.Method = true, jsonwalk.String(v)
		case "id":
			if v[0] != '"' && v[0] != '-' && (v[0] < '0' || v[0] > '9') {
				return m, &ProtocolError{Code: CodeInvalidRequest, Msg: `"id" must be a string or a number`}
			}
			m.ID = json.RawMessage(v)
		case "params":
			params = v
		case "result":
			result = v
		case "error":
			errv = v
		default:
			if caseVariant(mb.name, topMembers) {
				return m, &ProtocolError{Code: CodeInvalidRequest, Msg: fmt.Sprintf("a member whose name differs only in case from %q", strings.ToLower(mb.name)), ID: m.ID}
			}
		}
	}
	fail := func(code int, msg string) (Message, error) {
		return Message{}, &ProtocolError{Code: code, Msg: msg, ID: m.ID}
	}
	if !bytes.Equal(version, []byte(`"2.0"`)) {
		return fail(CodeInvalidRequest, `"jsonrpc" must be "2.0"`)
	}
	switch {
	case hasMethod && (result != nil || errv != nil):
		return fail(CodeInvalidRequest, "a message with both a method and a result or error")
	case hasMethod:
		if m.Method == "" {
			return fail(CodeInvalidRequest, `"method" is empty`)
		}
		m.Kind = Notification
		if m.ID != nil {
			m.Kind = Request
		}
	case (result != nil) != (errv != nil) && m.ID != nil:
		m.Kind = Response
		return m, nil
	default:
		return fail(CodeInvalidRequest, "neither a request, a notification nor a response")
	}
	if params != nil && params[0] != '{' {
		return fail(CodeInvalidParams, `"params" must be an object`)
	}
	if err := readParams(&m, b, params); err != nil {
		return fail(CodeInvalidParams, err.Error())
	}
	return m, nil
}

func readParams(m *Message, b, params []byte) error {
	needName := m.Method == "tools/call" || m.Method == "prompts/get"
	needURI := m.Method == "resources/read" || m.Method == "resources/subscribe" || m.Method == "resources/unsubscribe"
	if m.Method == "completion/complete" {
		return readCompletionRef(m, params)
	}
	if !needName && !needURI {
		return nil
	}
	if params == nil {
		return errors.New(`"params" is required for ` + m.Method)
	}
	var buf [8]member
	var hasName, hasURI bool
	for _, mb := range members(params, 0, buf[:0]) {
		v := params[mb.start:mb.end]
		switch mb.name {
		case "name":
			if v[0] != '"' {
				return errors.New(`"params.name" must be a string`)
			}
			hasName, m.Name = true, jsonwalk.String(v)
		case "uri":
			if v[0] != '"' {
				return errors.New(`"params.uri" must be a string`)
			}
			hasURI, m.URI = true, jsonwalk.String(v)
		case "arguments":
			if m.Method == "tools/call" && v[0] != '{' {
				return errors.New(`"params.arguments" must be an object`)
			}
			m.Arguments = json.RawMessage(v)
		default:
			if caseVariant(mb.name, paramMembers) {
				return fmt.Errorf("a params member whose name differs only in case from %q", strings.ToLower(mb.name))
			}
		}
	}
	switch {
	case needName && !hasName:
		return errors.New(`"params.name" is required for ` + m.Method)
	case needName:
		if msg := checkName(m.Name); msg != "" {
			return errors.New(msg)
		}
	case needURI && (!hasURI || m.URI == ""):
		return errors.New(`"params.uri" is required for ` + m.Method)
	case needURI && strings.ContainsFunc(m.URI, isControl):
		return errors.New(`"params.uri" holds a control character`)
	case needURI && dotSegments(m.URI):
		return errors.New(`"params.uri" holds a dot segment or an encoded dot or slash: send it normalized`)
	}
	return nil
}

// refMembers are the member names of a completion's ref.
var refMembers = []string{"type", "name", "uri"}

// readCompletionRef reads what a completion/complete is about, so that it
// is judged as that prompt (Name) or resource template (URI): its
// suggestions are the prompt's or the resource's to give.
func readCompletionRef(m *Message, params []byte) error {
	if params == nil {
		return errors.New(`"params" is required for ` + m.Method)
	}
	var buf [8]member
	var ref []byte
	for _, mb := range members(params, 0, buf[:0]) {
		switch {
		case mb.name == "ref":
			ref = params[mb.start:mb.end]
		case strings.EqualFold(mb.name, "ref"):
			return fmt.Errorf("a params member whose name differs only in case from %q", "ref")
		}
	}
	if ref == nil || ref[0] != '{' {
		return errors.New(`"params.ref" must be an object`)
	}
	var typ, name, uri string
	var hasName, hasURI bool
	for _, mb := range members(ref, 0, buf[:0]) {
		v := ref[mb.start:mb.end]
		switch mb.name {
		case "type", "name", "uri":
			if v[0] != '"' {
				return errors.New(`"params.ref.` + mb.name + `" must be a string`)
			}
			switch s := jsonwalk.String(v); mb.name {
			case "type":
				typ = s
			case "name":
				hasName, name = true, s
			default:
				hasURI, uri = true, s
			}
		default:
			if caseVariant(mb.name, refMembers) {
				return fmt.Errorf("a params.ref member whose name differs only in case from %q", strings.ToLower(mb.name))
			}
		}
	}
	switch {
	case typ == "ref/prompt" && hasName && !hasURI:
		m.Name = name
		if msg := checkName(name); msg != "" {
			return errors.New(strings.Replace(msg, "params.name", "params.ref.name", 1))
		}
	case typ == "ref/resource" && hasURI && !hasName:
		m.URI = uri
		switch {
		case uri == "":
			return errors.New(`"params.ref.uri" is empty`)
		case strings.ContainsFunc(uri, isControl):
			return errors.New(`"params.ref.uri" holds a control character`)
		case dotSegments(uri):
			return errors.New(`"params.ref.uri" holds a dot segment or an encoded dot or slash: send it normalized`)
		}
	default:
		return errors.New(`"params.ref" must be a ref/prompt with a name or a ref/resource with a uri`)
	}
	return nil
}

// checkName refuses names that cannot be judged or named in a scope: empty,
// too long, or holding a space, a quote, a backslash or a control
// character (a scope from scope_template would split at the space, and the
// challenge's scope= would break at the quote).
func checkName(name string) string {
	switch {
	case name == "":
		return `"params.name" is empty`
	case len(name) > MaxNameBytes:
		return fmt.Sprintf(`"params.name" is longer than %d bytes`, MaxNameBytes)
	case strings.ContainsFunc(name, func(r rune) bool { return isControl(r) || r == ' ' || r == '"' || r == '\\' }):
		return `"params.name" holds a space, quote, backslash or control character`
	}
	return ""
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029
}

// DecodeArguments decodes a tools/call's arguments for conditions, when
// they are at most limit bytes; larger ones give ok false (a condition that
// reads them then fails, and a failing condition denies).
func (m *Message) DecodeArguments(limit int) (args map[string]any, ok bool) {
	if m.Arguments == nil {
		return map[string]any{}, true
	}
	if len(m.Arguments) > limit {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(m.Arguments))
	dec.UseNumber()
	if err := dec.Decode(&args); err != nil {
		return nil, false
	}
	return args, true
}

// CheckHeaders compares the Mcp-Method and Mcp-Name request headers (sent
// by clients of newer protocol revisions) with the body's single message:
// each one present must equal what the body says, else the answer is 400
// with the returned error. Absent headers are fine: nothing is decided on
// a header.
func CheckHeaders(method, name []string, msgs []Message) *ProtocolError {
	if len(method) == 0 && len(name) == 0 {
		return nil
	}
	if len(msgs) != 1 {
		return &ProtocolError{Code: CodeHeaderMismatch, Msg: "Mcp-Method and Mcp-Name must be sent once, with a single message"}
	}
	m := msgs[0]
	if len(method) > 1 || len(name) > 1 {
		// JSON-RPC 2.0 section 5: the id was read, so the error echoes it.
		return &ProtocolError{Code: CodeHeaderMismatch, Msg: "Mcp-Method and Mcp-Name must be sent once, with a single message", ID: m.ID}
	}
	want := m.Name
	if m.URI != "" {
		want = m.URI
	}
	if len(method) == 1 && method[0] != m.Method {
		return &ProtocolError{Code: CodeHeaderMismatch, Msg: "the Mcp-Method header does not match the body's method", ID: m.ID}
	}
	if len(name) == 1 {
		if v, ok := headerValue(name[0]); !ok || v != want {
			return &ProtocolError{Code: CodeHeaderMismatch, Msg: "the Mcp-Name header does not match the body", ID: m.ID}
		}
	}
	return nil
}

// headerValue is the value an Mcp-Name header stands for: a value in the
// Base64 sentinel form "=?base64?<standard base64 of UTF-8>?=" (how
// clients send names a header cannot hold: non-ASCII, control characters,
// surrounding spaces, or a name of that very form) decoded, any other
// taken as sent. ok is false when a sentinel does not decode to valid
// UTF-8: it then matches nothing (fail closed).
func headerValue(h string) (v string, ok bool) {
	b64, isB64 := strings.CutPrefix(h, "=?base64?")
	if isB64 {
		b64, isB64 = strings.CutSuffix(b64, "?=")
	}
	if !isB64 {
		return h, true
	}
	b, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(b) == 0 || !utf8.Valid(b) {
		return "", false
	}
	return string(b), true
}

// CodeHeaderMismatch is the JSON-RPC error the MCP specification (revision
// 2026-07-28, Streamable HTTP) names for Mcp-Method / Mcp-Name headers that
// are missing, malformed or differ from the body, answered with HTTP 400.
const CodeHeaderMismatch = -32020

// dotSegments reports whether uri has a "." or ".." segment, a backslash,
// or a percent-encoded dot or slash: "file:///public/../etc" would match
// the rule for file:///public/* while naming another file.
func dotSegments(uri string) bool {
	l := strings.ToLower(uri)
	if strings.Contains(l, "%2e") || strings.Contains(l, "%2f") || strings.Contains(l, "%5c") || strings.Contains(l, `\`) {
		return true
	}
	for _, seg := range strings.Split(strings.SplitN(uri, "?", 2)[0], "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
