package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/internal/header"
)

// ExplainRequest is a request for Explain to decide.
type ExplainRequest struct {
	// Method is the request method, e.g. "POST". Required.
	Method string
	// Target is the request target in origin form: a path, optionally
	// with a query, as a client would send it (percent-encoding included).
	// Required.
	Target string
	// Header holds other request headers. Default none.
	Header http.Header
	// Token, when set, is sent as "Authorization: Bearer <Token>".
	Token string
	// KeysTimeout bounds the wait for the token issuer's signing keys.
	// Default 10s.
	KeysTimeout time.Duration
	// Now is the clock tokens are judged by. Default time.Now.
	Now func() time.Time
}

// Explanation says how the gateway would decide a request and why.
type Explanation struct {
	Method string `json:"method"`
	Target string `json:"target"`
	// CanonicalPath is the path the policy decides on; "" when the path
	// is refused (PathRefused says why).
	CanonicalPath string         `json:"canonical_path,omitempty"`
	PathRefused   string         `json:"path_refused,omitempty"`
	Route         *ExplainRoute  `json:"route,omitempty"` // nil: no route matches
	Claims        *ExplainClaims `json:"claims,omitempty"`
	// Decision is allow, deny, would_deny (a shadow route lets the
	// request through) or error; Reason is its audit reason code.
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	// Status is the HTTP status the client would get (for a request that
	// is forwarded, the upstream's; shown as 0).
	Status int `json:"status"`
	// Detail is the message a refused client would read.
	Detail string `json:"detail,omitempty"`
	// Missing lists the required scopes the token lacks.
	Missing []string `json:"missing_scopes,omitempty"`
	// KeysUnavailable is set when an issuer's keys could not be had
	// within KeysTimeout; Issuers then says which.
	KeysUnavailable bool            `json:"keys_unavailable,omitempty"`
	Issuers         []ExplainIssuer `json:"issuers,omitempty"`
	// Forward is what the upstream would be sent; nil when nothing would
	// be forwarded. No upstream is contacted.
	Forward *ExplainForward `json:"forward,omitempty"`
	// Unverified, when a token was given and not accepted, is what the
	// token says of itself, read without verifying it, beside Expected,
	// what the config trusts: to see a wrong issuer or audience at once.
	Unverified *ExplainUnverified `json:"unverified,omitempty"`
	Expected   []ExplainExpected  `json:"expected,omitempty"`

	now func() time.Time // the request's clock, for "expired ... ago"
}

// ExplainUnverified is what a refused token claims, unverified. It never
// holds the token or its signature.
type ExplainUnverified struct {
	Issuer   string    `json:"iss,omitempty"`
	Audience []string  `json:"aud,omitempty"`
	Expires  time.Time `json:"exp,omitzero"`
	Typ      string    `json:"typ,omitempty"`
	Alg      string    `json:"alg,omitempty"`
	KID      string    `json:"kid,omitempty"`
	// Malformed says why the token could not even be read, if so.
	Malformed string `json:"malformed,omitempty"`
}

// ExplainExpected is one trusted issuer and its audiences.
type ExplainExpected struct {
	Issuer     string   `json:"issuer"`
	Audiences  []string `json:"audiences"`
	Algorithms []string `json:"algorithms,omitempty"`
}

// ExplainRoute is the route a request matches.
type ExplainRoute struct {
	Name     string   `json:"name"`
	Methods  []string `json:"methods,omitempty"` // empty: any method
	Pattern  string   `json:"pattern"`
	Upstream string   `json:"upstream"`
	Scopes   []string `json:"scopes"`
	Public   bool     `json:"public"`
	Mode     string   `json:"mode"`
	// Limits describes the route's usage limits, one line each.
	Limits []string `json:"limits,omitempty"`
}

