package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/config"
)

// selfSigned writes a fresh self-signed certificate for 127.0.0.1 and
// its key into dir, and returns their paths and a pool trusting it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "scopegate test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLSTermination(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	tlsYAML := func(minV string) string {
		s := fmt.Sprintf("  tls:\n    cert_file: %q\n    key_file: %q", certFile, keyFile)
		if minV != "" {
			s += "\n    min_version: \"" + minV + "\""
		}
		return s
	}
	client := func(c *tls.Config) *http.Client {
		c.RootCAs = pool
		return &http.Client{Transport: &http.Transport{TLSClientConfig: c}, Timeout: 30 * time.Second}
	}

	t.Run("default: TLS 1.2 and 1.3, modern suites only", func(t *testing.T) {
		r := newRig(t, rigOptions{server: tlsYAML(""), client: client(&tls.Config{}), scheme: "https"})
		resp := r.do("GET", "/v1/models", r.token("models:read"), nil)
		wantStatus(t, resp, 200)
		if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
			t.Errorf("negotiated %v; want TLS 1.3", resp.TLS)
		}
		if resp.ProtoMajor != 1 {
			t.Errorf("protocol %s; want HTTP/1.1", resp.Proto)
		}
		if recs := r.checkForwarded(); len(recs) != 1 || recs[0].Header.Get("X-Forwarded-Proto") != "https" {
			t.Errorf("upstream got %+v; want one request with X-Forwarded-Proto https", recs)
		}
		for _, tt := range []struct {
			name string
			cfg  *tls.Config
			ok   bool
		}{
			{"TLS 1.2 AEAD", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
			{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false},
			{"TLS 1.2 CBC only", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				c := client(tt.cfg)
				defer c.CloseIdleConnections()
				resp, err := c.Get("https://" + r.proxy + "/public/x")
				if err == nil {
					readBody(resp)
				}
				if tt.ok != (err == nil) {
					t.Errorf("handshake error %v; want success %v", err, tt.ok)
				}
			})
		}
		// net/http answers plain HTTP on a TLS listener with a bare 400.
		r.api.Reset()
		if resp, err := rawExchange(r.proxy, "GET /public/x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"); err == nil && resp.StatusCode != 400 {
			t.Errorf("plain HTTP on the TLS listener: status %d; want 400", resp.StatusCode)
		}
		if recs := r.checkForwarded(); len(recs) != 0 {
			t.Errorf("plain HTTP on the TLS listener was forwarded")
		}
	})
	t.Run("min_version 1.3", func(t *testing.T) {
		r := newRig(t, rigOptions{server: tlsYAML("1.3"), client: client(&tls.Config{}), scheme: "https"})
		c := client(&tls.Config{MaxVersion: tls.VersionTLS12})
		defer c.CloseIdleConnections()
		if resp, err := c.Get("https://" + r.proxy + "/public/x"); err == nil {
			readBody(resp)
			t.Errorf("a TLS 1.2 client was served with min_version 1.3")
		}
	})
}

func TestTLSConfigValidated(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t, t.TempDir())
	for _, tt := range []struct{ name, tls, want string }{
		{"cert without key", fmt.Sprintf("    cert_file: %q", certFile), "server.tls: cert_file and key_file go together"},
		{"bad min_version", fmt.Sprintf("    cert_file: %q\n    key_file: %q\n    min_version: \"1.1\"", certFile, keyFile), `server.tls.min_version: "1.1" is not accepted`},
		{"missing file", fmt.Sprintf("    cert_file: %q\n    key_file: %q", certFile+".nope", keyFile), "server.tls.cert_file: cannot load the certificate and key"},
		{"key of another cert", fmt.Sprintf("    cert_file: %q\n    key_file: %q", certFile, certFile), "server.tls.cert_file: cannot load"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte("server:\n  tls:\n"+tt.tls+"\n"+minimal), noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v; want %q", err, tt.want)
			}
		})
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf("server:\n  tls:\n    cert_file: %q\n    key_file: %q\n", certFile, keyFile)+minimal), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Server.TLS.MinVersion; got != "1.2" {
		t.Errorf("default min_version %q; want 1.2", got)
	}
}

// TestNoServerBanner: nothing the gateway answers names its software.
func TestNoServerBanner(t *testing.T) {
	r := newRig(t, rigOptions{})
	tok := r.token("models:read")
	for _, resp := range []*http.Response{
		r.do("GET", "/v1/models", tok, nil),
		r.do("GET", "/v1/models", "", nil),
		r.do("GET", "/nowhere", tok, nil),
		r.raw("GET /v1/../x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"),
		r.raw("GET / HTTP/1.1\r\nHost: gw\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\nConnection: close\r\n\r\n"),
	} {
		for _, h := range []string{"Server", "X-Powered-By", "Via"} {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("status %d: %s: %q; want none", resp.StatusCode, h, v)
			}
		}
	}
}

// TestPanicRecovered: a panic inside the handler gives the client a 500
// JSON error without any trace of the panic, is audited, and the gateway
// keeps serving.
func TestPanicRecovered(t *testing.T) {
	r := newRig(t, rigOptions{})
	hook := func(req *http.Request) {
		if req.Header.Get("X-Panic") != "" {
			panic("boom: internal detail at handler.go:42")
		}
	}
	r.gw.testHook.Store(&hook)
	tok := r.token("models:read")
	resp := r.do("GET", "/v1/models", tok, nil, "X-Panic", "1")
	wantStatus(t, resp, 500)
	for _, leak := range []string{"boom", "handler.go", "goroutine", "panic"} {
		if strings.Contains(bodyOf(resp), leak) {
			t.Errorf("body %q reveals %q", bodyOf(resp), leak)
		}
	}
	if !strings.Contains(bodyOf(resp), `"code":"internal_error"`) {
		t.Errorf("body %s; want code internal_error", bodyOf(resp))
	}
	a := r.auditFor(resp.Header.Get("X-Request-Id"))
	if a["reason"] != string(ReasonInternal) || a["decision"] != decisionError || a["status"] != int64(500) {
		t.Errorf("audit %v; want decision error, reason internal_error, status 500", a)
	}
	if recs := r.checkForwarded(); len(recs) != 0 {
		t.Errorf("upstream got %v after a panic; want nothing", paths(recs))
	}
	wantStatus(t, r.do("GET", "/v1/models", tok, nil), 200)
}
