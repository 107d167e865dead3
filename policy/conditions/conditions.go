// Package conditions compiles and evaluates the CEL conditions of routes
// (`conditions:` in the route config): boolean expressions over the token's
// claims and the request, checked after the route's scopes.
//
// It is kept apart from package policy so that policy stays free of the
// CEL runtime; like policy it imports no project package, and the gateway
// imports it.
//
// An expression sees two variables:
//
//	claims   map(string, dyn): every claim of the verified token; JSON
//	         numbers are int when integral, else double
//	request  map(string, dyn): method (string), path (the decoded path),
//	         model (the model the request asks for on a route with model
//	         rules, else ""), headers (map(string, string): lower-case
//	         names, several values joined by ", "; never Authorization,
//	         Proxy-Authorization or Cookie)
//
// An expression must have type bool; it is refused when the config loads
// otherwise. Evaluation is bounded by a cost limit (CostLimit); a missing
// claim (claims.tier without has(claims.tier)), a type error or a cost
// overrun is an error, which the gateway treats as a failed condition.
package conditions

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"cel.dev/cel-go/cel"
)

// CostLimit bounds the runtime cost of one evaluation of one condition, in
// CEL's cost units (roughly one per operation and per element visited).
const CostLimit = 100_000

// MaxConditionBytes is the longest condition accepted.
const MaxConditionBytes = 4096

// Env compiles conditions. It is safe for concurrent use.
type Env struct {
	env *cel.Env
}

// NewEnv returns an environment declaring the claims and request variables.
func NewEnv() (*Env, error) {
	env, err := cel.NewEnv(
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("request", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("mcp", cel.MapType(cel.StringType, cel.DynType)),
	)
	if err != nil {
		return nil, fmt.Errorf("conditions: building the CEL environment: %w", err)
	}
	return &Env{env: env}, nil
}

// Program is one compiled condition. It is safe for concurrent use.
type Program struct {
	// Source is the condition as written.
	Source string
	prg    cel.Program
}

// Compile parses and type-checks src, which must be a bool expression.
// The error carries CEL's own message, with line and column.
func (e *Env) Compile(src string) (*Program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("the condition is empty")
	}
	if len(src) > MaxConditionBytes {
		return nil, fmt.Errorf("the condition is longer than %d bytes", MaxConditionBytes)
	}
	ast, iss := e.env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("the condition has type %s; it must be a bool", t)
	}
	prg, err := e.env.Program(ast, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, err
	}
	return &Program{Source: src, prg: prg}, nil
}

// Request is what a condition sees of the HTTP request.
type Request struct {
	Method string
	Path   string // decoded
	Model  string
	// Header is the request's headers as the upstream will receive them
	// (the caller's job): a condition must not be satisfied by a header
	// the gateway replaces or removes before forwarding.
	Header http.Header
	// RemoteAddr is the client's IP address, resolved through the trusted
	// proxies; PeerAddr the TCP peer's.
	RemoteAddr, PeerAddr string
	// MCP is the JSON-RPC message judged on an MCP route; nil elsewhere
	// (mcp is then an empty map, and reading mcp.tool fails the condition).
	MCP *MCP
}

// MCP is what conditions see of an MCP message as mcp.method, mcp.tool
// (tool or prompt name, or resource URI) and mcp.arguments (a tool call's
// arguments; absent when larger than the route's bound, so that a
// condition reading them fails).
type MCP struct {
	Method, Tool string
	Arguments    map[string]any // nil: absent
}

// Input is the evaluation input of one request, built once and shared by
// the route's conditions.
type Input struct {
	vars map[string]any
}

// NewInput converts claims (as decoded from the token: json.Number for
// numbers) and the request into CEL values.
func NewInput(claims map[string]any, r Request) *Input {
	headers := make(map[string]string, len(r.Header))
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		switch lk {
		case "authorization", "proxy-authorization", "cookie":
			continue
		}
		headers[lk] = strings.Join(vs, ", ")
	}
	mcp := map[string]any{}
	if m := r.MCP; m != nil {
		mcp["method"], mcp["tool"] = m.Method, m.Tool
		if m.Arguments != nil {
			mcp["arguments"] = convert(m.Arguments)
		}
	}
	return &Input{vars: map[string]any{
		"mcp":    mcp,
		"claims": convert(claims),
		"request": map[string]any{
			"method":      r.Method,
			"path":        r.Path,
			"model":       r.Model,
			"headers":     headers,
			"remote_addr": r.RemoteAddr,
			"peer_addr":   r.PeerAddr,
		},
	}}
}

// Eval reports whether the condition holds for in. An error (a missing
// key, a type mismatch, the cost limit) is returned as such: the caller
// must treat it as a failed condition.
func (p *Program) Eval(in *Input) (bool, error) {
	out, _, err := p.prg.Eval(in.vars)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("the condition returned %T, not a bool", out.Value())
	}
	return b, nil
}

// convert turns json.Number into int64 (integral) or float64, recursively.
func convert(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = convert(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = convert(e)
		}
		return out
	}
	return v
}
