package limits

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Step is one limit's part of a request: a GCRA step (Rate set) or a
// reservation of N under Budget.
type Step struct {
	Key    string
	Rate   *Rate
	Budget *Budget
	N      int64
	// Shadow steps never hold the others back, and a shadow budget
	// counts even past its amount.
	Shadow bool
}

// StepResult is one step's outcome: Rate or Budget, by the step's kind.
// Allowed says whether the step fits; Budget.Used is the window's count
// after the call (the reservation included when it was counted).
type StepResult struct {
	Rate   RateResult
	Budget BudgetResult
}

// Batcher applies all the limit steps of a request in one atomic call
// (for Redis, one round trip): every step is judged against the same
// state; when every enforcing step fits, all the steps are counted
// (shadow budgets even past their amount); when one does not, none is,
// so a request refused by one limit costs nothing under the others.
// applied reports which happened.
type Batcher interface {
	Apply(ctx context.Context, steps []Step, now time.Time) (res []StepResult, applied bool, err error)
}

var (
	_ Batcher = (*Memory)(nil)
	_ Batcher = (*Redis)(nil)
	_ Batcher = (*Breaker)(nil)
)

// Apply implements Batcher.
func (m *Memory) Apply(ctx context.Context, steps []Step, now time.Time) ([]StepResult, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	n := now.UnixNano()
	out := make([]StepResult, len(steps))
	tats := make([]int64, len(steps))
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(n)
	ok := true
	for i, s := range steps {
		if s.Rate != nil {
			var res RateResult
			tats[i], res = gcra(m.rates[s.Key], n, *s.Rate)
			out[i].Rate = res
			ok = ok && (res.Allowed || s.Shadow)
			continue
		}
		w, end := s.Budget.Bounds(now)
		used := m.budgets[budgetKey{s.Key, w.UnixNano(), end.UnixNano()}]
		allowed := s.N >= 0 && used+s.N <= s.Budget.Amount
		out[i].Budget = BudgetResult{Allowed: allowed, Used: used, Window: w, Reset: end.Sub(now)}
		ok = ok && (allowed || s.Shadow)
	}
	for i, s := range steps {
		switch {
		case s.Rate != nil && !ok && out[i].Rate.Allowed:
			// Not counted: say what is left without this request.
			out[i].Rate = peekRate(m.rates[s.Key], n, *s.Rate)
		case s.Rate != nil && ok && out[i].Rate.Allowed:
			m.rates[s.Key] = tats[i]
		case s.Budget != nil && ok && (out[i].Budget.Allowed || s.Shadow):
			w := out[i].Budget.Window
			_, end := s.Budget.Bounds(w)
			k := budgetKey{s.Key, w.UnixNano(), end.UnixNano()}
			m.budgets[k] += s.N
			out[i].Budget.Used = m.budgets[k]
		}
	}
	return out, ok, nil
}

