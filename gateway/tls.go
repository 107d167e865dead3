package gateway

import (
	"crypto/tls"

	"github.com/scopegate/scopegate/config"
)

// clientAuthModes are the accepted values of server.tls.client_auth.
var clientAuthModes = map[string]tls.ClientAuthType{"": tls.NoClientCert, "none": tls.NoClientCert,
	"request": tls.RequestClientCert, "require": tls.RequireAnyClientCert}

// tls12Suites are the TLS 1.2 cipher suites offered: forward-secret ECDHE
// key exchange with AEAD ciphers only. TLS 1.3 suites are not
// configurable in Go and are all modern.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// serverTLS loads the certificate and builds the proxy listener's TLS
// settings; nil when TLS is not configured.
func serverTLS(c config.TLSConfig) (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   c.MinTLSVersion(),
		CipherSuites: tls12Suites,
		NextProtos:   []string{"http/1.1"},
		// The chain is not verified: a certificate-bound token names its
		// certificate by thumbprint (RFC 8705 section 2.2).
		ClientAuth: clientAuthModes[c.ClientAuth],
	}, nil
}
