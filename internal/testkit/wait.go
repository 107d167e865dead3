package testkit

import (
	"testing"
	"time"
)

// DefaultTimeout is how long WaitFor waits: generous, because the machine
// a test runs on may be shared and slow. It bounds a hang; it is never a
// timing assertion.
const DefaultTimeout = 30 * time.Second

// Wait calls cond until it returns true or timeout has passed, and reports
// whether it returned true. It polls every millisecond at first, then ever
// less often (up to every 50ms), so that a fast condition costs little
// delay and a slow one little CPU. Inside a testing/synctest bubble its
// sleeps are on the bubble's fake clock.
func Wait(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	every := time.Millisecond
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(every)
		every = min(2*every, 50*time.Millisecond)
	}
	return true
}

// WaitFor is Wait with DefaultTimeout that fails t, naming what it waited
// for, when cond does not become true.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Wait(DefaultTimeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", DefaultTimeout, what)
	}
}
