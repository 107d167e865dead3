// Command load measures scopegate against a bare httputil.ReverseProxy in
// front of the same upstream, in alternation, in one run, on loopback.
//
//	go run ./test/load                 # or: make load
//	go run ./test/load -duration 5s -rounds 3 -conns 32 -svg docs/performance.svg
//
// It starts four processes: the upstream (a minimal fast model API) and the
// baseline proxy (this binary re-executed with -role), scopegate (the built
// binary, `scopegate serve`, audit log to /dev/null) and itself as the load
// generator; two test issuers (ES256, RS256) serve their JWKS from this
// process. Then, round after round, it drives the baseline and scopegate in
// turn (the order swapped each round) at -conns concurrent keep-alive
// connections for -duration each, for these scenarios: a repeated token
// (the cache's case), a model-routed body, one rate limit in the
// in-memory store and in Redis (a second scopegate whose state is a
// redis-server started here, when one is installed; Redis calls per
// request are counted), a 2 KiB MCP tools/call judged per tool, a fresh
// token on every request under ES256 and RS256 (a pool of distinct
// tokens larger than the cache, so every request verifies), and a
// repeated opaque token introspected once and then answered from the
// introspection cache. It prints throughput, latency percentiles, CPU
// per request of
// each proxy process (from /proc/PID/stat), the gateway's RSS, SSE
// time-to-first-byte, and the ratios against the targets, and
// writes an SVG chart.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"time"
)

type options struct {
	duration time.Duration
	rounds   int
	conns    int
	pool     int
	cacheMax int
	cacheOff bool
	bin      string
	svg      string
	sseN     int
	// auditFlush is scopegate's audit.flush_interval.
	auditFlush time.Duration
	// gctrace runs the proxies with GODEBUG=gctrace=1 and reports their
	// collections per phase.
	gctrace bool
	// doc is the Markdown file whose generated table is replaced.
	doc string
}

