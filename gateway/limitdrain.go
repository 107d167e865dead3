package gateway

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Outcomes of reading on a response whose client has gone, as the audit
// record's limit_drain says them.
const (
	drainUsage         = "usage"          // the usage arrived: billed it
	drainTimeout       = "timeout"        // usage_drain_timeout passed first
	drainMaxBytes      = "max_bytes"      // usage_drain_max_bytes were read first
	drainUpstreamEnded = "upstream_ended" // the response ended (or broke) without usage
)

// usageDrain keeps the upstream request of a response under a budget
// going when its client leaves, so that the response (and its usage, in
// a JSON body or the last event of a stream) can still be read and
// billed: a client must not escape its bill by cancelling. That holds
// before the response headers arrive too (a non-streamed completion
// answers only once the upstream has done the work): only the bounds end
// the upstream request, and one that ends without a response after the
// client has left is billed its reservation, not refunded (leftEarly).
type usageDrain struct {
	client   context.Context // the client's request context
	cancel   context.CancelFunc
	stopHook func() bool
	timeout  time.Duration
	maxBytes int64
	// reading: a response under a budget is being relayed.
	reading  atomic.Bool
	timedOut atomic.Bool
	// leftEarly: the client left before the response headers arrived.
	leftEarly atomic.Bool
	mu        sync.Mutex
	timer     *time.Timer
}

// startUsageDrain returns r with a context that the client's leaving
// does not cancel once the response is being read; end must be called
// when the request is done.
func startUsageDrain(r *http.Request, timeout time.Duration, maxBytes int64) (*http.Request, *usageDrain) {
	d := &usageDrain{client: r.Context(), timeout: timeout, maxBytes: maxBytes}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	d.cancel = cancel
	d.stopHook = context.AfterFunc(d.client, func() {
		if !d.reading.Load() {
			d.leftEarly.Store(true)
		}
		d.arm()
	})
	return r.WithContext(ctx), d
}

// arm starts the bound on reading on, once.
func (d *usageDrain) arm() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer == nil {
		d.timer = time.AfterFunc(d.timeout, func() {
			d.timedOut.Store(true)
			d.cancel()
		})
	}
}

// end releases the upstream request and the timers.
func (d *usageDrain) end() {
	d.stopHook()
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Unlock()
	d.cancel()
}

// drainBody is the body of a response under a budget: when the proxy
// closes it before its end because the client has gone, it reads on
// (within the drain's bounds) until the usage has been seen.
type drainBody struct {
	io.ReadCloser
	d     *usageDrain
	lst   *limitState
	ended bool // a read returned EOF or an error
}

func (b *drainBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.ended = true
	}
	return n, err
}

// Close reads on when the relay stopped early (the client has gone),
// and records what became of it.
func (b *drainBody) Close() error {
	gone := b.d.client.Err() != nil
	if !b.ended {
		gone = true
		b.d.arm()
		b.readOn()
	}
	if gone && b.lst.drain == "" {
		b.lst.drain = b.outcome()
	}
	return b.ReadCloser.Close()
}

// readOn reads (and discards) the rest of the response, through the
// usage scanner, until the usage has been seen, the response ends, or a
// bound is reached.
func (b *drainBody) readOn() {
	var buf [4096]byte
	var n int64
	for !b.usageSeen() {
		if n >= b.d.maxBytes {
			b.lst.drain = drainMaxBytes
			return
		}
		k, err := b.ReadCloser.Read(buf[:min(int64(len(buf)), b.d.maxBytes-n)])
		n += int64(k)
		if err != nil {
			b.lst.drain = b.outcome()
			return
		}
	}
	b.lst.drain = drainUsage
}

// usageSeen reports whether a stream's usage has passed (a JSON body's
// is read at its end).
func (b *drainBody) usageSeen() bool {
	u := b.lst.usage
	return u != nil && u.sse && u.found
}

func (b *drainBody) outcome() string {
	switch {
	case b.lst.usage != nil && b.lst.usage.hasUsage():
		return drainUsage
	case b.d.timedOut.Load():
		return drainTimeout
	}
	return drainUpstreamEnded
}
