package main

import (
	"runtime/debug"
)

// defaultGCPercent is the GOGC that `serve` and `demo` run with when the
// GOGC environment variable is not set. scopegate's live heap is small
// (2-6 MiB: the token cache, the compiled config), so at Go's default of
// 100 the collector ran every ~30 ms under load, and each cycle's
// stop-the-world phases (up to 3 ms on a busy 2-core machine,
// GODEBUG=gctrace=1) were the p99 gap to a bare ReverseProxy. At 200 the
// cycles are half as frequent for a few MiB more heap (docs/performance.md
// has the measurements). An operator's GOGC, and GOMEMLIMIT, still rule.
const defaultGCPercent = 200

// applyGCDefault sets defaultGCPercent unless GOGC is set in the
// environment (getenv); it reports the percent in force afterwards, or -1
// when the operator's setting was left alone.
func applyGCDefault(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		return -1
	}
	debug.SetGCPercent(defaultGCPercent)
	return defaultGCPercent
}
