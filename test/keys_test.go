package e2e

import (
	"crypto/rand"
	"net/http"
	"os"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/testkit"
)

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	old := e.token("models:read")
	if r := p.do("GET", "/v1/models", old, nil); r.StatusCode != 200 {
		t.Fatalf("before rotation: status %d; want 200", r.StatusCode)
	}
	oldKID := e.iss.CurrentKID()
	newKID := e.iss.Rotate()
	if newKID == oldKID {
		t.Fatal("Rotate kept the kid")
	}
	tok := e.token("models:read")
	start := time.Now()
	var last int
	ok := testkit.Wait(10*time.Second, func() bool {
		last = p.do("GET", "/v1/models", tok, nil).StatusCode
		return last == 200
	})
	if !ok {
		t.Fatalf("a token under the rotated key %s still gets %d after 10s; want 200 within 10s", newKID, last)
	}
	t.Logf("rotated key honoured after %v", time.Since(start).Round(time.Millisecond))
	// The old key is still published: its tokens still pass.
	if r := p.do("GET", "/v1/models", old, nil); r.StatusCode != 200 {
		t.Errorf("old key after rotation: status %d; want 200", r.StatusCode)
	}
	// Once the old key is removed from the JWKS and the keys are
	// refreshed (the new kid is known, so force it with another
	// rotation), the old key's tokens stop passing.
	e.iss.RemoveKey(oldKID)
	e.iss.Rotate()
	third := e.token("models:read")
	if !testkit.Wait(10*time.Second, func() bool { return p.do("GET", "/v1/models", third, nil).StatusCode == 200 }) {
		t.Fatalf("third key not honoured within 10s")
	}
	if r := p.do("GET", "/v1/models", old, nil); r.StatusCode != 401 {
		t.Errorf("token under a removed key: status %d; want 401", r.StatusCode)
	}
}

func TestUnknownKidFloodIsRateLimited(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	before := e.iss.JWKSFetches()
	start := time.Now()
	for range 60 {
		tok := e.remember(e.iss.Sign(map[string]any{"typ": "at+jwt", "kid": rand.Text()}, map[string]any{
			"iss": e.iss.URL(), "sub": "alice", "aud": audience, "scope": "models:read",
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		}))
		if r := p.do("GET", "/v1/models", tok, nil); r.StatusCode != 401 && r.StatusCode != 503 {
			t.Fatalf("unknown kid: status %d; want 401", r.StatusCode)
		}
	}
	elapsed := time.Since(start)
	fetches := e.iss.JWKSFetches() - before
	// min_refresh_interval is 1s: about one fetch per second of flood.
	if limit := int64(elapsed/time.Second) + 3; fetches > limit {
		t.Errorf("60 unknown kids in %v caused %d JWKS fetches; want at most %d", elapsed, fetches, limit)
	}
	t.Logf("60 unknown kids in %v: %d JWKS fetches", elapsed.Round(time.Millisecond), fetches)
	e.noneRecorded("unknown kids")
}

func TestJWKSOutageAfterStart(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{issuerExtra: "    refresh_interval: 1s"})
	tok := e.token("models:read")
	if r := p.do("GET", "/v1/models", tok, nil); r.StatusCode != 200 {
		t.Fatalf("before the outage: status %d; want 200", r.StatusCode)
	}
	e.iss.SetDown(true)
	before := e.iss.JWKSFetches()
	// Let several scheduled refreshes fail.
	if !testkit.Wait(10*time.Second, func() bool { return e.iss.JWKSFetches() >= before+2 }) {
		t.Fatalf("no scheduled refresh within 10s with refresh_interval 1s")
	}
	for _, tk := range []string{tok, e.token("models:read")} {
		r := p.do("GET", "/v1/models", tk, nil)
		if r.StatusCode != 200 {
			t.Errorf("during the outage, a token under a cached key: status %d body %s; want 200", r.StatusCode, r.body)
		}
	}
	if r := p.adminGet("/readyz"); r.StatusCode != 200 {
		t.Errorf("/readyz during an outage with cached keys: %d %s; want 200 (keys are in hand)", r.StatusCode, r.body)
	}
	// A token under a key the gateway cannot fetch now: never a pass.
	e.iss.Rotate()
	fresh := e.token("models:read")
	if r := p.do("GET", "/v1/models", fresh, nil); r.StatusCode == 200 {
		t.Errorf("a token under an unfetchable key passed during the outage")
	} else if r.StatusCode != 401 && r.StatusCode != 503 {
		t.Errorf("a token under an unfetchable key: status %d; want 401 or 503", r.StatusCode)
	}
	// The IdP comes back: the new key is honoured.
	e.iss.SetDown(false)
	if !testkit.Wait(10*time.Second, func() bool { return p.do("GET", "/v1/models", fresh, nil).StatusCode == 200 }) {
		t.Errorf("after the outage, the new key was not honoured within 10s")
	}
	if r := p.do("GET", "/v1/models", tok, nil); r.StatusCode != 200 {
		t.Errorf("after the outage, the old key: status %d; want 200", r.StatusCode)
	}
}

