package state

import (
	"context"
	"errors"
	"fmt"
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
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get against a silent server: %v; want ErrUnavailable from the deadline", err)
	}
}
