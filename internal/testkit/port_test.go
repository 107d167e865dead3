package testkit

import (
	"errors"
	"net"
	"runtime"
	"strconv"
	"syscall"
	"testing"
)

// TestReservePort: the port refuses connections and stays held (a bind
// without SO_REUSEADDR, as the kernel checks for a port it hands out,
// fails), a server can listen on it, and once that server stops the port
// refuses connections and is held again.
func TestReservePort(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ReservePort holds the port on Linux only")
	}
	port := ReservePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	refusedAndHeld := func(when string) {
		t.Helper()
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Errorf("%s: a connection to the reserved port was accepted", when)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("%s: dial: %v; want connection refused", when, err)
		}
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fd)
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("%s: another bind to the reserved port: %v; want EADDRINUSE", when, err)
		}
	}
	refusedAndHeld("reserved")
	for round := range 2 {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("round %d: a server cannot listen on the reserved port: %v", round, err)
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("round %d: dialing the server on the reserved port: %v", round, err)
		}
		c.Close()
		l.Close()
		refusedAndHeld("after the server stopped")
	}
	if a := ClosedAddr(t); a == addr {
		t.Errorf("ClosedAddr returned the port already reserved, %s", a)
	}
}

// TestClosedAddr: the address refuses connections and is held (another
// bind to it fails).
func TestClosedAddr(t *testing.T) {
	addr := ClosedAddr(t)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("a connection to %s was accepted", addr)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s: %v; want connection refused", addr, err)
	}
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("another bind to %s: %v; want EADDRINUSE", addr, err)
	}
}
