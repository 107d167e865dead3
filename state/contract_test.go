package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// backend is one Store under the contract, with a way to move its clock
// past a TTL (a fake clock, or waiting on a real server).
type backend struct {
	store   Store
	advance func(time.Duration)
}

// runContract is the one suite every backend passes.
func runContract(t *testing.T, newBackend func(t *testing.T) backend) {
	ctx := context.Background()
	t.Run("set get delete", func(t *testing.T) {
		b := newBackend(t)
		if _, ok, err := b.store.Get(ctx, "missing"); ok || err != nil {
			t.Fatalf("Get(missing) = %v, %v; want false, nil", ok, err)
		}
		if err := b.store.Set(ctx, "k", []byte("v1"), 0); err != nil {
			t.Fatal(err)
		}
		if err := b.store.Set(ctx, "k", []byte("v2"), 0); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := b.store.Get(ctx, "k"); !ok || err != nil || string(v) != "v2" {
			t.Fatalf("Get = %q, %v, %v; want %q", v, ok, err, "v2")
		}
		if err := b.store.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if err := b.store.Delete(ctx, "k"); err != nil {
			t.Fatalf("deleting a missing key: %v", err)
		}
		if _, ok, _ := b.store.Get(ctx, "k"); ok {
			t.Fatal("Get after Delete found the key")
		}
	})
	t.Run("binary values", func(t *testing.T) {
		b := newBackend(t)
		val := []byte{0, 1, 2, 0xff, '\r', '\n'}
		if err := b.store.Set(ctx, "bin", val, 0); err != nil {
			t.Fatal(err)
		}
		if v, _, _ := b.store.Get(ctx, "bin"); string(v) != string(val) {
			t.Fatalf("Get = %v; want %v", v, val)
		}
	})
	t.Run("ttl", func(t *testing.T) {
		b := newBackend(t)
		if err := b.store.Set(ctx, "short", []byte("x"), 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := b.store.Set(ctx, "forever", []byte("y"), 0); err != nil {
			t.Fatal(err)
		}
		b.advance(300 * time.Millisecond)
		if _, ok, _ := b.store.Get(ctx, "short"); ok {
			t.Fatal("Get after the TTL found the key")
		}
		if _, ok, _ := b.store.Get(ctx, "forever"); !ok {
			t.Fatal("a key without TTL expired")
		}
		if got, _ := b.store.List(ctx, ""); len(got) != 1 {
			t.Fatalf("List after expiry = %v; want only forever", got)
		}
	})
	t.Run("setnx is atomic", func(t *testing.T) {
		b := newBackend(t)
		var won atomic.Int32
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				ok, err := b.store.SetNX(ctx, "once", []byte(fmt.Sprint(i)), time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("%d concurrent SetNX stored; want exactly 1", won.Load())
		}
	})
	t.Run("list by prefix", func(t *testing.T) {
		b := newBackend(t)
		for _, k := range []string{"revoke:jti:a", "revoke:sub:b", "revokeX", "dpop:c", "rev*ke:[x]"} {
			if err := b.store.Set(ctx, k, []byte(k), 0); err != nil {
				t.Fatal(err)
			}
		}
		got, err := b.store.List(ctx, "revoke:")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || string(got["revoke:jti:a"]) != "revoke:jti:a" || string(got["revoke:sub:b"]) != "revoke:sub:b" {
			t.Fatalf("List(revoke:) = %q; want the two revoke: keys", got)
		}
		// Glob characters in a prefix are literal.
		if got, _ := b.store.List(ctx, "rev*"); len(got) != 1 {
			t.Fatalf("List(rev*) = %q; want only the key spelled rev*", got)
		}
	})
	t.Run("publish subscribe", func(t *testing.T) {
		b := newBackend(t)
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		msgs := make(chan string, 16)
		b.store.Subscribe(sctx, "chan", func(msg []byte, resub bool) {
			if resub {
				msgs <- "<subscribed>"
				return
			}
			msgs <- string(msg)
		})
		if got := recv(t, msgs); got != "<subscribed>" {
			t.Fatalf("first callback %q; want the subscription notice", got)
		}
		if err := b.store.Publish(ctx, "other", []byte("no")); err != nil {
			t.Fatal(err)
		}
		if err := b.store.Publish(ctx, "chan", []byte("hello")); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, msgs); got != "hello" {
			t.Fatalf("message %q; want hello", got)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		b := newBackend(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := b.store.Set(cctx, "k", nil, 0); err == nil {
			t.Fatal("Set with a cancelled context succeeded")
		}
		if _, _, err := b.store.Get(cctx, "k"); err == nil {
			t.Fatal("Get with a cancelled context succeeded")
		}
		if _, err := b.store.List(cctx, ""); err == nil {
			t.Fatal("List with a cancelled context succeeded")
		}
		if err := b.store.Set(cctx, "k", nil, 0); errors.Is(err, ErrUnavailable) && !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v does not say the context was cancelled", err)
		}
	})
}

func recv(t *testing.T, c <-chan string) string {
	t.Helper()
	select {
	case s := <-c:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return ""
	}
}

func TestContractMemory(t *testing.T) {
	runContract(t, func(t *testing.T) backend {
		clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
		return backend{store: NewMemory(clk.Now), advance: func(d time.Duration) { clk.t = clk.t.Add(d) }}
	})
}
