package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// maxGCHeadroom bounds the garbage the collector lets pile up beyond the
// live heap under scopegate's default GC setting. GOGC=200
// (defaultGCPercent) is for a small live heap: 2-8 MiB with a repeated
// token, where Go's 100 collected every ~30 ms and the pauses made the
// p99. Its headroom is twice the live heap, so a full token cache (16 MiB
// by default) would get 32 MiB of headroom, and RSS to match, for nothing:
// with that much live data collections are rare at 100 already. Past
// this headroom the percent comes down, to Go's 100 at the least.
const maxGCHeadroom = 16 << 20

// gcPercentFor is the GOGC for a live heap of live bytes:
// defaultGCPercent while live × percent/100 stays within maxGCHeadroom,
// less beyond, never under 100.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return defaultGCPercent
	}
	p := uint64(maxGCHeadroom) * 100 / live
	return int(max(100, min(uint64(defaultGCPercent), p)))
}

// gcTuner sets GOGC to gcPercentFor(the live heap) after every
// collection. It runs only where defaultGCPercent was applied: an
// operator's GOGC is never changed.
type gcTuner struct {
	live   func() uint64
	set    func(int) int // debug.SetGCPercent
	cur    int
	cycles atomic.Int64 // steps taken, for tests
	done   atomic.Bool  // stop: no more steps (tests; serve runs it for life)
}

// stop ends the tuning after the step under way, if any.
func (t *gcTuner) stop() { t.done.Store(true) }

// startGCTuner starts tuning from defaultGCPercent (applied already).
func startGCTuner() *gcTuner {
	t := &gcTuner{live: liveHeap(), set: debug.SetGCPercent, cur: defaultGCPercent}
	t.arm()
	return t
}

// step reads the live heap and moves GOGC if it should change; it runs
// on the runtime's cleanup goroutine, one at a time.
func (t *gcTuner) step() {
	if p := gcPercentFor(t.live()); p != t.cur {
		t.set(p)
		t.cur = p
	}
	t.cycles.Add(1)
}

// gcSentinel is collected by every GC cycle that runs after it was made:
// its cleanup steps the tuner and makes the next one. The pointer field
// keeps it out of the tiny allocator, whose objects may never be freed.
type gcSentinel struct{ _ *int }

func (t *gcTuner) arm() {
	runtime.AddCleanup(new(gcSentinel), func(t *gcTuner) {
		if t.done.Load() {
			return
		}
		t.step()
		t.arm()
	}, t)
}

// liveHeap reads the heap marked live by the last collection.
func liveHeap() func() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	return func() uint64 {
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[0].Value.Uint64()
	}
}
