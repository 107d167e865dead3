package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/testkit"
	"github.com/scopegate/scopegate/state"
)

const (
	ssfAudience       = "https://gateway.example.com/ssf"
	ssfPushAuth       = "Bearer push-secret-0123456789"
	sessionRevokedURI = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
)

const ssfExtra = `
shared_signals:
  audience: "` + ssfAudience + `"
  authorization: "` + ssfPushAuth + `"
`

// set signs a Security Event Token of the world's issuer; mutate edits its
// claims (nil values are deleted).
func (w *world) set(header map[string]any, mutate map[string]any) string {
	claims := map[string]any{
		"iss": w.iss.URL(), "jti": "evt-" + w.clock.Now().Format(time.RFC3339Nano), "iat": w.clock.Now().Unix(),
		"aud":    ssfAudience,
		"sub_id": map[string]any{"format": "iss_sub", "iss": w.iss.URL(), "sub": "alice"},
		"events": map[string]any{sessionRevokedURI: map[string]any{"event_timestamp": w.clock.Now().Unix()}},
	}
	for k, v := range mutate {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	h := map[string]any{"typ": "secevent+jwt"}
	for k, v := range header {
		h[k] = v
	}
	return w.iss.Sign(h, claims)
}

// push posts one SET to the receiver as a transmitter would.
func (w *world) push(set, auth, contentType string) *httptest.ResponseRecorder {
	w.t.Helper()
	r := httptest.NewRequest("POST", ssfEventsPath, strings.NewReader(set))
	r.RemoteAddr = "127.0.0.1:50001"
	r.Header.Set("Content-Type", contentType)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	w.gw.AdminHandler().ServeHTTP(rec, r)
	return rec
}

// TestSharedSignalsRevokeSubject: a CAEP session-revoked event cuts the
// subject's tokens issued before it off at once, leaves other subjects
// and later tokens alone, and is acknowledged 202 (again when retried,
// without a second entry).
func TestSharedSignalsRevokeSubject(t *testing.T) {
	w := newWorld(t, adminExtra+ssfExtra)
	old := w.token("chat:completions")
	bob := w.iss.AccessToken(issuer.AccessTokenSpec{Subject: "bob", ClientID: "cli", Audience: []string{testAudience}, Scopes: []string{"chat:completions"}})
	if rec := w.chat(old); rec.Code != http.StatusOK {
		t.Fatalf("before the event: %d", rec.Code)
	}
	w.clock.Advance(300 * time.Millisecond)
	set := w.set(nil, nil)
	if rec := w.chat(set); rec.Code != http.StatusUnauthorized {
		t.Fatalf("the event token as a bearer token: %d; want 401", rec.Code)
	}
	if rec := w.push(set, ssfPushAuth, "application/secevent+jwt"); rec.Code != http.StatusAccepted {
		t.Fatalf("push: %d %s; want 202", rec.Code, rec.Body)
	}
	wantRevoked(t, w, w.chat(old))
	if rec := w.chat(bob); rec.Code != http.StatusOK {
		t.Fatalf("another subject after the event: %d; want 200", rec.Code)
	}
	w.clock.Advance(2 * time.Second)
	fresh := w.token("chat:completions")
	if rec := w.chat(fresh); rec.Code != http.StatusOK {
		t.Fatalf("a token issued after the event: %d; want 200", rec.Code)
	}
	if rec := w.push(set, ssfPushAuth, "application/secevent+jwt"); rec.Code != http.StatusAccepted {
		t.Fatalf("a retried push: %d; want 202", rec.Code)
	}
	if got := testutil.ToFloat64(w.gw.signals.events.WithLabelValues("applied")); got != 1 {
		t.Errorf("applied events: %v; want 1 (the retry is a duplicate)", got)
	}
	var list struct{ Revocations []revocation }
	if err := json.Unmarshal(w.admin("GET", revocationsPath, testAdminToken, "").Body.Bytes(), &list); err != nil || len(list.Revocations) != 1 {
		t.Fatalf("revocation list %v (%v); want one entry", list, err)
	}
	e := list.Revocations[0]
	if e.Kind != revokeSub || e.Value != "alice" || e.Issuer != w.iss.URL() || !strings.HasPrefix(e.RevokedBy, "ssf:") || e.ExpiresAt.IsZero() {
		t.Errorf("entry %+v; want sub alice of the issuer, by ssf:, expiring", e)
	}
	if !strings.Contains(w.audit.String(), `"msg":"revocation_added"`) {
		t.Error("no revocation_added audit record")
	}
}

// TestSharedSignalsRefusals: a push is refused with RFC 8935's error
// codes, and changes nothing, unless it is a SET of a configured issuer,
// signed by its key, typed secevent+jwt, for this receiver, fresh, with
// the stream's authorization. Events that name no sub of the issuer, or
// revoke nothing, are acknowledged and ignored.
func TestSharedSignalsRefusals(t *testing.T) {
	w := newWorld(t, adminExtra+ssfExtra)
	tok := w.token("chat:completions")
	const ct = "application/secevent+jwt"
	other, err := issuer.New(issuer.Options{Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	other.SetURL(w.iss.URL()) // same iss, a key not in the JWKS
	forged := other.Sign(map[string]any{"typ": "secevent+jwt"}, map[string]any{
		"iss": w.iss.URL(), "jti": "f", "iat": w.clock.Now().Unix(), "aud": ssfAudience,
		"sub_id": map[string]any{"format": "opaque", "id": "alice"}, "events": map[string]any{sessionRevokedURI: map[string]any{}},
	})
	for _, c := range []struct {
		name, set, auth, ct string
		status              int
		err                 string
	}{
		{"no authorization", w.set(nil, nil), "", ct, 400, "authentication_failed"},
		{"wrong authorization", w.set(nil, nil), "Bearer nope-nope-nope-nope", ct, 400, "authentication_failed"},
		{"wrong content type", w.set(nil, nil), ssfPushAuth, "application/json", 400, "invalid_request"},
		{"access token as event", tok, ssfPushAuth, ct, 400, "invalid_request"},
		{"untyped", w.set(map[string]any{"typ": nil}, nil), ssfPushAuth, ct, 400, "invalid_request"},
		{"other audience", w.set(nil, map[string]any{"aud": "https://elsewhere"}), ssfPushAuth, ct, 400, "invalid_audience"},
		{"unknown issuer", w.set(nil, map[string]any{"iss": "https://idp.other"}), ssfPushAuth, ct, 400, "invalid_issuer"},
		{"forged signature", forged, ssfPushAuth, ct, 400, "invalid_key"},
		{"stale", w.set(nil, map[string]any{"iat": w.clock.Now().Add(-2 * time.Hour).Unix()}), ssfPushAuth, ct, 400, "invalid_request"},
		{"no jti", w.set(nil, map[string]any{"jti": nil}), ssfPushAuth, ct, 400, "invalid_request"},
		{"no events", w.set(nil, map[string]any{"events": map[string]any{}}), ssfPushAuth, ct, 400, "invalid_request"},
		{"not a token", "garbage", ssfPushAuth, ct, 400, "invalid_request"},
		{"another issuer's subject", w.set(nil, map[string]any{"jti": "x1", "sub_id": map[string]any{"format": "iss_sub", "iss": "https://idp.other", "sub": "alice"}}), ssfPushAuth, ct, 202, ""},
		{"an email", w.set(nil, map[string]any{"jti": "x2", "sub_id": map[string]any{"format": "email", "email": "alice@example.com"}}), ssfPushAuth, ct, 202, ""},
		{"another event", w.set(nil, map[string]any{"jti": "x3", "events": map[string]any{"https://schemas.openid.net/secevent/caep/event-type/device-compliance-change": map[string]any{}}}), ssfPushAuth, ct, 202, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := w.push(c.set, c.auth, c.ct)
			if rec.Code != c.status {
				t.Fatalf("status %d %s; want %d", rec.Code, rec.Body, c.status)
			}
			if c.err != "" {
				var e struct{ Err, Description string }
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Err != c.err || e.Description == "" {
					t.Errorf("body %s; want err %q with a description", rec.Body, c.err)
				}
			}
			if rec := w.chat(tok); rec.Code != http.StatusOK {
				t.Fatalf("the token after a refused or ignored push: %d; want 200", rec.Code)
			}
		})
	}
	if got := testutil.ToFloat64(w.gw.signals.events.WithLabelValues("ignored")); got != 3 {
		t.Errorf("ignored events: %v; want 3", got)
	}
}

// TestSharedSignalsOff: without shared_signals.audience there is no
// receiver.
func TestSharedSignalsOff(t *testing.T) {
	w := newWorld(t, adminExtra)
	if rec := w.push(w.set(nil, nil), "", "application/secevent+jwt"); rec.Code != http.StatusNotFound {
		t.Fatalf("push with the receiver off: %d; want 404", rec.Code)
	}
}

// stuckRevocationStore is a state store whose revocation writes fail and
// whose deletes hang until their context ends (a Redis that went silent
// mid-push), or until the test releases them.
type stuckRevocationStore struct {
	*state.Memory
	release chan struct{}
}

func (s *stuckRevocationStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if strings.HasPrefix(key, revokePrefix) {
		return state.ErrUnavailable
	}
	return s.Memory.Set(ctx, key, value, ttl)
}

func (s *stuckRevocationStore) Delete(ctx context.Context, _ string) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.release:
		return state.ErrUnavailable
	}
}

