package testkit

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
)

// PipeClient returns an HTTP client whose connections are net.Pipe pairs
// to an http.Server serving h in this process. Nothing touches a socket, so
// it works inside a testing/synctest bubble, where a loopback server does
// not: a goroutine reading a socket can be woken from outside the bubble,
// so the bubble is never idle and its fake clock never moves. Requests may
// name any host. At t's cleanup the client's idle connections are closed
// and the server is shut down, waiting for its handlers to return.
func PipeClient(t testing.TB, h http.Handler) *http.Client {
	l := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	srv := &http.Server{Handler: h}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l)
	}()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, s := net.Pipe()
			select {
			case l.conns <- s:
				return c, nil
			case <-l.done:
				return nil, net.ErrClosed
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		// Shutdown waits for the handlers still running (one sleeping
		// on the bubble's clock, say): the bubble ends with none left.
		_ = srv.Shutdown(context.Background())
		<-served
	})
	return &http.Client{Transport: tr}
}

// pipeListener hands the server the far ends of the client's pipes.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
