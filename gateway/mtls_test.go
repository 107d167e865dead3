package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/issuer"
)

// clientCert makes a self-signed client certificate, as RFC 8705 section
// 2.2 allows, and returns it with its x5t#S256.
func clientCert(t *testing.T, cn string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certThumbprint(der)
}

// TestCertificateBoundTokens: with TLS terminated by the gateway and
// client certificates requested, a token's cnf.x5t#S256 must be the
// client certificate's thumbprint (RFC 8705 section 3).
func TestCertificateBoundTokens(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	good, goodTP := clientCert(t, "agent")
	evil, _ := clientCert(t, "thief")
	tlsYAML := fmt.Sprintf("  tls:\n    cert_file: %q\n    key_file: %q\n    client_auth: request", certFile, keyFile)
	clientWith := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}, Timeout: 30 * time.Second}
	}
	for _, tt := range []struct {
		name   string
		issuer string // extra issuer YAML
		certs  []tls.Certificate
		cnf    map[string]any
		status int
		reason string
	}{
		{"bound token, its certificate", "", []tls.Certificate{good}, map[string]any{"x5t#S256": goodTP}, 200, string(ReasonAllowed)},
		{"bound token, another certificate", "", []tls.Certificate{evil}, map[string]any{"x5t#S256": goodTP}, 401, string(ReasonMTLSCertMismatch)},
		{"bound token, no certificate", "", nil, map[string]any{"x5t#S256": goodTP}, 401, string(ReasonMTLSNoCertificate)},
		{"bound token, mtls off", "    sender_constraint: {mtls: \"off\"}", []tls.Certificate{good}, map[string]any{"x5t#S256": goodTP}, 401, string(ReasonMTLSNotAccepted)},
		{"unbound token, mtls required", "    sender_constraint: {mtls: required}", []tls.Certificate{good}, nil, 401, string(ReasonMTLSRequired)},
		{"unbound token, certificate sent", "", []tls.Certificate{good}, nil, 200, string(ReasonAllowed)},
		{"cnf.x5t#S256 not a string", "", []tls.Certificate{good}, map[string]any{"x5t#S256": []string{goodTP}}, 401, string(ReasonBadConfirmation)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := clientWith(tt.certs...)
			defer c.CloseIdleConnections()
			r := newRig(t, rigOptions{server: tlsYAML, issuer: tt.issuer, client: c, scheme: "https"})
			spec := issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli", Audience: []string{rigAudience}, Scopes: []string{"models:read"}}
			if tt.cnf != nil {
				spec.Extra = map[string]any{"cnf": tt.cnf}
			}
			resp := r.do("GET", "/v1/models", r.iss.AccessToken(spec), nil)
			wantStatus(t, resp, tt.status)
			rec := r.auditFor(resp.Header.Get("X-Request-Id"))
			if got := rec["reason"]; got != tt.reason {
				t.Fatalf("reason %v; want %s", got, tt.reason)
			}
			if tt.status == 401 {
				if n := len(r.api.Requests()); n != 0 {
					t.Fatalf("%d requests forwarded", n)
				}
				if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Fatalf("challenge %q", resp.Header.Get("WWW-Authenticate"))
				}
			}
			if tt.status == 200 && tt.cnf != nil && rec["binding"] != "mtls" {
				t.Fatalf("binding %v; want mtls", rec["binding"])
			}
		})
	}
}

// TestClientCertHeader: behind a TLS-terminating proxy the certificate
// comes in the RFC 9440 Client-Cert header, read only from a trusted
// proxy and only when configured; it never reaches the upstream.
func TestClientCertHeader(t *testing.T) {
	cert, tp := clientCert(t, "agent")
	header := ":" + base64.StdEncoding.EncodeToString(cert.Certificate[0]) + ":"
	w := newSenderWorldRoutes(t, chatRoute, "mtls:\n  trust_client_cert_header: true\n", "")
	tok := w.boundToken(map[string]any{"x5t#S256": tp})
	for _, tt := range []struct {
		name, peer string
		hdr        []string
		status     int
		reason     string
	}{
		{"trusted proxy", "10.1.2.3:5000", []string{"Client-Cert", header}, 200, string(ReasonAllowed)},
		{"untrusted peer", testPeer, []string{"Client-Cert", header}, 401, string(ReasonMTLSNoCertificate)},
		{"trusted proxy, no header", "10.1.2.3:5000", nil, 401, string(ReasonMTLSNoCertificate)},
		{"two headers", "10.1.2.3:5000", []string{"Client-Cert", header, "Client-Cert", header}, 401, string(ReasonMTLSNoCertificate)},
		{"not a byte sequence", "10.1.2.3:5000", []string{"Client-Cert", strings.Trim(header, ":")}, 401, string(ReasonMTLSNoCertificate)},
		{"not a certificate", "10.1.2.3:5000", []string{"Client-Cert", ":" + base64.StdEncoding.EncodeToString([]byte("nope")) + ":"}, 401, string(ReasonMTLSNoCertificate)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := w.forwarded()
			rec := w.do(0, "POST", "/v1/chat/completions", "Bearer "+tok, tt.peer, tt.hdr...)
			if rec.Code != tt.status || w.lastRecord().Reason != tt.reason {
				t.Fatalf("%d %v; want %d %s", rec.Code, w.lastRecord().Reason, tt.status, tt.reason)
			}
			if tt.status == 200 {
				h, _ := w.up.lastHeader()
				if h.Get("Client-Cert") != "" || w.lastRecord().Binding != "mtls" {
					t.Fatalf("upstream got Client-Cert %q; binding %v", h.Get("Client-Cert"), w.lastRecord().Binding)
				}
			} else if w.forwarded() != before {
				t.Fatal("a refused request was forwarded")
			}
		})
	}
}
