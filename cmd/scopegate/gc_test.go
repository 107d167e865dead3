package main

import (
	"runtime/debug"
	"testing"
)

func TestApplyGCDefault(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })

	if got := applyGCDefault(func(string) string { return "" }); got != defaultGCPercent {
		t.Fatalf("applyGCDefault without GOGC = %d; want %d", got, defaultGCPercent)
	}
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Fatalf("GC percent after applyGCDefault = %d; want %d", got, defaultGCPercent)
	}

	env := map[string]string{"GOGC": "50"}
	if got := applyGCDefault(func(k string) string { return env[k] }); got != -1 {
		t.Fatalf("applyGCDefault with GOGC=50 = %d; want -1 (left alone)", got)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GC percent with the operator's GOGC = %d; want it untouched (100)", got)
	}
}
