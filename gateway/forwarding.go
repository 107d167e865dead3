package gateway

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/scopegate/scopegate/internal/header"
)

// overrideHeaders, folded by normHeader, make some upstream frameworks
// handle a request as another method or another path than the one it
// has: method overrides (Rails, Laravel, Express's method-override,
// Spring's HiddenHttpMethodFilter behind a header), URL overrides (IIS and
// Symfony's X-Original-URL and X-Rewrite-URL, nginx's X-Original-URI,
// Traefik's X-Forwarded-Uri, Spring and Symfony's X-Forwarded-Prefix and
// X-Forwarded-Path, Envoy's X-Envoy-Original-Path). The policy decided on
// the request's real method and path, so they never reach the upstream,
// in any spelling. An upstream's configured headers may still set them.
var overrideHeaders = map[string]bool{
	"x-http-method-override": true,
	"x-http-method":          true,
	"x-method-override":      true,
	"x-original-url":         true,
	"x-original-uri":         true,
	"x-rewrite-url":          true,
	"x-override-url":         true,
	"x-forwarded-uri":        true,
	"x-forwarded-path":       true,
	"x-forwarded-prefix":     true,
	"x-envoy-original-path":  true,
}

// cleanInbound removes what must never reach the upstream from the
// client's headers, in every spelling: copies of the gateway-managed and
// identity headers, and protocol upgrade requests. It runs on the inbound
// request before the proxy, so that httputil.ReverseProxy does not see an
// upgrade to relay.
func cleanInbound(h http.Header, identity map[string]bool, allowUpgrade bool) {
	var f header.Folded
	for k := range h {
		n := f.Fold(k) // header.Norm(k), without an allocation
		if identity[string(n)] || overrideHeaders[string(n)] || senderHeaders[string(n)] ||
			strings.Contains(k, "_") && (header.Reserved[string(n)] || string(n) == "authorization") {
			delete(h, k)
		}
	}
	if !allowUpgrade {
		delete(h, "Upgrade")
		delete(h, "Http2-Settings")
	}
}

// trustedPeer reports whether the TCP peer is a configured trusted proxy.
func trustedPeer(remoteAddr string, trusted []netip.Prefix) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	a := ap.Addr().Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return a, true
		}
	}
	return a, false
}

// setForwardedWith writes the forwarding headers on the outbound request,
// taking its header values from a. Client-sent values survive only when
// the peer is trusted; otherwise the TCP peer replaces them.
func setForwardedWith(a *headerValues, out, in *http.Request, trusted []netip.Prefix) {
	peer, ok := trustedPeer(in.RemoteAddr, trusted)
	if !peer.IsValid() {
		return
	}
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	fwd, ip := forwardedValue(peer, proto, in.Host)
	h := out.Header
	if ok {
		if prior := in.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			a.set(h, "X-Forwarded-For", strings.Join(prior, ", ")+", "+ip)
		} else {
			a.set(h, "X-Forwarded-For", ip)
		}
		if prior := in.Header.Values("Forwarded"); len(prior) > 0 {
			a.set(h, "Forwarded", strings.Join(prior, ", ")+", "+fwd)
		} else {
			a.set(h, "Forwarded", fwd)
		}
		if real := in.Header.Get("X-Real-Ip"); real != "" {
			a.set(h, "X-Real-Ip", real)
		} else {
			a.set(h, "X-Real-Ip", ip)
		}
		if fh := in.Header.Get("X-Forwarded-Host"); fh != "" {
			a.set(h, "X-Forwarded-Host", fh)
		} else {
			a.set(h, "X-Forwarded-Host", in.Host)
		}
		if fp := in.Header.Get("X-Forwarded-Proto"); fp != "" {
			a.set(h, "X-Forwarded-Proto", fp)
		} else {
			a.set(h, "X-Forwarded-Proto", proto)
		}
		return
	}
	a.set(h, "X-Forwarded-For", ip)
	a.set(h, "Forwarded", fwd)
	a.set(h, "X-Real-Ip", ip)
	a.set(h, "X-Forwarded-Host", in.Host)
	a.set(h, "X-Forwarded-Proto", proto)
}

// headerValues hands out one-element header value slices from one
// allocation, so that setting the eight or so headers of an outbound
// request costs one allocation instead of one each. Keys passed to set
// must be in canonical form.
type headerValues struct{ buf []string }

func (a *headerValues) set(h http.Header, canonicalKey, v string) {
	if len(a.buf) == cap(a.buf) {
		a.buf = make([]string, 0, 12)
	}
	a.buf = append(a.buf, v)
	n := len(a.buf)
	h[canonicalKey] = a.buf[n-1 : n : n] // capped: an append elsewhere never reaches a neighbour
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
