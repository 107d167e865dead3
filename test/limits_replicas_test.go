package e2e

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/redistest"
	"github.com/scopegate/scopegate/internal/testkit"
)

// TestLimitsAcrossProcesses: two gateway processes share one
// redis-server. Under concurrent load spread over both, a subject gets
// exactly its burst, not one per replica. Redis killed mid-load: the
// fail-closed limit answers 503 (never a hang, never a 200 uncounted),
// and once Redis is back (its append-only file keeps the counters) both
// gateways count in it again without a restart, so the limit still
// holds across the outage.
func TestLimitsAcrossProcesses(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t, envOptions{})
	text := e.config(cfg{routes: `
  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat:completions"]
    limits:
      - name: hourly
        requests: {rate: 30, per: 1h, burst: 30}
`}) + `
state:
  redis:
    url: "` + srv.URL() + `"
    dial_timeout: 2s    # generous, as the others: a killed Redis refuses connections at once anyway
    read_timeout: 2s
    write_timeout: 2s
limits:
  store_timeout: 2s   # generous: the parallel tests load the machine, and a slow answer must not count as down
  cooldown: 200ms
`
	path := writeConfig(t, text)
	a, b := start(t, e, path), start(t, e, path)
	for _, p := range []*proc{a, b} {
		if !p.waitReady(10 * time.Second) {
			t.Fatal("not ready")
		}
	}
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	load := func(tok string, workers, each int, during func(i int)) map[int]int {
		var mu sync.Mutex
		codes := map[int]int{}
		var n atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					p := []*proc{a, b}[(w+i)%2]
					code := p.do("POST", "/v1/chat/completions", tok, body).StatusCode
					mu.Lock()
					codes[code]++
					mu.Unlock()
					if during != nil {
						during(int(n.Add(1)))
					}
				}
			})
		}
		wg.Wait()
		return codes
	}

	// 1. One limit across replicas: 48 requests over both, 30 pass.
	alice := e.spec(issuer.AccessTokenSpec{Subject: "alice", ClientID: "web", Scopes: []string{"chat:completions"}})
	codes := load(alice, 8, 6, nil)
	if codes[200] != 30 || codes[429] != 18 {
		t.Fatalf("statuses %v; want exactly 30 × 200 and 18 × 429 (one burst of 30 shared by both replicas)", codes)
	}

	// 2. Redis killed after 10 requests and restarted after 30 more.
	bob := e.spec(issuer.AccessTokenSpec{Subject: "bob", ClientID: "web", Scopes: []string{"chat:completions"}})
	var once1, once2 sync.Once
	codes = load(bob, 4, 20, func(i int) {
		if i == 10 {
			once1.Do(srv.Kill)
		}
		if i == 40 {
			once2.Do(srv.Restart)
		}
	})
	for c := range codes {
		if c != 200 && c != 429 && c != 503 {
			t.Errorf("status %d under the outage; want only 200, 429 or 503 (statuses %v)", c, codes)
		}
	}
	if codes[503] == 0 {
		t.Errorf("statuses %v; want 503s while Redis was down (fail closed)", codes)
	}
	// Both gateways count in Redis again, without a restart; bob's
	// count survived the restart, so in all he never passes 30.
	more := 0
	for _, p := range []*proc{a, b} {
		if !testkit.Wait(10*time.Second, func() bool {
			c := p.do("POST", "/v1/chat/completions", bob, body).StatusCode
			if c == 200 {
				more++
			}
			return c != 503
		}) {
			t.Fatal("a gateway still answers 503 after Redis came back")
		}
	}
	extra := load(bob, 4, 10, nil)
	t.Logf("bob: during the outage %v; after it %d + %v", codes, more, extra)
	if total := codes[200] + more + extra[200]; total > 30 {
		t.Errorf("bob got %d × 200 in all (outage %v, after %v); want at most his burst of 30", total, codes, extra)
	}
}
