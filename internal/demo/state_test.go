package demo

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startDemo runs the demo on ephemeral ports with its state under a fresh
// XDG_RUNTIME_DIR, and returns it and a func that stops it.
func startDemo(t *testing.T) (*Demo, func()) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	return startDemoIn(t)
}

// startDemoIn runs a demo whose state goes to $XDG_RUNTIME_DIR, set by
// the caller.
func startDemoIn(t *testing.T) (*Demo, func()) {
	t.Helper()
	return startDemoWith(t, Options{AdminListen: "localhost:0"})
}

// startDemoWith runs the demo with opts, on ephemeral ports unless opts
// names others, waits until it is ready, and returns it and a func that
// stops it.
func startDemoWith(t *testing.T, opts Options) (*Demo, func()) {
	t.Helper()
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.AdminListen == "" {
		opts.AdminListen = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *Demo, 1)
	done := make(chan error, 1)
	opts.Ready = func(d *Demo) { ready <- d }
	go func() { done <- Run(ctx, opts) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo Run: %v", err)
		}
	}
	select {
	case d := <-ready:
		return d, stop
	case err := <-done:
		cancel()
		t.Fatalf("demo stopped: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("demo did not become ready")
	}
	return nil, nil
}

func TestTokenForRunningDemo(t *testing.T) {
	d, stop := startDemo(t)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	dir := StateDir()
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, stateFile(d.ProxyURL)): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 || fi.Mode().Perm() > want {
			t.Errorf("%s has mode %v; want at most %v", path, fi.Mode().Perm(), want)
		}
	}
	st, err := ReadState(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if st.ProxyURL != d.ProxyURL {
		t.Errorf("state proxy %q; want %q", st.ProxyURL, d.ProxyURL)
	}
	for _, c := range []struct {
		name string
		spec TokenSpec
		path string
		want int
	}{
		{"scope_granted", TokenSpec{Scopes: []string{"models:read"}}, "/v1/models", http.StatusOK},
		{"scope_missing", TokenSpec{Scopes: []string{"chat:completions"}}, "/v1/models", http.StatusForbidden},
		{"expired", TokenSpec{Scopes: []string{"models:read"}, TTL: time.Nanosecond}, "", 0},
		{"id_token", TokenSpec{IDToken: true}, "/v1/models", http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok, err := st.Mint(c.spec)
			if err != nil {
				t.Fatal(err)
			}
			if c.path == "" {
				return // minting works; the lifetime is the gateway's business
			}
			req, _ := http.NewRequest(http.MethodGet, d.ProxyURL+c.path, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("status %d; want %d", resp.StatusCode, c.want)
			}
		})
	}
	stop()
	stopped = true
	if _, err := os.Stat(filepath.Join(dir, stateFile(d.ProxyURL))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the state file outlived the demo: %v", err)
	}
	if _, err := ReadState(context.Background(), ""); !errors.Is(err, ErrNoDemo) {
		t.Errorf("ReadState after the demo: %v; want ErrNoDemo", err)
	}
}

func TestReadStateRefuses(t *testing.T) {
	t.Run("no_demo", func(t *testing.T) {
		t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
		if _, err := ReadState(context.Background(), ""); !errors.Is(err, ErrNoDemo) {
			t.Fatalf("got %v; want ErrNoDemo", err)
		}
	})
	t.Run("stale_state", func(t *testing.T) {
		t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
		remove, err := writeState(State{Issuer: "http://127.0.0.1:1", KID: "k"})
		if err != nil {
			t.Fatal(err)
		}
		defer remove()
		if _, err := ReadState(context.Background(), ""); !errors.Is(err, ErrNoDemo) {
			t.Fatalf("got %v; want ErrNoDemo for a demo that is gone", err)
		}
	})
	t.Run("file_readable_by_others", func(t *testing.T) {
		t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
		remove, err := writeState(State{Issuer: "http://127.0.0.1:1", KID: "k"})
		if err != nil {
			t.Fatal(err)
		}
		defer remove()
		if err := os.Chmod(filepath.Join(StateDir(), stateFile("")), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = ReadState(context.Background(), "")
		if err == nil || !strings.Contains(err.Error(), "accessible to other users") {
			t.Fatalf("got %v; want a refusal of the shared file", err)
		}
	})
}

// TestTwoDemosCoexist: two demos keep their own state; scopegate token
// asks which one when both run, and each one's stop removes only its own.
func TestTwoDemosCoexist(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	a, stopA := startDemoIn(t)
	b, stopB := startDemoIn(t)
	if _, err := ReadState(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "2 demos are running") {
		t.Errorf("ReadState with two demos: %v; want it to ask which", err)
	}
	for _, d := range []*Demo{a, b} {
		st, err := ReadState(context.Background(), d.ProxyURL)
		if err != nil || st.ProxyURL != d.ProxyURL {
			t.Fatalf("ReadState(%s) = %v, %v", d.ProxyURL, st, err)
		}
	}
	stopA()
	st, err := ReadState(context.Background(), "")
	if err != nil || st.ProxyURL != b.ProxyURL {
		t.Fatalf("after the first demo stopped: ReadState = %v, %v; want the second demo's state", st, err)
	}
	stopB()
}
