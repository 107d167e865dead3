// Package redistest starts a real redis-server for tests: on a loopback
// port reserved for the test (testkit.ReservePort), with its data in a
// temporary directory, stopped when the test ends. A test skips, saying why, only when no redis-server binary
// can be found (`make redis` installs one).
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/testkit"
)

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	Port int
	cmd  *exec.Cmd
	args []string
	tls  bool
}

// Options configure StartWith.
type Options struct {
	// Args are more redis-server arguments ("--requirepass", "pw").
	Args []string
	// TLS serves TLS only, on Port, with these PEM files.
	CertFile, KeyFile string
}

// Binary returns the redis-server path, or "" when there is none.
func Binary() string {
	if p := os.Getenv("REDIS_SERVER"); p != "" {
		return p
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/local/bin/redis-server"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Start runs a redis-server for t, or skips t when none can be found.
func Start(t testing.TB) *Server { t.Helper(); return StartWith(t, Options{}) }

// StartWith is Start with more options.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skip("redis-server not found (PATH, /usr/bin, /usr/local/bin, $REDIS_SERVER): run `make redis` to install it")
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), Port: testkit.ReservePort(t), args: o.Args}
	if o.CertFile != "" {
		s.tls = true
		s.args = append(s.args, "--tls-cert-file", o.CertFile, "--tls-key-file", o.KeyFile, "--tls-auth-clients", "no")
	}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// URL is the redis:// URL of the server.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.Port) }

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Restart starts the server again (after Kill) on the same port and
// directory: its append-only file brings the data back. The port stays
// reserved while the server is down, so no other test's listener can
// take it in between.
func (s *Server) Restart() {
	s.t.Helper()
	port := []string{"--port", strconv.Itoa(s.Port)}
	if s.tls {
		port = []string{"--port", "0", "--tls-port", strconv.Itoa(s.Port)}
	}
	args := append(port, "--bind", "127.0.0.1",
		"--dir", s.dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--protected-mode", "no", "--daemonize", "no", "--logfile", filepath.Join(s.dir, "redis.log"))
	cmd := exec.Command(s.bin, append(args, s.args...)...)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting %s: %v", s.bin, err)
	}
	s.cmd = cmd
	if !testkit.Wait(10*time.Second, s.answers) {
		log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
		s.t.Fatalf("redis-server on %s not answering after 10s; log:\n%s", s.Addr(), log)
	}
}

// answers reports whether the server accepts connections and, without
// TLS, answers PING (or asks for a password: -NOAUTH).
func (s *Server) answers() bool {
	c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	if s.tls {
		return true // listening; the TLS handshake is the client's test
	}
	_, _ = c.Write([]byte("PING\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (line == "+PONG\r\n" || strings.HasPrefix(line, "-NOAUTH"))
}

// Kill stops the server abruptly (SIGKILL), as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Stop kills the server; for t.Cleanup.
func (s *Server) Stop() { s.Kill() }
