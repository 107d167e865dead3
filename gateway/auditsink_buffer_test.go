package gateway

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// countingBuffer is a bytes.Buffer, counting its writes, safe for the sink's timer goroutine.
type countingBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *countingBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *countingBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAuditSinkBuffered(t *testing.T) {
	out := &countingBuffer{}
	s, err := openAuditSink("stdout", out, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.buffered(time.Hour) // only Sync, a full buffer or Close write
	rec := `{"msg":"decision","n":1}` + "\n"
	for range 10 {
		if _, err := s.Write([]byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	if got := out.String(); got != "" {
		t.Fatalf("a buffered sink wrote before its interval: %q", got)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), strings.Repeat(rec, 10); got != want {
		t.Fatalf("after Sync: %q; want the 10 records", got)
	}
	if out.writes != 1 {
		t.Errorf("Sync wrote in %d writes; want 1", out.writes)
	}

	// A full buffer is written whole, records unsplit.
	big := strings.Repeat("x", 1000) + "\n"
	for range 200 { // 200 KB through a 64 KiB buffer
		if _, err := s.Write([]byte(big)); err != nil {
			t.Fatal(err)
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")[10:] {
		if line != big[:len(big)-1] {
			t.Fatalf("a record was split or merged: %d bytes", len(line))
		}
	}
	// Close writes what is held.
	if _, err := s.Write([]byte(rec)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), rec) {
		t.Fatal("Close did not write the held record")
	}
}

// TestAuditSinkBufferedFlushesOnTimer: a held record is written when the
// flush interval has passed since it came, not before, with no further
// write to push it out. (In a synctest bubble: the interval is exact.)
func TestAuditSinkBufferedFlushesOnTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &countingBuffer{}
		s, err := openAuditSink("stdout", out, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		const interval = time.Second
		s.buffered(interval)
		if _, err := s.Write([]byte("{}\n")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(interval - time.Nanosecond)
		synctest.Wait()
		if got := out.String(); got != "" {
			t.Fatalf("written before the interval: %q", got)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := out.String(); got != "{}\n" {
			t.Fatalf("written at the interval: %q; want the held record", got)
		}
	})
}
