package limits

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Store on a Redis (or Valkey) server, shared by every
// replica: each step is one Lua script, atomic on the server, and reads
// the server's clock (TIME), so that replicas whose clocks differ agree on
// windows and rates. The caller's now is not used. Times are kept in
// microseconds (a Lua number holds them exactly). Keys are computed in the
// scripts from their declared key: one Redis server or a primary with
// replicas, not Redis Cluster.
type Redis struct {
	c      redis.Scripter
	prefix string
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Store on the client c, with every key under prefix.
func NewRedis(c redis.Scripter, prefix string) *Redis {
	return &Redis{c: c, prefix: prefix}
}

// rateScript: KEYS[1] the GCRA state (the theoretical arrival time, µs);
// ARGV interval µs, burst. Returns allowed, remaining, retry-after µs,
// reset µs.
var rateScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local limit = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nxt = tat + interval
if nxt - now > limit then
  return {0, 0, nxt - now - limit, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1)
return {1, math.floor((limit - (nxt - now)) / interval), 0, nxt - now}
`)

// luaWindow, put before the budget scripts, defines window(now, per,
// first): the window [w, e) in µs that holds the server's now. per > 0
// is a fixed window aligned to per; per = 0 takes the calendar window,
// among the consecutive ones the gateway proposed as boundaries in
// ARGV[first..first+3], that holds now: the server's clock decides, and
// nil (the script fails with skew) means the gateway's clock is more than
// a window off it.
const luaWindow = `
local skew = 'clock skew: the server time is outside the windows the gateway proposed'
local function window(now, per, first)
  if per > 0 then
    local w = now - (now % per)
    return w, w + per
  end
  for j = first, first + 2 do
    local s, f = tonumber(ARGV[j]), tonumber(ARGV[j + 1])
    if s <= now and now < f then return s, f end
  end
  return nil
end
`

// reserveScript: KEYS[1] the budget's base key; ARGV window µs (0: a
// calendar window), amount, n, force, and for a calendar window the
// boundaries of the windows around the caller's time (Budget.candidates):
// the script picks the one holding its own TIME, so that the server's
// clock decides. The window's count is under KEYS[1]..':'..window start.
// Returns allowed, used, window start µs, reset µs; or an error when the
// server's clock is outside every candidate (skew past a whole window).
var reserveScript = redis.NewScript(luaWindow + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local per = tonumber(ARGV[1])
local w, e = window(now, per, 5)
if not w then return redis.error_reply(skew) end
local k = KEYS[1] .. ':' .. string.format('%.0f', w)
local used = tonumber(redis.call('GET', k) or '0')
local n = tonumber(ARGV[3])
local allowed = n >= 0 and used + n <= tonumber(ARGV[2])
if allowed or ARGV[4] == '1' then
  used = redis.call('INCRBY', k, n)
  redis.call('PEXPIRE', k, math.ceil((e - now) / 1000) + 1000)
end
return {allowed and 1 or 0, used, w, e - now}
`)

// adjustScript: KEYS[1] a window's count; ARGV delta, the window's end µs.
// The count never goes below 0; a missing count is created only by a
// positive delta, to live as long as reserveScript lets a count live: to
// the window's end by the server's clock, plus a second, and at least a
// second.
var adjustScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local d = tonumber(ARGV[1])
if not cur then
  if d <= 0 then return 0 end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local life = math.ceil((tonumber(ARGV[2]) - now) / 1000) + 1000
  if life < 1000 then life = 1000 end
  redis.call('SET', KEYS[1], d, 'PX', life)
  return d
end
local v = tonumber(cur) + d
if v < 0 then v = 0 end
redis.call('SET', KEYS[1], v, 'KEEPTTL')
return v
`)

func (s *Redis) run(ctx context.Context, sc *redis.Script, key string, args ...any) ([]int64, error) {
	v, err := sc.Run(ctx, s.c, []string{s.prefix + key}, args...).Int64Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return v, nil
}

// Rate implements Store.
func (s *Redis) Rate(ctx context.Context, key string, r Rate, _ time.Time) (RateResult, error) {
	v, err := s.run(ctx, rateScript, key, max(r.interval().Microseconds(), 1), r.Burst)
	if err != nil || len(v) != 4 {
		return RateResult{}, unexpected(err, v)
	}
	return RateResult{Allowed: v[0] == 1, Remaining: int(v[1]), RetryAfter: time.Duration(v[2]) * time.Microsecond,
		Reset: time.Duration(v[3]) * time.Microsecond}, nil
}

// Reserve implements Store. now only proposes the calendar windows
// around it; the server's TIME picks one.
func (s *Redis) Reserve(ctx context.Context, key string, b Budget, n int64, force bool, now time.Time) (BudgetResult, error) {
	f := 0
	if force {
		f = 1
	}
	args := []any{b.Per.Microseconds(), b.Amount, n, f}
	if b.Calendar != "" {
		for _, c := range b.candidates(now) {
			args = append(args, c.UnixMicro())
		}
	}
	v, err := s.run(ctx, reserveScript, key, args...)
	if err != nil || len(v) != 4 {
		return BudgetResult{}, unexpected(err, v)
	}
	return BudgetResult{Allowed: v[0] == 1, Used: v[1], Window: time.UnixMicro(v[2]),
		Reset: time.Duration(v[3]) * time.Microsecond}, nil
}

// Adjust implements Store.
func (s *Redis) Adjust(ctx context.Context, key string, b Budget, window time.Time, delta int64) error {
	end := b.End(window)
	k := key + ":" + strconv.FormatInt(window.UnixMicro(), 10)
	if err := adjustScript.Run(ctx, s.c, []string{s.prefix + k}, delta, end.UnixMicro()).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

func unexpected(err error, v []int64) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: a script answered %v", ErrUnavailable, v)
}
