package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scopegate/scopegate/config"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/state"
)

// Reasons of the revocation check.
const (
	// ReasonTokenRevoked: the token's jti is revoked, or its sub or
	// client_id has a "not before" later than its iat (or it has no iat).
	ReasonTokenRevoked Reason = "token_revoked"
	// ReasonRevocationUnavailable: the revocation list is out of sync and
	// revocation.failure_mode is fail_closed.
	ReasonRevocationUnavailable Reason = "revocation_unavailable"
)

// Revocation kinds.
const (
	revokeJTI    = "jti"
	revokeSub    = "sub"
	revokeClient = "client_id"
)

// The store's namespace and channel for revocations.
const (
	revokePrefix  = "revoke:"
	revokeChannel = "revocations"
)

// revocation is one entry of the list, as stored (JSON). A jti is kept
// only as its SHA-256: no part of a token is stored.
type revocation struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Issuer    string    `json:"iss,omitempty"`   // "": tokens of any issuer
	Value     string    `json:"value,omitempty"` // the sub or client_id
	JTIHash   string    `json:"jti_sha256,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"` // sub and client_id: tokens with iat before it are refused
	ExpiresAt time.Time `json:"expires_at,omitzero"` // when the entry is dropped; zero: kept until lifted
	RevokedBy string    `json:"revoked_by"`
	RevokedAt time.Time `json:"revoked_at"`
	Reason    string    `json:"reason,omitempty"`
}

// revocationID names an entry: a hash of what it revokes, so that
// revoking the same thing twice replaces the entry.
func revocationID(kind, iss, value string) string {
	h := sha256.Sum256([]byte(kind + "\x00" + iss + "\x00" + value))
	return kind + "-" + hex.EncodeToString(h[:12])
}

type idKey struct{ iss, value string }

// revSet is an immutable snapshot of the list: the local mirror a request
// is checked against without any round trip.
type revSet struct {
	jti    map[[32]byte][]*revocation
	sub    map[idKey]*revocation
	client map[idKey]*revocation
	n      int
}

func newRevSet(entries []*revocation) *revSet {
	s := &revSet{jti: map[[32]byte][]*revocation{}, sub: map[idKey]*revocation{}, client: map[idKey]*revocation{}}
	for _, e := range entries {
		switch e.Kind {
		case revokeJTI:
			var h [32]byte
			if b, err := hex.DecodeString(e.JTIHash); err == nil && len(b) == 32 {
				copy(h[:], b)
				s.jti[h] = append(s.jti[h], e)
				s.n++
			}
		case revokeSub:
			s.sub[idKey{e.Issuer, e.Value}] = e
			s.n++
		case revokeClient:
			s.client[idKey{e.Issuer, e.Value}] = e
			s.n++
		}
	}
	return s
}

// match returns the entry that revokes c, or nil. With an empty list it
// costs a nil check; a jti is hashed only when jti entries exist.
func (s *revSet) match(c *token.Claims) *revocation {
	if s == nil || s.n == 0 {
		return nil
	}
	if len(s.jti) > 0 && c.ID != "" {
		for _, e := range s.jti[sha256.Sum256([]byte(c.ID))] {
			if e.Issuer == "" || e.Issuer == c.Issuer {
				return e
			}
		}
	}
	if e := notBefore(s.sub, c.Issuer, c.Subject, c.IssuedAt); e != nil {
		return e
	}
	return notBefore(s.client, c.Issuer, c.ClientID, c.IssuedAt)
}

// notBefore finds an entry for (iss, v) or (any issuer, v) that the
// token's iat falls before. A token without iat cannot show it was
// issued after, so it is refused.
func notBefore(m map[idKey]*revocation, iss, v string, iat time.Time) *revocation {
	if len(m) == 0 || v == "" {
		return nil
	}
	for _, k := range [2]idKey{{iss, v}, {"", v}} {
		if e := m[k]; e != nil && (iat.IsZero() || iat.Before(e.NotBefore)) {
			return e
		}
	}
	return nil
}

// revoker keeps the local mirror of the revocation list: read whole at
// start, on every change notification, on every (re)subscription and
// every resync interval; requests read only the mirror.
type revoker struct {
	store  state.Store
	logger *zap.Logger
	now    func() time.Time
	cfg    func() config.RevocationConfig
	m      *revocationMetrics

	set      atomic.Pointer[revSet]
	lastSync atomic.Int64 // unix nanoseconds of the last successful sync; 0: never
	kick     chan struct{}
	syncMu   sync.Mutex
	cancel   context.CancelFunc
	done     chan struct{}
}

