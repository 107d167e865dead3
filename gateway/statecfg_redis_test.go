package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/redistest"
	"github.com/scopegate/scopegate/state"
)

// writeTestPKI writes a CA and a server certificate for 127.0.0.1 (PEM)
// into dir, and returns the paths of the CA, the server cert and its key.
func writeTestPKI(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "redis"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(srvKey)
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for p, b := range map[string]*pem.Block{ca: {Type: "CERTIFICATE", Bytes: caDER}, cert: {Type: "CERTIFICATE", Bytes: srvDER},
		key: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(p, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca, cert, key
}

// TestRedisTLSAndPassword: state.redis over TLS verified against
// tls.ca_file, with the password from the config, against a real
// redis-server; a wrong CA or a wrong password is an error, not a store.
func TestRedisTLSAndPassword(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeTestPKI(t, dir)
	otherCA, _, _ := writeTestPKI(t, t.TempDir())
	srv := redistest.StartWith(t, redistest.Options{CertFile: cert, KeyFile: key, Args: []string{"--requirepass", "s3cret-pw"}})
	url := "rediss://" + srv.Addr() + "/0"
	ctx := context.Background()
	try := func(rc config.RedisConfig) error {
		rc.DialTimeout, rc.ReadTimeout, rc.WriteTimeout = config.Duration(time.Second), config.Duration(time.Second), config.Duration(time.Second)
		s, err := openStore(config.StateConfig{Redis: &rc}, nil)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
			return err
		}
		v, ok, err := s.Get(ctx, "k")
		if err != nil || !ok || string(v) != "v" {
			t.Fatalf("Get = %q, %v, %v", v, ok, err)
		}
		return nil
	}
	if err := try(config.RedisConfig{URL: url, Password: "s3cret-pw", TLS: config.RedisTLSConfig{CAFile: ca}}); err != nil {
		t.Fatalf("TLS with the right CA and password: %v", err)
	}
	if err := try(config.RedisConfig{URL: url, Password: "wrong", TLS: config.RedisTLSConfig{CAFile: ca}}); !errors.Is(err, state.ErrUnavailable) {
		t.Fatalf("a wrong password: %v; want ErrUnavailable", err)
	}
	if err := try(config.RedisConfig{URL: url, Password: "s3cret-pw", TLS: config.RedisTLSConfig{CAFile: otherCA}}); !errors.Is(err, state.ErrUnavailable) {
		t.Fatalf("a server certificate from another CA: %v; want refused", err)
	}
	if err := try(config.RedisConfig{URL: url, Password: "s3cret-pw", TLS: config.RedisTLSConfig{CAFile: filepath.Join(dir, "missing.pem")}}); err == nil {
		t.Fatal("a missing ca_file: no error")
	}
}
