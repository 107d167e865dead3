package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/gateway/introspect"
	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/internal/header"
	"github.com/scopegate/scopegate/limits"
	"github.com/scopegate/scopegate/state"
)

// Deps are the gateway's collaborators; zero values are documented per
// field. Nothing is global: tests inject their own.
type Deps struct {
	// Logger writes operational logs. Default: zap.NewNop().
	Logger *zap.Logger
	// Audit, when set, takes the audit records (one per request decision)
	// in place of the output the config names (audit.output). Default nil:
	// records go to audit.output, written by NewAuditLogger.
	Audit *zap.Logger
	// Stdout and Stderr are the streams audit.output "stdout" and
	// "stderr" name. Default: os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
	// Registerer takes the gateway's metrics. Default: a new registry.
	Registerer prometheus.Registerer
	// Gatherer serves /metrics. Default: Registerer, if it is a Gatherer.
	Gatherer prometheus.Gatherer
	// KeyClient fetches discovery documents and JWKS. Default:
	// token.NewHTTPClient().
	KeyClient *http.Client
	// Transport is cloned for each upstream. Default: http.DefaultTransport.
	Transport *http.Transport
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// State is the shared state store (revocations, the DPoP replay
	// cache), in place of the one the config's state key names; the
	// gateway does not close it. Default nil: the config's (state.redis,
	// else an in-memory store, good for one replica).
	State state.Store
	// LimitStore holds the usage limits' counters (routes[].limits); it
	// outlives reloads. Default: limits.NewMemory(), for one replica.
	LimitStore limits.Store
	// TracerProvider, when set, takes the gateway's spans in place of the
	// OTLP exporter tracing.otlp_endpoint names (tests use the SDK's
	// in-memory exporter). Default nil: tracing as the config says.
	TracerProvider trace.TracerProvider
	// BuildInfo labels scopegate_build_info.
	Version, Commit string
}

// Gateway is scopegate's HTTP handler and servers. The configuration in
// force is swapped atomically on Reload; each request keeps the one it
// started with.
type Gateway struct {
	deps    Deps
	logger  *zap.Logger
	audit   *auditor
	metrics *metrics
	now     func() time.Time
	ctx     context.Context // lives as long as the gateway's key fetching
	// cacheCounters is shared by the Verifier of every config, so that
	// the token cache's counters survive reloads.
	cacheCounters *token.CacheCounters
	// limitStore and limitMetrics outlive reloads, so that a reload does
	// not reset anyone's usage.
	limitStore   limits.Store
	limitMetrics *limitMetrics
	// signals counts the Shared Signals events received (signals.go).
	signals *signalMetrics
	// localLimits counts fail-open limits while limitStore fails.
	localLimits *limits.Memory
	// tracing is read once, at New: a reload does not change it.
	tracing   *tracing
	keyClient *http.Client
	// store is the shared state (state.redis, or memory); revoker keeps
	// the local mirror of the revocation list in it.
	store    state.Store
	ownStore bool
	revoker  *revoker
	// introspection's metrics and HTTP client outlive reloads.
	introspection introspectionShared

	mu        sync.Mutex // serializes Reload
	closeOnce sync.Once
	draining  atomic.Bool
	runtime   atomic.Pointer[runtime]
	// testHook, when set by a test, runs first in ServeHTTP (e.g. to
	// inject a panic). Always nil outside tests.
	testHook atomic.Pointer[func(*http.Request)]
}

var _ http.Handler = (*Gateway)(nil)

// runtime is one loaded configuration, immutable once built but for the
// count of its requests in flight (reload.go).
type runtime struct {
	cfg       *config.Compiled
	life      runtimeLife
	verifier  *token.Verifier
	upstreams map[string]*upstream
	identity  map[string]bool // normalized identity header names
	metadata  *resourceMetadata
	sender    *senderRuntime
	limits    routeLimits // cfg.Limits bound to their metrics
	// introspector asks issuers about opaque tokens; nil when no issuer
	// has introspection.
	introspector *introspect.Introspector
}

