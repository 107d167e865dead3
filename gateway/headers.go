package gateway

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
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

// errBearer* are the ways an Authorization header can be malformed.
var (
	errNoBearer       = errors.New("no bearer token")
	errTwoAuthHeaders = errors.New("more than one Authorization header")
	errEmptyBearer    = errors.New("the Bearer scheme carries no token")
	errBadBearer      = errors.New("the bearer token is not a valid b64token (RFC 6750 section 2.1)")
)

// bearerToken extracts the token from the request's Authorization header
// (RFC 6750 section 2.1). errNoBearer means no credentials at all (or
// those of another scheme); the others are malformed requests.
func bearerToken(h http.Header) (string, error) {
	vals := h["Authorization"]
	switch len(vals) {
	case 0:
		return "", errNoBearer
	case 1:
	default:
		return "", errTwoAuthHeaders
	}
	return parseBearer(vals[0])
}

// parseBearer parses one Authorization header value.
func parseBearer(v string) (string, error) {
	v = strings.TrimLeft(v, " \t")
	if len(v) < 6 || !strings.EqualFold(v[:6], "bearer") {
		return "", errNoBearer
	}
	rest := v[6:]
	if rest == "" {
		return "", errEmptyBearer
	}
	if rest[0] != ' ' {
		return "", errNoBearer // e.g. "BearerX": another scheme
	}
	tok := strings.Trim(rest, " \t")
	if tok == "" {
		return "", errEmptyBearer
	}
	if strings.Contains(tok, ",") {
		return "", errTwoAuthHeaders // several credentials folded into one header
	}
	if !isB64Token(tok) {
		return "", errBadBearer
	}
	return tok, nil
}

// isB64Token reports whether s is 1*( ALPHA / DIGIT / "-" / "." / "_" /
// "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// queryHasToken reports whether the raw query carries an access_token
// parameter (RFC 6750 section 2.3), in any percent-encoding of its name.
func queryHasToken(raw string) bool {
	if raw == "" {
		return false
	}
	for part := range strings.SplitSeq(raw, "&") {
		if isTokenParam(part) {
			return true
		}
	}
	return false
}

// stripQueryToken removes every access_token parameter from the raw query
// and keeps the other parameters byte for byte, in order.
func stripQueryToken(raw string) string {
	if !queryHasToken(raw) {
		return raw
	}
	var b strings.Builder
	for part := range strings.SplitSeq(raw, "&") {
		if isTokenParam(part) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(part)
	}
	return b.String()
}

func isTokenParam(part string) bool {
	name, _, _ := strings.Cut(part, "=")
	// Only a name of that length, or one with escapes or spaces to undo,
	// can be access_token: the common case costs no allocation.
	if len(name) != len("access_token") && !strings.ContainsAny(name, "%+ \t") {
		return false
	}
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	return strings.EqualFold(strings.TrimSpace(name), "access_token")
}

// cleanInbound removes what must never reach the upstream from the
// client's headers, in every spelling: copies of the gateway-managed and
// identity headers, and protocol upgrade requests. It runs on the inbound
// request before the proxy, so that httputil.ReverseProxy does not see an
// upgrade to relay.
func cleanInbound(h http.Header, identity map[string]bool, allowUpgrade bool) {
	for k := range h {
		n := header.Norm(k)
		if identity[n] || overrideHeaders[n] || senderHeaders[n] || strings.Contains(k, "_") && (header.Reserved[n] || n == "authorization") {
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

// setForwarded writes the forwarding headers on the outbound request.
// Client-sent values survive only when the peer is trusted; otherwise the
// TCP peer replaces them.
func setForwarded(out, in *http.Request, trusted []netip.Prefix) {
	var a headerValues
	setForwardedWith(&a, out, in, trusted)
}

// setForwardedWith is setForwarded taking its header values from a.
func setForwardedWith(a *headerValues, out, in *http.Request, trusted []netip.Prefix) {
	peer, ok := trustedPeer(in.RemoteAddr, trusted)
	if !peer.IsValid() {
		return
	}
	ip := peer.String()
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	forIP := ip
	if peer.Is6() {
		forIP = `"[` + ip + `]"`
	}
	fwd := "for=" + forIP + ";proto=" + proto
	if in.Host != "" && header.IsToken(in.Host) {
		fwd += ";host=" + in.Host
	} else if in.Host != "" {
		fwd += `;host="` + strings.ReplaceAll(in.Host, `"`, "") + `"`
	}
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
