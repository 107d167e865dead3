package conditions

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"cel.dev/cel-go/cel"
)

// MaxKeyBytes is the longest value a key expression may produce; a
// longer one is an evaluation error (a claim a hostile issuer inflated
// must not become a huge counter key).
const MaxKeyBytes = 1024

// KeyEnv compiles the key expressions of usage limits
// (routes[].limits[].key_expr): CEL expressions over the verified token's
// claims only. Unlike a condition's environment it declares no request
// variable: a limit's key must never come from anything the client
// controls (a header, the path, the body). It is safe for concurrent use.
type KeyEnv struct {
	env *cel.Env
}

// NewKeyEnv returns an environment declaring the claims variable, typed
// as in NewEnv.
func NewKeyEnv() (*KeyEnv, error) {
	env, err := cel.NewEnv(cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		return nil, fmt.Errorf("conditions: building the key CEL environment: %w", err)
	}
	return &KeyEnv{env: env}, nil
}

// KeyProgram is one compiled key expression. It is safe for concurrent
// use.
type KeyProgram struct {
	// Source is the expression as written.
	Source string
	prg    cel.Program
}

// Compile parses and type-checks src, which must be a string expression
// (or dyn, e.g. claims.org, checked when evaluated).
func (e *KeyEnv) Compile(src string) (*KeyProgram, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("the key expression is empty")
	}
	if len(src) > MaxConditionBytes {
		return nil, fmt.Errorf("the key expression is longer than %d bytes", MaxConditionBytes)
	}
	ast, iss := e.env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	if t := ast.OutputType(); !t.IsExactType(cel.StringType) && !t.IsExactType(cel.DynType) && !t.IsExactType(cel.IntType) {
		return nil, fmt.Errorf("the key expression has type %s; it must be a string", t)
	}
	prg, err := e.env.Program(ast, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, err
	}
	return &KeyProgram{Source: src, prg: prg}, nil
}

// KeyInput is the claims of one request converted for key expressions,
// built once and shared by the route's limits.
type KeyInput struct {
	vars map[string]any
}

// NewKeyInput converts claims (as decoded from the token: json.Number for
// numbers).
func NewKeyInput(claims map[string]any) *KeyInput {
	return &KeyInput{vars: map[string]any{"claims": convert(claims)}}
}

// Eval returns the key the expression makes of in: a string, or an
// integer written in decimal. An error (a missing claim, another type, an
// empty or too long value, the cost limit) is returned as such; the
// caller must not count the request under some other key.
func (p *KeyProgram) Eval(in *KeyInput) (string, error) {
	out, _, err := p.prg.Eval(in.vars)
	if err != nil {
		return "", err
	}
	var s string
	switch v := out.Value().(type) {
	case string:
		s = v
	case int64:
		s = strconv.FormatInt(v, 10)
	default:
		return "", fmt.Errorf("the key expression returned %T, not a string", out.Value())
	}
	switch {
	case s == "":
		return "", errors.New("the key expression returned an empty string")
	case len(s) > MaxKeyBytes:
		return "", fmt.Errorf("the key expression returned more than %d bytes", MaxKeyBytes)
	}
	return s, nil
}
