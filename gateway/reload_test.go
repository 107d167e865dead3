package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/testkit"
)

// connCounter is an upstream that counts the connections it accepts and
// those closed, answers /public/x at once, and streams /public/sse in
// five events, each released by the test through gate (nil: at once).
type connCounter struct {
	srv            *httptest.Server
	opened, closed atomic.Int64
	gate           chan struct{}
}

func newConnCounter(t *testing.T, gate chan struct{}) *connCounter {
	c := &connCounter{gate: gate}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/sse") {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush() // the headers, before the first gated event
			for i := range 5 {
				if c.gate != nil {
					<-c.gate
				}
				io.WriteString(w, "data: "+string(rune('0'+i))+"\n\n")
				w.(http.Flusher).Flush()
			}
			return
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	c.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			c.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			c.closed.Add(1)
		}
	}
	c.srv.Start()
	t.Cleanup(c.srv.Close)
	return c
}

func (r *rig) reloadYAML(t *testing.T, y string) {
	t.Helper()
	cfg, err := config.Parse([]byte(y), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.gw.Reload(cfg); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) get(t *testing.T, path string) {
	t.Helper()
	resp := r.in(t).do("GET", path, "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, bodyOf(resp))
	}
}

// TestReloadKeepsWarmConnections: a reload that leaves an upstream's
// settings alone keeps its connections (no new one is dialled); one that
// changes them dials anew, and the old pool is closed once idle.
func TestReloadKeepsWarmConnections(t *testing.T) {
	up := newConnCounter(t, nil)
	r := newRig(t, rigOptions{upstreamURL: up.srv.URL})
	for range 5 {
		r.get(t, "/public/x")
	}
	if n := up.opened.Load(); n != 1 {
		t.Fatalf("%d upstream connections for 5 sequential requests; want 1", n)
	}
	// The same file again, and one changing only what requests carry.
	r.reloadYAML(t, r.yaml)
	r.reloadYAML(t, strings.Replace(r.yaml, "upstreams:\n  models:\n", "upstreams:\n  models:\n    headers: {X-Tenant: a}\n", 1))
	for range 5 {
		r.get(t, "/public/x")
	}
	if n := up.opened.Load(); n != 1 {
		t.Errorf("%d upstream connections after reloads that left the upstream alone; want still 1", n)
	}
	// A new upstream timeout: a new transport; the old one's idle
	// connection is closed, as no request is in flight under it.
	r.reloadYAML(t, strings.Replace(r.yaml, "timeout: 2s", "timeout: 3s", 1))
	testkit.WaitFor(t, "the old pool's idle connection to close", func() bool { return up.closed.Load() == 1 })
	r.get(t, "/public/x")
	if n := up.opened.Load(); n != 2 {
		t.Errorf("%d upstream connections after a reload that changed the upstream; want 2", n)
	}
}

// TestReloadDrainsOldPoolAfterInFlight: the old transport's connection
// stays open while a stream that started before the reload goes on, and
// is closed once it ends; the stream is not cut.
func TestReloadDrainsOldPoolAfterInFlight(t *testing.T) {
	gate := make(chan struct{})
	up := newConnCounter(t, gate)
	r := newRig(t, rigOptions{upstreamURL: up.srv.URL})
	resp, err := r.client.Get("http://" + r.proxy + "/public/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	gate <- struct{}{}
	if line, err := br.ReadString('\n'); err != nil || line != "data: 0\n" {
		t.Fatalf("first event %q, %v", line, err)
	}
	r.reloadYAML(t, strings.Replace(r.yaml, "timeout: 2s", "timeout: 3s", 1))
	if n := up.closed.Load(); n != 0 {
		t.Fatalf("%d upstream connections closed while a stream was in flight; want 0", n)
	}
	for range 4 {
		gate <- struct{}{}
	}
	rest, err := io.ReadAll(br)
	if err != nil || strings.Count(string(rest), "data: ") != 4 {
		t.Fatalf("the stream after the reload: %q, %v; want the other 4 events", rest, err)
	}
	testkit.WaitFor(t, "the old pool to close once the stream ended", func() bool { return up.closed.Load() == 1 })
}

// TestReloadStorm: reloads alternating two configs under concurrent
// requests and streams: no 5xx, no stream cut, and every decision made
// under exactly one of the configs that were in force.
func TestReloadStorm(t *testing.T) {
	up := newConnCounter(t, nil)
	r := newRig(t, rigOptions{upstreamURL: up.srv.URL})
	variants := []string{r.yaml, strings.Replace(r.yaml, "timeout: 2s", "timeout: 3s", 1)}
	hashes := map[string]bool{r.gw.runtime.Load().cfg.Hash: true}
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				path := "/public/x"
				if w%2 == 1 {
					path = "/public/sse"
				}
				resp, err := r.client.Get("http://" + r.proxy + path)
				if err != nil {
					bad.Add(1)
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || path == "/public/sse" && strings.Count(string(b), "data: ") != 5 {
					bad.Add(1)
				}
			}
		}()
	}
	for i := range 30 {
		r.reloadYAML(t, variants[i%2])
		mu.Lock()
		hashes[r.gw.runtime.Load().cfg.Hash] = true
		mu.Unlock()
		time.Sleep(5 * time.Millisecond) // let requests run under each config
	}
	close(stop)
	wg.Wait()
	if n := bad.Load(); n != 0 {
		t.Errorf("%d requests failed, got a 5xx or a cut stream during the reload storm", n)
	}
	records := r.logs.FilterMessage("decision").All()
	if len(records) == 0 {
		t.Fatal("no audit records")
	}
	for _, e := range records {
		if h, _ := e.ContextMap()["config_hash"].(string); !hashes[h] {
			t.Fatalf("a decision made under config %q, not one that was loaded (%v)", h, hashes)
		}
	}
	if len(hashes) != 2 {
		t.Errorf("%d distinct config hashes; want the 2 variants", len(hashes))
	}
}