// ExplainClaims are the identity claims of a verified token.
type ExplainClaims struct {
	Issuer   string    `json:"iss"`
	Subject  string    `json:"sub"`
	ClientID string    `json:"client_id"`
	Scopes   []string  `json:"scopes"`
	Expires  time.Time `json:"exp"`
}

// ExplainIssuer is one issuer's key state.
type ExplainIssuer struct {
	Issuer      string    `json:"issuer"`
	Ready       bool      `json:"ready"`
	Keys        int       `json:"keys"`
	LastRefresh time.Time `json:"last_refresh,omitzero"`
	Failures    uint64    `json:"refresh_failures"`
}

// ExplainForward is what the upstream would receive.
type ExplainForward struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	// Identity holds the identity headers the gateway would set.
	Identity map[string]string `json:"identity,omitempty"`
}

// Explain decides one request with cfg exactly as a running gateway
// would, through the same handler, without contacting any upstream. A
// token's signature is checked against its issuer's JWKS, fetched as the
// gateway fetches it; Explain waits up to req.KeysTimeout for the keys and
// reports KeysUnavailable when they do not come. An error means the
// request could not be explained (an invalid method or target, or a config
// the gateway cannot start with); a refusal is an Explanation.
func Explain(ctx context.Context, cfg *config.Compiled, req ExplainRequest) (*Explanation, error) {
	if !header.IsToken(req.Method) {
		return nil, fmt.Errorf("method %q is not an HTTP method token", req.Method)
	}
	if !strings.HasPrefix(req.Target, "/") {
		return nil, fmt.Errorf("target %q is not a path: write it starting with \"/\"", req.Target)
	}
	u, err := url.ParseRequestURI(req.Target)
	if err != nil {
		return nil, fmt.Errorf("target %q: a server would refuse it before the gateway sees it: %w", req.Target, err)
	}
	timeout := req.KeysTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, err := New(ctx, cfg, Deps{Audit: zap.NewNop(), Registerer: prometheus.NewRegistry(), Stdout: io.Discard, Stderr: io.Discard, Now: req.Now,
		TracerProvider: dryRunTracer(cfg.Tracing)})
	if err != nil {
		return nil, err
	}
	defer g.Close()
	rt := g.runtime.Load()
	var sent *http.Request
	for _, up := range rt.upstreams {
		up.proxy.Transport = noUpstream{sent: &sent}
	}

	run := func() (*reqState, int) {
		sent = nil
		r := (&http.Request{
			Method: req.Method, URL: u, RequestURI: req.Target,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: req.Header.Clone(), Host: "scopegate.explain", RemoteAddr: "127.0.0.1:1", Body: http.NoBody,
		})
		if r.Header == nil {
			r.Header = http.Header{}
		}
		if h := r.Header.Get("Host"); h != "" {
			r.Host = h
			r.Header.Del("Host")
		}
		if req.Token != "" {
			r.Header.Add("Authorization", "Bearer "+req.Token)
		}
		st := &reqState{start: g.now(), realm: rt.cfg.Server.Realm}
		st.requestID = requestID(r.Header.Get("X-Request-Id"))
		st.traceID = traceIDOf(r.Header)
		rec := newExplainWriter()
		g.handle(rt, st, rec, r.WithContext(context.WithValue(ctx, stateKey{}, st)))
		return st, rec.code
	}
	st, code := run()
	if st.reason == ReasonKeysUnavailable && req.Token != "" {
		if err := waitForKeys(ctx, rt.verifier, req.Token, timeout); err != nil {
			return nil, err
		}
		st, code = run()
	}
	return explanation(req, rt, st, code, sent), nil
}

// waitForKeys polls until the token's issuer has keys or timeout passes.
func waitForKeys(ctx context.Context, v *token.Verifier, tok string, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, token.ErrKeysUnavailable) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return nil
		case <-tick.C:
		}
	}
}

