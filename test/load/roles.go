package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"
)

// The upstream and the baseline proxy run as child processes of the
// harness (the harness binary re-executed with -role), so that each of
// upstream, baseline, scopegate and the load generator has its own
// process, its own Go scheduler and its own measurable CPU time.

// upstreamBody is a small chat completion, like a fast model's answer.
const upstreamBody = `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}`

// runUpstream serves a minimal fast model API: /v1/chat/completions answers
// upstreamBody, and with ?stream=1 an SSE stream whose first event is
// flushed at once, then three more events 2 ms apart.
func runUpstream(addr string) error {
	body := []byte(upstreamBody)
	event := []byte("data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if strings.Contains(r.URL.RawQuery, "stream=1") {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-cache")
			w.WriteHeader(http.StatusOK)
			rc := http.NewResponseController(w)
			for i := range 4 {
				if i > 0 {
					time.Sleep(2 * time.Millisecond)
				}
				w.Write(event)
				rc.Flush()
			}
			w.Write([]byte("data: [DONE]\n\n"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	return serve(addr, h)
}

// runBaseline is the bare reverse proxy scopegate is measured against:
// httputil.ReverseProxy with Rewrite, SetURL and SetXForwarded, and a
// transport keeping 256 idle connections per host (Go's default of two
// would halve throughput at 32 connections and flatter nobody).
func runBaseline(addr, target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0
	t.MaxIdleConnsPerHost = 256
	t.Proxy = nil
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() },
		Transport: t,
		// Like scopegate's audit log, which goes to /dev/null here: the
		// load generator counts failures itself.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	// Its memory counters, in the names scopegate's /metrics uses, on a
	// listener of their own: the proxy listener stays bare.
	stats, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(stats, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintf(w, "go_memstats_mallocs_total %d\ngo_memstats_heap_inuse_bytes %d\n", m.Mallocs, m.HeapInuse)
	}))
	return serveWith(addr, rp, " "+stats.Addr().String())
}

// serve listens on addr, prints the bound address on stdout (the parent
// reads it) and serves h until killed.
func serve(addr string, h http.Handler) error { return serveWith(addr, h, "") }

// serveWith is serve, printing more after the address.
func serveWith(addr string, h http.Handler, more string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, ln.Addr().String()+more)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	return srv.Serve(ln)
}
