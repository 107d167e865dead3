package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/scopegate/scopegate/gateway/token"
)

// The OpenID Shared Signals receiver (shared_signals in the config): an
// issuer pushes Security Event Tokens (RFC 8417) over HTTP (RFC 8935) to
// POST /v1/ssf/events on the admin listener, and each event that says a
// subject's sessions or credentials are no longer good becomes a subject
// "not before" revocation: every token of that subject issued before the
// event is refused, by every replica sharing the state store.
const ssfEventsPath = "/v1/ssf/events"

// revokingEvents are the event types that cut a subject off: CAEP's
// session-revoked and credential-change, and the RISC events that end an
// account or its credentials.
var revokingEvents = map[string]string{
	"https://schemas.openid.net/secevent/caep/event-type/session-revoked":       "caep session-revoked",
	"https://schemas.openid.net/secevent/caep/event-type/credential-change":     "caep credential-change",
	"https://schemas.openid.net/secevent/risc/event-type/sessions-revoked":      "risc sessions-revoked",
	"https://schemas.openid.net/secevent/risc/event-type/credential-compromise": "risc credential-compromise",
	"https://schemas.openid.net/secevent/risc/event-type/account-disabled":      "risc account-disabled",
	"https://schemas.openid.net/secevent/risc/event-type/account-purged":        "risc account-purged",
}

// ssfReplayPrefix names the jti of SETs already applied, in the state
// store; they are kept as long as a SET is accepted (token.MaxSETAge).
const ssfReplayPrefix = "ssf-jti:"

// signalMetrics counts pushed events by outcome.
type signalMetrics struct{ events *prometheus.CounterVec }

func newSignalMetrics(reg prometheus.Registerer) (*signalMetrics, error) {
	m := &signalMetrics{events: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scopegate_ssf_events_total",
		Help: "Shared Signals events received, by result: applied (a revocation), ignored (a type or subject that revokes nothing), duplicate, refused (the push was answered 4xx), unavailable (5xx).",
	}, []string{"result"})}
	if err := reg.Register(m.events); err != nil {
		return nil, err
	}
	for _, r := range []string{"applied", "ignored", "duplicate", "refused", "unavailable"} {
		m.events.WithLabelValues(r)
	}
	return m, nil
}

// ssfError is an RFC 8935 section 2.3 error answer.
func ssfError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Err         string `json:"err"`
		Description string `json:"description"`
	}{code, desc})
}

// serveSignals receives one pushed SET.
func (g *Gateway) serveSignals(w http.ResponseWriter, r *http.Request) {
	rt := g.runtime.Load()
	cfg := rt.cfg.SharedSignals
	if cfg.Audience == "" || rt.verifier == nil {
		ssfError(w, http.StatusNotFound, "invalid_request", "the Shared Signals receiver is off: set shared_signals.audience")
		return
	}
	refused := func(status int, code, desc string) {
		g.signals.events.WithLabelValues("refused").Inc()
		ssfError(w, status, code, desc)
	}
	if want := cfg.Authorization; want != "" {
		got := r.Header.Values("Authorization")
		gh, wh := sha256.Sum256([]byte(strings.Join(got, "\n"))), sha256.Sum256([]byte(want))
		if len(got) != 1 || subtle.ConstantTimeCompare(gh[:], wh[:]) != 1 {
			g.logger.Warn("shared signals: refused a push without the configured authorization", zap.String("remote_addr", r.RemoteAddr))
			// RFC 8935 section 2.3: a failure to authenticate the
			// transmitter is a 400 with authentication_failed (a 401
			// would need a WWW-Authenticate challenge, RFC 9110 15.5.2,
			// and the transmitter's SDKs read the error object of a 400).
			refused(http.StatusBadRequest, "authentication_failed", "the push lacks the Authorization this receiver was given")
			return
		}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/secevent+jwt" {
		refused(http.StatusBadRequest, "invalid_request", "the body must be one SET, Content-Type application/secevent+jwt")
		return
	}
	limit := int64(rt.cfg.Server.MaxTokenBytes)
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		refused(http.StatusBadRequest, "invalid_request", "the body could not be read, or is over server.max_token_bytes")
		return
	}
	ctx, cancel := g.storeCtx(r)
	defer cancel()
	set, err := rt.verifier.VerifySET(ctx, strings.TrimSpace(string(b)), cfg.Audience)
	if err != nil {
		status, code, desc := ssfRefusal(err)
		if status >= 500 {
			g.signals.events.WithLabelValues("unavailable").Inc()
			w.Header().Set("Retry-After", "5")
			ssfError(w, status, code, desc)
			return
		}
		refused(status, code, desc)
		return
	}
	if len(cfg.Issuers) > 0 && !slices.Contains(cfg.Issuers, set.Issuer) {
		refused(http.StatusBadRequest, "invalid_issuer", "events of this issuer are not accepted (shared_signals.issuers)")
		return
	}
	entries, ignored := g.signalRevocations(set, rt.cfg.Revocation.JTITTL.D())
	h := sha256.Sum256([]byte(set.Issuer + "\x00" + set.ID))
	fresh, err := g.store.SetNX(ctx, ssfReplayPrefix+hex.EncodeToString(h[:]), []byte{1}, 2*token.MaxSETAge)
	if err != nil {
		g.stateStoreFailed("ssf_replay")
		g.logger.Error("shared signals: the state store failed", zap.Error(err))
		g.signals.events.WithLabelValues("unavailable").Inc()
		w.Header().Set("Retry-After", "5")
		ssfError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the state store is unavailable; retry")
		return
	}
	if !fresh {
		g.signals.events.WithLabelValues("duplicate").Inc()
		w.WriteHeader(http.StatusAccepted) // RFC 8935: a retried push is acknowledged again
		return
	}
	g.signals.events.WithLabelValues("ignored").Add(float64(ignored))
	for _, e := range entries {
		err := g.revoker.strengthen(ctx, e)
		if err == nil {
			err = g.revoker.put(ctx, e)
		}
		if err != nil {
			g.logger.Error("shared signals: storing a revocation failed", zap.Error(err))
			g.signals.events.WithLabelValues("unavailable").Inc()
			// Let the retry apply it: even when the push's own deadline has
			// passed, but bounded as every store call is.
			dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), rt.cfg.Revocation.StoreTimeout.D())
			_ = g.store.Delete(dctx, ssfReplayPrefix+hex.EncodeToString(h[:]))
			dcancel()
			w.Header().Set("Retry-After", "5")
			ssfError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the revocation could not be stored; retry")
			return
		}
		g.signals.events.WithLabelValues("applied").Inc()
		g.auditRevocationAdded(e, r.RemoteAddr)
	}
	w.WriteHeader(http.StatusAccepted)
}

