package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/testkit"
	"github.com/scopegate/scopegate/state"
)

const testAdminToken = "0123456789abcdef0123456789abcdef-admin"

const adminExtra = `
admin:
  token: "` + testAdminToken + `"
`

// admin calls the admin API with the admin token (auth "" sends none).
func (w *world) admin(method, path, auth, body string) *httptest.ResponseRecorder {
	w.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:50000"
	if auth != "" {
		r.Header.Set("Authorization", "Bearer "+auth)
	}
	rec := httptest.NewRecorder()
	w.gw.AdminHandler().ServeHTTP(rec, r)
	return rec
}

func (w *world) revoke(body string) revocation {
	w.t.Helper()
	rec := w.admin("POST", revocationsPath, testAdminToken, body)
	if rec.Code != http.StatusCreated {
		w.t.Fatalf("revoke %s: %d %s", body, rec.Code, rec.Body)
	}
	var e revocation
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		w.t.Fatal(err)
	}
	return e
}

func (w *world) listRevocations() []revocation {
	w.t.Helper()
	rec := w.admin("GET", revocationsPath, testAdminToken, "")
	if rec.Code != http.StatusOK {
		w.t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	var out struct{ Revocations []revocation }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		w.t.Fatal(err)
	}
	return out.Revocations
}

func (w *world) chat(tok string) *httptest.ResponseRecorder {
	w.t.Helper()
	return w.do("POST", "/v1/chat/completions", tok)
}

func wantRevoked(t *testing.T, w *world, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("status %d; want 401 for a revoked token: %s", rec.Code, rec.Body)
	}
	if ch := rec.Header().Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
		t.Fatalf("WWW-Authenticate %q; want invalid_token", ch)
	}
	rs := w.records()
	last := rs[len(rs)-1]
	if last.Reason != string(ReasonTokenRevoked) {
		t.Fatalf("audit reason %v; want %s", last.Reason, ReasonTokenRevoked)
	}
	if d := last.Detail; !strings.Contains(d, "revoked by ") {
		t.Fatalf("audit detail %q; want who revoked and when", d)
	}
}

func TestAdminAPIOffByDefault(t *testing.T) {
	w := newWorld(t, "")
	for _, c := range []struct{ method, path string }{{"POST", revocationsPath}, {"GET", revocationsPath}, {"DELETE", revocationsPath + "/jti-x"}} {
		if rec := w.admin(c.method, c.path, "anything", `{"sub":"alice"}`); rec.Code != http.StatusNotFound {
			t.Errorf("%s %s without admin.token: %d; want 404", c.method, c.path, rec.Code)
		}
	}
	if rec := w.chat(w.token("chat:completions")); rec.Code != http.StatusOK {
		t.Fatalf("chat: %d", rec.Code)
	}
}

