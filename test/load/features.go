package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scopegate/scopegate/dpop"
	"github.com/scopegate/scopegate/internal/issuer"
)

// The features priced in the same run as the bare proxy (issue 16): a
// DPoP proof per request (in-memory replay cache), and a second scopegate
// whose state (the revocation list, the DPoP replay cache) is in a real
// redis-server, with revocation entries that the requests' token does not
// match.

// dpopPath is the route that requires DPoP (sender_constraint dpop:
// required); its issuer's other routes take bearer tokens.
const dpopPath = "/d/v1/chat/completions"

// revocations is how many jti entries the Redis gateway's list holds:
// every request is checked against the mirror of them.
const revocations = 1000

// redisServer is where the Debian package puts it (make redis).
const redisServer = "/usr/bin/redis-server"

// startRedisGateway starts a redis-server on loopback (in memory, no
// persistence) and a second scopegate using it, then revokes
// `revocations` jtis through the admin API. Without redis-server it says
// so and leaves e.gatewayRedis nil: the Redis scenarios are skipped.
func (e *env) startRedisGateway(ctx context.Context, o options, dir string) error {
	if _, err := os.Stat(redisServer); err != nil {
		fmt.Println("redis-server not found (make redis installs it): the Redis scenarios are skipped")
		return nil
	}
	addr, err := freePort()
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(addr)
	e.redis = exec.CommandContext(ctx, redisServer, "--port", port, "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--protected-mode", "no", "--daemonize", "no", "--dir", dir, "--logfile", "")
	e.redis.Stdout = nil // its log
	if err := e.redis.Start(); err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server not listening on %s", addr)
		}
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	adminToken := hex.EncodeToString(b[:])
	e.redisAddr = addr
	extra := fmt.Sprintf("state:\n  redis:\n    url: \"redis://%s/0\"\nadmin:\n  token: %q\n", addr, adminToken)
	if e.gatewayRedis, err = e.startGateway(ctx, o, dir, "scopegate-redis", extra); err != nil {
		return err
	}
	fmt.Printf("revoking %d jtis through the admin API of the Redis gateway ...\n", revocations)
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range revocations {
		body := fmt.Sprintf(`{"jti":"revoked-%d","reason":"load harness"}`, i)
		req, _ := http.NewRequest("POST", e.gatewayRedis.admin+"/v1/revocations", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("revoking: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("revoking: status %d", resp.StatusCode)
		}
	}
	time.Sleep(time.Second) // the mirror's last resync
	return nil
}

// dpopClient is a client with its own DPoP key and an access token bound
// to it (cnf.jkt).
type dpopClient struct {
	key   *ecdsa.PrivateKey
	token string
}

func newDPoPClient(iss *issuer.Issuer) (dpopClient, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return dpopClient{}, err
	}
	jkt, err := dpop.Thumbprint(key.Public())
	if err != nil {
		return dpopClient{}, err
	}
	tok := iss.AccessToken(issuer.AccessTokenSpec{
		Subject: "user-1", ClientID: "load-client", Audience: []string{audience},
		Scopes: []string{"chat"}, TTL: 2 * time.Hour,
		Extra: map[string]any{"jti": "dpop", "cnf": map[string]any{"jkt": jkt}},
	})
	return dpopClient{key: key, token: tok}, nil
}

// proofPool is fresh proofs for one target and phase, minted before the
// phase so that the load generator's signing does not compete with the
// proxies for the two cores; next mints one on the spot if the pool runs
// out (counted).
type proofPool struct {
	c      dpopClient
	uri    string
	proofs []string
	next   atomic.Int64
	extra  atomic.Int64
}

// newProofPool mints n proofs for POST uri on two goroutines.
func newProofPool(c dpopClient, uri string, n int) (*proofPool, error) {
	p := &proofPool{c: c, uri: uri, proofs: make([]string, n)}
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < n; i += 2 {
				pr, err := p.mint()
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				p.proofs[i] = pr
			}
		})
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return nil, *e
	}
	return p, nil
}

func (p *proofPool) mint() (string, error) {
	return dpop.NewProof(p.c.key, "ES256", dpop.ProofParams{Method: "POST", URI: p.uri, AccessToken: p.c.token})
}

// take returns a proof never used before.
func (p *proofPool) take() string {
	if i := p.next.Add(1) - 1; i < int64(len(p.proofs)) {
		return p.proofs[i]
	}
	p.extra.Add(1)
	pr, _ := p.mint()
	return pr
}

// dpopRequest sets the DPoP authorization and a fresh proof on req.
func (p *proofPool) set(req *http.Request) {
	req.Header.Set("Authorization", "DPoP "+p.c.token)
	req.Header.Set("DPoP", p.take())
}
