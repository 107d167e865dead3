package state

import (
	"context"
	"testing"
	"time"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func TestMemoryTTLAndSetNX(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	m := NewMemory(clk.Now)

	if stored, err := m.SetNX(ctx, "k", []byte("a"), time.Minute); err != nil || !stored {
		t.Fatalf("first SetNX = %v, %v; want true, nil", stored, err)
	}
	if stored, _ := m.SetNX(ctx, "k", []byte("b"), time.Minute); stored {
		t.Fatal("second SetNX within the TTL stored; want refused")
	}
	if v, ok, _ := m.Get(ctx, "k"); !ok || string(v) != "a" {
		t.Fatalf("Get = %q, %v; want %q, true", v, ok, "a")
	}
	clk.t = clk.t.Add(time.Minute)
	if _, ok, _ := m.Get(ctx, "k"); ok {
		t.Fatal("Get after the TTL found the key; want expired")
	}
	if stored, _ := m.SetNX(ctx, "k", []byte("c"), 0); !stored {
		t.Fatal("SetNX after expiry refused; want stored")
	}
	if err := m.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.Get(ctx, "k"); ok {
		t.Fatal("Get after Delete found the key")
	}
}

func TestMemorySweepsExpired(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	m := NewMemory(clk.Now)
	for i := range 2000 {
		_ = m.Set(ctx, string(rune('a'+i%26))+time.Duration(i).String(), nil, time.Second)
	}
	clk.t = clk.t.Add(2 * time.Second)
	for i := range 1100 {
		_ = m.Set(ctx, "live"+time.Duration(i).String(), nil, 0)
	}
	m.mu.Lock()
	n := len(m.items)
	m.mu.Unlock()
	if n > 1100+1024 {
		t.Fatalf("items = %d after expiry and a sweep; want the expired ones gone", n)
	}
}

func TestMemoryHonoursCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := NewMemory(nil)
	if err := m.Set(ctx, "k", nil, 0); err == nil {
		t.Fatal("Set with a cancelled context succeeded")
	}
}