func TestAdminAPIRefusesBadCallsAndChangesNothing(t *testing.T) {
	w := newWorld(t, adminExtra)
	for _, c := range []struct {
		name, auth, body string
		want             int
	}{
		{"no credentials", "", `{"sub":"alice"}`, 401},
		{"wrong token", "0123456789abcdef0123456789abcdef-wrong", `{"sub":"alice"}`, 401},
		{"token prefix", testAdminToken[:20], `{"sub":"alice"}`, 401},
		{"not json", testAdminToken, `sub=alice`, 400},
		{"unknown field", testAdminToken, `{"subject":"alice"}`, 400},
		{"nothing named", testAdminToken, `{}`, 400},
		{"two kinds", testAdminToken, `{"sub":"alice","client_id":"cli"}`, 400},
		{"two objects", testAdminToken, `{"sub":"alice"}{"sub":"bob"}`, 400},
		{"expired", testAdminToken, `{"jti":"x","expires_at":"2000-01-01T00:00:00Z"}`, 400},
		{"future not_before", testAdminToken, `{"sub":"alice","not_before":"2999-01-01T00:00:00Z"}`, 400},
		{"not_before on jti", testAdminToken, `{"jti":"x","not_before":"2020-01-01T00:00:00Z"}`, 400},
		{"control characters", testAdminToken, `{"sub":"al\r\nice"}`, 400},
		{"bad time", testAdminToken, `{"sub":"alice","not_before":"yesterday"}`, 400},
		{"not a jwt", testAdminToken, `{"token":"opaque"}`, 400},
		{"jwt without jti", testAdminToken, `{"token":"` + w.iss.AccessToken(issuer.AccessTokenSpec{Subject: "a", Extra: map[string]any{"jti": nil}}) + `"}`, 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := w.admin("POST", revocationsPath, c.auth, c.body)
			if rec.Code != c.want {
				t.Fatalf("status %d; want %d: %s", rec.Code, c.want, rec.Body)
			}
			if c.want == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer ") {
				t.Fatalf("401 without a Bearer challenge")
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}
	if rec := w.admin("GET", revocationsPath, "", ""); rec.Code != 401 {
		t.Fatalf("list without credentials: %d; want 401", rec.Code)
	}
	if rec := w.admin("DELETE", revocationsPath+"/x", "", ""); rec.Code != 401 {
		t.Fatalf("lift without credentials: %d; want 401", rec.Code)
	}
	if rec := w.admin("DELETE", revocationsPath+"/BAD%20ID", testAdminToken, ""); rec.Code != 400 {
		t.Fatalf("lift of a malformed id: %d; want 400", rec.Code)
	}
	if got := w.listRevocations(); len(got) != 0 {
		t.Fatalf("entries after refused calls: %+v; want none", got)
	}
	if rec := w.chat(w.token("chat:completions")); rec.Code != http.StatusOK {
		t.Fatalf("chat after refused calls: %d", rec.Code)
	}
}

// TestRevokeJTIRefusesACachedToken: a token answered from the verified
// token cache is refused as soon as it is revoked, and served again once
// the entry is lifted.
func TestRevokeJTIRefusesACachedToken(t *testing.T) {
	w := newWorld(t, adminExtra)
	tok := w.token("chat:completions")
	other := w.iss.AccessToken(issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli", Audience: []string{testAudience}, Scopes: []string{"chat:completions"}})
	for range 2 {
		if rec := w.chat(tok); rec.Code != http.StatusOK {
			t.Fatalf("before revocation: %d", rec.Code)
		}
	}
	if st := w.gw.runtime.Load().verifier.CacheStats(); st.Hits == 0 {
		t.Fatalf("the token was not served from the cache: %+v", st)
	}
	e := w.revoke(`{"token":"` + tok + `","by":"ops@example.com","reason":"leaked"}`)
	if e.Kind != revokeJTI || e.RevokedBy != "ops@example.com" || e.JTIHash == "" || strings.Contains(e.JTIHash, "jti-") {
		t.Fatalf("entry %+v; want a jti entry keeping only the jti's hash", e)
	}
	if want := w.clock.Now().Add(time.Hour).Truncate(time.Second); !e.ExpiresAt.Equal(want) {
		t.Fatalf("entry expires %v; want the token's exp %v", e.ExpiresAt, want)
	}
	wantRevoked(t, w, w.chat(tok))
	added := false
	for _, m := range w.records() {
		if m.Msg == "revocation_added" && m.RevokedBy == "ops@example.com" && m.ID == e.ID {
			added = true
		}
	}
	if !added || strings.Contains(w.audit.String(), tok) {
		t.Fatalf("no revocation_added audit record, or the token in the audit output:\n%s", w.audit.String())
	}
	if rec := w.chat(other); rec.Code != http.StatusOK {
		t.Fatalf("another token of the same subject: %d; want 200", rec.Code)
	}
	if got := testutil.ToFloat64(w.gw.revoker.m.entries.WithLabelValues(revokeJTI)); got != 1 {
		t.Fatalf("scopegate_revocation_entries{kind=jti} = %v; want 1", got)
	}
	if rec := w.admin("DELETE", revocationsPath+"/"+e.ID, testAdminToken, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("lift: %d %s", rec.Code, rec.Body)
	}
	if rec := w.admin("DELETE", revocationsPath+"/"+e.ID, testAdminToken, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("second lift: %d; want 404", rec.Code)
	}
	if rec := w.chat(tok); rec.Code != http.StatusOK {
		t.Fatalf("after lifting: %d; want 200", rec.Code)
	}
}

// TestRevokeNotBefore: a sub or client_id "not before T" refuses every
// token issued before T (and every token without iat), not those issued
// after.
func TestRevokeNotBefore(t *testing.T) {
	for _, c := range []struct{ name, body string }{
		{"sub", `{"sub":"alice"}`},
		{"client_id", `{"client_id":"cli"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, adminExtra)
			old := w.token("chat:completions")
			noIAT := w.iss.AccessToken(issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli", Audience: []string{testAudience},
				Scopes: []string{"chat:completions"}, Extra: map[string]any{"iat": nil}})
			bob := w.iss.AccessToken(issuer.AccessTokenSpec{Subject: "bob", ClientID: "other", Audience: []string{testAudience}, Scopes: []string{"chat:completions"}})
			for _, tk := range []string{old, noIAT, bob} {
				if rec := w.chat(tk); rec.Code != http.StatusOK {
					t.Fatalf("before revocation: %d", rec.Code)
				}
			}
			w.clock.Advance(300 * time.Millisecond)
			w.revoke(c.body)
			wantRevoked(t, w, w.chat(old))
			wantRevoked(t, w, w.chat(noIAT))
			if rec := w.chat(bob); rec.Code != http.StatusOK {
				t.Fatalf("another subject and client: %d; want 200", rec.Code)
			}
			w.clock.Advance(time.Second)
			fresh := w.iss.AccessToken(issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli", Audience: []string{testAudience}, Scopes: []string{"chat:completions"}})
			if rec := w.chat(fresh); rec.Code != http.StatusOK {
				t.Fatalf("a token issued after the revocation: %d; want 200: %s", rec.Code, rec.Body)
			}
		})
	}
}

// TestRevokeScopedToIssuer: an entry naming an issuer leaves the same
// subject of another issuer alone.
func TestRevokeScopedToIssuer(t *testing.T) {
	w := newWorld(t, adminExtra)
	tok := w.token("chat:completions")
	w.revoke(`{"sub":"alice","iss":"https://other.example.com"}`)
	if rec := w.chat(tok); rec.Code != http.StatusOK {
		t.Fatalf("entry of another issuer refused the token: %d", rec.Code)
	}
	w.revoke(`{"sub":"alice","iss":"` + w.iss.URL() + `"}`)
	wantRevoked(t, w, w.chat(tok))
	if n := len(w.listRevocations()); n != 2 {
		t.Fatalf("%d entries listed; want 2", n)
	}
}

// heldListStore is a state store whose List, once armed, waits until the
// test lets it go.
type heldListStore struct {
	state.Store
	mu               sync.Mutex
	entered, release chan struct{} // non-nil while armed
}

// arm holds the next List: entered is closed once it waits, release lets
// it go.
func (s *heldListStore) arm() (entered, release chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entered, s.release = make(chan struct{}), make(chan struct{})
	return s.entered, s.release
}

func (s *heldListStore) List(ctx context.Context, prefix string) (map[string][]byte, error) {
	s.mu.Lock()
	entered, release := s.entered, s.release
	s.entered, s.release = nil, nil
	s.mu.Unlock()
	if entered != nil {
		close(entered)
		<-release
	}
	return s.Store.List(context.WithoutCancel(ctx), prefix)
}

// TestRevocationLagFromTheAsk: a sync dates the mirror from when it asked
// for the list. A sync whose answer comes back after max_lag has passed
// leaves the mirror out of sync: fail_closed answers 503, as it would had
// the answer never come.
func TestRevocationLagFromTheAsk(t *testing.T) {
	w := newWorld(t, adminExtra+"revocation:\n  failure_mode: fail_closed\n  resync_interval: 30s\n  max_lag: 30s\n")
	store := &heldListStore{Store: state.NewMemory(w.clock.Now)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gw, err := New(ctx, w.gw.Config(), Deps{Audit: NewAuditLogger(w.audit), Now: w.clock.Now, State: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	testkit.WaitFor(t, "the gateway ready", gw.Ready)
	w.gw = gw
	tok := w.token("chat:completions")
	if rec := w.chat(tok); rec.Code != http.StatusOK {
		t.Fatalf("in sync: %d; want 200", rec.Code)
	}
	entered, release := store.arm()
	if err := store.Publish(ctx, revokeChannel, nil); err != nil { // a change announced: the sync loop reads the list
		close(release)
		t.Fatal(err)
	}
	<-entered
	w.clock.Advance(31 * time.Second) // past max_lag while the list is being read
	close(release)
	testkit.WaitFor(t, "the sync to end", func() bool {
		if !gw.revoker.syncMu.TryLock() {
			return false
		}
		gw.revoker.syncMu.Unlock()
		return true
	})
	if rec := w.chat(tok); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("after a sync that asked before max_lag passed and was answered after: %d; want 503", rec.Code)
	}
}

// TestRevokeByTokenReadsExactClaimNames: a token revoked by its text is
// revoked under the jti the verifier reads, the member named exactly
// "jti", not a case variant after it that encoding/json would take
// instead (the admin API reads the payload without verifying it).
func TestRevokeByTokenReadsExactClaimNames(t *testing.T) {
	w := newWorld(t, adminExtra)
	exp := w.clock.Now().Add(time.Hour).Unix()
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tok := seg(`{"alg":"ES256","typ":"at+jwt"}`) + "." +
		seg(fmt.Sprintf(`{"iss":%q,"jti":"real-jti","JTI":"decoy","exp":%d,"EXP":1}`, w.iss.URL(), exp)) + "." + seg("sig")
	e := w.revoke(`{"token":"` + tok + `"}`)
	want := sha256.Sum256([]byte("real-jti"))
	if e.JTIHash != hex.EncodeToString(want[:]) {
		t.Errorf("entry %+v: revoked another jti than the token's \"jti\" member", e)
	}
	if !e.ExpiresAt.Equal(time.Unix(exp, 0)) {
		t.Errorf("entry expires %v; want the token's exp %v", e.ExpiresAt, time.Unix(exp, 0))
	}
}
