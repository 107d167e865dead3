package gateway

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/header"
)

// TestForwardedValue holds forwardedValue to the three-string
// construction it replaced, for every shape of peer and Host.
func TestForwardedValue(t *testing.T) {
	old := func(peer netip.Addr, proto, host string) (string, string) {
		ip := peer.String()
		forIP := ip
		if peer.Is6() {
			forIP = `"[` + ip + `]"`
		}
		fwd := "for=" + forIP + ";proto=" + proto
		if host != "" && header.IsToken(host) {
			fwd += ";host=" + host
		} else if host != "" {
			fwd += `;host="` + strings.ReplaceAll(host, `"`, "") + `"`
		}
		return fwd, ip
	}
	for _, peer := range []string{"192.0.2.10", "2001:db8::1", "fe80::1%eth0", "::ffff:192.0.2.1", "0.0.0.0"} {
		for _, proto := range []string{"http", "https"} {
			for _, host := range []string{"", "gw.example", "gw.example:8443", `a"b c`, "[2001:db8::2]:80", strings.Repeat("h", 200)} {
				p := netip.MustParseAddr(peer)
				fwd, ip := forwardedValue(p, proto, host)
				wfwd, wip := old(p, proto, host)
				if fwd != wfwd || ip != wip {
					t.Errorf("forwardedValue(%s, %s, %q) = %q, %q; want %q, %q", peer, proto, host, fwd, ip, wfwd, wip)
				}
			}
		}
	}
}

// TestForwardedValueAllocates: one allocation for both strings (three
// before: the address, then the value built in two steps).
func TestForwardedValueAllocates(t *testing.T) {
	p := netip.MustParseAddr("192.0.2.10")
	if n := testing.AllocsPerRun(100, func() { _, _ = forwardedValue(p, "http", "gw.example") }); n != 1 {
		t.Errorf("forwardedValue: %v allocations; want 1", n)
	}
}
