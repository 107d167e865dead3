package gateway

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The cache-hit path's allocation budget (issue 16: the bare proxy's plus
// 20) is held by BenchmarkChain; these tests pin the pieces that once
// allocated on every request, so that a change which brings one back
// fails here, not only in a benchmark nobody reads.

// TestVerifyFailureNoAllocOnSuccess: a successful verification's span
// reason costs nothing (it allocated the errors.As target every request).
func TestVerifyFailureNoAllocOnSuccess(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = verifyFailure(nil) }); n != 0 {
		t.Errorf("verifyFailure(nil): %v allocations; want 0", n)
	}
}

// TestDrainUnread: a body the upstream read to its end is not read again
// (no allocation); one it left unread is drained, up to the bound.
func TestDrainUnread(t *testing.T) {
	var b bodyReader
	r := httptest.NewRequest("POST", "/", strings.NewReader("abc"))
	wrapBody(&b, httptest.NewRecorder(), r, time.Second)
	if _, err := io.ReadAll(r.Body); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { drainUnread(&b) }); n != 0 {
		t.Errorf("drainUnread of a body at its end: %v allocations; want 0", n)
	}

	left := strings.NewReader("unread bytes")
	r = httptest.NewRequest("POST", "/", left)
	wrapBody(&b, httptest.NewRecorder(), r, time.Second)
	drainUnread(&b)
	if left.Len() != 0 || !b.eof {
		t.Errorf("drainUnread left %d bytes unread", left.Len())
	}
}
