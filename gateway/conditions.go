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
