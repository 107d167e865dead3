package limits

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable wraps every failure of a Store itself (a refused
// connection, a timeout): a technical failure, not a refusal. The caller
// decides whether it fails open or closed.
var ErrUnavailable = errors.New("limit store unavailable")

// Rate is a request rate enforced with GCRA (the generic cell rate
// algorithm): Count requests per Per, evenly spaced, of which Burst may
// arrive at once.
type Rate struct {
	Count int           // requests per Per; > 0
	Per   time.Duration // > 0
	Burst int           // requests allowed at once; > 0
}

// interval is the emission interval: the time one request costs.
func (r Rate) interval() time.Duration { return r.Per / time.Duration(r.Count) }

// RateResult is the outcome of one Store.Rate step.
type RateResult struct {
	Allowed bool
	// Remaining is the number of requests that could be made at once
	// after this one (0 on a refusal).
	Remaining int
	// RetryAfter is, on a refusal, how long until one request would pass.
	RetryAfter time.Duration
	// Reset is how long until the full burst is available again.
	Reset time.Duration
}

// BudgetResult is the outcome of one Store.Reserve step.
type BudgetResult struct {
	Allowed bool
	// Used is the window's count after the step (reservation included
	// when allowed).
	Used int64
	// Window is the start of the window the step counted in; Adjust the
	// same window.
	Window time.Time
	// Reset is how long until the window ends.
	Reset time.Duration
}

// Store holds the counters. Every method is atomic across all the
// replicas sharing the store. now is the caller's clock; a shared backend
// uses its own (Redis TIME), so that replicas whose clocks differ agree on
// windows. A Store honours ctx's deadline and wraps its own failures in
// ErrUnavailable.
type Store interface {
	// Rate counts one request against the GCRA state under key, unless
	// it would exceed r; a refused request is not counted.
	Rate(ctx context.Context, key string, r Rate, now time.Time) (RateResult, error)
	// Reserve adds n to key's count in the window of b that holds now,
	// unless the count would then exceed b.Amount; a refused reservation
	// is not counted. With force, n is counted even past the budget (a
	// shadow limit, which counts and reports without refusing), and
	// Allowed still says whether it fitted.
	Reserve(ctx context.Context, key string, b Budget, n int64, force bool, now time.Time) (BudgetResult, error)
	// Adjust adds delta (negative: a refund) to key's count in the window
	// starting at window; the count never goes below 0. Adjusting a
	// window that has ended never touches a later one.
	Adjust(ctx context.Context, key string, b Budget, window time.Time, delta int64) error
}

// gcra is the GCRA step on the theoretical arrival time tat (0: none):
// it returns the new tat (unchanged on a refusal) and the result. A Redis
// script computes the same from the stored tat and the server's TIME.
func gcra(tat, now int64, r Rate) (int64, RateResult) {
	t := int64(r.interval())
	limit := t * int64(r.Burst)
	if tat < now {
		tat = now
	}
	next := tat + t
	if next-now > limit {
		return tat, RateResult{RetryAfter: time.Duration(next - now - limit), Reset: time.Duration(tat - now)}
	}
	return next, RateResult{Allowed: true, Remaining: int((limit - (next - now)) / t), Reset: time.Duration(next - now)}
}
