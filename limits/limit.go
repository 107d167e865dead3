package limits

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scopegate/scopegate/policy"
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
// is set.
type Limit struct {
	Name  string   // as configured, or requests<i> / tokens<i>
	Route string   // the route's name
	Parts []string // the key parts (Part*), in config order
	// Shadow limits count and report without refusing; FailOpen ones let
	// a request through uncounted when the store fails.
	Shadow, FailOpen bool
	Rate             *Rate
	Budget           *Budget
	// MaxReserve caps one request's reservation under Budget.
	MaxReserve int64
	prefix     string // "limit:<route>:<name>:", the start of its keys
}

// Subject is the verified data a limit's key is built from.
type Subject struct {
	Sub, ClientID, Actor, Model string
}

// Key returns the store key of s under l: the route, the limit's name
// and a hash of the key parts, so that no subject is stored in the clear.
func (l *Limit) Key(s Subject) string {
	// On the stack for usual keys: the request path allocates only the
	// returned string.
	var buf [256]byte
	b := buf[:0]
	for _, p := range l.Parts {
		var v string
		switch p {
		case PartSubject:
			v = s.Sub
		case PartClientID:
			v = s.ClientID
		case PartActor:
			v = s.Actor
		case PartModel:
			v = s.Model
		case PartRoute:
			v = l.Route
		}
		// Length-prefixed, so that ("ab","c") and ("a","bc") differ.
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, ':')
		b = append(b, v...)
		b = append(b, ';')
	}
	sum := sha256.Sum256(b)
	var hx [32]byte
	hex.Encode(hx[:], sum[:16])
	prefix := l.prefix
	if prefix == "" {
		prefix = "limit:" + l.Route + ":" + l.Name + ":"
	}
	return prefix + string(hx[:])
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
	for k, lc := range rc.Limits {
		field := fmt.Sprintf("routes[%d].limits[%d]", i, k)
		bad := func(sub, msg string) {
			ps = append(ps, Problem{field + sub, fmt.Sprintf("route %q: %s", rc.Name, msg)})
		}
		l := &Limit{Name: lc.Name, Route: rc.Name, Parts: lc.Key}
		if len(l.Parts) == 0 {
			l.Parts = []string{PartSubject}
		}
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
				bad(".key", fmt.Sprintf("unknown key part %q: use sub, client_id, actor, model or route", p))
			}
		}
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
		switch {
		case (lc.Requests == nil) == (lc.Tokens == nil):
			bad("", "a limit has exactly one of requests and tokens")
		case lc.Requests != nil:
			q := lc.Requests
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
			if l.Name == "" {
				l.Name = "requests" + strconv.Itoa(k)
			}
		default:
			t := lc.Tokens
			per, err := time.ParseDuration(t.Per)
			if err != nil || per <= 0 {
				bad(".tokens.per", fmt.Sprintf("per %q is not a positive duration (e.g. 24h)", t.Per))
			}
			if t.Budget <= 0 {
				bad(".tokens.budget", "budget must be > 0")
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
			l.Budget = &Budget{Amount: t.Budget, Per: per}
			if l.Name == "" {
				l.Name = "tokens" + strconv.Itoa(k)
			}
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

// String describes the limit on one line, as `scopegate explain` prints
// it: `rpm: 60 requests per 1m0s (burst 20), per sub`.
func (l *Limit) String() string {
	var s string
	if l.Rate != nil {
		s = fmt.Sprintf("%s: %d requests per %v (burst %d)", l.Name, l.Rate.Count, l.Rate.Per, l.Rate.Burst)
	} else {
		s = fmt.Sprintf("%s: %d tokens per %v window (at most %d reserved per request)", l.Name, l.Budget.Amount, l.Budget.Per, l.MaxReserve)
	}
	s += ", per " + strings.Join(l.Parts, "+")
	if l.Shadow {
		s += " (shadow: counts, never refuses)"
	}
	return s
}
