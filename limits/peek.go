package limits

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Peeker reads a key's state without counting anything: what the admin
// API shows (GET /admin/limits). Memory and Redis implement it.
type Peeker interface {
	// PeekRate returns how many requests key could make at once now
	// (Remaining) and how long until its full burst is back (Reset).
	PeekRate(ctx context.Context, key string, r Rate, now time.Time) (RateResult, error)
	// PeekBudget returns key's count in the window of b holding now
	// (Used, Window, Reset); Allowed says whether any room is left.
	PeekBudget(ctx context.Context, key string, b Budget, now time.Time) (BudgetResult, error)
}

var (
	_ Peeker = (*Memory)(nil)
	_ Peeker = (*Redis)(nil)
)

// Owns reports whether key is one of l's store keys (as Key makes them,
// and as the audit record's detail shows them).
func (l *Limit) Owns(key string) bool {
	h, ok := strings.CutPrefix(key, "limit:"+l.Route+":"+l.Name+":")
	if !ok || len(h) != 32 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// peekRate is the state of a GCRA key with theoretical arrival time tat.
func peekRate(tat, now int64, r Rate) RateResult {
	t := int64(r.interval())
	tat = max(tat, now)
	rem := int((t*int64(r.Burst) - (tat - now)) / t)
	return RateResult{Allowed: rem > 0, Remaining: max(rem, 0), Reset: time.Duration(tat - now)}
}

// PeekRate implements Peeker.
func (m *Memory) PeekRate(ctx context.Context, key string, r Rate, now time.Time) (RateResult, error) {
	if err := ctx.Err(); err != nil {
		return RateResult{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return peekRate(m.rates[key], now.UnixNano(), r), nil
}

// PeekBudget implements Peeker.
func (m *Memory) PeekBudget(ctx context.Context, key string, b Budget, now time.Time) (BudgetResult, error) {
	if err := ctx.Err(); err != nil {
		return BudgetResult{}, err
	}
	w, end := b.Bounds(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	used := m.budgets[budgetKey{key, w.UnixNano(), end.UnixNano()}]
	return BudgetResult{Allowed: used < b.Amount, Used: used, Window: w, Reset: end.Sub(now)}, nil
}

var peekRateScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
return {tat - now}
`)

// peekBudgetScript: the window as reserveScript picks it (same ARGV),
// and its count. Returns used, window start µs, reset µs.
var peekBudgetScript = redis.NewScript(luaWindow + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local per = tonumber(ARGV[1])
local w, e = window(now, per, 5)
if not w then return redis.error_reply(skew) end
local used = tonumber(redis.call('GET', KEYS[1] .. ':' .. string.format('%.0f', w)) or '0')
return {used, w, e - now}
`)

// PeekRate implements Peeker, on the server's clock.
func (s *Redis) PeekRate(ctx context.Context, key string, r Rate, _ time.Time) (RateResult, error) {
	v, err := s.run(ctx, peekRateScript, key)
	if err != nil || len(v) != 1 {
		return RateResult{}, unexpected(err, v)
	}
	// In the server's time: tat - now is all peekRate needs.
	res := peekRate(v[0]*1000, 0, r)
	return res, nil
}

// PeekBudget implements Peeker, on the server's clock.
func (s *Redis) PeekBudget(ctx context.Context, key string, b Budget, now time.Time) (BudgetResult, error) {
	args := []any{b.Per.Microseconds(), 0, 0, 0}
	if b.Calendar != "" {
		for _, c := range b.candidates(now) {
			args = append(args, c.UnixMicro())
		}
	}
	v, err := s.run(ctx, peekBudgetScript, key, args...)
	if err != nil || len(v) != 3 {
		return BudgetResult{}, fmt.Errorf("peeking %s: %w", key, unexpected(err, v))
	}
	return BudgetResult{Allowed: v[0] < b.Amount, Used: v[0], Window: time.UnixMicro(v[1]),
		Reset: time.Duration(v[2]) * time.Microsecond}, nil
}