func main() {
	role := flag.String("role", "", "internal: run as 'upstream' or 'baseline'")
	addr := flag.String("addr", "127.0.0.1:0", "internal: listen address of a role")
	target := flag.String("target", "", "internal: the baseline's upstream URL")
	var o options
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per target, scenario and round")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of alternation")
	flag.IntVar(&o.conns, "conns", 32, "concurrent connections")
	flag.IntVar(&o.pool, "pool", 3000, "distinct tokens per algorithm in the fresh-token scenarios (must exceed -cache-entries)")
	flag.IntVar(&o.cacheMax, "cache-entries", 2000, "scopegate's server.token_cache.max_entries")
	flag.BoolVar(&o.cacheOff, "cache-off", false, "run scopegate with server.token_cache.disabled (every request verifies; for comparison)")
	flag.StringVar(&o.bin, "bin", "", "scopegate binary (default: build ./cmd/scopegate into a temp dir)")
	flag.StringVar(&o.svg, "svg", "docs/performance.svg", "chart to write (empty: none)")
	flag.DurationVar(&o.auditFlush, "audit-flush", 0, "scopegate's audit.flush_interval (0: one write per record, the default)")
	flag.IntVar(&o.sseN, "sse", 200, "SSE requests per target and round for time-to-first-byte")
	flag.BoolVar(&o.gctrace, "gctrace", true, "run the proxies with GODEBUG=gctrace=1 and report their GC cycles and pauses per phase")
	flag.StringVar(&o.doc, "doc", "docs/performance.md", "Markdown file whose table between the make-load markers is regenerated (empty: none)")
	flag.Parse()

	var err error
	switch *role {
	case "upstream":
		err = runUpstream(*addr)
	case "baseline":
		err = runBaseline(*addr, *target)
	case "":
		err = run(o)
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.pool <= o.cacheMax && !o.cacheOff {
		return fmt.Errorf("-pool (%d) must exceed -cache-entries (%d), or fresh tokens would hit the cache", o.pool, o.cacheMax)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "scopegate-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.bin == "" {
		o.bin = filepath.Join(dir, "scopegate")
		fmt.Println("building scopegate ...")
		b := exec.Command("go", "build", "-trimpath", "-o", o.bin, "./cmd/scopegate")
		b.Stdout, b.Stderr = os.Stdout, os.Stderr
		if err := b.Run(); err != nil {
			return fmt.Errorf("building scopegate: %w", err)
		}
	}
	env, err := startEnv(ctx, o, dir)
	if err != nil {
		return err
	}
	defer env.stop()

	printMachine(o)
	fmt.Println("measuring token verification alone (CPU time per Verify, cache off) ...")
	verifyCost := env.verifyCosts()
	for _, alg := range []string{"ES256", "RS256"} {
		fmt.Printf("  verify %s: %.1f µs of CPU per token\n", alg, float64(verifyCost[alg])/1e3)
	}

	scenarios := []scenario{
		{name: "repeated token", key: "repeated", tok: env.repeated},
		{name: "model-routed body", key: "model-body", tok: env.repeated, path: modelPath},
		{name: "rate limit (memory)", key: "limit-mem", tok: env.repeated, path: limitPath},
		{name: "rate limit (redis)", key: "limit-redis", tok: env.repeated, path: limitPath, redis: true},
		{name: "MCP tools/call 2KiB", key: "mcp-call", tok: env.repeated, path: mcpPath, body: mcpCallBody},
		{name: "DPoP proof (memory)", key: "dpop", dpop: true, path: dpopPath},
		{name: "revocation (Redis)", key: "revoke-redis", tok: env.repeated, redis: true},
		{name: "DPoP proof (Redis)", key: "dpop-redis", dpop: true, path: dpopPath, redis: true},
		{name: "fresh token ES256", key: "fresh-ES256", tok: env.freshES},
		{name: "fresh token RS256", key: "fresh-RS256", tok: env.freshRS},
		{name: "opaque (introspected)", key: "opaque", tok: env.opaque},
	}
	if env.gatewayRedis == nil {
		scenarios = slices.DeleteFunc(scenarios, func(s scenario) bool { return s.redis })
	}
	res := map[string]map[string]*series{} // scenario -> target -> series
	for _, s := range scenarios {
		res[s.key] = map[string]*series{"baseline": {}, "scopegate": {}}
	}
	sse := map[string]*series{"baseline": {}, "scopegate": {}}
	redisCmds := map[string]int64{} // Redis calls during the limit-redis scenario
	var decisions int64             // and the limit decisions they served
	targets := []*proc{env.baseline, env.gateway}
	start := time.Now()
	load0 := loadAvg()
	for round := range o.rounds {
		order := targets
		if round%2 == 1 {
			order = []*proc{env.gateway, env.baseline}
		}
		for _, s := range scenarios {
			if s.redis && env.gatewayRedis == nil {
				continue
			}
			for _, t := range order {
				name := t.name
				if s.redis && t == env.gateway {
					t = env.gatewayRedis // measured as "scopegate", in its place in the order
				}
				var c0 map[string]int64
				var d0 int64
				if s.key == "limit-redis" {
					c0, d0 = redisCalls(env.redisAddr), limitDecisions(t)
				}
				m := env.measure(t, s, o)
				if s.key == "limit-redis" {
					for k, v := range redisCalls(env.redisAddr) {
						redisCmds[k] += v - c0[k]
					}
					decisions += limitDecisions(t) - d0
				}
				res[s.key][name].add(m)
				fmt.Printf("round %d  %-20s %-9s %8.0f req/s  p50 %6.2fms  p99 %6.2fms  p999 %6.2fms  cpu %6.1fµs/req  allocs %5.1f/req  heap %5.1f MiB  RSS %5.1f MiB  GC %4.1f/s max STW %5.2fms  errors %d  cache hits %d/%d\n",
					round+1, s.name, name, m.rps, ms(m.p50), ms(m.p99), ms(m.p999), m.cpuPerReq, m.allocsPerReq, m.heapInuseMB, float64(m.rssKB)/1024, m.gc.perSec, m.gc.maxSTW, m.errors, m.cacheHits, m.n)
				if m.extraProofs > 0 {
					fmt.Printf("         (%d DPoP proofs minted during the phase: the pool ran out)\n", m.extraProofs)
				}
			}
		}
		for _, t := range order {
			m := env.measureSSE(t, o.sseN)
			sse[t.name].add(m)
			fmt.Printf("round %d  %-18s %-9s TTFB p50 %6.3fms  p99 %6.3fms\n", round+1, "SSE", t.name, ms(m.p50), ms(m.p99))
		}
	}
	rep := summarize(o, scenarios, res, sse, verifyCost, env)
	rep.started, rep.load0, rep.elapsed = start, load0, time.Since(start)
	if decisions > 0 {
		rep.redisPerReq = map[string]float64{}
		for k, v := range redisCmds {
			if f := float64(v) / float64(decisions); f >= 0.001 {
				rep.redisPerReq[k] = f
			}
		}
	}
	rep.print()
	if o.doc != "" {
		if err := writeDocTable(o.doc, rep); err != nil {
			return err
		}
		fmt.Println("table written to", o.doc)
	}
	if o.svg != "" {
		if err := writeSVG(o.svg, rep); err != nil {
			return err
		}
		fmt.Println("chart written to", o.svg)
	}
	return nil
}

func printMachine(o options) {
	fmt.Printf("machine: %d CPUs (%s), %s, GOMAXPROCS %d; load average %s\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOMAXPROCS(0), loadAvg())
	fmt.Printf("run: %d rounds x the scenarios x 2 targets x %s at %d connections; fresh-token pool %d per alg, cache max_entries %d, disabled %t\n",
		o.rounds, o.duration, o.conns, o.pool, o.cacheMax, o.cacheOff)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// percentile returns the q-quantile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}

func sortDurations(d []time.Duration) { sort.Slice(d, func(i, j int) bool { return d[i] < d[j] }) }
