package limits_test

import (
	"context"
	"testing"
	"time"

	"github.com/scopegate/scopegate/limits"
	"github.com/scopegate/scopegate/limits/limitstest"
)

func TestMemoryContract(t *testing.T) {
	limitstest.Run(t, func(*testing.T) limits.Store { return limits.NewMemory() })
}

// TestRateIsSmooth: after the burst, a request passes every interval and
// no sooner; a refused request is not counted.
func TestRateIsSmooth(t *testing.T) {
	ctx := context.Background()
	s := limits.NewMemory()
	r := limits.Rate{Count: 60, Per: time.Minute, Burst: 2}
	t0 := time.Unix(1_000_000, 0)
	for i := range 2 {
		if res, _ := s.Rate(ctx, "k", r, t0); !res.Allowed {
			t.Fatalf("burst request %d refused", i)
		}
	}
	res, _ := s.Rate(ctx, "k", r, t0)
	if res.Allowed || res.RetryAfter != time.Second {
		t.Fatalf("third request at once: %+v; want refused, retry after 1s", res)
	}
	if res, _ := s.Rate(ctx, "k", r, t0.Add(999*time.Millisecond)); res.Allowed {
		t.Fatal("allowed before the interval")
	}
	if res, _ := s.Rate(ctx, "k", r, t0.Add(time.Second)); !res.Allowed {
		t.Fatalf("refused after the interval: %+v", res)
	}
	// Idle long enough, the whole burst is back, and no more.
	later := t0.Add(time.Hour)
	for i := range 2 {
		if res, _ := s.Rate(ctx, "k", r, later); !res.Allowed {
			t.Fatalf("after idling, burst request %d refused", i)
		}
	}
	if res, _ := s.Rate(ctx, "k", r, later); res.Allowed {
		t.Fatal("idling accumulated more than the burst")
	}
}

// TestBudgetIsNotARate: a budget does not refill within its window (a
// token bucket would), and a new window starts from zero.
func TestBudgetIsNotARate(t *testing.T) {
	ctx := context.Background()
	s := limits.NewMemory()
	b := limits.Budget{Amount: 100, Per: 24 * time.Hour}
	day := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	if res, _ := s.Reserve(ctx, "k", b, 100, false, day.Add(time.Hour)); !res.Allowed {
		t.Fatal("the whole budget was refused")
	}
	res, _ := s.Reserve(ctx, "k", b, 1, false, day.Add(23*time.Hour))
	if res.Allowed {
		t.Fatal("the budget refilled within its window")
	}
	if res.Reset != time.Hour {
		t.Errorf("reset %v; want 1h (the end of the UTC day)", res.Reset)
	}
	if res, _ := s.Reserve(ctx, "k", b, 1, false, day.Add(24*time.Hour)); !res.Allowed || res.Used != 1 {
		t.Fatalf("next window: %+v; want allowed from zero", res)
	}
	// An adjustment of the ended window does not touch the new one.
	_ = s.Adjust(ctx, "k", b, day, 50)
	if res, _ := s.Reserve(ctx, "k", b, 99, false, day.Add(25*time.Hour)); !res.Allowed {
		t.Fatalf("an adjustment of the previous window leaked into this one: %+v", res)
	}
}
