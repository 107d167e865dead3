package gateway

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/dpop"
	"github.com/scopegate/scopegate/gateway/token"
	"github.com/scopegate/scopegate/policy"
)

// Reasons of sender-constraint refusals (the DPoP proof's own reasons are
// dpop.Reason*).
const (
	ReasonBadConfirmation   Reason = "bad_cnf_claim"
	ReasonDPoPDowngrade     Reason = "dpop_bound_token_as_bearer"
	ReasonDPoPNotAccepted   Reason = "dpop_not_accepted"
	ReasonDPoPUnboundToken  Reason = "dpop_token_not_bound"
	ReasonDPoPRequired      Reason = "dpop_required"
	ReasonDPoPStoreDown     Reason = "dpop_replay_cache_unavailable"
	ReasonMTLSNotAccepted   Reason = "mtls_not_accepted"
	ReasonMTLSNoCertificate Reason = "mtls_no_client_certificate"
	ReasonMTLSCertMismatch  Reason = "mtls_certificate_mismatch"
	ReasonMTLSRequired      Reason = "mtls_required"
)

// Authorization schemes, and the bindings the audit record names.
const (
	schemeBearer = "Bearer"
	schemeDPoP   = "DPoP"
	bindingNone  = "none"
	bindingDPoP  = "dpop"
	bindingMTLS  = "mtls"
	bindingBoth  = "dpop+mtls"
)

// senderRuntime is one config's sender-constraint policy, compiled.
type senderRuntime struct {
	dpop            *dpop.Verifier // nil: DPoP not configured (no public_base_url)
	baseURL         string         // normalized, without a trailing slash
	algs            string         // for the challenge's algs
	issuers         map[string]policy.SenderConstraint
	routes          []policy.SenderConstraint // by route index, as written
	trustCertHeader bool
}