// TestSharedSignalsStoreSilentMidPush: a push whose revocation cannot be
// stored, on a store that then stops answering, is answered 503 (the
// transmitter retries) within the store timeout: giving the SET's jti
// back is bounded too, never left to wait on the store for ever.
func TestSharedSignalsStoreSilentMidPush(t *testing.T) {
	w := newWorld(t, adminExtra+ssfExtra)
	store := &stuckRevocationStore{Memory: state.NewMemory(w.clock.Now), release: make(chan struct{})}
	t.Cleanup(func() { close(store.release) })
	w.reg = prometheus.NewRegistry()
	text := fmt.Sprintf("issuers:\n  - issuer: %q\n    audiences: [%q]\nupstreams:\n  models:\n    url: \"http://127.0.0.1:1\"\nroutes:%s%s%s",
		w.iss.URL(), testAudience, chatRoute, adminExtra, ssfExtra)
	w.start(text, Deps{State: store})
	done := make(chan *httptest.ResponseRecorder, 1)
	set := w.set(nil, nil)
	go func() { done <- w.push(set, ssfPushAuth, "application/secevent+jwt") }()
	select {
	case rec := <-done:
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Errorf("status %d %s; want 503 with Retry-After", rec.Code, rec.Body)
		}
	case <-time.After(testkit.DefaultTimeout):
		t.Fatalf("a push was not answered within %v: giving the jti back waits on the silent store with no deadline", testkit.DefaultTimeout)
	}
}