// applyScript: KEYS[i] is step i's key (a GCRA state, or a budget's base
// key); ARGV holds 9 values per step: kind (1 rate, 2 budget), shadow,
// then for a rate its interval µs and burst, for a budget its window µs
// (0: calendar), amount, n and the 4 proposed calendar boundaries. It
// judges every step on the server's TIME, then counts them all or none.
// Returns applied, then per step allowed, remaining|used, retry-after
// µs|window start µs, reset µs.
var applyScript = redis.NewScript(luaWindow + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out, writes, ok = {0}, {}, true
for i = 1, #KEYS do
  local o = (i - 1) * 9
  local shadow = ARGV[o + 2] == '1'
  if ARGV[o + 1] == '1' then
    local interval = tonumber(ARGV[o + 3])
    local limit = interval * tonumber(ARGV[o + 4])
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    if tat < now then tat = now end
    local nxt = tat + interval
    if nxt - now > limit then
      for _, v in ipairs({0, 0, nxt - now - limit, tat - now}) do out[#out + 1] = v end
      if not shadow then ok = false end
    else
      for _, v in ipairs({1, math.floor((limit - (nxt - now)) / interval), 0, nxt - now}) do out[#out + 1] = v end
      writes[i] = {1, nxt, math.floor((limit - (tat - now)) / interval), tat - now}
    end
  else
    local per, n = tonumber(ARGV[o + 3]), tonumber(ARGV[o + 5])
    local w, e = window(now, per, o + 6)
    if not w then return redis.error_reply(skew) end
    local k = KEYS[i] .. ':' .. string.format('%.0f', w)
    local used = tonumber(redis.call('GET', k) or '0')
    local allowed = n >= 0 and used + n <= tonumber(ARGV[o + 4])
    for _, v in ipairs({allowed and 1 or 0, used, w, e - now}) do out[#out + 1] = v end
    if not allowed and not shadow then ok = false end
    if allowed or shadow then writes[i] = {2, k, n, e} end
  end
end
for i = 1, #KEYS do
  local wr, p = writes[i], 1 + (i - 1) * 4
  if wr and ok and wr[1] == 1 then
    redis.call('SET', KEYS[i], string.format('%.0f', wr[2]), 'PX', math.ceil((wr[2] - now) / 1000) + 1)
  elseif wr and ok then
    out[p + 2] = redis.call('INCRBY', wr[2], wr[3])
    redis.call('PEXPIRE', wr[2], math.ceil((wr[4] - now) / 1000) + 1000)
  elseif wr and wr[1] == 1 then
    -- a rate that fitted, not counted: what is left without it
    out[p + 2], out[p + 4] = wr[3], wr[4]
  end
end
if ok then out[1] = 1 end
return out
`)

// Apply implements Batcher: one script, one round trip, on the server's
// clock (now only proposes calendar windows).
func (s *Redis) Apply(ctx context.Context, steps []Step, now time.Time) ([]StepResult, bool, error) {
	keys := make([]string, len(steps))
	args := make([]any, 0, 9*len(steps))
	for i, st := range steps {
		keys[i] = s.prefix + st.Key
		shadow := 0
		if st.Shadow {
			shadow = 1
		}
		if st.Rate != nil {
			args = append(args, 1, shadow, max(st.Rate.interval().Microseconds(), 1), st.Rate.Burst, 0, 0, 0, 0, 0)
			continue
		}
		args = append(args, 2, shadow, st.Budget.Per.Microseconds(), st.Budget.Amount, st.N)
		if st.Budget.Calendar != "" {
			for _, c := range st.Budget.candidates(now) {
				args = append(args, c.UnixMicro())
			}
		} else {
			args = append(args, 0, 0, 0, 0)
		}
	}
	v, err := applyScript.Run(ctx, s.c, keys, args...).Int64Slice()
	if err != nil || len(v) != 1+4*len(steps) {
		if err == nil {
			err = fmt.Errorf("a script answered %d values for %d steps", len(v), len(steps))
		}
		return nil, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	out := make([]StepResult, len(steps))
	for i, st := range steps {
		x := v[1+4*i : 5+4*i]
		if st.Rate != nil {
			out[i].Rate = RateResult{Allowed: x[0] == 1, Remaining: int(max(x[1], 0)), RetryAfter: time.Duration(x[2]) * time.Microsecond,
				Reset: time.Duration(x[3]) * time.Microsecond}
			continue
		}
		out[i].Budget = BudgetResult{Allowed: x[0] == 1, Used: x[1], Window: time.UnixMicro(x[2]), Reset: time.Duration(x[3]) * time.Microsecond}
	}
	return out, v[0] == 1, nil
}

// Apply implements Batcher: the wrapped store's Apply, or its steps one
// by one for a store that has none (not atomic: a later refusal undoes
// the earlier reservations, not the earlier rate steps).
func (b *Breaker) Apply(ctx context.Context, steps []Step, now time.Time) ([]StepResult, bool, error) {
	if err := b.check(); err != nil {
		return nil, false, err
	}
	res, applied, err := Apply(ctx, b.s, steps, now)
	return res, applied, b.note(err)
}

// Apply applies steps on s: in one atomic call when s is a Batcher, else
// one by one (not atomic: a later refusal undoes the earlier
// reservations, not the earlier rate steps).
func Apply(ctx context.Context, s Store, steps []Step, now time.Time) ([]StepResult, bool, error) {
	if bs, ok := s.(Batcher); ok {
		return bs.Apply(ctx, steps, now)
	}
	return applySequential(ctx, s, steps, now)
}

func applySequential(ctx context.Context, s Store, steps []Step, now time.Time) ([]StepResult, bool, error) {
	out := make([]StepResult, len(steps))
	undo := func(upto int) {
		for j := range upto {
			if st := steps[j]; st.Budget != nil && (out[j].Budget.Allowed || st.Shadow) {
				_ = s.Adjust(ctx, st.Key, *st.Budget, out[j].Budget.Window, -st.N)
			}
		}
	}
	for i, st := range steps {
		var err error
		if st.Rate != nil {
			out[i].Rate, err = s.Rate(ctx, st.Key, *st.Rate, now)
		} else {
			out[i].Budget, err = s.Reserve(ctx, st.Key, *st.Budget, st.N, st.Shadow, now)
		}
		if err != nil {
			undo(i)
			return nil, false, err
		}
		if !st.Shadow && !out[i].Rate.Allowed && !out[i].Budget.Allowed {
			undo(i + 1)
			return out, false, nil
		}
	}
	return out, true, nil
}
