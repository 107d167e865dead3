package gateway

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/scopegate/scopegate/policy/conditions"
)

// checkConditions evaluates the route's conditions in order and reports
// the index of the first that is false or fails, or -1. Conditions see the
// headers the upstream will receive and the client address resolved
// through the trusted proxies (rt), never what an untrusted client claims.
func checkConditions(rt *runtime, progs []*conditions.Program, st *reqState, r *http.Request) (int, error) {
	if len(progs) == 0 {
		return -1, nil
	}
	peer, client := clientAddr(r, rt.cfg.TrustedProxies)
	in := conditions.NewInput(st.claims.Raw, conditions.Request{Method: r.Method, Path: st.decodedPath, Model: st.model,
		Header: upstreamHeaders(r, rt.identity, rt.cfg.TrustedProxies), RemoteAddr: client, PeerAddr: peer, MCP: st.mcp.conditionInput()})
	for i, p := range progs {
		ok, err := p.Eval(in)
		if err != nil || !ok {
			return i, err
		}
	}
	return -1, nil
}

// hopByHopHeaders are removed by httputil.ReverseProxy, with every header
// the Connection header names (RFC 9110 section 7.6.1).
var hopByHopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// upstreamHeaders is r's header as the upstream will receive it: without
// hop-by-hop headers, without the client's copies of the identity,
// forwarding and override headers, with the forwarding headers the gateway
// sets (from the TCP peer unless it is a trusted proxy). The identity
// headers themselves are not in it: conditions read claims directly.
func upstreamHeaders(r *http.Request, identity map[string]bool, trusted []netip.Prefix) http.Header {
	h := r.Header.Clone()
	for _, f := range h["Connection"] {
		for _, name := range strings.Split(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopByHopHeaders {
		delete(h, k)
	}
	// ReverseProxy drops these before Rewrite; setForwardedWith sets them.
	for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		delete(h, k)
	}
	cleanInbound(h, identity, false)
	var a headerValues
	setForwardedWith(&a, &http.Request{Header: h}, r, trusted)
	return h
}

// clientAddr returns the TCP peer's address and the client's: the peer,
// unless it is a trusted proxy, in which case the right-most address of
// X-Forwarded-For that is not a trusted proxy (the left-most entries are
// the client's own claims and prove nothing). A malformed entry ends the
// walk at the last trusted hop. Both are "" when RemoteAddr is not an
// address (a test request).
func clientAddr(r *http.Request, trusted []netip.Prefix) (peer, client string) {
	p, ok := trustedPeer(r.RemoteAddr, trusted)
	if !p.IsValid() {
		return "", ""
	}
	peer = p.String()
	if !ok {
		return peer, peer
	}
	client = peer
	vals := r.Header.Values("X-Forwarded-For")
	for i := len(vals) - 1; i >= 0; i-- {
		parts := strings.Split(vals[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return peer, client
			}
			a = a.Unmap()
			client = a.String()
			if !inPrefixes(a, trusted) {
				return peer, client
			}
		}
	}
	return peer, client
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