func newRevoker(store state.Store, logger *zap.Logger, now func() time.Time, cfg func() config.RevocationConfig, m *revocationMetrics) *revoker {
	r := &revoker{store: store, logger: logger, now: now, cfg: cfg, m: m, kick: make(chan struct{}, 1), done: make(chan struct{})}
	r.set.Store(newRevSet(nil))
	return r
}

// start runs the sync loop until ctx is done or stop is called.
func (r *revoker) start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	// The first sync is made before the gateway serves, so that entries
	// stored before a restart hold from the first request.
	_ = r.sync(ctx)
	r.store.Subscribe(ctx, revokeChannel, func([]byte, bool) { r.trigger() })
	go r.loop(ctx)
}

func (r *revoker) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
}

func (r *revoker) trigger() {
	select {
	case r.kick <- struct{}{}:
	default: // a sync is already due: it will read this change too
	}
}

func (r *revoker) loop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.cfg().ResyncInterval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
		_ = r.sync(ctx)
	}
}

// sync reads the whole list and swaps the mirror.
func (r *revoker) sync(ctx context.Context) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.cfg().StoreTimeout.D())
	defer cancel()
	// The mirror is as fresh as the moment the list was asked for: an
	// answer that comes back late (or a sync that resumes late) must not
	// make it look younger, and the lag fail_open and fail_closed act on
	// counts from there.
	now := r.now()
	items, err := r.store.List(ctx, revokePrefix)
	if err != nil {
		r.m.storeErrors.WithLabelValues("revocation_sync").Inc()
		r.logger.Warn("revocation list sync failed; serving the last mirror", zap.Error(err))
		return err
	}
	entries := make([]*revocation, 0, len(items))
	counts := map[string]int{revokeJTI: 0, revokeSub: 0, revokeClient: 0}
	for k, v := range items {
		e := new(revocation)
		if err := json.Unmarshal(v, e); err != nil {
			r.logger.Warn("skipping an unreadable revocation entry", zap.String("key", k), zap.Error(err))
			continue
		}
		if _, known := counts[e.Kind]; !known || (!e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt)) {
			continue
		}
		entries = append(entries, e)
		counts[e.Kind]++
	}
	r.set.Store(newRevSet(entries))
	r.lastSync.Store(now.UnixNano())
	for k, n := range counts {
		r.m.entries.WithLabelValues(k).Set(float64(n))
	}
	return nil
}

// inSync reports whether the mirror was synced within max_lag.
func (r *revoker) inSync(now time.Time) bool {
	last := r.lastSync.Load()
	return last != 0 && now.Sub(time.Unix(0, last)) <= r.cfg().MaxLag.D()
}

// lag is the age of the mirror, for the metric.
func (r *revoker) lag() float64 {
	last := r.lastSync.Load()
	if last == 0 {
		return -1
	}
	return r.now().Sub(time.Unix(0, last)).Seconds()
}

// check is the per-request revocation check on verified claims (fresh or
// from the cache alike). It never touches the store.
func (r *revoker) check(c *token.Claims, failureMode string) *refusal {
	if e := r.set.Load().match(c); e != nil {
		ae := errInvalidToken("the access token has been revoked")
		ae.auditDetail = fmt.Sprintf("revoked by %s at %s (entry %s)", e.RevokedBy, e.RevokedAt.UTC().Format(time.RFC3339), e.ID)
		return refuse(ReasonTokenRevoked, ae)
	}
	if r.inSync(r.now()) {
		return nil
	}
	if failureMode == config.FailClosed {
		return refuse(ReasonRevocationUnavailable, apiError{status: http.StatusServiceUnavailable, typ: "service_unavailable",
			code: string(ReasonRevocationUnavailable), message: "the revocation list cannot be checked now; retry shortly", retryAfter: 5})
	}
	r.m.unchecked.Inc()
	return nil
}

// checkRevocation is authenticate's hook: it refuses a revoked token.
func (g *Gateway) checkRevocation(rt *runtime, c *token.Claims) *refusal {
	return g.revoker.check(c, rt.cfg.Revocation.FailureMode)
}

