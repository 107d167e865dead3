package gateway

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// countingReader is the request body as the upstream's transport sees it:
// it counts the bytes read, and it keeps the transport away from the
// server's body once the handler is done with it.
//
// http.Transport reads and closes a request body in goroutines of its own,
// and may do so after RoundTrip has returned (its documentation says so):
// on a refused or reset upstream it closes the body, and the server's
// body drains the client's remaining bytes in Close, while the server,
// the handler having returned, already reads the next request on the same
// connection: net/http panics with "invalid concurrent Body.Read call" and
// drops the connection. So Close here never touches the server's body
// (the server closes it itself after the handler, synchronously), and
// detach, called when the proxy returns, waits for a Read under way and
// makes every later Read fail.
type countingReader struct {
	r        io.ReadCloser
	n        atomic.Int64
	err      atomic.Pointer[error] // the first read error of the client's body
	mu       sync.Mutex
	detached bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.detached {
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if err != nil && err != io.EOF {
		first := err // a copy: only this branch allocates it
		c.err.CompareAndSwap(nil, &first)
	}
	return n, err
}

// readErr is the first error reading the client's body (broken chunked
// framing, a body cut short, one over the cap), or nil.
func (c *countingReader) readErr() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Close does not close the server's body: see the type's comment.
func (c *countingReader) Close() error { return nil }

// maxDrainBytes is how much of a request body the upstream left unread is
// read and discarded after the response, so that the connection can serve
// the client's next request: net/http's own figure (maxPostHandlerReadBytes).
const maxDrainBytes = 256 << 10

// drainUnread reads what the upstream left of the request body, up to
// maxDrainBytes, before the handler returns. With full duplex on (see
// handle), net/http would otherwise drain it itself after the handler, in
// finishRequest, after it has stopped its background read: reaching the
// body's end there starts a new background read, and the next request's
// read then panics with "invalid concurrent Body.Read call" (seen with
// every POST to a refused upstream). A body longer than the bound is left
// to net/http, which closes the connection rather than read it.
func drainUnread(body io.Reader) {
	if b, ok := body.(*bodyReader); ok && b.eof {
		// Read to its end already (the common case: the upstream read
		// it all): nothing to drain, and io.CopyN's LimitReader would be
		// an allocation per request. The transport's reads happened
		// before, through the detached countingReader's lock.
		return
	}
	_, _ = io.CopyN(io.Discard, body, maxDrainBytes+1)
}

// detach ends the transport's access to the body.
func (c *countingReader) detach() {
	c.mu.Lock()
	c.detached = true
	c.mu.Unlock()
}
