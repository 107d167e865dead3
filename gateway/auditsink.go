package gateway

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.uber.org/zap/zapcore"
)

// auditSink is where audit records go: a standard stream or a file. A file
// is reopened on every reload, so that after logrotate moves it away a
// SIGHUP makes the gateway write to a new one. Writes are serialized, so
// records never interleave.
type auditSink struct {
	mu   sync.Mutex
	w    io.Writer
	f    *os.File // nil for a standard stream
	path string   // "" for a standard stream

	// With a flush interval, records wait in buf until the timer armed by
	// the first of them fires, the buffer fills, or Sync/reopen/Close.
	interval time.Duration
	buf      []byte
	timer    *time.Timer // armed while buf holds records
}

// auditBufferSize bounds what a buffered sink holds (and what a crash may
// lose besides the interval).
const auditBufferSize = 64 << 10

var _ zapcore.WriteSyncer = (*auditSink)(nil)

// openAuditSink opens output ("stdout", "stderr" or an absolute file path).
func openAuditSink(output string, stdout, stderr io.Writer) (*auditSink, error) {
	switch output {
	case "stdout", "":
		return &auditSink{w: stdout}, nil
	case "stderr":
		return &auditSink{w: stderr}, nil
	}
	f, err := openAuditFile(output)
	if err != nil {
		return nil, err
	}
	return &auditSink{w: f, f: f, path: output}, nil
}

func openAuditFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening audit output: %w", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("opening audit output: %s is not a regular file", path)
	}
	return f, nil
}

// buffered makes the sink hold records for up to interval (0: none).
func (s *auditSink) buffered(interval time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if interval <= 0 {
		_ = s.flushLocked()
	}
	s.interval = interval
}

// Write takes one whole record (zap writes each entry in one call).
func (s *auditSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return 0, errors.New("audit output closed")
	}
	if s.interval <= 0 {
		return s.w.Write(p)
	}
	if len(s.buf)+len(p) > auditBufferSize {
		// Never split a record: what is held goes first, whole.
		if err := s.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > auditBufferSize {
			return s.w.Write(p)
		}
	}
	if len(s.buf) == 0 {
		if s.timer == nil {
			s.timer = time.AfterFunc(s.interval, s.flushTimer)
		} else {
			s.timer.Reset(s.interval)
		}
	}
	s.buf = append(s.buf, p...)
	return len(p), nil
}

func (s *auditSink) flushTimer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.flushLocked()
}

// flushLocked writes the held records in one write.
func (s *auditSink) flushLocked() error {
	if len(s.buf) == 0 || s.w == nil {
		return nil
	}
	_, err := s.w.Write(s.buf)
	s.buf = s.buf[:0]
	if s.timer != nil {
		s.timer.Stop()
	}
	return err
}

func (s *auditSink) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flushLocked(); err != nil {
		return err
	}
	if s.f != nil {
		return s.f.Sync()
	}
	return nil
}

// reopen opens the file again by its path (a no-op for a stream). On
// failure the old file stays in use.
func (s *auditSink) reopen() error {
	if s.path == "" {
		return nil
	}
	f, err := openAuditFile(s.path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	_ = s.flushLocked() // the held records belong to the old file
	old := s.f
	s.w, s.f = f, f
	s.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

// Close closes a file; later writes fail. A stream is left open.
func (s *auditSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	flushErr := s.flushLocked()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.w = nil
	if s.f != nil {
		err := s.f.Close()
		s.f = nil
		return errors.Join(flushErr, err)
	}
	return flushErr
}
