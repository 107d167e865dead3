package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/header"
	"github.com/scopegate/scopegate/internal/strictjson"
	"go.uber.org/zap"
)

// The admin API on the admin listener (docs/revocation.md). Off unless
// admin.token is set: then every call needs "Authorization: Bearer
// <admin.token>".
//
//	POST   /v1/revocations        revoke (JSON body: one of jti, sub, client_id, token)
//	GET    /v1/revocations        list the entries
//	DELETE /v1/revocations/{id}   lift an entry
const revocationsPath = "/v1/revocations"

// maxAdminBody caps a revocation request body.
const maxAdminBody = 64 << 10

// mountAdminAPI adds the admin API to the admin mux.
func (g *Gateway) mountAdminAPI(mux *http.ServeMux) {
	mux.HandleFunc("POST "+revocationsPath, g.adminAuth(g.serveRevoke))
	mux.HandleFunc("GET "+revocationsPath, g.adminAuth(g.serveListRevocations))
	mux.HandleFunc("DELETE "+revocationsPath+"/{id}", g.adminAuth(g.serveLift))
	// Pushed events authenticate themselves: a SET signed by an issuer's
	// key (and, when configured, the stream's Authorization).
	mux.HandleFunc("POST "+ssfEventsPath, g.serveSignals)
	mux.HandleFunc("GET "+limitsPath, g.adminAuth(g.serveLimits))
}

// adminAuth answers 404 while admin.token is unset (the API does not
// exist), 401 without the right bearer token, and calls h otherwise.
func (g *Gateway) adminAuth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		want := g.runtime.Load().cfg.Admin.Token
		if want == "" {
			writeError(w, "scopegate-admin", apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "not_found",
				message: "the admin API is off: set admin.token to turn it on"})
			return
		}
		got, ok := adminBearer(r.Header.Values("Authorization"))
		// Hashing both sides first makes the comparison constant-time in
		// the length too.
		gh, wh := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
		if !ok || subtle.ConstantTimeCompare(gh[:], wh[:]) != 1 {
			g.logger.Warn("admin API: refused an unauthenticated call", zap.String("method", r.Method),
				zap.String("path", r.URL.Path), zap.String("remote_addr", r.RemoteAddr))
			ae := errInvalidToken("the admin API needs Authorization: Bearer <admin.token>")
			if !ok {
				ae.challenge, ae.bare = false, true
			}
			writeError(w, "scopegate-admin", ae)
			return
		}
		h(w, r)
	}
}

// adminBearer reads the one Authorization header's bearer credentials; the
// scheme name is case-insensitive (RFC 9110 section 11.1, RFC 6750
// section 2.1), the credentials are compared whole by the caller.
func adminBearer(vals []string) (string, bool) {
	if len(vals) != 1 {
		return "", false
	}
	v := vals[0]
	const scheme = "bearer "
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimLeft(v[len(scheme):], " "), true
}

// revokeRequest is the body of POST /v1/revocations: exactly one of JTI,
// Sub, ClientID and Token.
type revokeRequest struct {
	JTI      string `json:"jti"`
	Sub      string `json:"sub"`
	ClientID string `json:"client_id"`
	// Token revokes that token's jti until its exp, read from its payload
	// (the signature is not checked: the admin vouches for it). The
	// token itself is neither stored nor logged.
	Token string `json:"token"`
	// Issuer limits the entry to tokens of that issuer. Default: any.
	Issuer string `json:"iss"`
	// NotBefore (sub, client_id): tokens issued before it are refused.
	// Default: the next whole second (iat counts whole seconds, so every
	// token issued up to now is refused). At most a minute ahead.
	NotBefore *time.Time `json:"not_before"`
	// ExpiresAt drops the entry then. jti default: now + revocation.jti_ttl;
	// sub and client_id default: never (until lifted).
	ExpiresAt *time.Time `json:"expires_at"`
	// By names who revokes, for the audit trail. Default "admin".
	By string `json:"by"`
	// Reason is free text kept with the entry.
	Reason string `json:"reason"`
}

