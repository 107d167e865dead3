package gateway

import (
	"net/http"
	"testing"
)

// TestSenderConfigValidated: each sender-constraint mistake is reported
// naming its key.
// TestSenderHeadersNotForwarded: DPoP and Client-Cert never reach the
// upstream, in any spelling.
func TestSenderHeadersNotForwarded(t *testing.T) {
	h := http.Header{"Dpop": {"p"}, "Client-Cert": {":x:"}, "Client-Cert-Chain": {":x:"}, "Client_cert": {":x:"}, "X-Other": {"kept"}}
	cleanInbound(h, nil, false)
	if len(h) != 1 || h.Get("X-Other") != "kept" {
		t.Fatalf("after cleanInbound: %v", h)
	}
}
