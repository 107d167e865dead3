package token

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// Backoff for failed fetches: from initialBackoff, doubling, up to maxBackoff,
// each wait drawn from [b/2, b].
const (
	initialBackoff = time.Second
	maxBackoff     = 30 * time.Second
)

var (
	errRateLimited = errors.New("unknown-kid refresh rate-limited")
	errSourceDone  = errors.New("key source closed")
)

// sourceIdentity decides whether a key source can be taken over on reload.
type sourceIdentity struct {
	issuer, jwksURI string
	allowInsecure   bool
}

// sourceConfig is the part of a key source its current owner may replace.
type sourceConfig struct {
	client             *http.Client
	logger             *zap.Logger
	now                func() time.Time
	onRefresh          func(issuer string, unknownKID bool, err error)
	refreshInterval    time.Duration
	minRefreshInterval time.Duration
}

// keySource keeps one issuer's JWKS fresh. It may outlive the Verifier that
// started it when a successor takes it over.
type keySource struct {
	id       sourceIdentity
	keys     atomic.Pointer[keySet]
	failures atomic.Uint64
	// lastFailed is true while the most recent fetch failed: a kid that
	// is unknown then may be a rotated key we cannot see yet.
	lastFailed atomic.Bool
	cfg        atomic.Pointer[sourceConfig]
	sf         singleflight.Group

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	wg     sync.WaitGroup

	mu            sync.Mutex
	closed        bool
	inflight      int         // fetches running
	lastOnDemand  time.Time   // start of the last unknown-kid refresh, by cfg.now
	trailing      *time.Timer // the refresh owed to rate-limited unknown kids
	discoveredURI string
}

func newKeySource(ctx context.Context, id sourceIdentity, cfg *sourceConfig) *keySource {
	s := &keySource{id: id, done: make(chan struct{})}
	// The source is stopped by its owner's Close (itself tied to the owner's
	// ctx), not by the creator's ctx: a successor may own it.
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.cfg.Store(cfg)
	return s
}

func (s *keySource) start() { go s.run() }

// close stops the background loop and waits for every fetch to end.
func (s *keySource) close() {
	s.mu.Lock()
	s.closed = true
	if s.trailing != nil {
		s.trailing.Stop()
		s.trailing = nil
	}
	s.mu.Unlock()
	s.cancel()
	<-s.done
	s.wg.Wait()
}

func (s *keySource) run() {
	defer close(s.done)
	backoff := initialBackoff
	for {
		var wait time.Duration
		if err := s.refresh(s.ctx, false); err != nil {
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, maxBackoff)
		} else {
			backoff = initialBackoff
			wait = s.cfg.Load().refreshInterval
		}
		// A wait is a duration, not a reading of the clock: it runs on
		// the runtime's timers (faked by testing/synctest in tests).
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// refreshForKID is called by Verify for an unknown kid. It joins a fetch in
// flight; otherwise it starts one, unless the last unknown-kid refresh began
// less than MinRefreshInterval ago: then it fails fast with errRateLimited
// and makes sure one trailing refresh runs as soon as the limit lifts, so
// that a key the issuer has just rotated in is known at most
// MinRefreshInterval after its first sighting, however many unknown kids
// came in between, and without any request waiting (a wait would let a
// flood of made-up kids hold requests open). The limit is measured by the
// injected clock (cfg.now), as is everything else the Verifier reads the
// time for; the trailing refresh waits on a runtime timer.
func (s *keySource) refreshForKID(ctx context.Context) error {
	cfg := s.cfg.Load()
	s.mu.Lock()
	if s.inflight == 0 && !s.lastOnDemand.IsZero() {
		if wait := s.lastOnDemand.Add(cfg.minRefreshInterval).Sub(cfg.now()); wait > 0 {
			if s.trailing == nil && !s.closed {
				s.trailing = time.AfterFunc(wait, s.trailingRefresh)
			}
			s.mu.Unlock()
			return errRateLimited
		}
	}
	if s.inflight == 0 {
		s.lastOnDemand = cfg.now()
	}
	s.mu.Unlock()
	return s.refresh(ctx, true)
}

// trailingRefresh is the one refresh owed to the unknown kids refused while
// the rate limit held.
func (s *keySource) trailingRefresh() {
	s.mu.Lock()
	s.trailing = nil
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.lastOnDemand = s.cfg.Load().now()
	s.mu.Unlock()
	_ = s.refresh(s.ctx, true) // failures are logged and counted by fetch
}

// refresh runs (or joins) one fetch under the source's own context, waiting
// for it as long as ctx allows. Concurrent callers share one fetch.
func (s *keySource) refresh(ctx context.Context, unknownKID bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errSourceDone
	}
	s.wg.Add(1)
	s.mu.Unlock()
	ch := make(chan error, 1)
	go func() {
		defer s.wg.Done()
		_, err, _ := s.sf.Do("jwks", func() (any, error) { return nil, s.fetch(unknownKID) })
		ch <- err
	}()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetch discovers the JWKS URI if needed, downloads and parses the JWKS, and
// on success replaces the key set. A failure keeps the previous keys.
func (s *keySource) fetch(unknownKID bool) (err error) {
	s.mu.Lock()
	s.inflight++
	s.mu.Unlock()
	cfg := s.cfg.Load()
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
		s.lastFailed.Store(err != nil)
		if err != nil {
			s.failures.Add(1)
			cfg.logger.Warn("jwks refresh failed", zap.Bool("unknown_kid", unknownKID), zap.Error(err))
		}
		if cfg.onRefresh != nil {
			cfg.onRefresh(s.id.issuer, unknownKID, err)
		}
	}()
	uri, err := s.jwksURI(cfg)
	if err != nil {
		return err
	}
	set, err := fetchJWKS(s.ctx, cfg, uri)
	if err != nil {
		return err
	}
	set.fetchedAt = cfg.now()
	s.keys.Store(set)
	return nil
}

// jwksURI returns the configured URI, or discovers it with go-oidc (which
// also checks that the discovered issuer equals ours) and checks its scheme.
func (s *keySource) jwksURI(cfg *sourceConfig) (string, error) {
	if s.id.jwksURI != "" {
		return s.id.jwksURI, nil
	}
	s.mu.Lock()
	uri := s.discoveredURI
	s.mu.Unlock()
	if uri != "" {
		return uri, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(s.ctx, cfg.client), s.id.issuer)
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	if meta.JWKSURI == "" {
		return "", errors.New("discovery: no jwks_uri")
	}
	if err := checkURL(meta.JWKSURI, s.id.allowInsecure); err != nil {
		return "", fmt.Errorf("discovery: jwks_uri: %w", err)
	}
	s.mu.Lock()
	s.discoveredURI = meta.JWKSURI
	s.mu.Unlock()
	return meta.JWKSURI, nil
}

// fetchJWKS downloads and parses one JWKS. cfg.logger names the issuer.
func fetchJWKS(ctx context.Context, cfg *sourceConfig, uri string) (*keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching jwks: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := cfg.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching jwks: unexpected status %d", resp.StatusCode)
	}
	// The bound client already refuses large bodies; this guards the limit
	// should the transport be replaced.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetching jwks: %w", err)
	}
	if len(body) > maxBodyBytes {
		return nil, fmt.Errorf("fetching jwks: %w", errBodyTooLarge)
	}
	return parseJWKS(body, func(kid string, err error) {
		cfg.logger.Warn("jwks key skipped", zap.String("kid", kid), zap.Error(err))
	})
}