// ssfRefusal maps a SET's verification failure to RFC 8935's answer.
func ssfRefusal(err error) (status int, code, desc string) {
	var te *token.Error
	if !errors.As(err, &te) {
		return http.StatusServiceUnavailable, "temporarily_unavailable", "the issuer's keys are not available; retry"
	}
	switch te.Reason {
	case token.ReasonUnknownIssuer:
		code = "invalid_issuer"
	case token.ReasonBadAudience:
		code = "invalid_audience"
	case token.ReasonUnknownKID, token.ReasonBadSignature, token.ReasonAlgKeyMismatch, token.ReasonUnsupportedAlg, token.ReasonHeaderKey:
		code = "invalid_key"
	default:
		code = "invalid_request"
	}
	return http.StatusBadRequest, code, te.Detail
}

// signalRevocations turns a SET's revoking events into subject entries;
// ignored counts the events that revoke nothing (other types, subjects
// that are no sub of this issuer). An entry refuses the subject's tokens
// issued up to the event (its event_timestamp, else the SET's iat), and
// expires jtiTTL later, when every such token has expired anyway.
func (g *Gateway) signalRevocations(set *token.SET, jtiTTL time.Duration) (entries []*revocation, ignored int) {
	now := g.now()
	types := make([]string, 0, len(set.Events))
	for t := range set.Events {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		name, ok := revokingEvents[t]
		payload := set.Events[t]
		subject := set.Claims["sub_id"]
		if s, ok := payload["subject"]; ok && subject == nil {
			subject = s // CAEP drafts before SSF 1.0 put it in the event
		}
		sub, subOK := subjectOf(subject, set.Issuer)
		if !ok || !subOK {
			ignored++
			continue
		}
		at := set.IssuedAt
		if ts, ok := payload["event_timestamp"]; ok {
			if t, ok := eventTime(ts); ok && t.Before(at) {
				at = t
			}
		}
		// iat counts whole seconds: the entry starts at the next one, so a
		// token issued in the event's second is refused too.
		nb := at.Truncate(time.Second).Add(time.Second)
		if limit := now.Truncate(time.Second).Add(time.Second); nb.After(limit) {
			nb = limit
		}
		entries = append(entries, &revocation{
			ID: revocationID(revokeSub, set.Issuer, sub), Kind: revokeSub, Issuer: set.Issuer, Value: sub,
			NotBefore: nb, ExpiresAt: nb.Add(jtiTTL), RevokedBy: "ssf:" + set.Issuer, RevokedAt: now,
			Reason: name + " (event " + clipped(set.ID) + ")",
		})
	}
	return entries, ignored
}

// subjectOf reads an RFC 9493 subject identifier naming a subject of iss:
// iss_sub with that iss, opaque (an id the issuer uses as sub), or a
// complex subject's user member of either form. Emails, phone numbers and
// others name no sub: they revoke nothing.
func subjectOf(v any, iss string) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	switch m["format"] {
	case "iss_sub":
		s, _ := m["sub"].(string)
		return s, s != "" && m["iss"] == iss
	case "opaque":
		id, _ := m["id"].(string)
		return id, id != ""
	case "complex":
		return subjectOf(m["user"], iss)
	}
	return "", false
}

// eventTime reads event_timestamp, a NumericDate in seconds.
func eventTime(v any) (time.Time, bool) {
	n, ok := v.(interface{ Float64() (float64, error) })
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f <= 0 || f > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// clipped shortens a transmitter-chosen id for the entry's reason.
func clipped(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
