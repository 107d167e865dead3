package gateway

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/redistest"
)

// fillRevocations stores n entries of each kind, none matching the
// benchmark's token, so that every lookup runs and misses.
func fillRevocations(b *testing.B, r *revoker, n int) {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	for i := range n {
		for _, e := range []*revocation{
			{Kind: revokeJTI, JTIHash: fmt.Sprintf("%064x", i+1), ExpiresAt: now.Add(time.Hour)},
			{Kind: revokeSub, Value: "sub-" + strconv.Itoa(i), NotBefore: now},
			{Kind: revokeClient, Value: "client-" + strconv.Itoa(i), NotBefore: now},
		} {
			e.ID = revocationID(e.Kind, "", e.JTIHash+e.Value)
			e.RevokedBy, e.RevokedAt = "bench", now
			if err := r.put(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	}
	if got := r.set.Load().n; got != 3*n {
		b.Fatalf("mirror holds %d entries; want %d", got, 3*n)
	}
}

// redisCommands is the server's count of commands processed.
func redisCommands(b *testing.B, c *redis.Client) int64 {
	info, err := c.Info(context.Background(), "stats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no total_commands_processed in INFO")
	return 0
}

// BenchmarkChainRevocation is BenchmarkChain's cache-hit case with the
// revocation list in force: in memory, and in a real redis-server with
// 3×1000 entries mirrored locally. redis-cmds/op counts the commands
// Redis processed during the run per request: the check makes none (the
// periodic resync is all there is).
func BenchmarkChainRevocation(b *testing.B) {
	b.Run("cached/memory-empty", func(b *testing.B) {
		c := newChain(b, issuer.ES256, nil)
		tok := c.token(b, "cached")
		runChain(b, c.g, func(int) string { return tok }, c.conns)
	})
	b.Run("cached/memory-3000", func(b *testing.B) {
		c := newChain(b, issuer.ES256, nil)
		fillRevocations(b, c.g.revoker, 1000)
		tok := c.token(b, "cached")
		runChain(b, c.g, func(int) string { return tok }, c.conns)
	})
	b.Run("cached/redis-3000", func(b *testing.B) {
		srv := redistest.Start(b)
		c := newChain(b, issuer.ES256, func(cfg *config.Config) { cfg.State.Redis = &config.RedisConfig{URL: srv.URL()} })
		fillRevocations(b, c.g.revoker, 1000)
		rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		defer rc.Close()
		tok := c.token(b, "cached")
		before := redisCommands(b, rc)
		runChain(b, c.g, func(int) string { return tok }, c.conns)
		// INFO itself counts one.
		b.ReportMetric(float64(redisCommands(b, rc)-before-1)/float64(b.N), "redis-cmds/op")
	})
}

// BenchmarkRevocationCheck is the check alone on verified claims.
func BenchmarkRevocationCheck(b *testing.B) {
	claims := &token.Claims{Issuer: "https://idp.example.com", Subject: "user-1", ClientID: "client-1",
		ID: "V7Q4XKJ3M2N6P5R8", IssuedAt: time.Now()}
	for _, n := range []int{0, 1000, 100_000} {
		b.Run(fmt.Sprintf("entries-%d", 3*n), func(b *testing.B) {
			var es []*revocation
			for i := range n {
				es = append(es,
					&revocation{Kind: revokeJTI, JTIHash: fmt.Sprintf("%064x", i+1)},
					&revocation{Kind: revokeSub, Value: "sub-" + strconv.Itoa(i)},
					&revocation{Kind: revokeClient, Value: "client-" + strconv.Itoa(i)})
			}
			s := newRevSet(es)
			b.ReportAllocs()
			for b.Loop() {
				if s.match(claims) != nil {
					b.Fatal("matched")
				}
			}
		})
	}
}
