package limits

import (
	"context"
	"errors"
	"testing"
	"time"
)

// flaky is a Store that fails with err while err is set, counting calls.
type flaky struct {
	*Memory
	err   error
	calls int
}

func (f *flaky) Rate(ctx context.Context, key string, r Rate, now time.Time) (RateResult, error) {
	f.calls++
	if f.err != nil {
		return RateResult{}, f.err
	}
	return f.Memory.Rate(ctx, key, r, now)
}

// TestBreaker: after a store failure the breaker answers ErrUnavailable
// without calling the store until the cooldown has passed; a caller's
// own cancellation says nothing about the store and opens nothing.
func TestBreaker(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_000_000, 0)
	f := &flaky{Memory: NewMemory()}
	b := NewBreaker(f, time.Second, func() time.Time { return now })
	r := Rate{Count: 100, Per: time.Second, Burst: 100}

	f.err = context.Canceled
	if _, err := b.Rate(ctx, "k", r, now); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	f.err = nil
	if _, err := b.Rate(ctx, "k", r, now); err != nil || f.calls != 2 {
		t.Fatalf("after a cancellation: %v, %d calls; want the store called", err, f.calls)
	}

	f.err = context.DeadlineExceeded
	if _, err := b.Rate(ctx, "k", r, now); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a deadline: %v; want ErrUnavailable", err)
	}
	f.err = nil
	for range 3 {
		if _, err := b.Rate(ctx, "k", r, now.Add(999*time.Millisecond)); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("within the cooldown: %v; want ErrUnavailable", err)
		}
	}
	if f.calls != 3 {
		t.Errorf("%d store calls; want 3 (none within the cooldown)", f.calls)
	}
	now = now.Add(time.Second)
	if _, err := b.Rate(ctx, "k", r, now); err != nil || f.calls != 4 {
		t.Errorf("after the cooldown: %v, %d calls; want the store called again", err, f.calls)
	}
}
