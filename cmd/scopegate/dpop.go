package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/scopegate/scopegate/dpop"
)

// cmdDPoPProof prints a DPoP proof (RFC 9449) for one request, signed by
// the key in --key: what a client puts in the DPoP header. Each run makes
// a new proof (a new jti), good once, for dpop.max_age.
func cmdDPoPProof(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dpop-proof", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "PEM file of the client's private key (PKCS #8: ECDSA, RSA or Ed25519); required")
	method := fs.String("method", "GET", "the request's method (htm)")
	url := fs.String("url", "", "the request's URL as the gateway's dpop.public_base_url names it (htu); required")
	tok := fs.String("token", "", "the access token sent with the proof (hashed into ath)")
	tokFile := fs.String("token-file", "", "read the access token from this file instead of --token")
	nonce := fs.String("nonce", "", "the nonce of the gateway's last DPoP-Nonce header, if it asks for one")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *keyFile == "" || *url == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "scopegate dpop-proof: --key and --url are required, and nothing else")
		return 2
	}
	if *tokFile != "" {
		b, err := os.ReadFile(*tokFile)
		if err != nil {
			fmt.Fprintf(stderr, "scopegate dpop-proof: %v\n", err)
			return 1
		}
		*tok = strings.TrimSpace(string(b))
	}
	key, alg, err := readDPoPKey(*keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "scopegate dpop-proof: %v\n", err)
		return 1
	}
	p, err := dpop.NewProof(key, alg, dpop.ProofParams{Method: *method, URI: *url, AccessToken: *tok, Nonce: *nonce})
	if err != nil {
		fmt.Fprintf(stderr, "scopegate dpop-proof: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, p)
	return 0
}

// readDPoPKey reads a PKCS #8 private key and the algorithm it signs
// proofs with.
func readDPoPKey(path string) (crypto.Signer, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, "", fmt.Errorf("%s holds no PEM \"PRIVATE KEY\" (PKCS #8)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, "", fmt.Errorf("%s: not a signing key", path)
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return signer, "ES256", nil
		case elliptic.P384():
			return signer, "ES384", nil
		case elliptic.P521():
			return signer, "ES512", nil
		}
	case *rsa.PrivateKey:
		return signer, "RS256", nil
	case ed25519.PrivateKey:
		return signer, "EdDSA", nil
	}
	return signer, "", fmt.Errorf("%s: unsupported key", path)
}

// loadOrCreateDPoPKey returns the key in path, creating an ES256 key there
// (0600) when there is none.
func loadOrCreateDPoPKey(path string) (crypto.Signer, error) {
	k, _, err := readDPoPKey(path)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("saving the DPoP key: %w", err)
	}
	return priv, nil
}
