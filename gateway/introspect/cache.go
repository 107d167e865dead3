package introspect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/internal/strictjson"
)

// storePrefix namespaces the answers in the state store.
const storePrefix = "introspect:"

// cacheKey is SHA-256 of the issuer and the token: the caches never hold
// the token, and one issuer's answer is never taken for another's.
func cacheKey(iss, raw string) [32]byte {
	var buf [512]byte // on the stack for usual sizes: a hit allocates nothing
	b := append(buf[:0], "scopegate-introspection\x00"...)
	b = append(b, iss...)
	b = append(b, 0)
	b = append(b, raw...)
	return sha256.Sum256(b)
}

// local is this replica's cache of judged answers: a hit costs a map read.
type local struct {
	mu      sync.RWMutex
	max     int
	entries map[[32]byte]localEntry
}

type localEntry struct {
	claims *token.Claims
	until  time.Time
}

func newLocal(max int) *local {
	return &local{max: max, entries: make(map[[32]byte]localEntry)}
}

// get is a read under a shared lock: concurrent hits do not contend. An
// expired entry is left for put's sweep.
func (l *local) get(k [32]byte, now time.Time) *token.Claims {
	l.mu.RLock()
	e, ok := l.entries[k]
	l.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil
	}
	return e.claims
}

func (l *local) put(k [32]byte, c *token.Claims, until, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) >= l.max {
		// Expired entries first; then an eighth of the rest, so that the
		// sweep is paid once per max/8 insertions, not on each. Map order
		// is random enough that a flood cannot pick what it evicts.
		for key, e := range l.entries {
			if !now.Before(e.until) {
				delete(l.entries, key)
			}
		}
		if len(l.entries) >= l.max {
			drop := max(1, l.max/8)
			for key := range l.entries {
				if drop == 0 {
					break
				}
				delete(l.entries, key)
				drop--
			}
		}
	}
	l.entries[k] = localEntry{claims: c, until: until}
}

func (l *local) len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.entries)
}

// stored is an answer as kept in the state store.
type stored struct {
	Until    int64           `json:"until"` // unix nanoseconds; the answer is not used after
	Response json.RawMessage `json:"response"`
}

// storeGet reads a shared answer. A miss, an expired answer, a store
// failure and an unreadable value are all misses (nil): the store is a
// cache, and introspecting again is always correct.
func (in *Introspector) storeGet(ctx context.Context, k [32]byte) (map[string]any, time.Time) {
	if in.store == nil {
		return nil, time.Time{}
	}
	ctx, cancel := context.WithTimeout(ctx, in.storeTimeout)
	defer cancel()
	b, ok, err := in.store.Get(ctx, storePrefix+hex.EncodeToString(k[:]))
	if err != nil {
		in.metrics.storeError()
		return nil, time.Time{}
	}
	if !ok {
		return nil, time.Time{}
	}
	var s stored
	if json.Unmarshal(b, &s) != nil {
		return nil, time.Time{}
	}
	until := time.Unix(0, s.Until)
	if !in.now().Before(until) {
		return nil, time.Time{}
	}
	m, err := strictjson.DecodeObject(s.Response)
	if err != nil {
		return nil, time.Time{}
	}
	return m, until
}

// storePut shares an active answer until until; failures are counted,
// not returned.
func (in *Introspector) storePut(ctx context.Context, k [32]byte, body []byte, until time.Time) {
	if in.store == nil {
		return
	}
	ttl := until.Sub(in.now())
	if ttl <= 0 {
		return
	}
	b, err := json.Marshal(stored{Until: until.UnixNano(), Response: body})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.storeTimeout)
	defer cancel()
	if err := in.store.Set(ctx, storePrefix+hex.EncodeToString(k[:]), b, ttl); err != nil {
		in.metrics.storeError()
	}
}

// cacheUntil is when an active answer stops being reused: the earlier of
// exp and now + ttl.
func cacheUntil(c *token.Claims, now time.Time, ttl time.Duration) time.Time {
	until := now.Add(ttl)
	if c.ExpiresAt.Before(until) {
		until = c.ExpiresAt
	}
	return until
}
