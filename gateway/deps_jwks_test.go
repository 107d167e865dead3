package gateway

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/testkit"
)

// The token package tests key management itself (gateway/token
// keys_test.go, discovery_test.go); these tests check what clients and
// operators see over HTTP when the identity provider misbehaves.

// fault is how the JWKS endpoint misbehaves.
type fault int32

const (
	faultNone    fault = iota
	faultDown          // 503
	fault500           // 500
	faultBadJSON       // 200 with a body that is not JSON
	faultHuge          // 200 with a 2 MiB body
	faultHang          // no answer until the client gives up
)

var faultNames = map[fault]string{faultDown: "503", fault500: "500", faultBadJSON: "invalid JSON", faultHuge: "huge body", faultHang: "hang"}

// jwksFault wraps the issuer's handler and breaks its JWKS endpoint.
type jwksFault struct {
	mode fault
	mu   sync.Mutex
	hits atomic.Int64
	stop chan struct{}
}

func newJWKSFault(mode fault) *jwksFault { return &jwksFault{mode: mode, stop: make(chan struct{})} }

func (f *jwksFault) set(m fault) { f.mu.Lock(); f.mode = m; f.mu.Unlock() }

func (f *jwksFault) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/jwks.json") {
			h.ServeHTTP(w, r)
			return
		}
		f.hits.Add(1)
		f.mu.Lock()
		m := f.mode
		f.mu.Unlock()
		switch m {
		case faultDown:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		case fault500:
			w.WriteHeader(http.StatusInternalServerError)
		case faultBadJSON:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"keys":[{"kty":"EC",`))
		case faultHuge:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", 2<<20) + `"}`))
		case faultHang:
			select {
			case <-r.Context().Done():
			case <-f.stop:
			}
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// shortKeyClient gives up on a key fetch after half a second, so that a
// hanging JWKS endpoint fails fast in tests.
func shortKeyClient() *http.Client {
	return &http.Client{Transport: &http.Transport{}, Timeout: 500 * time.Millisecond}
}

func newFaultRig(t *testing.T, f *jwksFault, o rigOptions) *rig {
	o.wrapIssuer = f.wrap
	o.keyClient = shortKeyClient()
	r := newRig(t, o)
	t.Cleanup(func() { close(f.stop) }) // before the rig's teardown: cleanups run last-in first-out
	return r
}

// breakJWKS sets the JWKS endpoint's fault to m and waits for a key fetch
// to fail under it. A failure counted before (a fetch that timed out on a
// loaded machine) does not do: a fetch that had started before the fault
// could still succeed after the wait, and its keys, fresh by the clock of
// that moment, would mask the outage under test. Fetches run one at a
// time, so once one has failed under the fault, none that started before
// it is left to succeed.
func (r *rig) breakJWKS(t *testing.T, f *jwksFault, m fault) {
	t.Helper()
	before := r.refreshFailures()
	f.set(m)
	testkit.WaitFor(t, "a key fetch failed under the fault", func() bool { return r.refreshFailures() > before })
}

func wantKeysUnavailable(t *testing.T, resp *http.Response) {
	t.Helper()
	wantStatus(t, resp, http.StatusServiceUnavailable)
	if ra := resp.Header.Get("Retry-After"); ra == "" {
		t.Errorf("503 without Retry-After")
	}
	if wa := resp.Header.Get("WWW-Authenticate"); wa != "" {
		t.Errorf("WWW-Authenticate %q on 503; want none: the token was not judged", wa)
	}
	if !strings.Contains(bodyOf(resp), `"code":"keys_unavailable"`) {
		t.Errorf("body %s; want code keys_unavailable", bodyOf(resp))
	}
}

// TestJWKSFailingAtStart: whatever way the JWKS endpoint fails at start,
// protected routes answer 503 with Retry-After, /readyz is 503, public
// routes still work, nothing protected is forwarded, and the gateway
// recovers by itself once the endpoint does.
func TestJWKSFailingAtStart(t *testing.T) {
	for _, m := range []fault{faultDown, fault500, faultBadJSON, faultHuge, faultHang} {
		t.Run(faultNames[m], func(t *testing.T) {
			f := newJWKSFault(m)
			r := newFaultRig(t, f, rigOptions{noWait: true})
			testkit.WaitFor(t, "a failed key fetch", func() bool { return r.refreshFailures() >= 1 })
			tok := r.token("models:read")
			resp := r.in(t).do("GET", "/v1/models", tok, nil)
			wantKeysUnavailable(t, resp)
			if a := r.auditFor(resp.Header.Get("X-Request-Id")); a["reason"] != string(ReasonKeysUnavailable) || a["decision"] != decisionError {
				t.Errorf("audit %v; want decision error, reason keys_unavailable", a)
			}
			if code, body := r.in(t).readyz(); code != 503 || !strings.Contains(body, `"ready":false`) {
				t.Errorf("/readyz %d %s; want 503 naming the issuer not ready", code, body)
			}
			wantStatus(t, r.in(t).do("GET", "/public/status", "", nil), 200)
			if recs := byPath(r.checkForwarded(), "/v1/models"); len(recs) != 0 {
				t.Errorf("upstream got %d protected requests; want none", len(recs))
			}

			f.set(faultNone)
			testkit.WaitFor(t, "/readyz 200", func() bool { code, _ := r.in(t).readyz(); return code == 200 })
			wantStatus(t, r.in(t).do("GET", "/v1/models", tok, nil), 200)
		})
	}
}

// TestJWKSFailingLater: once keys are in hand, a failing JWKS endpoint
// does not take them away: tokens under known keys keep working and
// /readyz stays 200. A token under a new kid cannot be checked and is
// refused, never let through.
func TestJWKSFailingLater(t *testing.T) {
	for _, m := range []fault{faultDown, fault500, faultBadJSON, faultHuge, faultHang} {
		t.Run(faultNames[m], func(t *testing.T) {
			f := newJWKSFault(faultNone)
			r := newFaultRig(t, f, rigOptions{refresh: "100ms"})
			tok := r.token("models:read")
			wantStatus(t, r.in(t).do("GET", "/v1/models", tok, nil), 200)

			r.in(t).breakJWKS(t, f, m)
			wantStatus(t, r.in(t).do("GET", "/v1/models", tok, nil), 200)
			if code, body := r.in(t).readyz(); code != 200 {
				t.Errorf("/readyz %d %s; want 200 while keys are fresh enough", code, body)
			}
			r.iss.Rotate()
			resp := r.in(t).do("GET", "/v1/models", r.token("models:read"), nil)
			// The new key may be real: the JWKS cannot tell, so the
			// answer is "keys not obtainable, retry", not a refusal.
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("WWW-Authenticate") != "" {
				t.Errorf("token under a new kid during the outage: status %d, headers %v; want 503 with Retry-After and no challenge", resp.StatusCode, resp.Header)
			}
			if recs := r.checkForwarded(); len(recs) != 2 {
				t.Errorf("upstream got %d requests; want the 2 under the known key", len(recs))
			}
		})
	}
}

// TestJWKSStaleBeyondMaxStaleness: cached keys serve only for
// max_staleness after the last good fetch; then 503 and not ready.
func TestJWKSStaleBeyondMaxStaleness(t *testing.T) {
	clock := &testClock{t: time.Now()}
	f := newJWKSFault(faultNone)
	r := newFaultRig(t, f, rigOptions{now: clock.Now, issuer: "    max_staleness: 1h", refresh: "100ms"})
	wantStatus(t, r.do("GET", "/v1/models", r.token("models:read"), nil), 200)
	r.breakJWKS(t, f, faultDown)
	clock.Add(50 * time.Minute)
	wantStatus(t, r.do("GET", "/v1/models", r.token("models:read"), nil), 200)
	clock.Add(20 * time.Minute)
	wantKeysUnavailable(t, r.do("GET", "/v1/models", r.token("models:read"), nil))
	if code, _ := r.readyz(); code != 503 {
		t.Errorf("/readyz %d with stale keys; want 503", code)
	}
	f.set(faultNone)
	testkit.WaitFor(t, "/readyz 200", func() bool { code, _ := r.readyz(); return code == 200 })
	wantStatus(t, r.do("GET", "/v1/models", r.token("models:read"), nil), 200)
}

// TestJWKSRotationAndRemoval: a new key is honoured at once (unknown kid
// triggers a refresh); a removed key is refused with 401 invalid_token
// once a refresh has seen it gone.
func TestJWKSRotationAndRemoval(t *testing.T) {
	r := newRig(t, rigOptions{refresh: "100ms"})
	oldKID := r.iss.CurrentKID()
	oldTok := r.token("models:read")
	r.iss.Rotate()
	newTok := r.token("models:read")
	wantStatus(t, r.do("GET", "/v1/models", newTok, nil), 200)
	wantStatus(t, r.do("GET", "/v1/models", oldTok, nil), 200)

	r.iss.RemoveKey(oldKID)
	var resp *http.Response
	testkit.WaitFor(t, "the removed key refused", func() bool {
		resp = r.do("GET", "/v1/models", oldTok, nil)
		return resp.StatusCode != 200
	})
	wantStatus(t, resp, 401)
	if wa := resp.Header.Get("WWW-Authenticate"); !strings.Contains(wa, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate %q; want invalid_token", wa)
	}
	wantStatus(t, r.do("GET", "/v1/models", newTok, nil), 200)
	r.checkForwarded()
}

// TestDiscoveryIssuerMismatch: a discovery document naming another
// issuer is never trusted: not ready, 503, nothing forwarded.
func TestDiscoveryIssuerMismatch(t *testing.T) {
	var discoveries atomic.Int64
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/openid-configuration") {
				discoveries.Add(1)
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"issuer":"https://idp.evil.example","jwks_uri":"http://` + r.Host + `/jwks.json"}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	r := newRig(t, rigOptions{noWait: true, wrapIssuer: wrap})
	testkit.WaitFor(t, "two discovery attempts", func() bool { return discoveries.Load() >= 2 })
	if r.gw.Ready() {
		t.Fatal("ready with a foreign discovery document")
	}
	if code, _ := r.readyz(); code != 503 {
		t.Errorf("/readyz %d; want 503", code)
	}
	wantKeysUnavailable(t, r.do("GET", "/v1/models", r.token("models:read"), nil))
	if n := r.iss.JWKSFetches(); n != 0 {
		t.Errorf("the JWKS named by a foreign discovery document was fetched %d times", n)
	}
	if recs := r.checkForwarded(); len(recs) != 0 {
		t.Errorf("upstream got %v; want nothing", paths(recs))
	}
}

// testClock is a settable clock shared by the gateway and the issuer.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
