package limits_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/scopegate/scopegate/internal/redistest"
	"github.com/scopegate/scopegate/limits"
	"github.com/scopegate/scopegate/limits/limitstest"
)

// TestRedisContract runs the Store contract against a real redis-server.
func TestRedisContract(t *testing.T) {
	srv := redistest.Start(t)
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	limitstest.Run(t, func(t *testing.T) limits.Store { return limits.NewRedis(c, "test:"+t.Name()+":") })
}

// TestRedisAdjustLifeByServerClock: a count that Adjust creates (its
// window's count had expired) lives to the window's end by the Redis
// server's clock, plus a second, as Reserve's counts do: the gateway's own
// clock, which may differ from the server's, plays no part.
func TestRedisAdjustLifeByServerClock(t *testing.T) {
	m := miniredis.RunT(t)
	server := time.Date(2001, 2, 3, 4, 5, 0, 0, time.UTC) // far from this machine's clock
	m.SetTime(server)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	s := limits.NewRedis(c, "p:")
	b := limits.Budget{Amount: 100, Per: time.Minute}
	window := server.Add(-20 * time.Second) // 40s of the window left
	if err := s.Adjust(context.Background(), "k", b, window, 5); err != nil {
		t.Fatal(err)
	}
	key := "p:k:" + strconv.FormatInt(window.UnixMicro(), 10)
	if got, want := m.TTL(key), 41*time.Second; got != want {
		t.Fatalf("TTL of the created count = %v; want %v (40s left by the server's clock, plus 1s)", got, want)
	}
}

// TestRedisCalendarWindowFromServerTime: a replica whose clock is 24
// hours ahead proposes the windows around its own time; the server's
// TIME picks the day that holds it, so replicas agree whatever their
// skew (up to a window). A skew past every proposed window is an error,
// never a count in the wrong window.
func TestRedisCalendarWindowFromServerTime(t *testing.T) {
	srv := redistest.Start(t)
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	s := limits.NewRedis(c, "test:skew:")
	b, err := limits.ParseWindow("day", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	b.Amount = 100
	ctx := context.Background()
	before, _ := b.Bounds(time.Now())
	res, err := s.Reserve(ctx, "k", b, 10, false, time.Now().Add(24*time.Hour))
	after, _ := b.Bounds(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Window.Equal(before) && !res.Window.Equal(after) {
		t.Errorf("window %v; want the server's day %v, not the skewed replica's", res.Window, before)
	}
	// The other replica, on time, counts in the same window.
	res2, err := s.Reserve(ctx, "k", b, 10, false, time.Now())
	if err != nil || res2.Used != 20 {
		t.Errorf("second replica: %+v, %v; want used 20 in the same window", res2, err)
	}
	if _, err := s.Reserve(ctx, "k", b, 10, false, time.Now().Add(72*time.Hour)); !errors.Is(err, limits.ErrUnavailable) {
		t.Errorf("skew of 3 days: %v; want ErrUnavailable", err)
	}
}
