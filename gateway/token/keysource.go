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

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	// flight is the fetch running, nil when none. It is cleared under mu
	// in the same step that publishes its keys, so a caller that finds it
	// set will see keys stored after its own look-up, and a caller that
	// missed a kid in keys already published finds it nil and starts a
	// fetch of its own: joining a fetch that has already published could
	// never show it the kid it is looking for.
	flight        *keyFlight
	started       uint64      // fetches started so far
	lastOnDemand  time.Time   // start of the last unknown-kid refresh, by cfg.now
	trailing      *time.Timer // the refresh owed to rate-limited unknown kids
	discoveredURI string
}

// keyFlight is one fetch, shared by every caller that asks for a refresh
// while it runs.
type keyFlight struct {
	seq  uint64        // its place in the order fetches started, from 1
	done chan struct{} // closed once err is set and the fetch is reported
	err  error
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

// refreshForKID is called by Verify for an unknown kid; known reports
// whether the kid is in the keys published now. It joins a fetch in
// flight; otherwise it starts one, unless the last unknown-kid refresh began
// less than MinRefreshInterval ago: then it fails fast with errRateLimited
// and makes sure one trailing refresh runs as soon as the limit lifts, so
// that a key the issuer has just rotated in is known at most
// MinRefreshInterval after its first sighting, however many unknown kids
// came in between, and without any request waiting (a wait would let a
// flood of made-up kids hold requests open). The limit is measured by the
// injected clock (cfg.now), as is everything else the Verifier reads the
// time for; the trailing refresh waits on a runtime timer.
//
// A fetch joined that had started before the kid was looked up may have
// downloaded the JWKS before the key was published: when it did not bring
// the kid, the kid is asked for once more, under the same limit.
func (s *keySource) refreshForKID(ctx context.Context, known func() bool) error {
	s.mu.Lock()
	seen := s.started // every fetch started after the caller's look-up has a later seq
	s.mu.Unlock()
	f, err := s.onDemand()
	if err != nil {
		return err
	}
	if err := s.wait(ctx, f); err != nil || f.seq > seen || known() {
		return err
	}
	if f, err = s.onDemand(); err != nil {
		return err
	}
	return s.wait(ctx, f)
}

// onDemand is an unknown kid's fetch: the one in flight, or a new one
// unless the rate limit holds (errRateLimited, with the trailing refresh
// armed).
func (s *keySource) onDemand() (*keyFlight, error) {
	cfg := s.cfg.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flight == nil && !s.lastOnDemand.IsZero() {
		if wait := s.lastOnDemand.Add(cfg.minRefreshInterval).Sub(cfg.now()); wait > 0 {
			if s.trailing == nil && !s.closed {
				s.trailing = time.AfterFunc(wait, s.trailingRefresh)
			}
			return nil, errRateLimited
		}
	}
	if s.closed {
		return nil, errSourceDone
	}
	if s.flight == nil {
		s.lastOnDemand = cfg.now()
	}
	return s.joinLocked(true), nil
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
	f := s.joinLocked(true)
	s.mu.Unlock()
	_ = s.wait(s.ctx, f) // failures are logged and counted by fetch
}

// refresh runs (or joins) one fetch under the source's own context, waiting
// for it as long as ctx allows. Concurrent callers share one fetch.
func (s *keySource) refresh(ctx context.Context, unknownKID bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errSourceDone
	}
	f := s.joinLocked(unknownKID)
	s.mu.Unlock()
	return s.wait(ctx, f)
}

// joinLocked returns the fetch in flight, or starts one. s.mu is held and
// the source is not closed.
func (s *keySource) joinLocked(unknownKID bool) *keyFlight {
	if s.flight != nil {
		return s.flight
	}
	s.started++
	f := &keyFlight{done: make(chan struct{}), seq: s.started}
	s.flight = f
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.fetch(f, unknownKID)
	}()
	return f
}

// wait waits for f as long as ctx allows.
func (s *keySource) wait(ctx context.Context, f *keyFlight) error {
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetch discovers the JWKS URI if needed, downloads and parses the JWKS, and
// on success replaces the key set. A failure keeps the previous keys. The
// outcome is published and f leaves flight in one step under s.mu.
func (s *keySource) fetch(f *keyFlight, unknownKID bool) {
	cfg := s.cfg.Load()
	set, err := s.download(cfg)
	s.mu.Lock()
	if err == nil {
		set.fetchedAt = cfg.now()
		s.keys.Store(set)
	}
	s.lastFailed.Store(err != nil)
	s.flight = nil
	s.mu.Unlock()
	if err != nil {
		s.failures.Add(1)
		cfg.logger.Warn("jwks refresh failed", zap.Bool("unknown_kid", unknownKID), zap.Error(err))
	}
	if cfg.onRefresh != nil {
		cfg.onRefresh(s.id.issuer, unknownKID, err)
	}
	f.err = err
	close(f.done)
}

// download discovers the JWKS URI if needed and fetches the JWKS.
func (s *keySource) download(cfg *sourceConfig) (*keySet, error) {
	uri, err := s.jwksURI(cfg)
	if err != nil {
		return nil, err
	}
	return fetchJWKS(s.ctx, cfg, uri)
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
