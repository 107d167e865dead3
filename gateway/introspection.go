package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/gateway/introspect"
	"github.com/scopegate/scopegate/gateway/token"
)

// ReasonIntrospectionUnavailable: the issuer's introspection endpoint
// could not give an answer (timeout, refused connection, 5xx, redirect,
// garbage, too large, no free slot): 503 with Retry-After. The token is
// neither accepted nor refused.
const ReasonIntrospectionUnavailable Reason = "introspection_unavailable"

// introspectionShared is what outlives reloads: the metrics (registered
// once) and the HTTP client (its warm connections).
type introspectionShared struct {
	once    sync.Once
	metrics *introspect.Metrics
	client  *http.Client
	err     error
}

// buildIntrospection sets rt.introspector when an issuer of cfg
// introspects. The verifier must be built: it judges the answers.
func (g *Gateway) buildIntrospection(cfg *config.Compiled, rt *runtime) error {
	opts := cfg.IntrospectionOptions()
	if len(opts) == 0 || rt.verifier == nil {
		return nil
	}
	sh := &g.introspection
	sh.once.Do(func() {
		sh.metrics, sh.err = introspect.NewMetrics(g.deps.Registerer)
		// Deps.KeyClient (its TLS roots, proxy), not g.keyClient: with
		// tracing on, that one's transport already makes "jwks" spans.
		sh.client = g.deps.KeyClient
		if sh.client == nil {
			sh.client = token.NewHTTPClient()
		}
		if g.tracing.on() {
			c := *sh.client
			base := c.Transport
			if base == nil {
				base = http.DefaultTransport
			}
			c.Transport = g.tracing.transport(base, "introspection")
			sh.client = &c
		}
	})
	if sh.err != nil {
		return sh.err
	}
	in, err := introspect.New(introspect.Options{
		Issuers: opts,
		Client:  sh.client,
		Claims:  rt.verifier.IntrospectedClaims,
		Store:   g.store,
		Now:     g.now,
		Logger:  g.logger.Named("introspection"),
		Metrics: sh.metrics,
	})
	if err != nil {
		return fmt.Errorf("starting introspection: %w", err)
	}
	rt.introspector = in
	return nil
}

// verifyToken is authenticate's token check: a JWT is verified (and, on a
// route with introspect: true, confirmed active at its issuer); an opaque
// token is introspected at the one issuer that may have issued it. Either
// way the result is the same Claims, a *token.Error, or a technical
// failure.
func (g *Gateway) verifyToken(ctx context.Context, rt *runtime, st *reqState, tok string) (*token.Claims, error) {
	in := rt.introspector
	if in == nil {
		return rt.verifier.Verify(ctx, tok)
	}
	fresh := st.route != nil && rt.cfg.RouteIntrospects(st.route.Index)
	if !token.LooksLikeJWT(tok) {
		return in.Introspect(ctx, tok, fresh)
	}
	c, err := rt.verifier.Verify(ctx, tok)
	if err != nil || !fresh {
		return c, err
	}
	if err := in.Confirm(ctx, c.Issuer, tok); err != nil {
		return nil, err
	}
	return c, nil
}

// errIntrospectionUnavailable answers an introspection failure (logged
// by the introspector, with its issuer).
func errIntrospectionUnavailable() apiError {
	return apiError{status: http.StatusServiceUnavailable, typ: "service_unavailable",
		code: string(ReasonIntrospectionUnavailable), message: "the token's issuer cannot confirm it now; retry shortly", retryAfter: 2}
}
