package gateway

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// A request body that never comes must not hold a connection. net/http
// has no deadline on a body once the headers are in (ReadTimeout would cut
// long uploads and, with full duplex, long streams), and it drains an
// unread body before it sends a response. So:
//   - every read of a request body must bring bytes within
//     server.body_read_timeout of the previous one (or of the headers):
//     bodyReader moves the connection's read deadline before each read, so
//     a long upload that keeps sending is never cut;
//   - a refusal of a request whose body was not read to its end is sent at
//     once with Connection: close (refuseConn), so that net/http neither
//     drains nor waits for it.

// bodyReader is the request body with a rolling read deadline. It lives
// in the pooled request state: nothing reads it once the handler has
// returned (the transport reads through countingReader, detached by then).
type bodyReader struct {
	r       io.ReadCloser
	rc      http.ResponseController
	timeout time.Duration
	eof     bool
	noDL    bool // the writer cannot set deadlines (not a server connection)
}

// wrapBody makes b r's body and sets the first deadline; it returns nil
// when r has no body.
func wrapBody(b *bodyReader, w http.ResponseWriter, r *http.Request, timeout time.Duration) *bodyReader {
	if r.Body == nil || r.Body == http.NoBody || timeout <= 0 {
		return nil
	}
	*b = bodyReader{r: r.Body, rc: *http.NewResponseController(w), timeout: timeout}
	b.setDeadline()
	r.Body = b
	return b
}

// setDeadline reads the runtime's clock, not the gateway's injected one: a
// connection deadline is an instant the runtime's poller compares with its
// own clock, and a deadline from a test's fake clock would fire at once or
// never.
func (b *bodyReader) setDeadline() {
	if !b.noDL && b.rc.SetReadDeadline(time.Now().Add(b.timeout)) != nil {
		b.noDL = true
	}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	b.setDeadline()
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.r.Close() }

// unread reports whether the body may still have bytes the client sends.
func (b *bodyReader) unread() bool { return b != nil && !b.eof }

// refuseConn marks the response to close the connection when the request
// body was not read to its end (see above).
func refuseConn(w http.ResponseWriter, b *bodyReader) {
	if b.unread() {
		w.Header().Set("Connection", "close")
	}
}

// isBodyTimeout reports whether err is a request body read that ran into
// server.body_read_timeout.
func isBodyTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}
