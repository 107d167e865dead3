package limits

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scopegate/scopegate/policy"
	"github.com/scopegate/scopegate/policy/conditions"
)

// Key parts: what a limit may be counted per. Each is verified data,
// never a header the client controls.
const (
	PartSubject  = "sub"
	PartClientID = "client_id"
	PartActor    = "actor"
	PartModel    = "model"
	PartRoute    = "route"
)

// Limit modes.
const (
	ModeEnforce = "enforce"
	ModeShadow  = "shadow"
)

// DefaultMaxReserve is a token budget's default max_reserve.
const DefaultMaxReserve = 4096

// Limit is one compiled limit of a route. Exactly one of Rate and Budget
// is set; a cost budget has Budget (in micro-units) and Prices.
type Limit struct {
	Name  string   // as configured, or requests<i> / tokens<i> / cost<i>
	Route string   // the route's name
	Parts []string // the key parts (Part*), in config order
	// Expr, when set, adds the value of a CEL expression over the
	// verified claims to the key.
	Expr *conditions.KeyProgram
	// Shadow limits count and report without refusing; FailOpen ones let
	// a request through, counted in a local fallback store, when the
	// shared store fails.
	Shadow, FailOpen bool
	Rate             *Rate
	Budget           *Budget
	// Prices is set on a cost budget: Budget counts micro-units of money.
	Prices *Prices
	// MaxReserve caps one request's reservation under Budget (tokens, or
	// micro-units).
	MaxReserve int64
	prefix     string // "limit:<route>:<name>:", the start of its keys
}

// Subject is the verified data a limit's key is built from.
type Subject struct {
	Sub, ClientID, Actor, Model string
	// Claims are the verified token's claims (json.Number numbers), read
	// by key expressions; nil on a public route.
	Claims map[string]any
	keyIn  *conditions.KeyInput // Claims converted once per request
}

// ErrKey is wrapped by Key when the limit's key expression fails for the
// request's claims: the request cannot be counted, so it is refused.
var ErrKey = errors.New("limit key expression failed")

// Key returns the store key of s under l: the route, the limit's name
// and a hash of the key parts, so that no subject is stored in the clear.
func (l *Limit) Key(s *Subject) (string, error) {
	// On the stack for usual keys: the request path allocates only the
	// returned string.
	var buf [256]byte
	b := buf[:0]
	add := func(v string) {
		// Length-prefixed, so that ("ab","c") and ("a","bc") differ.
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, ':')
		b = append(b, v...)
		b = append(b, ';')
	}
	for _, p := range l.Parts {
		switch p {
		case PartSubject:
			add(s.Sub)
		case PartClientID:
			add(s.ClientID)
		case PartActor:
			add(s.Actor)
		case PartModel:
			add(s.Model)
		case PartRoute:
			add(l.Route)
		}
	}
	if l.Expr != nil {
		if s.keyIn == nil {
			s.keyIn = conditions.NewKeyInput(s.Claims)
		}
		v, err := l.Expr.Eval(s.keyIn)
		if err != nil {
			return "", fmt.Errorf("%w: %q: %w", ErrKey, l.Expr.Source, err)
		}
		b = append(b, 'x') // an expression's value never equals a part's
		add(v)
	}
	sum := sha256.Sum256(b)
	var hx [32]byte
	hex.Encode(hx[:], sum[:16])
	prefix := l.prefix
	if prefix == "" {
		prefix = "limit:" + l.Route + ":" + l.Name + ":"
	}
	return prefix + string(hx[:]), nil
}

// Problem is one mistake in a route's limits.
type Problem struct {
	Field, Message string
}

