package token

import (
	"crypto"
	"hash/maphash"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// Cache defaults, applied by the gateway's config (a zero CacheConfig in
// Options means no cache).
const (
	DefaultCacheMaxEntries = 10_000
	DefaultCacheMaxBytes   = 16 << 20
)

// CacheConfig bounds the verified-token cache of one Verifier.
//
// Only successes are cached. A hit is returned only after the checks that
// can change with time have passed again on the current state: exp, nbf and
// iat against the clock with the issuer's leeway, the issuer's keys not
// stale, and the key that verified the signature still in the issuer's
// current key set and still fit for the token's alg. Anything else a
// decision depends on (issuer, audiences, algorithms, clients, typ) is
// fixed for the life of a Verifier; a reload builds a new Verifier, which
// adopts the entries of issuers whose settings did not change (adopt). When a re-check fails the entry is dropped and the token is
// verified afresh, so a cached answer is never more lenient than a fresh
// one, and a refusal carries the fresh verification's reason.
type CacheConfig struct {
	// MaxEntries bounds the number of cached tokens. 0 = no cache.
	MaxEntries int
	// MaxBytes bounds the estimated memory of the cached entries (the
	// token, its decoded claims and bookkeeping). 0 = DefaultCacheMaxBytes.
	MaxBytes int64
	// Counters, if set, receives the cache's hits, misses and evictions;
	// share one between successive Verifiers so totals survive reloads.
	// nil = counters of this Verifier alone.
	Counters *CacheCounters
}

// CacheCounters count cache outcomes. The zero value is ready to use and
// safe for concurrent use.
type CacheCounters struct {
	hits, misses, evictions atomic.Uint64
}

// Hits is the number of tokens answered from the cache.
func (c *CacheCounters) Hits() uint64 { return c.hits.Load() }

// Misses is the number of tokens verified afresh while the cache was on
// (including hits dropped by a failed re-check).
func (c *CacheCounters) Misses() uint64 { return c.misses.Load() }

// Evictions is the number of entries dropped to stay within the bounds or
// because they expired.
func (c *CacheCounters) Evictions() uint64 { return c.evictions.Load() }

// CacheStats is a snapshot of a Verifier's cache.
type CacheStats struct {
	Enabled    bool
	Hits       uint64 // of the Counters, which may be shared
	Misses     uint64
	Evictions  uint64
	Entries    int   // entries held now
	Bytes      int64 // estimated bytes held now
	MaxEntries int
	MaxBytes   int64
}

// entryOverhead estimates what an entry costs beyond its token: the entry,
// the Claims struct, the map slot and the queue slot. The decoded claims
// (Raw map, strings, slices) are counted as twice the token's length.
const entryOverhead = 512

// cacheEntry is one verified token.
type cacheEntry struct {
	key    uint64
	raw    string // compared whole on every hit: the hash alone never decides
	claims *Claims
	is     *issuer
	hdr    header
	public crypto.PublicKey // the key that verified the signature
	size   int64
	ks     atomic.Pointer[keySet] // the last key set the key was found in
	ref    atomic.Bool            // used since it was last passed by eviction
	dead   bool                   // removed from the map; guarded by shard.mu
}

type cacheShard struct {
	mu      sync.RWMutex
	m       map[uint64]*cacheEntry
	queue   []*cacheEntry // insertion order, for second-chance eviction
	bytes   int64
	maxN    int
	maxB    int64
	counter *CacheCounters
}

// tokenCache is a sharded map from a keyed hash of the whole token string
// to its verification. Per-process random seed: hashes cannot be predicted
// from outside, so nobody can aim collisions at the cache (and a collision
// is only ever a miss, since the token is compared whole).
type tokenCache struct {
	seed     maphash.Seed
	shards   []*cacheShard
	counters *CacheCounters
	maxN     int
	maxB     int64
}

func newTokenCache(cfg CacheConfig) *tokenCache {
	if cfg.MaxEntries <= 0 {
		return nil
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultCacheMaxBytes
	}
	if cfg.Counters == nil {
		cfg.Counters = &CacheCounters{}
	}
	n := 1
	if cfg.MaxEntries >= 1024 {
		n = 16 // spreads lock traffic; small caches stay exact in their bounds
	}
	c := &tokenCache{seed: maphash.MakeSeed(), counters: cfg.Counters, maxN: cfg.MaxEntries, maxB: cfg.MaxBytes}
	for i := range n {
		maxN := cfg.MaxEntries / n
		if i < cfg.MaxEntries%n {
			maxN++
		}
		c.shards = append(c.shards, &cacheShard{
			m: map[uint64]*cacheEntry{}, maxN: maxN, maxB: cfg.MaxBytes / int64(n), counter: cfg.Counters,
		})
	}
	return c
}

func (c *tokenCache) shard(key uint64) *cacheShard { return c.shards[key%uint64(len(c.shards))] }

// lookup returns the claims of raw if it is cached and every re-check a
// fresh verification would make passes now; otherwise it drops the entry
// and reports a miss.
func (c *tokenCache) lookup(v *Verifier, key uint64, raw string) *Claims {
	s := c.shard(key)
	s.mu.RLock()
	e := s.m[key]
	s.mu.RUnlock()
	if e == nil || e.raw != raw {
		c.counters.misses.Add(1)
		return nil
	}
	if !e.stillValid(v.now()) {
		s.remove(e)
		c.counters.misses.Add(1)
		return nil
	}
	e.ref.Store(true)
	c.counters.hits.Add(1)
	return e.claims
}

// stillValid re-runs the time checks and the key checks of a fresh
// verification against the current clock and key set.
func (e *cacheEntry) stillValid(now time.Time) bool {
	if e.is.checkTimes(e.claims, now) != nil {
		return false
	}
	ks := e.is.keys(now)
	if ks == nil {
		return false // stale or absent keys: the fresh path answers 503
	}
	if e.ks.Load() == ks {
		return true
	}
	keys, known := ks.candidates(e.hdr.kid, e.hdr.hasKID, e.hdr.alg)
	// A fresh verification tries every candidate; the entry stands only
	// when its key is the one candidate, as it was when it was cached.
	if !known || len(keys) != 1 || !samePublic(keys[0].public, e.public) {
		return false
	}
	e.ks.Store(ks)
	return true
}

func samePublic(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// add caches a successful verification.
func (c *tokenCache) add(key uint64, raw string, claims *Claims, is *issuer, hdr header, k *jwk, ks *keySet, now time.Time) {
	e := &cacheEntry{key: key, raw: raw, claims: claims, is: is, hdr: hdr, public: k.public,
		size: entryOverhead + 3*int64(len(raw))}
	e.ks.Store(ks)
	s := c.shard(key)
	if e.size > s.maxB {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.m[key]; old != nil {
		s.drop(old)
	}
	for len(s.m) >= s.maxN || s.bytes+e.size > s.maxB {
		if !s.evictOne(now) {
			return
		}
	}
	s.m[key] = e
	s.bytes += e.size
	s.queue = append(s.queue, e)
}

// adopt copies into c the entries of prev whose issuer is the same under
// the new Verifier: the key source handed over on reload, and a config
// equal in every field (so that every check a fresh verification makes,
// and the claims it derives, are the same). The others are left behind:
// a reload that changes an issuer re-verifies its tokens.
func (c *tokenCache) adopt(prev *tokenCache, issuers map[string]*issuer, now time.Time) {
	for _, ps := range prev.shards {
		ps.mu.RLock()
		entries := make([]*cacheEntry, 0, len(ps.m))
		for _, e := range ps.m {
			entries = append(entries, e)
		}
		ps.mu.RUnlock()
		for _, e := range entries {
			ni := issuers[e.is.cfg.Issuer]
			if ni == nil || ni.src != e.is.src || !reflect.DeepEqual(ni.cfg, e.is.cfg) || !e.stillValid(now) {
				continue
			}
			c.add(maphash.String(c.seed, e.raw), e.raw, e.claims, ni, e.hdr, &jwk{public: e.public}, e.ks.Load(), now)
		}
	}
}

// evictOne drops one entry: an expired one, or the oldest not used since
// the last pass (second chance). s.mu is held.
func (s *cacheShard) evictOne(now time.Time) bool {
	for passes := 0; len(s.queue) > 0 && passes < 2*len(s.queue)+1; passes++ {
		e := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		if e.dead {
			continue
		}
		if e.ref.Load() && e.is.checkTimes(e.claims, now) == nil {
			e.ref.Store(false)
			s.queue = append(s.queue, e)
			continue
		}
		s.drop(e)
		s.counter.evictions.Add(1)
		return true
	}
	return false
}

// remove drops e if it is still the entry for its key.
func (s *cacheShard) remove(e *cacheEntry) {
	s.mu.Lock()
	if !e.dead && s.m[e.key] == e {
		s.drop(e)
	}
	s.mu.Unlock()
}

// drop takes e out of the map; its queue slot is skipped later. s.mu is
// held.
func (s *cacheShard) drop(e *cacheEntry) {
	delete(s.m, e.key)
	e.dead = true
	s.bytes -= e.size
	// Dead slots are reclaimed as the queue is consumed; compact when they
	// dominate so that the queue stays bounded by the live entries.
	if len(s.queue) > 2*len(s.m)+64 {
		live := s.queue[:0]
		for _, q := range s.queue {
			if !q.dead {
				live = append(live, q)
			}
		}
		clear(s.queue[len(live):])
		s.queue = live
	}
}

func (c *tokenCache) stats() CacheStats {
	st := CacheStats{Enabled: true, MaxEntries: c.maxN, MaxBytes: c.maxB,
		Hits: c.counters.Hits(), Misses: c.counters.Misses(), Evictions: c.counters.Evictions()}
	for _, s := range c.shards {
		s.mu.RLock()
		st.Entries += len(s.m)
		st.Bytes += s.bytes
		s.mu.RUnlock()
	}
	return st
}

// CacheStats reports the verified-token cache's counters and occupancy.
// Enabled is false (and the rest zero) when the Verifier has no cache.
func (v *Verifier) CacheStats() CacheStats {
	if v.cache == nil {
		return CacheStats{}
	}
	return v.cache.stats()
}
