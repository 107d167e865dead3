package limits

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Breaker wraps a shared Store: after a failure (ErrUnavailable, or the
// caller's deadline passing) it answers ErrUnavailable at once for
// Cooldown, then lets calls through again. While Redis is down, requests
// then cost no store timeout each: fail-closed limits refuse at once and
// fail-open ones fall back at once, instead of piling up on a dead
// connection.
type Breaker struct {
	s        Store
	cooldown time.Duration
	now      func() time.Time
	until    atomic.Int64 // Unix ns until which calls fail fast; 0: closed
}

var (
	_ Store  = (*Breaker)(nil)
	_ Peeker = (*Breaker)(nil)
)

// errOpen: the breaker is open.
var errOpen = fmt.Errorf("%w: failing fast after a recent failure", ErrUnavailable)

// NewBreaker wraps s; now is the clock (nil: time.Now).
func NewBreaker(s Store, cooldown time.Duration, now func() time.Time) *Breaker {
	if now == nil {
		now = time.Now
	}
	return &Breaker{s: s, cooldown: cooldown, now: now}
}

// Unwrap returns the wrapped store.
func (b *Breaker) Unwrap() Store { return b.s }

func (b *Breaker) check() error {
	if u := b.until.Load(); u != 0 && b.now().UnixNano() < u {
		return errOpen
	}
	return nil
}

// note opens the breaker on a store failure; a cancelled caller (the
// client left) says nothing about the store.
func (b *Breaker) note(err error) error {
	if err != nil && (errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)) {
		b.until.Store(b.now().Add(b.cooldown).UnixNano())
		if !errors.Is(err, ErrUnavailable) {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	return err
}

// Rate implements Store.
func (b *Breaker) Rate(ctx context.Context, key string, r Rate, now time.Time) (RateResult, error) {
	if err := b.check(); err != nil {
		return RateResult{}, err
	}
	res, err := b.s.Rate(ctx, key, r, now)
	return res, b.note(err)
}

// Reserve implements Store.
func (b *Breaker) Reserve(ctx context.Context, key string, bu Budget, n int64, force bool, now time.Time) (BudgetResult, error) {
	if err := b.check(); err != nil {
		return BudgetResult{}, err
	}
	res, err := b.s.Reserve(ctx, key, bu, n, force, now)
	return res, b.note(err)
}

// Adjust implements Store. While the breaker is open a reconciliation
// is lost: the request stays billed its reservation, the safe side.
func (b *Breaker) Adjust(ctx context.Context, key string, bu Budget, window time.Time, delta int64) error {
	if err := b.check(); err != nil {
		return err
	}
	return b.note(b.s.Adjust(ctx, key, bu, window, delta))
}

// PeekRate implements Peeker when the wrapped store does.
func (b *Breaker) PeekRate(ctx context.Context, key string, r Rate, now time.Time) (RateResult, error) {
	p, ok := b.s.(Peeker)
	if !ok {
		return RateResult{}, errors.New("the limit store cannot be read")
	}
	return p.PeekRate(ctx, key, r, now)
}

// PeekBudget implements Peeker when the wrapped store does.
func (b *Breaker) PeekBudget(ctx context.Context, key string, bu Budget, now time.Time) (BudgetResult, error) {
	p, ok := b.s.(Peeker)
	if !ok {
		return BudgetResult{}, errors.New("the limit store cannot be read")
	}
	return p.PeekBudget(ctx, key, bu, now)
}
