package gateway

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

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
}

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

func (s *auditSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return 0, errors.New("audit output closed")
	}
	return s.w.Write(p)
}

func (s *auditSink) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
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
	s.w = nil
	if s.f != nil {
		err := s.f.Close()
		s.f = nil
		return err
	}
	return nil
}