// put stores e (its TTL follows ExpiresAt), tells every replica, and
// syncs this one at once.
func (r *revoker) put(ctx context.Context, e *revocation) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	var ttl time.Duration
	if !e.ExpiresAt.IsZero() {
		ttl = e.ExpiresAt.Sub(r.now())
	}
	if err := r.store.Set(ctx, revokePrefix+e.ID, b, ttl); err != nil {
		r.m.storeErrors.WithLabelValues("revocation_write").Inc()
		return err
	}
	r.changed(ctx)
	return nil
}

// strengthen makes e, about to replace a stored entry of the same id,
// at least as strong as that entry: the later not-before (more tokens
// refused) and the later expiry, none when either has none. An event
// dated before a revocation already in force (a late push, an admin's
// revocation) must not let tokens it cut off through again.
func (r *revoker) strengthen(ctx context.Context, e *revocation) error {
	b, ok, err := r.store.Get(ctx, revokePrefix+e.ID)
	if err != nil {
		r.m.storeErrors.WithLabelValues("revocation_write").Inc()
		return err
	}
	var old revocation
	if !ok || json.Unmarshal(b, &old) != nil || old.Kind != e.Kind {
		return nil
	}
	if old.NotBefore.After(e.NotBefore) {
		e.NotBefore = old.NotBefore
	}
	if old.ExpiresAt.IsZero() || !e.ExpiresAt.IsZero() && old.ExpiresAt.After(e.ExpiresAt) {
		e.ExpiresAt = old.ExpiresAt
	}
	return nil
}

// lift removes the entry id; it reports whether it existed.
func (r *revoker) lift(ctx context.Context, id string) (bool, error) {
	_, ok, err := r.store.Get(ctx, revokePrefix+id)
	if err == nil && ok {
		err = r.store.Delete(ctx, revokePrefix+id)
	}
	if err != nil {
		r.m.storeErrors.WithLabelValues("revocation_write").Inc()
		return false, err
	}
	if ok {
		r.changed(ctx)
	}
	return ok, nil
}

func (r *revoker) changed(ctx context.Context) {
	if err := r.store.Publish(ctx, revokeChannel, nil); err != nil {
		r.m.storeErrors.WithLabelValues("revocation_publish").Inc()
		r.logger.Warn("announcing a revocation change failed; other replicas see it at their next resync", zap.Error(err))
	}
	_ = r.sync(context.WithoutCancel(ctx))
}

// list reads the entries from the store (not the mirror: the truth).
func (r *revoker) list(ctx context.Context) ([]*revocation, error) {
	items, err := r.store.List(ctx, revokePrefix)
	if err != nil {
		r.m.storeErrors.WithLabelValues("revocation_list").Inc()
		return nil, err
	}
	out := make([]*revocation, 0, len(items))
	for _, v := range items {
		e := new(revocation)
		if json.Unmarshal(v, e) == nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// revocationMetrics are the revocation list's metrics.
type revocationMetrics struct {
	storeErrors *prometheus.CounterVec
	entries     *prometheus.GaugeVec
	unchecked   prometheus.Counter
}

func newRevocationMetrics(reg prometheus.Registerer, lag func() float64) (*revocationMetrics, error) {
	m := &revocationMetrics{
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopegate_state_errors_total",
			Help: "Failed calls to the state store, by operation.",
		}, []string{"op"}),
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scopegate_revocation_entries",
			Help: "Entries in the local mirror of the revocation list, by kind (jti, sub, client_id).",
		}, []string{"kind"}),
		unchecked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scopegate_revocation_unchecked_total",
			Help: "Requests served while the revocation mirror was out of sync (failure_mode fail_open).",
		}),
	}
	lagGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "scopegate_revocation_mirror_lag_seconds",
		Help: "Age of the last successful sync of the revocation mirror with the state store (-1: never synced).",
	}, lag)
	for _, c := range []prometheus.Collector{m.storeErrors, m.entries, m.unchecked, lagGauge} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering revocation metrics: %w", err)
		}
	}
	for _, op := range []string{"revocation_sync", "revocation_write", "revocation_publish", "revocation_list", "dpop_replay", "ssf_replay"} {
		m.storeErrors.WithLabelValues(op)
	}
	return m, nil
}

// stateStoreFailed counts a failed call to the state store made outside
// the revocation list (the DPoP and Shared Signals replay caches), in the
// counter ScopegateStateStoreErrors watches.
func (g *Gateway) stateStoreFailed(op string) {
	if g.revoker != nil {
		g.revoker.m.storeErrors.WithLabelValues(op).Inc()
	}
}
