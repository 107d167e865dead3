package state

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is the in-memory Store: the default, for one replica. Several
// replicas each with a Memory store share nothing.
type Memory struct {
	now func() time.Time

	mu     sync.Mutex
	items  map[string]memItem
	writes int // writes since the last sweep of expired items

	subMu sync.Mutex // apart from mu: a subscriber may call Get
	subs  map[string][]*memSub
}

type memItem struct {
	value   []byte
	expires time.Time // zero: never
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store on the clock now (nil:
// time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, items: make(map[string]memItem)}
}

func (m *Memory) live(it memItem, now time.Time) bool {
	return it.expires.IsZero() || now.Before(it.expires)
}

func (m *Memory) expiry(now time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return now.Add(ttl)
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[key]
	if !ok || !m.live(it, now) {
		return nil, false, nil
	}
	return append([]byte(nil), it.value...), true, nil
}

// Set implements Store.
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.items[key] = memItem{value: append([]byte(nil), value...), expires: m.expiry(now, ttl)}
	m.sweepLocked(now)
	return nil
}

// SetNX implements Store.
func (m *Memory) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if it, ok := m.items[key]; ok && m.live(it, now) {
		return false, nil
	}
	m.items[key] = memItem{value: append([]byte(nil), value...), expires: m.expiry(now, ttl)}
	m.sweepLocked(now)
	return true, nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.items, key)
	m.mu.Unlock()
	return nil
}

// Close implements Store; the memory store holds nothing to release.
func (m *Memory) Close() error { return nil }

// sweepLocked drops expired items once every so many writes, so that the
// map's size follows the live items and no timer goroutine is needed.
func (m *Memory) sweepLocked(now time.Time) {
	m.writes++
	if m.writes < 1024 && m.writes < len(m.items) {
		return
	}
	m.writes = 0
	for k, it := range m.items {
		if !m.live(it, now) {
			delete(m.items, k)
		}
	}
}

// List implements Store.
func (m *Memory) List(ctx context.Context, prefix string) (map[string][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]byte{}
	for k, it := range m.items {
		if strings.HasPrefix(k, prefix) && m.live(it, now) {
			out[k] = append([]byte(nil), it.value...)
		}
	}
	return out, nil
}

// Publish implements Store: the subscribers of this process are called
// before it returns.
func (m *Memory) Publish(ctx context.Context, channel string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.subMu.Lock()
	subs := slices.Clone(m.subs[channel])
	m.subMu.Unlock()
	for _, s := range subs {
		if s.ctx.Err() == nil {
			s.fn(append([]byte(nil), msg...), false)
		}
	}
	return nil
}

// Subscribe implements Store. fn is called with resubscribed true once,
// before Subscribe returns; the subscription ends with ctx.
func (m *Memory) Subscribe(ctx context.Context, channel string, fn func(msg []byte, resubscribed bool)) {
	s := &memSub{ctx: ctx, fn: fn}
	m.subMu.Lock()
	if m.subs == nil {
		m.subs = map[string][]*memSub{}
	}
	m.subs[channel] = append(m.subs[channel], s)
	m.subMu.Unlock()
	fn(nil, true)
	context.AfterFunc(ctx, func() {
		m.subMu.Lock()
		m.subs[channel] = slices.DeleteFunc(m.subs[channel], func(x *memSub) bool { return x == s })
		m.subMu.Unlock()
	})
}

type memSub struct {
	ctx context.Context
	fn  func([]byte, bool)
}
