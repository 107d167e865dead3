package issuer

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"math/big"
)

// jwk is the public JSON Web Key (RFC 7517) of k, bound to its one
// algorithm and to signatures.
func (k *key) jwk() map[string]any {
	m := map[string]any{"kid": k.kid, "alg": k.alg, "use": "sig"}
	switch pub := k.priv.Public().(type) {
	case *ecdsa.PublicKey:
		point, err := pub.Bytes() // 0x04 || X || Y, each padded to the curve size
		if err != nil {
			panic("issuer: " + err.Error()) // a generated P-256 key always encodes
		}
		size := (len(point) - 1) / 2
		m["kty"] = "EC"
		m["crv"] = pub.Curve.Params().Name
		m["x"] = b64(point[1 : 1+size])
		m["y"] = b64(point[1+size:])
	case *rsa.PublicKey:
		m["kty"] = "RSA"
		m["n"] = b64(pub.N.Bytes())
		m["e"] = b64(big.NewInt(int64(pub.E)).Bytes())
	case ed25519.PublicKey:
		m["kty"] = "OKP"
		m["crv"] = "Ed25519"
		m["x"] = b64(pub)
	}
	return m
}

func b64(b []byte) string {
	return base64.RawURLEncoding.EncodeToString(b)
}