func explanation(req ExplainRequest, rt *runtime, st *reqState, code int, sent *http.Request) *Explanation {
	e := &Explanation{
		Method: req.Method, Target: req.Target, CanonicalPath: st.canonicalPath,
		Decision: st.decision, Reason: string(st.reason), Status: st.status, Detail: st.detail,
		now: req.Now,
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.Decision == "" {
		e.Decision = decisionError
	}
	if e.Status == 0 && sent == nil {
		e.Status = code
	}
	if st.reason == ReasonBadPath {
		e.PathRefused = strings.TrimPrefix(st.detail, "the request path is refused: ")
	}
	if r := st.route; r != nil {
		mode := "enforce"
		if r.Shadow {
			mode = "shadow"
		}
		e.Route = &ExplainRoute{Name: r.Name, Methods: r.Methods, Pattern: r.Pattern, Upstream: r.Upstream,
			Scopes: r.Scopes, Public: r.Public, Mode: mode}
		for _, l := range rt.limits[r.Index] {
			e.Route.Limits = append(e.Route.Limits, l.String())
		}
		if c := st.claims; c != nil {
			e.Missing = r.Decide(c.Scopes).Missing
		}
	}
	if c := st.claims; c != nil {
		e.Claims = &ExplainClaims{Issuer: c.Issuer, Subject: c.Subject, ClientID: c.ClientID, Scopes: c.Scopes, Expires: c.ExpiresAt}
	}
	if st.reason == ReasonKeysUnavailable {
		e.KeysUnavailable = true
		for _, s := range rt.verifierStatus() {
			e.Issuers = append(e.Issuers, ExplainIssuer{Issuer: s.Issuer, Ready: s.Ready, Keys: s.Keys,
				LastRefresh: s.LastRefresh, Failures: s.RefreshFailures})
		}
	}
	if req.Token != "" && st.claims == nil && st.reason != ReasonKeysUnavailable {
		e.Unverified = readUnverified(req.Token)
		for _, is := range rt.cfg.Issuers {
			e.Expected = append(e.Expected, ExplainExpected{Issuer: is.Issuer, Audiences: is.Audiences, Algorithms: is.Algorithms})
		}
	}
	if sent != nil {
		f := &ExplainForward{Method: sent.Method, URL: sent.URL.String()}
		ih := rt.cfg.Server.IdentityHeaders
		for _, name := range []string{ih.Subject, ih.ClientID, ih.Scopes} {
			if v := sent.Header.Get(name); v != "" || len(sent.Header.Values(name)) > 0 {
				if f.Identity == nil {
					f.Identity = map[string]string{}
				}
				f.Identity[name] = v
			}
		}
		e.Forward = f
	}
	return e
}

// noUpstream stands in for every upstream's transport in Explain: it
// records the outbound request and answers 200 itself.
type noUpstream struct{ sent **http.Request }

func (n noUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	*n.sent = r
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// readUnverified decodes what a JWT says of itself, without verifying it:
// for an operator's diagnosis only, never for a decision.
func readUnverified(tok string) *ExplainUnverified {
	u := &ExplainUnverified{}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		u.Malformed = fmt.Sprintf("not a JWT: %d dot-separated parts, not 3 (an opaque token?)", len(parts))
		return u
	}
	var hdr struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		KID string `json:"kid"`
	}
	var claims struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
		Exp json.Number     `json:"exp"`
	}
	for i, dst := range []any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err == nil {
			err = json.Unmarshal(b, dst)
		}
		if err != nil {
			u.Malformed = fmt.Sprintf("part %d does not decode: %v", i+1, err)
			return u
		}
	}
	u.Alg, u.Typ, u.KID, u.Issuer = hdr.Alg, hdr.Typ, hdr.KID, claims.Iss
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		u.Audience = []string{one}
	} else {
		_ = json.Unmarshal(claims.Aud, &u.Audience)
	}
	if n, err := claims.Exp.Int64(); err == nil {
		u.Expires = time.Unix(n, 0).UTC()
	}
	return u
}