// buildSender compiles the sender-constraint config. The replay cache is
// the gateway's state store, which outlives reloads.
func (g *Gateway) buildSender(cfg *config.Config) (*senderRuntime, error) {
	s := &senderRuntime{issuers: map[string]policy.SenderConstraint{}, trustCertHeader: cfg.MTLS.TrustClientCertHeader}
	d := cfg.DPoP
	if d.PublicBaseURL != "" {
		base, err := dpop.NormalizeURI(d.PublicBaseURL)
		if err != nil {
			return nil, fmt.Errorf("dpop.public_base_url: %w", err)
		}
		s.baseURL = strings.TrimSuffix(base, "/")
		var nonces *dpop.Nonces
		if d.Nonce.Required || d.Nonce.Secret != "" {
			secret := []byte(d.Nonce.Secret)
			if len(secret) == 0 {
				secret = make([]byte, 32)
				_, _ = rand.Read(secret)
			}
			if nonces, err = dpop.NewNonces(secret, d.Nonce.Rotation.D(), g.now); err != nil {
				return nil, fmt.Errorf("dpop.nonce: %w", err)
			}
		}
		s.dpop, err = dpop.NewVerifier(dpop.Config{
			Algorithms: d.Algorithms, MaxAge: d.MaxAge.D(), MaxFuture: d.MaxFuture.D(), MaxProofBytes: d.MaxProofBytes,
			Replay: g.deps.State, Nonces: nonces, RequireNonce: d.Nonce.Required, Now: g.now,
		})
		if err != nil {
			return nil, err
		}
		s.algs = strings.Join(s.dpop.Algorithms(), " ")
	}
	for _, is := range cfg.Issuers {
		sc := policy.SenderConstraint{DPoP: policy.SenderOff, MTLS: policy.SenderAllowed}
		if s.dpop != nil {
			sc.DPoP = policy.SenderAllowed
		}
		if is.SenderConstraint != nil {
			sc.DPoP = firstOf(is.SenderConstraint.DPoP, sc.DPoP)
			sc.MTLS = firstOf(is.SenderConstraint.MTLS, sc.MTLS)
		}
		s.issuers[is.Issuer] = sc
	}
	s.routes = make([]policy.SenderConstraint, len(cfg.Routes))
	for i, rc := range cfg.Routes {
		if rc.SenderConstraint != nil {
			s.routes[i] = *rc.SenderConstraint
		}
	}
	return s, nil
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// combine is the mode an issuer's (with defaults) and a route's (as
// written) settings make: required wins over off, off over allowed.
func combine(issuer, route string) string {
	switch {
	case route == "":
		return issuer
	case issuer == policy.SenderRequired || route == policy.SenderRequired:
		return policy.SenderRequired
	case issuer == policy.SenderOff || route == policy.SenderOff:
		return policy.SenderOff
	}
	return policy.SenderAllowed
}

// routeDPoP is the route's DPoP mode before the issuer is known.
func (s *senderRuntime) routeDPoP(idx int) string {
	if s.dpop == nil {
		return policy.SenderOff
	}
	return firstOf(s.routes[idx].DPoP, policy.SenderAllowed)
}

// challenges makes the 401s of a route that takes DPoP advertise it: a
// DPoP challenge with the accepted algs (RFC 9449 section 7.1), beside
// the Bearer one unless the route requires DPoP. A 403 with a challenge
// (insufficient_scope) to a request of the DPoP scheme has its error in
// the DPoP challenge.
func (s *senderRuntime) challenges(st *reqState, r *http.Request, ref *refusal) {
	if s == nil || s.dpop == nil || st.route == nil {
		return
	}
	mode := s.routeDPoP(st.route.Index)
	if mode == policy.SenderOff {
		return
	}
	viaDPoP := usesDPoP(r.Header)
	if e := &ref.err; e.status == http.StatusUnauthorized || e.status == http.StatusForbidden && e.challenge && viaDPoP {
		// Where Bearer is not accepted the DPoP challenge is the only one,
		// so it carries the error whatever scheme the request used.
		noBearer := mode == policy.SenderRequired
		c := &dpopChallenge{algs: s.algs, errorHere: viaDPoP || noBearer, noBearer: noBearer}
		if e.dpop != nil {
			c.nonce, c.errorHere = e.dpop.nonce, true
		}
		e.dpop = c
	}
}

// checkSender enforces the token's binding (cnf) and the issuer's and
// route's sender-constraint modes, verifying the DPoP proof or comparing
// the client certificate as the token requires. A bound token is never
// accepted without its proof.
func (g *Gateway) checkSender(rt *runtime, st *reqState, r *http.Request, tok, scheme string, c *token.Claims) *refusal {
	s := rt.sender
	jkt, x5t, ok := confirmation(c.Raw)
	if !ok {
		return refuse(ReasonBadConfirmation, errInvalidToken("the token's cnf claim is malformed or names a confirmation method other than jkt and x5t#S256"))
	}
	isc, ok := s.issuers[c.Issuer]
	if !ok {
		isc = policy.SenderConstraint{DPoP: policy.SenderOff, MTLS: policy.SenderAllowed}
	}
	rsc := s.routes[st.route.Index]
	dm, mm := combine(isc.DPoP, rsc.DPoP), combine(isc.MTLS, rsc.MTLS)
	if s.dpop == nil {
		dm = policy.SenderOff
	}
	switch {
	case jkt != "" && scheme != schemeDPoP:
		return refuse(ReasonDPoPDowngrade, errInvalidToken("the access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof"))
	case jkt != "" && dm == policy.SenderOff:
		return refuse(ReasonDPoPNotAccepted, errInvalidToken("DPoP-bound access tokens are not accepted here"))
	case jkt == "" && scheme == schemeDPoP:
		return refuse(ReasonDPoPUnboundToken, errInvalidToken("the DPoP scheme needs a DPoP-bound access token (cnf.jkt)"))
	case jkt == "" && dm == policy.SenderRequired:
		return refuse(ReasonDPoPRequired, errInvalidToken("this route requires a DPoP-bound access token and a DPoP proof"))
	case jkt != "":
		proof, err := s.dpop.Verify(r.Context(), dpop.Request{
			Proofs: r.Header["Dpop"], Method: r.Method, URI: s.baseURL + st.canonicalPath, AccessToken: tok, JKT: jkt,
		})
		if err != nil {
			return g.refuseProof(s, st, err)
		}
		st.jkt = proof.JKT
	}
	if ref := g.checkCertBinding(rt, r, x5t, mm); ref != nil {
		return ref
	}
	switch {
	case jkt != "" && x5t != "":
		st.binding = bindingBoth
	case jkt != "":
		st.binding = bindingDPoP
	case x5t != "":
		st.binding = bindingMTLS
	default:
		st.binding = bindingNone
	}
	return nil
}

// refuseProof is the refusal of a DPoP proof that did not pass.
func (g *Gateway) refuseProof(s *senderRuntime, st *reqState, err error) *refusal {
	var pe *dpop.Error
	switch {
	case errors.As(err, &pe):
		e := apiError{status: http.StatusUnauthorized, typ: "authentication_error", code: pe.Code, message: pe.Detail, challenge: true}
		if pe.Code == dpop.CodeUseNonce {
			e.dpop = &dpopChallenge{nonce: s.dpop.Nonce()}
		}
		return refuse(Reason(pe.Reason), e)
	case errors.Is(err, dpop.ErrReplayCacheUnavailable):
		g.stateStoreFailed("dpop_replay")
		g.logger.Warn("dpop replay cache unavailable", zap.String("request_id", st.requestID), zap.Error(err))
		return refuse(ReasonDPoPStoreDown, apiError{status: http.StatusServiceUnavailable, typ: "service_unavailable", code: string(ReasonDPoPStoreDown),
			message: "the DPoP replay cache is unavailable; retry shortly", retryAfter: 1})
	default:
		g.logger.Error("dpop proof check failed", zap.String("request_id", st.requestID), zap.Error(err))
		return refuse(ReasonInternal, errInternal())
	}
}

// confirmation reads the token's cnf claim (RFC 7800): the DPoP key
// thumbprint (jkt) and the certificate thumbprint (x5t#S256). ok is false
// when cnf is not an object, one of those members is not a non-empty
// string, or cnf names another confirmation method (jwk, jwe, jku, kid...):
// a token bound in a way the gateway cannot check is not a bearer token.
func confirmation(raw map[string]any) (jkt, x5t string, ok bool) {
	v, present := raw["cnf"]
	if !present {
		return "", "", true
	}
	m, isObj := v.(map[string]any)
	if !isObj {
		return "", "", false
	}
	for name, mv := range m {
		s, isStr := mv.(string)
		switch {
		case name != "jkt" && name != "x5t#S256", !isStr || s == "":
			return "", "", false
		case name == "jkt":
			jkt = s
		default:
			x5t = s
		}
	}
	return jkt, x5t, true
}

// dpopChallenge is the DPoP challenge of a 401 (RFC 9449 section 7.1).
type dpopChallenge struct {
	algs      string
	errorHere bool   // the error attributes go in the DPoP challenge
	noBearer  bool   // Bearer is not accepted: no Bearer challenge
	nonce     string // a DPoP-Nonce to send
}

// write adds the DPoP challenge and DPoP-Nonce of e, after writeError set
// the Bearer challenge (which it replaces where Bearer is not accepted).
func (c *dpopChallenge) write(h http.Header, e apiError) {
	if c.nonce != "" {
		h.Set("DPoP-Nonce", c.nonce)
	}
	if c.algs == "" {
		return
	}
	// error first, algs last: the order of RFC 9449 7.1's example and of
	// the Bearer challenge (writeError).
	var b strings.Builder
	b.WriteString("DPoP ")
	if c.errorHere && e.challenge {
		b.WriteString(`error="`)
		b.WriteString(e.code)
		b.WriteByte('"')
		if e.scope != "" {
			b.WriteString(`, scope="`)
			b.WriteString(challengeText(e.scope))
			b.WriteByte('"')
		}
		b.WriteString(`, error_description="`)
		b.WriteString(challengeText(e.message))
		b.WriteString(`", `)
	}
	b.WriteString(`algs="`)
	b.WriteString(c.algs)
	b.WriteByte('"')
	// RFC 9728 section 5.1: the metadata URL goes with each challenge, so
	// that a client reading the DPoP one (the only one where Bearer is
	// not accepted) finds the authorization server too.
	if e.resourceMetadata != "" && (e.status == http.StatusUnauthorized || e.rpcBody != nil) {
		b.WriteString(`, resource_metadata="`)
		b.WriteString(challengeText(e.resourceMetadata))
		b.WriteByte('"')
	}
	if c.noBearer {
		h.Set("WWW-Authenticate", b.String())
		return
	}
	// The Bearer challenge stays as it is, error included: every 401 and
	// 403 of a route that takes Bearer says its error there.
	h.Add("WWW-Authenticate", b.String())
}

// certMatches compares thumbprints in constant time.
func certMatches(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
