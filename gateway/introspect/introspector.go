package introspect

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/state"
)

// Introspector introspects tokens at their issuers' endpoints, with a
// cache and one call per token at a time. Safe for concurrent use; it
// holds no goroutine, so it needs no Close.
type Introspector struct {
	endpoints    []*endpoint // config order
	byIssuer     map[string]*endpoint
	claims       ClaimsFunc
	store        state.Store
	storeTimeout time.Duration
	now          func() time.Time
	logger       *zap.Logger
	metrics      *Metrics
	local        *local
	sf           singleflight.Group
}

// New validates opts (every problem at once) and builds an Introspector.
// It does no I/O: endpoints are discovered at first use.
func New(opts Options) (*Introspector, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	in := &Introspector{
		byIssuer:     make(map[string]*endpoint, len(opts.Issuers)),
		claims:       opts.Claims,
		store:        opts.Store,
		storeTimeout: opts.StoreTimeout,
		now:          opts.Now,
		logger:       opts.Logger,
		metrics:      opts.Metrics,
		local:        newLocal(opts.LocalEntries),
	}
	if in.storeTimeout == 0 {
		in.storeTimeout = 250 * time.Millisecond
	}
	if in.now == nil {
		in.now = time.Now
	}
	if in.logger == nil {
		in.logger = zap.NewNop()
	}
	if opts.LocalEntries == 0 {
		in.local = newLocal(DefaultLocalEntries)
	}
	client := boundClient(opts.Client)
	for _, is := range opts.Issuers {
		e, err := newEndpoint(is, client, in.now)
		if err != nil {
			return nil, err
		}
		in.endpoints = append(in.endpoints, e)
		in.byIssuer[is.Issuer] = e
		in.metrics.initIssuer(is.Issuer)
	}
	return in, nil
}

