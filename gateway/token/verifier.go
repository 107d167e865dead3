package token

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Verifier verifies access tokens of the configured issuers. It is safe for
// concurrent use. Create it with New; stop it with Close.
type Verifier struct {
	issuers  map[string]*issuer
	order    []*issuer
	now      func() time.Time
	maxBytes int
	cache    *tokenCache  // nil: no cache
	stop     func() bool  // unregisters the ctx-cancel hook
	client   *http.Client // closed on Close when New made it

	mu     sync.Mutex
	closed bool
	owned  map[*keySource]struct{} // stopped by Close unless handed over
}

// issuer is one IssuerConfig compiled for Verify.
type issuer struct {
	cfg     IssuerConfig // defaults applied
	algs    map[string]bool
	auds    map[string]bool
	clients map[string]bool
	scopes  [][]string // parsed ScopeClaims
	src     *keySource
}

// IssuerStatus reports the key state of one issuer.
type IssuerStatus struct {
	Issuer          string
	Keys            int       // usable signature keys in the current set
	LastRefresh     time.Time // last successful fetch; zero if none
	Ready           bool      // keys in hand and not older than MaxStaleness
	RefreshFailures uint64    // failed fetch attempts since the key set was created
}

// New validates opts (returning every problem at once), then starts fetching
// each issuer's keys in the background. It does not wait for them: until an
// issuer's first fetch succeeds, Verify returns ErrKeysUnavailable for its
// tokens and Ready reports false. The background work stops on Close or when
// ctx is cancelled.
func New(ctx context.Context, opts Options) (*Verifier, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	client, ownClient := NewHTTPClient(), true
	if opts.Client != nil {
		client, ownClient = boundClient(opts.Client), false
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	v := &Verifier{
		issuers:  make(map[string]*issuer, len(opts.Issuers)),
		now:      now,
		maxBytes: opts.MaxTokenBytes,
		owned:    map[*keySource]struct{}{},
		cache:    newTokenCache(opts.Cache),
	}
	if ownClient {
		v.client = client
	}
	if v.maxBytes == 0 {
		v.maxBytes = DefaultMaxTokenBytes
	}
	var fresh []*keySource
	for _, raw := range opts.Issuers {
		ic := raw.withDefaults()
		is := &issuer{cfg: ic, algs: set(ic.Algorithms), auds: set(ic.Audiences), clients: set(ic.AllowedClients)}
		for _, p := range ic.ScopeClaims {
			segs, _ := ParseClaimPath(p) // validated above
			is.scopes = append(is.scopes, segs)
		}
		id := sourceIdentity{issuer: ic.Issuer, jwksURI: ic.JWKSURI, allowInsecure: ic.AllowInsecureHTTP}
		sc := &sourceConfig{
			client: client, logger: logger.With(zap.String("issuer", ic.Issuer)), now: now, onRefresh: opts.OnRefresh,
			refreshInterval: ic.RefreshInterval, minRefreshInterval: ic.MinRefreshInterval,
		}
		if opts.Previous != nil {
			is.src = opts.Previous.handOver(id)
		}
		if is.src != nil {
			is.src.cfg.Store(sc)
		} else {
			is.src = newKeySource(ctx, id, sc)
			fresh = append(fresh, is.src)
		}
		v.owned[is.src] = struct{}{}
		v.issuers[ic.Issuer] = is
		v.order = append(v.order, is)
	}
	if p := opts.Previous; p != nil && v.cache != nil && p.cache != nil && p.maxBytes == v.maxBytes {
		v.cache.adopt(p.cache, v.issuers, now())
	}
	for _, s := range fresh {
		s.start()
	}
	v.stop = context.AfterFunc(ctx, v.Close)
	return v, nil
}

func set(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

// handOver gives the key source with this identity to a successor, so that
// v.Close no longer stops it. nil if v has none or is closed.
func (v *Verifier) handOver(id sourceIdentity) *keySource {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	for s := range v.owned {
		if s.id == id {
			delete(v.owned, s)
			return s
		}
	}
	return nil
}

// Close stops the background key fetching this Verifier owns (not key sets
// taken over by a successor) and waits for it to end. Verify keeps working
// on the keys in hand. Close is idempotent.
func (v *Verifier) Close() {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.closed = true
	owned := v.owned
	v.owned = nil
	v.mu.Unlock()
	if v.stop != nil {
		v.stop()
	}
	for s := range owned {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
	}
	for s := range owned {
		s.close()
	}
	if v.client != nil {
		v.client.CloseIdleConnections()
	}
}

// Ready reports whether every issuer has a usable key set that is not older
// than its MaxStaleness.
func (v *Verifier) Ready() bool {
	now := v.now()
	for _, is := range v.order {
		if is.keys(now) == nil {
			return false
		}
	}
	return true
}

// Status reports the key state of each issuer, in configuration order.
func (v *Verifier) Status() []IssuerStatus {
	now := v.now()
	out := make([]IssuerStatus, 0, len(v.order))
	for _, is := range v.order {
		st := IssuerStatus{Issuer: is.cfg.Issuer, RefreshFailures: is.src.failures.Load()}
		if ks := is.src.keys.Load(); ks != nil {
			st.Keys = ks.usable
			st.LastRefresh = ks.fetchedAt
		}
		st.Ready = is.keys(now) != nil
		out = append(out, st)
	}
	return out
}

// keys returns the issuer's current key set, or nil when there is none or it
// is older than MaxStaleness.
func (is *issuer) keys(now time.Time) *keySet {
	ks := is.src.keys.Load()
	if ks == nil || now.Sub(ks.fetchedAt) > is.cfg.MaxStaleness {
		return nil
	}
	return ks
}

// Issuers returns the configured issuer names, in configuration order.
func (v *Verifier) Issuers() []string {
	out := make([]string, len(v.order))
	for i, is := range v.order {
		out[i] = is.cfg.Issuer
	}
	return slices.Clip(out)
}
