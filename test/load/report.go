package main

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// series collects one target's measurements of one scenario over rounds.
type series struct{ ms []measurement }

func (s *series) add(m measurement) { s.ms = append(s.ms, m) }

// median of f over the rounds.
func (s *series) median(f func(measurement) float64) float64 {
	v := make([]float64, 0, len(s.ms))
	for _, m := range s.ms {
		v = append(v, f(m))
	}
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

// pooled returns percentiles over every round's latencies together.
func (s *series) pooled() (p50, p99, p999 time.Duration) {
	var all []time.Duration
	for _, m := range s.ms {
		all = append(all, m.lat...)
	}
	sortDurations(all)
	return percentile(all, .5), percentile(all, .99), percentile(all, .999)
}

// row is one target in one scenario, summarized.
type row struct {
	rps              float64
	p50, p99, p999   time.Duration
	cpu, upstreamCPU float64
	rssKB            int64
	rssAnonKB        int64
	rssFileKB        int64
	heapMB           float64 // rss*, heapMB: after the phase in round 1
	rssMaxKB         int64   // the most over rounds
	allocs           float64 // median over rounds, per request
	gcPerSec, maxSTW float64 // median GC cycles per second; the longest stop-the-world, ms
	maxLiveMB        float64
	errors, n        int
	hits             int64
}

func summarizeSeries(s *series) row {
	r := row{
		rps:         s.median(func(m measurement) float64 { return m.rps }),
		cpu:         s.median(func(m measurement) float64 { return m.cpuPerReq }),
		upstreamCPU: s.median(func(m measurement) float64 { return m.upstreamCPU }),
		allocs:      s.median(func(m measurement) float64 { return m.allocsPerReq }),
		gcPerSec:    s.median(func(m measurement) float64 { return m.gc.perSec }),
	}
	r.p50, r.p99, r.p999 = s.pooled()
	if len(s.ms) > 0 {
		// Memory after this phase in round 1: the state the scenarios
		// before it left (the token cache, the DPoP replay cache) is in
		// it, but not what later scenarios and rounds add.
		m := s.ms[0]
		r.rssKB, r.rssAnonKB, r.rssFileKB, r.heapMB = m.rssKB, m.rssAnonKB, m.rssFileKB, m.heapInuseMB
	}
	for _, m := range s.ms {
		r.rssMaxKB = max(r.rssMaxKB, m.rssKB)
		r.maxSTW = max(r.maxSTW, m.gc.maxSTW)
		r.maxLiveMB = max(r.maxLiveMB, m.gc.maxLive)
		r.errors += m.errors
		r.n += m.n
		r.hits += m.cacheHits
	}
	return r
}

type report struct {
	o         options
	scenarios []string
	names     map[string]string // scenario key -> its name
	// spread is, per scenario, the per-round ratios scopegate / baseline
	// of throughput and p99 (min, max).
	spread     map[string][4]float64
	started    time.Time
	elapsed    time.Duration
	load0      string
	rows       map[string]map[string]row // scenario -> target -> row
	ratios     map[string]float64        // scenario -> median per-round throughput ratio
	sse        map[string]row
	verifyCost map[string]int64
	machine    string
	// redisPerReq: Redis calls per request of the limit-redis scenario,
	// by command (nil: not run).
	redisPerReq map[string]float64
}

func summarize(o options, scs []scenario, res map[string]map[string]*series, sse map[string]*series, verify map[string]int64, e *env) *report {
	r := &report{o: o, names: map[string]string{}, spread: map[string][4]float64{},
		rows: map[string]map[string]row{}, ratios: map[string]float64{}, sse: map[string]row{}, verifyCost: verify}
	for _, s := range scs {
		r.scenarios = append(r.scenarios, s.key)
		r.names[s.key] = s.name
	}
	for _, sc := range r.scenarios {
		r.rows[sc] = map[string]row{}
		for t, s := range res[sc] {
			r.rows[sc][t] = summarizeSeries(s)
		}
		var ratios []float64
		b, g := res[sc]["baseline"], res[sc]["scopegate"]
		for i := range min(len(b.ms), len(g.ms)) {
			if b.ms[i].rps > 0 {
				ratios = append(ratios, g.ms[i].rps/b.ms[i].rps)
			}
		}
		var p99s []float64
		for i := range min(len(b.ms), len(g.ms)) {
			p99s = append(p99s, ratio(g.ms[i].p99, b.ms[i].p99))
		}
		sort.Float64s(ratios)
		sort.Float64s(p99s)
		if len(ratios) > 0 {
			r.ratios[sc] = ratios[len(ratios)/2]
			r.spread[sc] = [4]float64{ratios[0], ratios[len(ratios)-1], p99s[0], p99s[len(p99s)-1]}
		}
	}
	for t, s := range sse {
		r.sse[t] = summarizeSeries(s)
	}
	r.machine = fmt.Sprintf("%s, load average at the end %s", cpuModel(), loadAvg())
	return r
}

// ratio is a/b, or 0 without b.
func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func verdict(ok bool) string {
	if ok {
		return "HOLDS"
	}
	return "MISSED"
}

func (r *report) print() {
	fmt.Println()
	fmt.Printf("== summary (median of %d rounds; percentiles over all rounds' requests) ==\n", r.o.rounds)
	fmt.Printf("%-13s %-9s %9s %8s %8s %8s %10s %10s %8s %8s %8s %7s %7s %7s\n", "scenario", "target", "req/s", "p50 ms", "p99 ms", "p999 ms", "cpu µs/req", "upstr µs", "allocs", "heap MiB", "RSS MiB", "GC/s", "STW ms", "errors")
	for _, sc := range r.scenarios {
		for _, t := range []string{"baseline", "scopegate"} {
			x := r.rows[sc][t]
			fmt.Printf("%-13s %-9s %9.0f %8.2f %8.2f %8.2f %10.1f %10.1f %8.1f %8.1f %8.1f %7.1f %7.2f %7d\n", sc, t, x.rps, ms(x.p50), ms(x.p99), ms(x.p999), x.cpu, x.upstreamCPU, x.allocs, x.heapMB, float64(x.rssKB)/1024, x.gcPerSec, x.maxSTW, x.errors)
		}
		g, b := r.rows[sc]["scopegate"], r.rows[sc]["baseline"]
		fmt.Printf("%-13s ratio      throughput %.3f  p50 %.3f  p99 %.3f  p999 %.3f; cache hits %d of %d requests\n",
			sc, r.ratios[sc], ratio(g.p50, b.p50), ratio(g.p99, b.p99), ratio(g.p999, b.p999), g.hits, g.n)
	}
	for _, t := range []string{"baseline", "scopegate"} {
		x := r.sse[t]
		fmt.Printf("SSE TTFB      %-9s p50 %.3f ms  p99 %.3f ms  (%d requests)\n", t, ms(x.p50), ms(x.p99), x.n)
	}
	fmt.Println()
	fmt.Println("== targets (docs/performance.md) ==")
	rep, repB := r.rows["repeated"]["scopegate"], r.rows["repeated"]["baseline"]
	fmt.Printf("repeated token throughput >= 1.0 x baseline: %.3f  %s\n", r.ratios["repeated"], verdict(r.ratios["repeated"] >= 1))
	p99r := ratio(rep.p99, repB.p99)
	fmt.Printf("repeated token p99 <= 1.10 x baseline: %.3f (%+.2f ms)  %s\n", p99r, ms(rep.p99-repB.p99), verdict(p99r <= 1.10))
	fmt.Printf("fresh ES256 throughput >= 0.60 x baseline: %.3f  %s\n", r.ratios["fresh-ES256"], verdict(r.ratios["fresh-ES256"] >= 0.60))
	fmt.Printf("model-routed body throughput vs repeated token (cost of reading the model): %.3f\n", r.ratios["model-body"]/r.ratios["repeated"])
	fmt.Printf("one rate limit (in-memory store) throughput vs repeated token, target >= 0.95: %.3f\n", r.ratios["limit-mem"]/r.ratios["repeated"])
	fmt.Printf("MCP tools/call (2 KiB, strict read and per-tool rule) throughput vs repeated token: %.3f\n", r.ratios["mcp-call"]/r.ratios["repeated"])
	fmt.Printf("opaque token, introspected once then cached, throughput vs repeated JWT: %.3f\n", r.ratios["opaque"]/r.ratios["repeated"])
	for _, sc := range []string{"dpop", "revoke-redis", "dpop-redis"} {
		if _, ok := r.ratios[sc]; ok {
			fmt.Printf("%s throughput vs repeated token (cost of the feature; target >= 0.95 with the in-memory store): %.3f\n", r.names[sc], r.ratios[sc]/r.ratios["repeated"])
		}
	}
	fmt.Printf("allocations per request, repeated token, target below the bare proxy's + 20: %.1f vs %.1f  %s\n",
		rep.allocs, repB.allocs, verdict(rep.allocs < repB.allocs+20))
	if r.redisPerReq != nil {
		// Commands a script calls inside Redis (time, get, set) cost no
		// round trip; the others each cost one.
		trips, parts := 0.0, []string{}
		for _, k := range slices.Sorted(maps.Keys(r.redisPerReq)) {
			v := r.redisPerReq[k]
			parts = append(parts, fmt.Sprintf("%s %.3f", k, v))
			switch k {
			case "time", "get", "set", "incrby", "pexpire":
			default:
				trips += v
			}
		}
		fmt.Printf("one rate limit (redis store) throughput vs repeated token: %.3f\n", r.ratios["limit-redis"]/r.ratios["repeated"])
		fmt.Printf("Redis round trips per limited request, target <= 1: %.3f  %s  (commands per request: %s)\n",
			trips, verdict(trips <= 1.01), strings.Join(parts, ", "))
	}
	for _, alg := range []string{"ES256", "RS256"} {
		sc := "fresh-" + alg
		extra := r.rows[sc]["scopegate"].cpu - r.rows[sc]["baseline"].cpu
		v := float64(r.verifyCost[alg]) / 1e3
		fmt.Printf("fresh %s: gateway CPU beyond baseline %.1f µs/req vs verify alone %.1f µs (%.0f%% over; target within 15%%)  %s; throughput ratio %.3f\n",
			alg, extra, v, 100*(extra-v)/v, verdict(extra <= 1.15*v), r.ratios[sc])
	}
	dt := r.sse["scopegate"].p50 - r.sse["baseline"].p50
	fmt.Printf("SSE TTFB within 1 ms of baseline (p50): %+.3f ms  %s\n", ms(dt), verdict(dt <= time.Millisecond))
	fmt.Printf("RSS of scopegate under load: %.1f MiB with a repeated token in round 1 (anon %.1f + file %.1f), at most %.1f MiB over the run (baseline %.1f MiB)\n",
		float64(rep.rssKB)/1024, float64(rep.rssAnonKB)/1024, float64(rep.rssFileKB)/1024, float64(r.maxRSS("scopegate"))/1024, float64(repB.rssKB)/1024)
}

// maxRSS is target's largest RSS over every phase of the run, KiB.
func (r *report) maxRSS(target string) int64 {
	var m int64
	for _, sc := range r.scenarios {
		m = max(m, r.rows[sc][target].rssMaxKB)
	}
	return m
}