func TestColdStartJWKSDown(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{issuerDown: true}, cfg{})
	tok := e.token("models:read")
	if r := p.adminGet("/readyz"); r.StatusCode != 503 {
		t.Errorf("/readyz with the JWKS down at start: %d; want 503", r.StatusCode)
	}
	if r := p.adminGet("/healthz"); r.StatusCode != 200 {
		t.Errorf("/healthz: %d; want 200 (the process is alive)", r.StatusCode)
	}
	r := p.do("GET", "/v1/models", tok, nil)
	wantError(t, r, 503, "")
	// RFC 9110 10.2.3: an HTTP-date or delay-seconds (1*DIGIT).
	if ra := r.Header.Get("Retry-After"); !regexp.MustCompile(`^[0-9]+$`).MatchString(ra) {
		if _, err := http.ParseTime(ra); err != nil {
			t.Errorf("503 with Retry-After %q; want delay-seconds or an HTTP-date", ra)
		}
	}
	if w := r.Header.Get("Www-Authenticate"); w != "" {
		t.Errorf("WWW-Authenticate %q on 503; want none (the token is not at fault)", w)
	}
	if a := p.audit(r.id()); a.Status != 503 || a.Decision == "allow" {
		t.Errorf("audit %v; want a 503 that is no allow", a)
	}
	// Public routes need no keys.
	if r := p.do("GET", "/public/status", "", nil); r.StatusCode != 200 {
		t.Errorf("public route during a cold start: %d; want 200", r.StatusCode)
	}
	// Garbage is refused as such even without keys (or 503): never 200.
	if r := p.do("GET", "/v1/models", "garbage", nil); r.StatusCode == 200 {
		t.Errorf("garbage token passed during a cold start")
	}
	for _, rec := range e.api.Requests() {
		if rec.Path == "/v1/models" {
			t.Errorf("the upstream got /v1/models before keys were in hand")
		}
	}

	e.iss.SetDown(false)
	start := time.Now()
	if !p.waitReady(20 * time.Second) {
		t.Fatalf("/readyz not 200 within 20s after the JWKS came back")
	}
	t.Logf("ready %v after the JWKS came back", time.Since(start).Round(time.Millisecond))
	if r := p.do("GET", "/v1/models", tok, nil); r.StatusCode != 200 {
		t.Errorf("after the cold start: status %d body %s; want 200", r.StatusCode, r.body)
	}
}

func TestReloadDuringJWKSOutage(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	tok := e.token("models:read", "embeddings:create")
	if r := p.do("GET", "/v1/models", tok, nil); r.StatusCode != 200 {
		t.Fatalf("before the outage: status %d; want 200", r.StatusCode)
	}
	e.iss.SetDown(true)
	// A reload with the same issuer must keep its keys: no cold start.
	text := e.config(cfg{routes: defaultRoutes + embeddingsRoute})
	if err := os.WriteFile(p.configPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	if _, ok := p.waitLine(10*time.Second, func(m map[string]any) bool { return m["msg"] == "config reloaded" }); !ok {
		t.Fatalf("no \"config reloaded\" log within 10s of SIGHUP")
	}
	if r := p.do("GET", "/v1/models", tok, nil); r.StatusCode != 200 {
		t.Errorf("after a reload during a JWKS outage: status %d body %s; want 200 (keys kept)", r.StatusCode, r.body)
	}
	if r := p.do("POST", "/v1/embeddings", tok, []byte(`{"model":"text-embedding-3-small","input":"x"}`)); r.StatusCode != 200 {
		t.Errorf("the reloaded route during a JWKS outage: status %d body %s; want 200", r.StatusCode, r.body)
	}
	if r := p.adminGet("/readyz"); r.StatusCode != 200 {
		t.Errorf("/readyz after a reload during a JWKS outage: %d %s; want 200", r.StatusCode, r.body)
	}
}
