package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// What the harness reads about each proxy's memory: the Go runtime's
// allocation count (MemStats.Mallocs: scopegate's go_memstats_mallocs_total
// on /metrics, the baseline's own small stats endpoint), so that
// allocations per request are counted in the proxy's own process (the
// upstream's and the load generator's are not in them, as they are in
// BenchmarkChain); the heap in use; and RSS split into anonymous memory and
// the binary's file pages.

// memStats is one reading of a proxy's counters.
type memStats struct {
	mallocs   float64
	heapInuse float64 // bytes
	cacheHits float64 // scopegate's token cache hits; 0 for the baseline
}

// readStats scrapes t's counters.
func (e *env) readStats(t *proc) memStats {
	var m memStats
	if t.stats == "" && t.admin == "" {
		return m
	}
	u := t.stats
	if u == "" {
		u = t.admin + "/metrics"
	}
	resp, err := http.Get(u)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, _ := strconv.ParseFloat(v, 64)
		switch name {
		case "go_memstats_mallocs_total":
			m.mallocs = f
		case "go_memstats_heap_inuse_bytes":
			m.heapInuse = f
		case "scopegate_token_cache_hits_total":
			m.cacheHits = f
		}
	}
	return m
}

// rssParts returns VmRSS, RssAnon and RssFile of pid in KiB.
func rssParts(pid int) (rss, anon, file int64) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	return statusField(path, "VmRSS:"), statusField(path, "RssAnon:"), statusField(path, "RssFile:")
}

// gcTrace collects the GODEBUG=gctrace=1 lines of the proxies (-gctrace),
// each stamped with its arrival, so that a phase's collections can be
// told apart from the next one's.
type gcTrace struct {
	mu    sync.Mutex
	lines map[string][]gcLine // by process name
}

type gcLine struct {
	at       time.Time
	stw      float64 // ms: the two stop-the-world phases (first and third wall-clock figures)
	liveMB   float64 // heap live after the cycle
	goalMB   float64
	assistMS float64 // CPU ms of mark assists (the first of the three mark figures)
}

func newGCTrace() *gcTrace { return &gcTrace{lines: map[string][]gcLine{}} }

// gc 12 @1.234s 2%: 0.018+1.2+0.004 ms clock, 0.036+0.1/0.5/1.0+0.008 ms cpu, 4->4->2 MB, 5 MB goal, ...
var gcRe = regexp.MustCompile(`^gc \d+ @[\d.]+s \d+%: ([\d.]+)\+[\d.]+\+([\d.]+) ms clock, [\d.]+\+([\d.]+)/[\d.]+/[\d.]+\+[\d.]+ ms cpu, [\d.]+->[\d.]+->([\d.]+) MB, ([\d.]+) MB goal`)

// writer is the stderr of process p: gc lines are kept, the rest passed on.
func (g *gcTrace) writer(p *proc) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			m := gcRe.FindStringSubmatch(line)
			if m == nil {
				fmt.Fprintln(os.Stderr, line)
				continue
			}
			f := func(i int) float64 { v, _ := strconv.ParseFloat(m[i], 64); return v }
			g.mu.Lock()
			g.lines[p.name] = append(g.lines[p.name], gcLine{at: time.Now(), stw: f(1) + f(2), assistMS: f(3), liveMB: f(4), goalMB: f(5)})
			g.mu.Unlock()
		}
	}()
	return pw
}

// gcSummary is one process's collections in one phase.
type gcSummary struct {
	cycles           int
	perSec           float64
	maxSTW, sumSTW   float64 // ms
	assistMS         float64 // CPU ms in mark assists, summed
	maxLive, maxGoal float64 // MB
}

func (g *gcTrace) between(name string, from, to time.Time) gcSummary {
	var s gcSummary
	if g == nil {
		return s
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, l := range g.lines[name] {
		if l.at.Before(from) || l.at.After(to) {
			continue
		}
		s.cycles++
		s.sumSTW += l.stw
		s.maxSTW = max(s.maxSTW, l.stw)
		s.assistMS += l.assistMS
		s.maxLive, s.maxGoal = max(s.maxLive, l.liveMB), max(s.maxGoal, l.goalMB)
	}
	s.perSec = float64(s.cycles) / to.Sub(from).Seconds()
	return s
}

// startChildGC is startChild with GODEBUG=gctrace=1 and the gc lines
// collected when -gctrace is on.
func (e *env) startChildGC(ctx context.Context, o options, name, bin string, args ...string) (*proc, error) {
	if e.gc == nil {
		return startChild(ctx, name, bin, args...)
	}
	p := &proc{name: name}
	return startChildWith(ctx, p, func(cmd *exec.Cmd) {
		cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
		cmd.Stderr = e.gc.writer(p)
	}, bin, args...)
}