// TestSharedSignalsNeverLoosenARevocation: an event about a subject that
// is already revoked never makes the revocation weaker: an event dated
// before an admin's revocation (a late push, a retry) does not move its
// not-before back, so tokens the admin cut off stay cut off, and an entry
// with no expiry keeps none.
func TestSharedSignalsNeverLoosenARevocation(t *testing.T) {
	w := newWorld(t, adminExtra+ssfExtra)
	t0 := w.clock.Now()
	w.clock.Advance(time.Minute)
	mid := w.token("chat:completions") // issued at t0+1m
	w.clock.Advance(time.Minute)
	w.revoke(`{"sub":"alice","iss":"` + w.iss.URL() + `","reason":"account closed"}`)
	wantRevoked(t, w, w.chat(mid))
	w.clock.Advance(time.Minute)
	set := w.set(nil, map[string]any{"events": map[string]any{sessionRevokedURI: map[string]any{"event_timestamp": t0.Add(30 * time.Second).Unix()}}})
	if rec := w.push(set, ssfPushAuth, "application/secevent+jwt"); rec.Code != http.StatusAccepted {
		t.Fatalf("push: %d %s; want 202", rec.Code, rec.Body)
	}
	wantRevoked(t, w, w.chat(mid))
	for _, e := range w.listRevocations() {
		if e.Value == "alice" && !e.ExpiresAt.IsZero() {
			t.Errorf("entry %+v: the admin's revocation without expiry now expires", e)
		}
	}
}