// Compile compiles the limits of route rc, at index i of the routes (for
// the field names of its problems).
func Compile(i int, rc policy.RouteConfig) ([]*Limit, []Problem) {
	var out []*Limit
	var ps []Problem
	names := map[string]bool{}
	var env *conditions.KeyEnv
	for k, lc := range rc.Limits {
		field := fmt.Sprintf("routes[%d].limits[%d]", i, k)
		bad := func(sub, msg string) {
			ps = append(ps, Problem{field + sub, fmt.Sprintf("route %q: %s", rc.Name, msg)})
		}
		l := &Limit{Name: lc.Name, Route: rc.Name, Parts: lc.Key}
		if len(l.Parts) == 0 && lc.KeyExpr == "" {
			l.Parts = []string{PartSubject}
		}
		compileKey(l, lc, rc, &env, bad)
		switch lc.Mode {
		case "", ModeEnforce:
		case ModeShadow:
			l.Shadow = true
		default:
			bad(".mode", fmt.Sprintf("mode %q: use enforce or shadow", lc.Mode))
		}
		switch lc.OnStoreError {
		case "", "closed":
		case "open":
			l.FailOpen = true
		default:
			bad(".on_store_error", fmt.Sprintf("on_store_error %q: use closed or open", lc.OnStoreError))
		}
		kinds := 0
		for _, set := range []bool{lc.Requests != nil, lc.Tokens != nil, lc.Cost != nil} {
			if set {
				kinds++
			}
		}
		kind := ""
		switch {
		case kinds != 1:
			bad("", "a limit has exactly one of requests, tokens and cost")
		case lc.Requests != nil:
			kind = "requests"
			compileRate(l, lc.Requests, bad)
		case lc.Tokens != nil:
			kind = "tokens"
			compileTokens(l, lc.Tokens, bad)
		default:
			kind = "cost"
			compileCost(l, lc.Cost, bad)
		}
		if l.Name == "" {
			l.Name = kind + strconv.Itoa(k)
		}
		if names[l.Name] {
			bad(".name", fmt.Sprintf("limit name %q is used twice", l.Name))
		}
		names[l.Name] = true
		l.prefix = "limit:" + l.Route + ":" + l.Name + ":"
		out = append(out, l)
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return slices.Clip(out), nil
}

// compileKey checks the key parts and compiles the key expression.
func compileKey(l *Limit, lc policy.LimitConfig, rc policy.RouteConfig, env **conditions.KeyEnv, bad func(sub, msg string)) {
	for _, p := range l.Parts {
		switch p {
		case PartSubject, PartClientID, PartActor:
			if rc.Public {
				bad(".key", "a public route has no token: its limits may key only on model and route, not "+p)
			}
		case PartModel:
			if rc.Models == nil {
				bad(".key", "key model needs a route with model rules (models:)")
			}
		case PartRoute:
		default:
			bad(".key", fmt.Sprintf("unknown key part %q: use sub, client_id, actor, model or route (or key_expr for a claim)", p))
		}
	}
	if lc.KeyExpr == "" {
		return
	}
	if rc.Public {
		bad(".key_expr", "a public route has no token: key_expr reads claims")
		return
	}
	if *env == nil {
		e, err := conditions.NewKeyEnv()
		if err != nil {
			bad(".key_expr", err.Error())
			return
		}
		*env = e
	}
	prg, err := (*env).Compile(lc.KeyExpr)
	if err != nil {
		bad(".key_expr", fmt.Sprintf("key_expr %q: %v", lc.KeyExpr, err))
		return
	}
	l.Expr = prg
}

func compileRate(l *Limit, q *policy.RequestsLimitConfig, bad func(sub, msg string)) {
	per, err := time.ParseDuration(q.Per)
	if err != nil || per <= 0 {
		bad(".requests.per", fmt.Sprintf("per %q is not a positive duration (e.g. 1m)", q.Per))
	}
	if q.Rate <= 0 {
		bad(".requests.rate", "rate must be > 0")
	}
	if q.Burst < 0 {
		bad(".requests.burst", "burst must not be negative")
	}
	burst := q.Burst
	if burst == 0 {
		burst = q.Rate
	}
	if q.Rate > 0 && per > 0 && per/time.Duration(q.Rate) <= 0 {
		bad(".requests.rate", "rate is too high for per: more than one request per nanosecond")
	}
	l.Rate = &Rate{Count: q.Rate, Per: per, Burst: burst}
}

func compileTokens(l *Limit, t *policy.TokensLimitConfig, bad func(sub, msg string)) {
	b, err := ParseWindow(t.Per, t.TimeZone)
	if err != nil {
		bad(".tokens.per", err.Error())
	}
	if t.Budget <= 0 || t.Budget > MaxAmount {
		bad(".tokens.budget", "budget must be > 0 and at most 2^53")
	}
	l.MaxReserve = t.MaxReserve
	switch {
	case t.MaxReserve < 0:
		bad(".tokens.max_reserve", "max_reserve must not be negative")
	case t.MaxReserve == 0:
		l.MaxReserve = DefaultMaxReserve
	}
	if l.MaxReserve > t.Budget && t.Budget > 0 {
		l.MaxReserve = t.Budget
	}
	b.Amount = t.Budget
	l.Budget = &b
}

func compileCost(l *Limit, c *policy.CostLimitConfig, bad func(sub, msg string)) {
	b, err := ParseWindow(c.Per, c.TimeZone)
	if err != nil {
		bad(".cost.per", err.Error())
	}
	amount, err := ParseMoney(c.Budget)
	switch {
	case err != nil:
		bad(".cost.budget", "budget "+err.Error())
	case amount == 0:
		bad(".cost.budget", "budget must be > 0")
	}
	if len(c.Prices) == 0 {
		bad(".cost.prices", "prices must price at least one model (or \"*\" for any)")
	}
	p := &Prices{Models: map[string]Price{}}
	highest := int64(0)
	for _, m := range slices.Sorted(maps.Keys(c.Prices)) {
		pc := c.Prices[m]
		in, err1 := ParseMoney(pc.Input)
		out, err2 := ParseMoney(pc.Output)
		if err := errors.Join(err1, err2); err != nil {
			bad(".cost.prices."+m, fmt.Sprintf("price of %q: input and output are decimal prices per million tokens: %v", m, err))
			continue
		}
		pr := Price{Input: in, Output: out}
		highest = max(highest, out)
		if m == "*" {
			p.Default = &pr
		} else {
			p.Models[m] = pr
		}
	}
	if c.MaxReserve != "" {
		if l.MaxReserve, err = ParseMoney(c.MaxReserve); err != nil {
			bad(".cost.max_reserve", "max_reserve "+err.Error())
		}
	} else {
		l.MaxReserve, _ = Price{Output: highest}.Cost(0, DefaultMaxReserve)
	}
	if amount > 0 {
		l.MaxReserve = min(l.MaxReserve, amount)
	}
	b.Amount = amount
	l.Budget, l.Prices = &b, p
}

// String describes the limit on one line, as `scopegate explain` prints
// it: `rpm: 60 requests per 1m0s (burst 20), per sub`.
func (l *Limit) String() string {
	var s string
	switch {
	case l.Rate != nil:
		s = fmt.Sprintf("%s: %d requests per %v (burst %d)", l.Name, l.Rate.Count, l.Rate.Per, l.Rate.Burst)
	case l.Prices != nil:
		s = fmt.Sprintf("%s: cost %s per %v (at most %s reserved per request)", l.Name, FormatMoney(l.Budget.Amount), l.Budget, FormatMoney(l.MaxReserve))
	default:
		s = fmt.Sprintf("%s: %d tokens per %v (at most %d reserved per request)", l.Name, l.Budget.Amount, l.Budget, l.MaxReserve)
	}
	per := slices.Clone(l.Parts)
	if l.Expr != nil {
		per = append(per, l.Expr.Source)
	}
	s += ", per " + strings.Join(per, "+")
	if l.Shadow {
		s += " (shadow: counts, never refuses)"
	}
	return s
}
