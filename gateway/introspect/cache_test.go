package introspect

import (
	"testing"
	"time"

	"github.com/scopegate/scopegate/gateway/token"
)

// TestLocalBounded: the local cache never holds more than its bound, and
// drops expired entries before live ones.
func TestLocalBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLocal(16)
	c := &token.Claims{}
	l.put([32]byte{255}, c, now.Add(time.Second), now) // expires first
	for i := range 100 {
		l.put([32]byte{byte(i)}, c, now.Add(time.Hour), now.Add(2*time.Second))
		if n := l.len(); n > 16 {
			t.Fatalf("after %d puts the cache holds %d entries; bound 16", i+1, n)
		}
	}
	if l.get([32]byte{99}, now) == nil {
		t.Fatal("the newest entry was evicted")
	}
	if l.get([32]byte{255}, now.Add(2*time.Second)) != nil {
		t.Fatal("an expired entry was served")
	}
}
