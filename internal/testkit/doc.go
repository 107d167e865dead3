// Package testkit holds what the tests of several packages share, so that
// each is written once: Wait, the one way a test waits for something another
// goroutine or process does (a key fetch, a log line, a listener), and
// AuditRecord, the one typed decoding of the audit trail's JSON lines.
//
// It is imported by tests only; no production package may import it.
//
// Waiting is for what a test cannot step itself (another process, a
// server's own goroutines). A test of timing (a refresh period, a backoff,
// a rate limit) does not wait: it runs in a testing/synctest bubble, where
// the runtime's timers are fake and synctest.Wait says when everything is
// idle, or it injects a clock and moves it.
package testkit