// New builds a gateway for cfg (see config.Parse, LoadFile, Compile) and
// starts fetching every issuer's keys in the background. ctx bounds the
// key fetching; cancel it, or call Close, to stop it.
func New(ctx context.Context, cfg *config.Compiled, deps Deps) (*Gateway, error) {
	if deps.Logger == nil {
		deps.Logger = zap.NewNop()
	}
	if deps.Stdout == nil {
		deps.Stdout = os.Stdout
	}
	if deps.Stderr == nil {
		deps.Stderr = os.Stderr
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	if deps.Gatherer == nil {
		if gth, ok := deps.Registerer.(prometheus.Gatherer); ok {
			deps.Gatherer = gth
		}
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	g := &Gateway{deps: deps, logger: deps.Logger, now: deps.Now, ctx: ctx, cacheCounters: &token.CacheCounters{}}
	m, err := newMetrics(deps.Registerer, g)
	if err != nil {
		return nil, err
	}
	if err := deps.Registerer.Register(&cacheCollector{g: g}); err != nil {
		return nil, err
	}
	g.metrics = m
	if g.signals, err = newSignalMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	if g.limitMetrics, err = newLimitMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	g.limitStore = deps.LimitStore
	if g.limitStore == nil {
		g.limitStore = limits.NewMemory()
	}
	if g.tracing, err = newTracing(cfg.Tracing, deps.TracerProvider); err != nil {
		return nil, err
	}
	m.exemplars = g.tracing.on()
	g.keyClient = deps.KeyClient
	if g.tracing.on() {
		c := token.NewHTTPClient()
		if deps.KeyClient != nil {
			c = new(http.Client)
			*c = *deps.KeyClient
		}
		base := c.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		c.Transport = g.tracing.transport(base, "jwks")
		g.keyClient = c
	}
	var sink *auditSink
	auditLog := deps.Audit
	if auditLog == nil {
		if sink, err = openAuditSink(cfg.Audit.Output, deps.Stdout, deps.Stderr); err != nil {
			return nil, err
		}
		sink.buffered(cfg.Audit.FlushInterval.D())
		auditLog = NewAuditLogger(sink)
	}
	g.audit = newAuditor(auditLog, sink, g.now, m.auditDropped)
	g.audit.setLimits(cfg.Audit)
	if g.audit.sink != nil {
		if err := g.audit.sink.reopen(); err != nil {
			g.logger.Warn("reopening the audit output failed; records go on to the file already open", zap.Error(err))
		}
	}
	if err := g.openState(cfg.Config); err != nil {
		if sink != nil {
			_ = sink.Close()
		}
		g.tracing.close(context.Background())
		return nil, err
	}
	g.sharedLimitStore()
	g.guardLimitStore(cfg.Config.Limits)
	rt, err := g.build(cfg, nil)
	if err == nil {
		g.runtime.Store(rt)
		err = g.startRevocation()
	}
	if err != nil {
		g.closeState()
		if sink != nil {
			_ = sink.Close()
		}
		g.tracing.close(context.Background())
		return nil, err
	}
	g.metrics.configLoaded(rt.cfg.Hash)
	return g, nil
}

// build turns a compiled config into a runtime; prev, if any, lends its
// key sets and warm upstream connections.
func (g *Gateway) build(cfg *config.Compiled, prev *runtime) (*runtime, error) {
	rt := &runtime{cfg: cfg, upstreams: map[string]*upstream{}, identity: map[string]bool{}, metadata: newResourceMetadata(cfg.Config),
		limits: g.limitMetrics.bind(cfg.Limits)}
	var err error
	if rt.sender, err = g.buildSender(cfg.Config); err != nil {
		return nil, err
	}
	ih := cfg.Server.IdentityHeaders
	for _, n := range []string{ih.Subject, ih.ClientID, ih.Scopes} {
		rt.identity[header.Norm(n)] = true
	}
	pd := proxyDeps{logger: g.logger, trusted: rt.cfg.TrustedProxies, identity: ih, base: g.deps.Transport, pool: sharedPool, now: g.now, tracing: g.tracing}
	for name, uc := range cfg.Upstreams {
		pd.reuse = nil
		if prev != nil {
			pd.reuse = prev.transportFor(name, uc) // warm connections survive a reload
		}
		u, err := newUpstream(name, uc, pd)
		if err != nil {
			return nil, err
		}
		rt.upstreams[name] = u
	}
	opts := token.Options{
		Client:        g.keyClient,
		Now:           g.now,
		Logger:        g.logger.Named("keys"),
		MaxTokenBytes: cfg.Server.MaxTokenBytes,
		OnRefresh:     g.metrics.keyRefresh,
	}
	if tc := cfg.Server.TokenCache; !tc.Disabled {
		opts.Cache = token.CacheConfig{MaxEntries: tc.MaxEntries, MaxBytes: tc.MaxBytes, Counters: g.cacheCounters}
	}
	if prev != nil && prev.verifier != nil {
		opts.Previous = prev.verifier
	}
	for _, is := range cfg.Issuers {
		g.metrics.initIssuer(is.Issuer)
		opts.Issuers = append(opts.Issuers, token.IssuerConfig{
			Issuer:             is.Issuer,
			JWKSURI:            is.JWKSURI,
			Audiences:          is.Audiences,
			Algorithms:         is.Algorithms,
			RequireATJWT:       is.RequireATJWT,
			AllowedClients:     is.AllowedClients,
			ScopeClaims:        is.ScopeClaims,
			Leeway:             is.Leeway.D(),
			RefreshInterval:    is.RefreshInterval.D(),
			MinRefreshInterval: is.MinRefreshInterval.D(),
			MaxStaleness:       is.MaxStaleness.D(),
			AllowInsecureHTTP:  is.AllowInsecureHTTP,

			ClientIDClaims:           is.ClientIDClaims,
			AcceptClientIDAsAudience: is.AcceptClientIDAsAudience,
			RequiredClaims:           is.RequiredClaims,
			MachineClaims:            is.MachineClaims,
		})
	}
	if len(opts.Issuers) > 0 { // a config of public routes only needs none
		v, err := token.New(g.ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("starting token verification: %w", err)
		}
		rt.verifier = v
	}
	if err := g.buildIntrospection(cfg, rt); err != nil {
		if rt.verifier != nil {
			rt.verifier.Close()
		}
		return nil, err
	}
	return rt, nil
}

var sharedPool = newBufferPool()

// ReloadFile loads the config file at path and reloads it (see Reload).
// A file that does not load is a failed reload like a config Reload
// refuses: both are counted in scopegate_config_reloads_total{result="failure"}
// and leave the running config in force.
func (g *Gateway) ReloadFile(path string) error {
	cfg, err := config.LoadFile(path, config.Reusing(g.Config()))
	if err != nil {
		g.metrics.reloads.WithLabelValues("failure").Inc()
		return err
	}
	return g.Reload(cfg)
}

// Reload puts cfg in force for new requests. In-flight requests finish
// under the config they started with. Issuers whose key source is
// unchanged keep their keys, so a reload never causes a cold start. An
// audit file is reopened (to follow log rotation); a config naming
// another audit output is refused, since the output is chosen at start.
func (g *Gateway) Reload(cfg *config.Compiled) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.runtime.Load()
	if cfg.Audit.Output != old.cfg.Audit.Output && g.audit.sink != nil {
		g.metrics.reloads.WithLabelValues("failure").Inc()
		return fmt.Errorf("audit.output changed from %q to %q: the audit output is chosen at start; restart to change it", old.cfg.Audit.Output, cfg.Audit.Output)
	}
	if !sameStateConfig(cfg.State, old.cfg.State) {
		g.metrics.reloads.WithLabelValues("failure").Inc()
		return errStoreChanged
	}
	rt, err := g.build(cfg, old)
	if err != nil {
		g.metrics.reloads.WithLabelValues("failure").Inc()
		return err
	}
	g.audit.setLimits(cfg.Audit)
	if g.audit.sink != nil {
		g.audit.sink.buffered(cfg.Audit.FlushInterval.D())
		if err := g.audit.sink.reopen(); err != nil {
			g.logger.Warn("reopening the audit output failed; records go on to the file already open", zap.Error(err))
		}
	}
	g.runtime.Store(rt)
	g.metrics.reloads.WithLabelValues("success").Inc()
	g.metrics.configLoaded(rt.cfg.Hash)
	if old.verifier != nil {
		old.verifier.Close()
	}
	old.retire(rt)
	return nil
}

// Ready reports whether the config is loaded and every issuer's keys are
// in hand.
func (g *Gateway) Ready() bool {
	rt := g.runtime.Load()
	return rt != nil && (rt.verifier == nil || rt.verifier.Ready())
}

// Close stops key fetching, writes a last summary of dropped audit
// records, and closes an audit file. Close is idempotent.
func (g *Gateway) Close() {
	if rt := g.runtime.Load(); rt != nil && rt.verifier != nil {
		rt.verifier.Close()
	}
	g.closeOnce.Do(func() {
		g.closeState()
		g.audit.close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.tracing.close(ctx)
	})
}

// Config returns the configuration in force.
func (g *Gateway) Config() *config.Compiled { return g.runtime.Load().cfg }
