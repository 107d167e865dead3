package introspect

import (
	"context"
	"testing"

	"github.com/scopegate/scopegate/internal/redistest"
	"github.com/scopegate/scopegate/state"
)

// BenchmarkIntrospect is the cost of one lookup of an answer already
// obtained: from this replica's cache, and from the state store (memory,
// and a real redis-server) when this replica's cache does not hold it (a
// one-entry local cache, two tokens alternating).
func BenchmarkIntrospect(b *testing.B) {
	clk := newClock()
	run := func(b *testing.B, store state.Store, local int) {
		a := newAS(b, answer(active(issA, clk.now())))
		in := newIntrospector(b, clk, Options{Issuers: []IssuerOptions{oneIssuer(issA, a.srv.URL)}, Store: store, LocalEntries: local})
		toks := []string{opaque("one"), opaque("two")}
		for _, tok := range toks {
			if _, err := in.Introspect(context.Background(), tok, false); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := in.Introspect(context.Background(), toks[i%2], false); err != nil {
				b.Fatal(err)
			}
			i++
		}
		if a.calls.Load() != 2 {
			b.Fatalf("%d calls; want 2", a.calls.Load())
		}
	}
	b.Run("local-hit", func(b *testing.B) { run(b, nil, 0) })
	b.Run("store-hit/memory", func(b *testing.B) { run(b, state.NewMemory(clk.now), 1) })
	b.Run("store-hit/redis", func(b *testing.B) {
		srv := redistest.Start(b)
		s, err := state.NewRedis(state.RedisOptions{URL: srv.URL()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		run(b, s, 1)
	})
}