func (g *Gateway) serveRevoke(w http.ResponseWriter, r *http.Request) {
	var req revokeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		adminBadRequest(w, "the body must be one JSON object with known fields: "+err.Error())
		return
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		adminBadRequest(w, "the body must hold one JSON object")
		return
	}
	e, msg := g.newRevocation(&req)
	if e == nil {
		adminBadRequest(w, msg)
		return
	}
	ctx, cancel := g.storeCtx(r)
	defer cancel()
	if err := g.revoker.put(ctx, e); err != nil {
		g.logger.Error("admin API: storing a revocation failed", zap.Error(err))
		adminUnavailable(w)
		return
	}
	g.auditRevocationAdded(e, r.RemoteAddr)
	// RFC 9110 section 15.3.2: a 201 names the resource it created (the
	// URL DELETE lifts it at).
	w.Header().Set("Location", revocationsPath+"/"+e.ID)
	writeJSON(w, http.StatusCreated, e)
}

// newRevocation checks a request and builds its entry; on nil, the
// string says what is wrong.
func (g *Gateway) newRevocation(req *revokeRequest) (*revocation, string) {
	now := g.now()
	ttl := g.runtime.Load().cfg.Revocation.JTITTL.D()
	n := 0
	for _, s := range []string{req.JTI, req.Sub, req.ClientID, req.Token} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, "name exactly one of jti, sub, client_id and token"
	}
	for name, s := range map[string]string{"by": req.By, "reason": req.Reason, "iss": req.Issuer} {
		if len(s) > 1024 || !header.ValidValue(s) {
			return nil, name + " must be at most 1024 characters without control characters"
		}
	}
	if req.Token != "" {
		jti, iss, exp, err := unverifiedJTI(req.Token)
		if err != nil {
			return nil, err.Error()
		}
		req.JTI, req.Issuer = jti, iss
		if req.ExpiresAt == nil {
			req.ExpiresAt = &exp
		}
	}
	e := &revocation{Issuer: req.Issuer, RevokedBy: cmpOr(req.By, "admin"), RevokedAt: now, Reason: req.Reason}
	switch {
	case req.JTI != "":
		if len(req.JTI) > 1024 {
			return nil, "jti is longer than 1024 characters"
		}
		if req.NotBefore != nil {
			return nil, "not_before applies to sub and client_id, not to jti"
		}
		h := sha256.Sum256([]byte(req.JTI))
		e.Kind, e.JTIHash = revokeJTI, hex.EncodeToString(h[:])
		e.ID = revocationID(revokeJTI, req.Issuer, e.JTIHash)
		e.ExpiresAt = now.Add(ttl)
	default:
		e.Kind, e.Value = revokeSub, req.Sub
		if req.ClientID != "" {
			e.Kind, e.Value = revokeClient, req.ClientID
		}
		if len(e.Value) > 1024 || !header.ValidValue(e.Value) {
			return nil, e.Kind + " must be at most 1024 characters without control characters"
		}
		// iat counts whole seconds: a token issued in this second may be
		// older than the revocation, so this second is refused too.
		e.NotBefore = now.Truncate(time.Second).Add(time.Second)
		if req.NotBefore != nil {
			if req.NotBefore.After(now.Add(time.Minute)) {
				return nil, "not_before must not be in the future"
			}
			e.NotBefore = *req.NotBefore
		}
		e.ID = revocationID(e.Kind, req.Issuer, e.Value)
	}
	if req.ExpiresAt != nil {
		if !req.ExpiresAt.After(now) {
			return nil, "expires_at is in the past: an expired token needs no revocation"
		}
		e.ExpiresAt = *req.ExpiresAt
	}
	return e, ""
}

