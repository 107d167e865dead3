package main

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// redisCalls returns the calls of each command but INFO, from INFO
// commandstats. The commands a Lua script calls (TIME, GET, SET) count
// there too, though they cost no round trip: only the scripts (EVALSHA,
// EVAL) and commands called outside scripts do.
func redisCalls(addr string) map[string]int64 {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	out := map[string]int64{}
	s, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		return out
	}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		name, rest, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
		if name != "info" {
			out[name] = n
		}
	}
	return out
}

// limitDecisions reads the gateway's count of decisions of the limited
// route's limit (allowed or refused): the requests the store was asked
// about.
func limitDecisions(t *proc) int64 {
	resp, err := http.Get(t.admin + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var n int64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "scopegate_limit_decisions_total{") && strings.Contains(line, `route="chat-limited"`) {
			f, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			n += int64(f)
		}
	}
	return n
}
