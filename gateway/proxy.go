package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/scopegate/scopegate/config"
	"go.uber.org/zap"
)

// upstream is one backend: its own ReverseProxy and transport.
type upstream struct {
	name      string
	target    *url.URL
	prefix    string // decoded path prefix from the URL ("" or "/api")
	rawPrefix string // its escaped form
	cfg       config.UpstreamConfig
	proxy     *httputil.ReverseProxy
	transport *http.Transport
	// identity and headers are the identity header names and the
	// configured headers with their names in canonical form, resolved
	// once so that rewrite need not canonicalize per request.
	identity config.IdentityHeaders
	headers  [][2]string
}

// proxyDeps is what the proxies share with the gateway.
type proxyDeps struct {
	logger   *zap.Logger
	trusted  []netip.Prefix
	identity config.IdentityHeaders
	base     *http.Transport // cloned per upstream; nil = http.DefaultTransport
	pool     httputil.BufferPool
	now      func() time.Time
	// reuse, if set, is the transport of the same upstream under the
	// previous config, its settings unchanged: its warm connections are
	// kept.
	reuse   *http.Transport
	tracing *tracing // nil or off: the upstream call makes no span
}

func newUpstream(name string, cfg config.UpstreamConfig, d proxyDeps) (*upstream, error) {
	target, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", name, err)
	}
	u := &upstream{name: name, target: target, cfg: cfg}
	u.identity = config.IdentityHeaders{
		Subject:  http.CanonicalHeaderKey(d.identity.Subject),
		ClientID: http.CanonicalHeaderKey(d.identity.ClientID),
		Scopes:   http.CanonicalHeaderKey(d.identity.Scopes),
	}
	for k, v := range cfg.Headers {
		u.headers = append(u.headers, [2]string{http.CanonicalHeaderKey(k), v})
	}
	u.prefix = strings.TrimRight(target.Path, "/")
	u.rawPrefix = strings.TrimRight(target.EscapedPath(), "/")

	t := d.reuse
	if t == nil {
		t = newTransport(d.base, cfg, target)
	}
	u.transport = t

	now := d.now
	if now == nil {
		now = time.Now
	}
	u.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			u.rewrite(pr, d)
			stateOf(pr.In.Context()).upstreamStart = now()
		},
		ModifyResponse: func(resp *http.Response) error {
			// The response headers are in: the upstream's latency.
			st := stateOf(resp.Request.Context())
			st.upstreamDur, st.upstreamTimed = now().Sub(st.upstreamStart), true
			// A model list is filtered before it is relayed, or refused.
			if err := filterModelList(resp); err != nil {
				return err
			}
			if err := filterMCPListing(resp); err != nil {
				return err
			}
			if lst := st.lim; lst != nil {
				limitResponse(resp, lst)
			}
			resp.Body = &upstreamBody{ReadCloser: resp.Body, st: st}
			return nil
		},
		Transport:    d.tracing.transport(t, "upstream"),
		BufferPool:   d.pool,
		ErrorHandler: u.errorHandler,
		ErrorLog:     zap.NewStdLog(d.logger.Named("proxy")),
	}
	return u, nil
}

// newTransport builds an upstream's transport from base (nil:
// http.DefaultTransport) and the settings transportSettings names.
func newTransport(base *http.Transport, cfg config.UpstreamConfig, target *url.URL) *http.Transport {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	t := base.Clone()
	dialer := &net.Dialer{Timeout: cfg.DialTimeout.D(), KeepAlive: 30 * time.Second}
	t.DialContext = dialer.DialContext
	t.ResponseHeaderTimeout = cfg.Timeout.D()
	t.MaxIdleConns = 0 // no global cap; the per-host cap below rules
	t.MaxIdleConnsPerHost = cfg.MaxIdleConns
	t.IdleConnTimeout = 90 * time.Second
	t.DisableCompression = true // pass encodings through untouched
	t.Proxy = nil               // never send model traffic through an environment proxy
	t.ForceAttemptHTTP2 = target.Scheme == "https"
	return t
}

