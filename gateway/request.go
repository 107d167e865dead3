package gateway

import (
	"bufio"
	"context"
	"encoding/hex"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/policy"
)

// reqState is everything one request's decision is made of. The audit
// record and the metrics are written from it once the inner handlers have
// returned, so every outcome is recorded alike.
type reqState struct {
	start         time.Time
	requestID     string
	realm         string
	route         *policy.Route
	canonicalPath string
	decodedPath   string
	claims        *token.Claims
	scopes        string // claims.Scopes, space-separated, joined once
	traceID       string // of a valid W3C traceparent; "" if none
	decision      string // allow, deny, would_deny, error
	reason        Reason
	status        int
	detail        string // client-safe detail of a refusal
	upstreamErr   error
	body          *countingReader // the request body as forwarded; nil without one
	in            *bodyReader     // the request body as read from the client; nil without one
	inBody        bodyReader      // in's storage
	bytesIn       int64
	bytesOut      int64
	forwarded     bool          // handed to the upstream's proxy
	upstreamStart time.Time     // when the outbound request was built
	upstreamDur   time.Duration // from upstreamStart to the response headers
	upstreamTimed bool          // upstreamDur is set
	// model is the model the request asked for, on a route with model
	// rules; principal the token's kind (policy.Principal*) and
	// delegationDepth the length of its act chain.
	model           string
	principal       string
	delegationDepth int
	// listRoute is set on a list route: its response is filtered.
	listRoute *policy.Route
	mcp       *mcpState // on an MCP route (gateway/mcproute.go)
	// configHash names the config the request was decided under.
	configHash string
	// lim is the request's usage limits (limBuf); nil on a route without
	// any.
	lim    *limitState
	limBuf limitState
	// sw is the response writer the chain writes through; it lives in the
	// pooled state so that a request does not allocate one. Nothing uses
	// it once ServeHTTP has returned.
	sw statusWriter
	// binding is how the token was bound (none, dpop, mtls, dpop+mtls),
	// jkt the DPoP key's thumbprint; set once the binding is proven.
	binding, jkt string
}

// Decisions, as the decision label and audit field.
const (
	decisionAllow = "allow"
	decisionDeny  = "deny"
	decisionError = "error"
	// decisionWouldDeny: a shadow route let through a request it would
	// have refused.
	decisionWouldDeny = "would_deny"
)

type stateKey struct{}

func stateOf(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	if st == nil {
		st = &reqState{} // never nil: the proxy may be used alone in tests
	}
	return st
}

var statePool = sync.Pool{New: func() any { return new(reqState) }}

// requestID keeps a client's X-Request-Id when it is short and plain
// (letters, digits, '-', '_', '.', ':'; at most 128), else makes one.
func requestID(in string) string {
	if in != "" && len(in) <= 128 {
		ok := true
		for i := 0; i < len(in); i++ {
			c := in[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
				ok = false
				break
			}
		}
		if ok {
			return in
		}
	}
	var b [16]byte
	hi, lo := rand.Uint64(), rand.Uint64()
	for i := range 8 {
		b[i] = byte(hi >> (8 * i))
		b[8+i] = byte(lo >> (8 * i))
	}
	var dst [32]byte
	hex.Encode(dst[:], b[:])
	return string(dst[:]) // one allocation, where EncodeToString makes two
}

// statusWriter records the status and size of the response. It forwards
// Flush (for SSE) and Unwrap (for http.ResponseController).
type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
	written     int64
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.written += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serverWriter unwraps w down to the writer net/http made.
func serverWriter(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

func (w *statusWriter) status() int {
	if !w.wroteHeader {
		return 0
	}
	return w.code
}
