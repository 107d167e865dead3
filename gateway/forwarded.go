package gateway

import (
	"net/netip"
	"strings"

	"github.com/scopegate/scopegate/internal/header"
)

// forwardedValue is the Forwarded element the gateway adds for peer
// (RFC 7239: for, proto, host) and the peer's address as text. Both come
// from one allocation, ip being a substring of fwd: this runs on every
// forwarded request, and three strings built apart cost three.
func forwardedValue(peer netip.Addr, proto, host string) (fwd, ip string) {
	var buf [128]byte // a longer Host only costs a larger allocation
	b := append(buf[:0], "for="...)
	if peer.Is6() {
		b = append(b, `"[`...)
	}
	start := len(b)
	b = peer.AppendTo(b) // as peer.String()
	end := len(b)
	if peer.Is6() {
		b = append(b, `]"`...)
	}
	b = append(b, ";proto="...)
	b = append(b, proto...)
	switch {
	case host == "":
	case header.IsToken(host):
		b = append(b, ";host="...)
		b = append(b, host...)
	default:
		b = append(b, `;host="`...)
		b = append(b, strings.ReplaceAll(host, `"`, "")...)
		b = append(b, '"')
	}
	fwd = string(b)
	return fwd, fwd[start:end]
}
