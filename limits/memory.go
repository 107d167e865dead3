package limits

import (
	"context"
	"sync"
	"time"
)

// Memory is the in-memory Store: the default, for one replica. Several
// replicas each with a Memory store each enforce the whole limit.
type Memory struct {
	mu      sync.Mutex
	rates   map[string]int64 // key -> tat (Unix ns)
	budgets map[budgetKey]int64
	writes  int
}

type budgetKey struct {
	key    string
	window int64 // Unix ns of the window's start
	end    int64 // and of its end
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{rates: map[string]int64{}, budgets: map[budgetKey]int64{}}
}

// Rate implements Store.
func (m *Memory) Rate(ctx context.Context, key string, r Rate, now time.Time) (RateResult, error) {
	if err := ctx.Err(); err != nil {
		return RateResult{}, err
	}
	n := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(n)
	tat, res := gcra(m.rates[key], n, r)
	if res.Allowed {
		m.rates[key] = tat
	}
	return res, nil
}

// Reserve implements Store.
func (m *Memory) Reserve(ctx context.Context, key string, b Budget, n int64, force bool, now time.Time) (BudgetResult, error) {
	if err := ctx.Err(); err != nil {
		return BudgetResult{}, err
	}
	w, end := b.Bounds(now)
	k := budgetKey{key, w.UnixNano(), end.UnixNano()}
	res := BudgetResult{Window: w, Reset: end.Sub(now)}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now.UnixNano())
	used := m.budgets[k]
	res.Allowed = n >= 0 && used+n <= b.Amount
	if res.Allowed || force {
		used += n
		m.budgets[k] = used
	}
	res.Used = used
	return res, nil
}

// Adjust implements Store.
func (m *Memory) Adjust(ctx context.Context, key string, b Budget, window time.Time, delta int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := budgetKey{key, window.UnixNano(), b.End(window).UnixNano()}
	m.mu.Lock()
	defer m.mu.Unlock()
	used, ok := m.budgets[k]
	if !ok && delta < 0 {
		return nil
	}
	used += delta
	if used < 0 {
		used = 0
	}
	m.budgets[k] = used
	return nil
}

// sweep drops, every 1024 writes, the rate states that are back to full
// and the budget windows that have ended, so that memory follows the
// active keys, not every key ever seen. m.mu is held.
func (m *Memory) sweep(now int64) {
	if m.writes++; m.writes < 1024 {
		return
	}
	m.writes = 0
	for k, tat := range m.rates {
		if tat <= now {
			delete(m.rates, k)
		}
	}
	for k := range m.budgets {
		if k.end <= now {
			delete(m.budgets, k)
		}
	}
}
