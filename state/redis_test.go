package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/scopegate/scopegate/internal/redistest"
	"github.com/scopegate/scopegate/internal/testkit"
)

// TestContractRedis runs the contract against a real redis-server, one
// key prefix per subtest.
func TestContractRedis(t *testing.T) {
	srv := redistest.Start(t)
	n := 0
	runContract(t, func(t *testing.T) backend {
		n++
		r, err := NewRedis(RedisOptions{URL: srv.URL(), KeyPrefix: fmt.Sprintf("t%d:", n)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return backend{store: r, advance: time.Sleep}
	})
}

// TestRedisReconnects kills redis-server under a client and starts it
// again: the same client works again, data and subscription included,
// without being rebuilt.
func TestRedisReconnects(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	r, err := NewRedis(RedisOptions{URL: srv.URL(), DialTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	subs := make(chan string, 16)
	r.Subscribe(sctx, "c", func(msg []byte, resub bool) {
		if resub {
			subs <- "<subscribed>"
		} else {
			subs <- string(msg)
		}
	})
	if got := recv(t, subs); got != "<subscribed>" {
		t.Fatalf("got %q; want the subscription", got)
	}

	srv.Kill()
	tctx, tcancel := context.WithTimeout(ctx, time.Second)
	_, _, err = r.Get(tctx, "k")
	tcancel()
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get with redis down: %v; want ErrUnavailable", err)
	}

	srv.Restart()
	var v []byte
	var ok bool
	testkit.WaitFor(t, "a reconnection", func() bool {
		v, ok, err = r.Get(ctx, "k")
		return err == nil
	})
	if !ok || string(v) != "v" {
		t.Fatalf("after the restart Get = %q, %v; want the value back (append-only file)", v, ok)
	}
	// The subscription comes back by itself and says so, so that a
	// mirror resyncs what it missed.
	if got := recv(t, subs); got != "<subscribed>" {
		t.Fatalf("got %q; want a resubscription notice", got)
	}
	if err := r.Publish(ctx, "c", []byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, subs); got != "after" {
		t.Fatalf("got %q; want the message published after the restart", got)
	}
}

// TestRedisErrorsAreUnavailable injects server errors with miniredis:
// they come back as ErrUnavailable, never as "not found".
func TestRedisErrorsAreUnavailable(t *testing.T) {
	mr := miniredis.RunT(t)
	r, err := NewRedis(RedisOptions{URL: "redis://" + mr.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if err := r.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	mr.SetError("LOADING Redis is loading the dataset in memory")
	if _, ok, err := r.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) || ok {
		t.Fatalf("Get during a server error = %v, %v; want ErrUnavailable", ok, err)
	}
	if _, err := r.List(ctx, ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("List during a server error: %v; want ErrUnavailable", err)
	}
	mr.SetError("")
	if _, ok, err := r.Get(ctx, "k"); !ok || err != nil {
		t.Fatalf("Get after the error cleared = %v, %v", ok, err)
	}
}

// TestRedisTimeoutBoundsCalls: a server that accepts and never answers
// costs a call its context's deadline, not more.
func TestRedisTimeoutBoundsCalls(t *testing.T) {
	mr := miniredis.RunT(t)
	r, err := NewRedis(RedisOptions{URL: "redis://" + mr.Addr(), ReadTimeout: time.Hour, WriteTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if err := r.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	mr.Lock() // miniredis answers nothing while locked
	defer mr.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, _, err = r.Get(cctx, "k")
	// The deadline reaches the socket (ContextTimeoutEnabled): the read
	// times out at it, and is not retried (MaxRetries -1).
	var ne net.Error
	if !errors.Is(err, ErrUnavailable) || !(errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("Get against a silent server: %v; want ErrUnavailable from the deadline", err)
	}
}

// TestRedisNeverRunsACommandTwice: a connection that breaks after Redis
// ran a command but before its reply arrived must not make the client run
// it again. Here SET NX of a fresh key: run twice, the second run answers
// "already there", and a DPoP proof would be refused as its own replay (a
// limit's reserve script, likewise, would charge twice). Between client
// and miniredis, a relay that cuts the first connection once the server
// has answered, without passing the answer on.
func TestRedisNeverRunsACommandTwice(t *testing.T) {
	mr := miniredis.RunT(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// armed: the client has sent the command (its key, "jti"); cut: the
	// one reply to drop has been dropped.
	var armed, cut atomic.Bool
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", mr.Addr())
			if err != nil {
				c.Close()
				return
			}
			go func() {
				defer s.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if bytes.Contains(buf[:n], []byte("jti")) {
							armed.Store(true)
						}
						if _, err := s.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						if armed.Load() && cut.CompareAndSwap(false, true) {
							return // the reply, dropped with the connection
						}
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	r, err := NewRedis(RedisOptions{URL: "redis://" + l.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ok, err := r.SetNX(context.Background(), "jti", []byte("1"), time.Minute)
	if !mr.Exists("scopegate:jti") || !cut.Load() {
		t.Fatal("the relay did not pass the command on; the test proves nothing")
	}
	if err == nil && !ok {
		t.Fatal("SetNX of a fresh key answered false: the command was run twice, and its first run refused")
	}
	if err != nil && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("SetNX: %v; want ErrUnavailable", err)
	}
}