// boundClient copies c (nil: token.NewHTTPClient()) so that redirects are
// never followed: a 3xx is answered as it is, and counts as a failure.
// The call's context, not the client, bounds its time.
func boundClient(c *http.Client) *http.Client {
	if c == nil {
		c = token.NewHTTPClient()
	}
	cc := *c
	cc.Timeout = 0
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

// issuerFor is the endpoint of the one issuer that may have issued raw,
// an opaque token, or nil.
func (in *Introspector) issuerFor(raw string) *endpoint {
	for _, e := range in.endpoints {
		if len(e.opts.TokenPrefixes) == 0 {
			return e // validation allows this for a single issuer only
		}
		for _, p := range e.opts.TokenPrefixes {
			if strings.HasPrefix(raw, p) {
				return e
			}
		}
	}
	return nil
}

// HasIssuer reports whether iss introspects here.
func (in *Introspector) HasIssuer(iss string) bool { return in.byIssuer[iss] != nil }

// Introspect returns the claims of raw, an opaque access token, from the
// cache or its issuer's endpoint. With fresh set the caches are not read
// (an answer obtained is still cached for others). It returns claims, a
// *token.Error (a refusal: no issuer for this token, inactive, not
// acceptable), or an error wrapping ErrUnavailable.
func (in *Introspector) Introspect(ctx context.Context, raw string, fresh bool) (*token.Claims, error) {
	e := in.issuerFor(raw)
	if e == nil {
		return nil, &token.Error{Reason: token.ReasonUnknownIssuer, Detail: "the opaque access token matches no issuer's token_prefixes"}
	}
	iss := e.opts.Issuer
	k := cacheKey(iss, raw)
	if !fresh {
		now := in.now()
		if c := in.local.get(k, now); c != nil {
			in.metrics.cache("local_hit")
			return c, nil
		}
		if m, until := in.storeGet(ctx, k); m != nil {
			c, err := in.claims(iss, m, e.opts.AllowMissingAudience)
			if err != nil {
				return nil, err
			}
			in.local.put(k, c, until, now)
			in.metrics.cache("store_hit")
			return c, nil
		}
		in.metrics.cache("miss")
	}
	// A fresh caller (a route that introspects every token) never joins
	// a flight that may answer from the cache: its flights are its own.
	kind := flightCached
	if fresh {
		kind = flightFresh
	}
	v, err := in.flight(ctx, e, kind, k, func(fctx context.Context) (any, error) {
		// A caller that missed the cache just before another's flight
		// ended starts a flight of its own: the answer is cached by now.
		if !fresh {
			if c := in.local.get(k, in.now()); c != nil {
				return c, nil
			}
		}
		m, body, err := in.ask(fctx, e, raw)
		if err != nil {
			return nil, err
		}
		c, err := in.claims(iss, m, e.opts.AllowMissingAudience)
		if err != nil {
			in.metrics.result(iss, "refused")
			return nil, err
		}
		in.metrics.result(iss, "active")
		now := in.now()
		until := cacheUntil(c, now, e.opts.CacheTTL)
		in.local.put(k, c, until, now)
		in.storePut(fctx, k, body, until)
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*token.Claims), nil
}

// Confirm asks iss's endpoint, without any cache, whether raw (a JWT the
// caller has verified) is still active. nil: active, and the answer names
// no other issuer. Otherwise a *token.Error or an error wrapping
// ErrUnavailable.
func (in *Introspector) Confirm(ctx context.Context, iss, raw string) error {
	e := in.byIssuer[iss]
	if e == nil {
		return &token.Error{Reason: ReasonNotIntrospectable, Detail: "this route requires introspection, and the token's issuer has none configured"}
	}
	k := cacheKey(iss, raw)
	_, err := in.flight(ctx, e, flightConfirm, k, func(fctx context.Context) (any, error) {
		m, _, err := in.ask(fctx, e, raw)
		if err != nil {
			return nil, err
		}
		if got, ok := m["iss"]; ok && got != iss {
			in.metrics.result(iss, "refused")
			return nil, &token.Error{Reason: token.ReasonUnknownIssuer, Detail: "the introspection response names another issuer"}
		}
		in.metrics.result(iss, "active")
		return true, nil
	})
	return err
}

// Kinds of flight. Callers share a flight only with callers of the same
// kind: a cached flight may answer from the cache, which a fresh caller
// must not get, and a confirmation answers true, not claims.
const (
	flightCached  = "c:"
	flightFresh   = "f:"
	flightConfirm = "j:"
)

// flight runs fn once for every concurrent caller of the same kind and
// token (the first caller starts it; the others wait for its answer),
// under a context of its own that the issuer's timeout bounds, so that a
// caller who leaves does not fail the others. Each caller waits at most
// until its own ctx is done.
func (in *Introspector) flight(ctx context.Context, e *endpoint, kind string, k [32]byte, fn func(context.Context) (any, error)) (any, error) {
	ch := in.sf.DoChan(kind+hex.EncodeToString(k[:]), func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.Timeout)
		defer cancel()
		return fn(fctx)
	})
	select {
	case r := <-ch:
		if r.Shared {
			in.metrics.coalesced(e.opts.Issuer)
		}
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: the request ended while waiting: %w", ErrUnavailable, context.Cause(ctx))
	}
}

// ask makes one call and counts and logs its failures; the caller counts
// an active answer as active or refused once it has judged it.
func (in *Introspector) ask(ctx context.Context, e *endpoint, raw string) (map[string]any, []byte, error) {
	start := time.Now()
	m, body, err := e.call(ctx, raw)
	in.metrics.duration(e.opts.Issuer, time.Since(start))
	var te *token.Error
	switch {
	case err == nil:
	case errors.As(err, &te):
		in.metrics.result(e.opts.Issuer, "inactive")
	default:
		in.metrics.result(e.opts.Issuer, "error")
		in.logger.Warn("token introspection failed", zap.String("issuer", e.opts.Issuer), zap.Error(err))
	}
	return m, body, err
}

// CachedEntries is the number of answers in this replica's cache.
func (in *Introspector) CachedEntries() int { return in.local.len() }
