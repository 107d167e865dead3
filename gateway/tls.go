package gateway

import (
	"crypto/tls"
)

// tlsVersions are the accepted values of server.tls.min_version.
var tlsVersions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

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
func serverTLS(c TLSConfig) (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, err
	}
	minV, ok := tlsVersions[c.MinVersion]
	if !ok {
		minV = tls.VersionTLS12
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   minV,
		CipherSuites: tls12Suites,
		NextProtos:   []string{"http/1.1"},
		// The chain is not verified: a certificate-bound token names its
		// certificate by thumbprint (RFC 8705 section 2.2).
		ClientAuth: clientAuthModes[c.ClientAuth],
	}, nil
}

func validateTLS(v *validator, c TLSConfig) {
	if !c.Enabled() {
		return
	}
	if c.CertFile == "" || c.KeyFile == "" {
		v.add("server.tls", "cert_file and key_file go together: set both, or neither for plain HTTP")
		return
	}
	if _, ok := tlsVersions[c.MinVersion]; !ok {
		v.add("server.tls.min_version", "%q is not accepted; write \"1.2\" or \"1.3\"", c.MinVersion)
	}
	if _, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil {
		v.add("server.tls.cert_file", "cannot load the certificate and key: %v", err)
	}
}