// unverifiedJTI reads jti, iss and exp from a JWT's payload.
func unverifiedJTI(tok string) (jti, iss string, exp time.Time, err error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(tok) > 16<<10 {
		return "", "", time.Time{}, errors.New("token is not a JWT (three base64url parts)")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", "", time.Time{}, errors.New("token payload is not base64url")
	}
	// Read as the verifier reads claims: strictly, by exact name, so that
	// the jti revoked is the one the verifier will see (encoding/json
	// would take a later "JTI" or "EXP" instead).
	m, err := strictjson.DecodeObject(b)
	if err != nil {
		return "", "", time.Time{}, errors.New("token payload is not a strict JSON object with string jti and iss and a numeric exp")
	}
	var c struct {
		JTI, Iss string
		Exp      float64
	}
	c.JTI, _ = m["jti"].(string)
	c.Iss, _ = m["iss"].(string)
	if n, ok := m["exp"].(json.Number); ok {
		c.Exp, _ = n.Float64()
	}
	if c.JTI == "" {
		return "", "", time.Time{}, errors.New("the token has no jti: revoke its sub or client_id instead")
	}
	if c.Exp <= 0 || c.Exp > 32503680000 {
		return "", "", time.Time{}, errors.New("the token has no valid exp")
	}
	return c.JTI, c.Iss, time.Unix(int64(c.Exp), 0), nil
}

func (g *Gateway) serveListRevocations(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := g.storeCtx(r)
	defer cancel()
	entries, err := g.revoker.list(ctx)
	if err != nil {
		g.logger.Error("admin API: listing revocations failed", zap.Error(err))
		adminUnavailable(w)
		return
	}
	slices.SortFunc(entries, func(a, b *revocation) int { return a.RevokedAt.Compare(b.RevokedAt) })
	writeJSON(w, http.StatusOK, map[string]any{"revocations": entries})
}

func (g *Gateway) serveLift(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if len(id) > 64 || strings.ContainsFunc(id, func(c rune) bool {
		return (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_'
	}) {
		adminBadRequest(w, "malformed entry id")
		return
	}
	ctx, cancel := g.storeCtx(r)
	defer cancel()
	ok, err := g.revoker.lift(ctx, id)
	if err != nil {
		g.logger.Error("admin API: lifting a revocation failed", zap.Error(err))
		adminUnavailable(w)
		return
	}
	if !ok {
		writeError(w, "scopegate-admin", apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "not_found",
			message: "no revocation entry " + id})
		return
	}
	g.audit.log.Info("revocation_lifted", zap.Int("audit_v", AuditSchemaVersion), zap.String("id", id), zap.String("remote_addr", r.RemoteAddr))
	w.WriteHeader(http.StatusNoContent)
}

// storeCtx bounds an admin call's store work by revocation.store_timeout.
func (g *Gateway) storeCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), g.runtime.Load().cfg.Revocation.StoreTimeout.D())
}

func adminBadRequest(w http.ResponseWriter, msg string) {
	writeError(w, "scopegate-admin", apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "invalid_request", message: msg})
}

func adminUnavailable(w http.ResponseWriter) {
	writeError(w, "scopegate-admin", apiError{status: http.StatusServiceUnavailable, typ: "service_unavailable",
		code: "state_unavailable", message: "the state store is unavailable; nothing was changed", retryAfter: 5})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// auditRevocationAdded writes the audit record of a revocation stored by
// the admin API or a Shared Signals event.
func (g *Gateway) auditRevocationAdded(e *revocation, remoteAddr string) {
	g.audit.log.Info("revocation_added", zap.Int("audit_v", AuditSchemaVersion), zap.String("id", e.ID), zap.String("kind", e.Kind), zap.String("iss", e.Issuer),
		zap.String("value", e.Value), zap.String("revoked_by", e.RevokedBy), zap.Time("not_before", e.NotBefore),
		zap.Time("expires_at", e.ExpiresAt), zap.String("remote_addr", remoteAddr))
}
