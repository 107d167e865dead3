package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// MinNonceSecretBytes is the least length of a nonce secret.
const MinNonceSecretBytes = 32

// Nonces makes and checks server-provided DPoP nonces (RFC 9449 section 9)
// without state: a nonce is the number of the time window it was made in
// and an HMAC-SHA256 of that number under a secret, so any replica that
// shares the secret verifies any other's nonces, and nothing is stored.
// A nonce is good in the window it was made in and the next one, so that
// one made just before a window ends stays good for at least one window.
//
// A nonce bounds how long before its use a proof can have been made (an
// attacker holding a client's key briefly cannot pre-make proofs for
// later); uniqueness of each proof is the replay cache's job, not the
// nonce's, so clients reuse a nonce until they are given a new one.
type Nonces struct {
	secret []byte
	period time.Duration
	now    func() time.Time
}

const nonceMACBytes = 16

// NewNonces returns a nonce maker over secret (at least
// MinNonceSecretBytes), rotating every period (> 0), on the clock now (nil:
// time.Now).
func NewNonces(secret []byte, period time.Duration, now func() time.Time) (*Nonces, error) {
	if len(secret) < MinNonceSecretBytes {
		return nil, errors.New("the nonce secret must be at least 32 bytes")
	}
	if period <= 0 {
		return nil, errors.New("the nonce rotation period must be positive")
	}
	if now == nil {
		now = time.Now
	}
	return &Nonces{secret: append([]byte(nil), secret...), period: period, now: now}, nil
}

func (n *Nonces) window(t time.Time) uint64 { return uint64(t.UnixNano() / int64(n.period)) }

func (n *Nonces) make(w uint64) string {
	var buf [8 + nonceMACBytes]byte
	binary.BigEndian.PutUint64(buf[:8], w)
	mac := hmac.New(sha256.New, n.secret)
	mac.Write([]byte("scopegate dpop nonce v1"))
	mac.Write(buf[:8])
	copy(buf[8:], mac.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(buf[:])
}

// Current returns the nonce of the current window: what a 401
// use_dpop_nonce carries in its DPoP-Nonce header.
func (n *Nonces) Current() string { return n.make(n.window(n.now())) }

// Valid reports whether s is a nonce of the current or the previous window.
func (n *Nonces) Valid(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 8+nonceMACBytes {
		return false
	}
	w, cur := binary.BigEndian.Uint64(b[:8]), n.window(n.now())
	if w != cur && w+1 != cur {
		return false
	}
	return hmac.Equal([]byte(n.make(w)), []byte(s))
}
