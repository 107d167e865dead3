package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestGCPercentFor(t *testing.T) {
	for _, tt := range []struct {
		live uint64
		want int
	}{
		{0, defaultGCPercent},
		{3 << 20, defaultGCPercent}, // a repeated token: the tail setting
		{8 << 20, defaultGCPercent}, // headroom exactly maxGCHeadroom
		{12 << 20, 133},
		{16 << 20, 100},
		{64 << 20, 100}, // never under Go's default
	} {
		if got := gcPercentFor(tt.live); got != tt.want {
			t.Errorf("gcPercentFor(%d MiB) = %d; want %d", tt.live>>20, got, tt.want)
		}
	}
}

// TestGCTunerStep: the tuner follows the live heap both ways and calls
// SetGCPercent only when the percent changes.
func TestGCTunerStep(t *testing.T) {
	var live uint64
	var sets []int
	tu := &gcTuner{live: func() uint64 { return live }, set: func(p int) int { sets = append(sets, p); return 0 }, cur: defaultGCPercent}
	for _, l := range []uint64{2 << 20, 16 << 20, 20 << 20, 3 << 20} {
		live = l
		tu.step()
	}
	if want := []int{100, 200}; len(sets) != 2 || sets[0] != want[0] || sets[1] != want[1] {
		t.Errorf("SetGCPercent calls %v; want %v", sets, want)
	}
}

// TestGCTunerRunsEveryCycle: armed, the tuner steps after collections
// and keeps re-arming (bounded by GC cycles, not by time).
func TestGCTunerRunsEveryCycle(t *testing.T) {
	old := debug.SetGCPercent(defaultGCPercent)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	tu := startGCTuner()
	t.Cleanup(tu.stop)
	for i := 0; i < 1000 && tu.cycles.Load() < 3; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if n := tu.cycles.Load(); n < 3 {
		t.Fatalf("the tuner stepped %d times in 1000 collections; want at least 3", n)
	}
	// The test binary's live heap is small: the tail setting stays.
	if got := debug.SetGCPercent(defaultGCPercent); got != defaultGCPercent {
		t.Errorf("GOGC after the tuner = %d; want %d for a small heap", got, defaultGCPercent)
	}
}
