// Package limitstest is the contract every limits.Store must meet. A
// backend's tests call Run with a fresh store per subtest; the cases do
// not depend on the store's clock (long windows, no waiting), so a shared
// backend that uses its own time (Redis TIME) runs them unchanged.
package limitstest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scopegate/scopegate/limits"
)

// Run runs the contract against stores made by newStore. Keys are unique
// per subtest.
func Run(t *testing.T, newStore func(t *testing.T) limits.Store) {
	ctx := context.Background()
	now := time.Now()
	key := func(t *testing.T) string { return "limitstest:" + t.Name() + ":" + fmt.Sprint(time.Now().UnixNano()) }

	t.Run("RateBurstThenRefused", func(t *testing.T) {
		s, k := newStore(t), key(t)
		r := limits.Rate{Count: 3, Per: time.Hour, Burst: 3}
		for i := range 3 {
			res, err := s.Rate(ctx, k, r, now)
			if err != nil || !res.Allowed {
				t.Fatalf("request %d: %+v, %v; want allowed", i, res, err)
			}
			if res.Remaining != 2-i {
				t.Errorf("request %d: remaining %d; want %d", i, res.Remaining, 2-i)
			}
		}
		res, err := s.Rate(ctx, k, r, now)
		if err != nil || res.Allowed {
			t.Fatalf("request 4: %+v, %v; want refused", res, err)
		}
		if res.RetryAfter <= 0 || res.RetryAfter > 20*time.Minute+time.Second {
			t.Errorf("retry after %v; want about 20m", res.RetryAfter)
		}
		if res, _ := s.Rate(ctx, key(t)+"other", r, now); !res.Allowed {
			t.Error("another key was refused: keys must be independent")
		}
	})

	t.Run("BudgetRefusesWhatWouldCross", func(t *testing.T) {
		s, k := newStore(t), key(t)
		b := limits.Budget{Amount: 100, Per: 24 * time.Hour}
		res, err := s.Reserve(ctx, k, b, 60, false, now)
		if err != nil || !res.Allowed || res.Used != 60 {
			t.Fatalf("first reservation: %+v, %v; want allowed, used 60", res, err)
		}
		res, err = s.Reserve(ctx, k, b, 41, false, now)
		if err != nil || res.Allowed || res.Used != 60 {
			t.Fatalf("reservation crossing the budget: %+v, %v; want refused, used 60", res, err)
		}
		if res.Reset <= 0 || res.Reset > b.Per {
			t.Errorf("reset %v; want within the window", res.Reset)
		}
		// A refund (the real usage was lower) makes room again.
		if err := s.Adjust(ctx, k, b, res.Window, -30); err != nil {
			t.Fatal(err)
		}
		res, err = s.Reserve(ctx, k, b, 41, false, now)
		if err != nil || !res.Allowed || res.Used != 71 {
			t.Fatalf("after a refund: %+v, %v; want allowed, used 71", res, err)
		}
		// A refund never takes the count below zero.
		if err := s.Adjust(ctx, k, b, res.Window, -1000); err != nil {
			t.Fatal(err)
		}
		if res, _ := s.Reserve(ctx, k, b, 100, false, now); !res.Allowed || res.Used != 100 {
			t.Fatalf("after a refund past zero: %+v; want allowed, used 100", res)
		}
	})

	t.Run("ShadowCountsPastTheBudget", func(t *testing.T) {
		s, k := newStore(t), key(t)
		b := limits.Budget{Amount: 10, Per: 24 * time.Hour}
		res, err := s.Reserve(ctx, k, b, 15, true, now)
		if err != nil || res.Allowed || res.Used != 15 {
			t.Fatalf("forced reservation: %+v, %v; want not allowed, counted: used 15", res, err)
		}
	})

	t.Run("ConcurrentReservationsDoNotOvershoot", func(t *testing.T) {
		s, k := newStore(t), key(t)
		b := limits.Budget{Amount: 1000, Per: 24 * time.Hour}
		var wg sync.WaitGroup
		var mu sync.Mutex
		allowed := 0
		for range 50 {
			wg.Go(func() {
				for range 10 {
					res, err := s.Reserve(ctx, k, b, 7, false, now)
					if err != nil {
						t.Error(err)
						return
					}
					if res.Allowed {
						mu.Lock()
						allowed++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		if allowed != 1000/7 {
			t.Errorf("%d reservations of 7 allowed in a budget of 1000; want exactly %d", allowed, 1000/7)
		}
	})

	t.Run("ConcurrentRequestsDoNotOvershoot", func(t *testing.T) {
		s, k := newStore(t), key(t)
		r := limits.Rate{Count: 40, Per: time.Hour, Burst: 40}
		var wg sync.WaitGroup
		var mu sync.Mutex
		allowed := 0
		for range 20 {
			wg.Go(func() {
				for range 10 {
					res, err := s.Rate(ctx, k, r, now)
					if err != nil {
						t.Error(err)
						return
					}
					if res.Allowed {
						mu.Lock()
						allowed++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		if allowed != 40 {
			t.Errorf("%d requests allowed by a burst of 40; want exactly 40", allowed)
		}
	})

	t.Run("PeekCountsNothing", func(t *testing.T) {
		s, k := newStore(t), key(t)
		p, ok := s.(limits.Peeker)
		if !ok {
			t.Skip("the store does not implement limits.Peeker")
		}
		b := limits.Budget{Amount: 100, Per: 24 * time.Hour}
		if _, err := s.Reserve(ctx, k, b, 30, false, now); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			res, err := p.PeekBudget(ctx, k, b, now)
			if err != nil || res.Used != 30 || !res.Allowed || res.Reset <= 0 {
				t.Fatalf("PeekBudget: %+v, %v; want used 30, room left", res, err)
			}
		}
		r := limits.Rate{Count: 3, Per: time.Hour, Burst: 3}
		if res, err := p.PeekRate(ctx, k+"r", r, now); err != nil || res.Remaining != 3 {
			t.Fatalf("PeekRate of an unused key: %+v, %v; want 3 remaining", res, err)
		}
		if _, err := s.Rate(ctx, k+"r", r, now); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if res, err := p.PeekRate(ctx, k+"r", r, now); err != nil || res.Remaining != 2 {
				t.Fatalf("PeekRate after one request: %+v, %v; want 2 remaining", res, err)
			}
		}
	})

	t.Run("ApplyAllOrNothing", func(t *testing.T) {
		s, k := newStore(t), key(t)
		bs, ok := s.(limits.Batcher)
		if !ok {
			t.Skip("the store does not implement limits.Batcher")
		}
		r := limits.Rate{Count: 1, Per: time.Hour, Burst: 1}
		b := limits.Budget{Amount: 100, Per: 24 * time.Hour}
		cal, _ := limits.ParseWindow("month", "Europe/Berlin")
		cal.Amount = 100
		steps := []limits.Step{{Key: k + "r", Rate: &r}, {Key: k + "b", Budget: &b, N: 30}, {Key: k + "c", Budget: &cal, N: 60, Shadow: true}}
		res, applied, err := bs.Apply(ctx, steps, now)
		if err != nil || !applied || !res[0].Rate.Allowed || res[1].Budget.Used != 30 || res[2].Budget.Used != 60 {
			t.Fatalf("first Apply: %+v, %v, %v; want all counted", res, applied, err)
		}
		// The rate refuses now: nothing is counted, not even the budgets.
		res, applied, err = bs.Apply(ctx, steps, now)
		if err != nil || applied || res[0].Rate.Allowed || !res[1].Budget.Allowed || res[1].Budget.Used != 30 || res[2].Budget.Used != 60 {
			t.Fatalf("second Apply: %+v, %v, %v; want refused by the rate, budgets untouched", res, applied, err)
		}
		// Without the rate, the budgets count; the shadow one past its amount.
		res, applied, err = bs.Apply(ctx, steps[1:], now)
		if err != nil || !applied || res[0].Budget.Used != 60 || res[1].Budget.Allowed || res[1].Budget.Used != 120 {
			t.Fatalf("third Apply: %+v, %v, %v; want counted, the shadow budget at 120", res, applied, err)
		}
		// A budget refusing: the rate that fits is not counted either.
		r2 := limits.Rate{Count: 5, Per: time.Hour, Burst: 5}
		res, applied, _ = bs.Apply(ctx, []limits.Step{{Key: k + "r2", Rate: &r2}, {Key: k + "b", Budget: &b, N: 50}}, now)
		if applied || !res[0].Rate.Allowed || res[0].Rate.Remaining != 5 || res[1].Budget.Allowed {
			t.Fatalf("Apply past the budget: %+v, %v; want refused, the rate untouched (5 left)", res, applied)
		}
	})

	t.Run("ConcurrentApplyDoesNotOvershoot", func(t *testing.T) {
		s, k := newStore(t), key(t)
		bs, ok := s.(limits.Batcher)
		if !ok {
			t.Skip("the store does not implement limits.Batcher")
		}
		b := limits.Budget{Amount: 1000, Per: 24 * time.Hour}
		r := limits.Rate{Count: 1000, Per: time.Hour, Burst: 1000}
		var wg sync.WaitGroup
		var mu sync.Mutex
		allowed := 0
		for range 20 {
			wg.Go(func() {
				for range 10 {
					_, applied, err := bs.Apply(ctx, []limits.Step{{Key: k + "r", Rate: &r}, {Key: k + "b", Budget: &b, N: 7}}, now)
					if err != nil {
						t.Error(err)
						return
					}
					if applied {
						mu.Lock()
						allowed++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		if allowed != 1000/7 {
			t.Errorf("%d requests of 7 allowed in a budget of 1000; want exactly %d", allowed, 1000/7)
		}
	})

	t.Run("CancelledContext", func(t *testing.T) {
		s := newStore(t)
		c, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Rate(c, key(t), limits.Rate{Count: 1, Per: time.Second, Burst: 1}, now); err == nil {
			t.Error("Rate with a cancelled context succeeded; want an error")
		}
	})
}