// rewrite builds the outbound request. httputil.ReverseProxy has already
// removed hop-by-hop headers (including those the client named in
// Connection) and X-Forwarded-*, so what is set here survives.
func (u *upstream) rewrite(pr *httputil.ProxyRequest, d proxyDeps) {
	st := stateOf(pr.In.Context())
	out := pr.Out
	out.URL.Scheme = u.target.Scheme
	out.URL.Host = u.target.Host
	out.URL.Path = u.prefix + st.decodedPath
	out.URL.RawPath = u.rawPrefix + st.canonicalPath
	out.URL.RawQuery = stripQueryToken(pr.In.URL.RawQuery)
	out.URL.Fragment, out.URL.RawFragment = "", ""
	out.Host = ""

	h := out.Header
	if !u.cfg.ForwardAuthorization {
		h.Del("Authorization")
	}
	h.Del("Proxy-Authorization")
	var a headerValues
	setForwardedWith(&a, out, pr.In, d.trusted)
	a.set(h, "X-Request-Id", st.requestID)
	if st.listRoute != nil || st.mcp != nil && st.mcp.listing != "" || st.lim != nil && len(st.lim.reservations) > 0 {
		// The list is filtered, or the usage read: the answer must
		// arrive unencoded (an encoded one would be refused, or billed
		// only its reservation).
		h.Del("Accept-Encoding")
	}
	if st.traceID == "" {
		// An invalid traceparent is not forwarded, nor the tracestate
		// that belongs to it (W3C Trace Context section 3.3).
		h.Del("Traceparent")
		h.Del("Tracestate")
	}
	// Identity headers say the gateway vouches for the caller: only for
	// requests it allowed, never for a shadow route's would_deny.
	if c := st.claims; c != nil && st.decision == decisionAllow {
		a.set(h, u.identity.Subject, c.Subject)
		a.set(h, u.identity.ClientID, c.ClientID)
		a.set(h, u.identity.Scopes, st.scopes)
	}
	for _, kv := range u.headers {
		a.set(h, kv[0], kv[1])
	}
}

// errorHandler answers for an upstream that failed: 504 on a timeout, 502
// otherwise, 413 for a body over the cap, 400 for a body the client broke
// (bad chunked framing, cut short), nothing for a client that left. The
// client's own faults are not upstream errors: they must not set off the
// upstream's alerts.
func (u *upstream) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	st := stateOf(r.Context())
	var bodyErr error
	if st.body != nil {
		bodyErr = st.body.readErr()
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || errors.As(bodyErr, &mbe):
		st.reason, st.decision = ReasonBodyTooLarge, decisionDeny
		writeError(w, st.realm, errBodyTooLarge(mbe.Limit))
		return
	case isBodyTimeout(bodyErr):
		st.reason, st.decision = ReasonBodyTimeout, decisionDeny
		st.detail = "no request body bytes within server.body_read_timeout"
		w.Header().Set("Connection", "close")
		writeError(w, st.realm, errBodyTimeout())
		return
	case bodyErr != nil && r.Context().Err() == nil:
		st.reason, st.decision = ReasonBadBody, decisionDeny
		st.detail = "the request body could not be read: " + bodyErr.Error()
		w.Header().Set("Connection", "close") // the framing is lost
		writeError(w, st.realm, errBadBody("the request body could not be read (malformed chunked encoding, or shorter than its Content-Length)"))
		return
	}
	st.upstreamErr = err
	switch {
	case errors.Is(err, errModelList):
		st.reason = ReasonModelList
		writeError(w, st.realm, errUpstream(http.StatusBadGateway, "the model backend's model list could not be filtered"))
	case errors.Is(err, errMCPListing):
		st.reason = ReasonMCPListing
		writeError(w, st.realm, errUpstream(http.StatusBadGateway, "the MCP server's listing could not be filtered"))
	case r.Context().Err() != nil && errors.Is(r.Context().Err(), context.Canceled):
		st.reason = ReasonClientClosed
		st.status = 499 // nginx's "client closed request"; nothing reaches the client
	case isTimeout(err):
		st.reason = ReasonUpstreamTimeout
		writeError(w, st.realm, errUpstream(http.StatusGatewayTimeout, "the model backend did not answer in time"))
	default:
		st.reason = ReasonUpstreamError
		writeError(w, st.realm, errUpstream(http.StatusBadGateway, "the model backend is unavailable"))
	}
}

// upstreamBody notes a failure reading the upstream's response body (a
// reset or a cut stream), so that the audit record blames the upstream
// and not the client when ReverseProxy aborts the response.
type upstreamBody struct {
	io.ReadCloser
	st *reqState
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && !errors.Is(err, context.Canceled) && b.st.upstreamErr == nil {
		b.st.upstreamErr = err
	}
	return n, err
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// copyBufSize is the size of the proxies' copy buffers.
const copyBufSize = 32 << 10

// bufferPool lends 32 KiB copy buffers to every proxy. It pools array
// pointers, so that neither Get nor Put allocates.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufSize]byte) }}}
}

func (bp *bufferPool) Get() []byte { return bp.p.Get().(*[copyBufSize]byte)[:] }

func (bp *bufferPool) Put(b []byte) {
	if cap(b) >= copyBufSize {
		bp.p.Put((*[copyBufSize]byte)(b[:copyBufSize]))
	}
}
