package interop

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/testkit"
)

// TestHydra drives scopegate with tokens from real Ory Hydra flows.
func TestHydra(t *testing.T) {
	h := startHydra(t)
	g := startGateway(t, hydraIssuer(h))
	cc := h.createClient([]string{"client_credentials"}, "models:read chat:completions generate:images")

	t.Run("client_credentials_with_scope", func(t *testing.T) {
		tok := h.clientCredentials(cc, "chat:completions")
		g.chat(tok).want(t, "chat with a Hydra token", http.StatusOK, "")
		recs := g.api.Requests()
		last := recs[len(recs)-1]
		if got := last.Header.Get("X-Auth-Client-Id"); got != cc.id {
			t.Errorf("X-Auth-Client-Id %q; want %q", got, cc.id)
		}
		if got := last.Header.Get("X-Auth-Scopes"); got != "chat:completions" {
			t.Errorf("X-Auth-Scopes %q; want the scopes of Hydra's scp claim", got)
		}
		if got := last.Header.Get("Authorization"); got != "Bearer upstream-key" {
			t.Errorf("upstream Authorization %q; want the gateway's own credential", got)
		}
	})
	t.Run("client_credentials_without_scope", func(t *testing.T) {
		tok := h.clientCredentials(cc, "models:read")
		g.call(http.MethodGet, "/v1/models", tok, "").want(t, "models with models:read", http.StatusOK, "")
		r := g.chat(tok)
		r.want(t, "chat without chat:completions", http.StatusForbidden, "insufficient_scope")
		if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `scope="chat:completions"`) {
			t.Errorf("WWW-Authenticate %q; want the missing scope named", got)
		}
	})

	ac := h.createClient([]string{"authorization_code"}, "openid chat:completions")
	tr := h.authorizationCode(ac, "openid chat:completions")
	t.Run("authorization_code_access_token", func(t *testing.T) {
		g.chat(tr.AccessToken).want(t, "chat with the code flow's access token", http.StatusOK, "")
	})
	t.Run("authorization_code_id_token_refused", func(t *testing.T) {
		if tr.IDToken == "" {
			t.Fatal("Hydra returned no ID token for scope openid")
		}
		r := g.chat(tr.IDToken)
		r.want(t, "chat with Hydra's ID token", http.StatusUnauthorized, "invalid_token")
		if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate %q; want error=\"invalid_token\"", got)
		}
	})

	// Hydra signs with a new key while scopegate serves a steady load under
	// the old one: every request of the load succeeds, and tokens under the
	// new key are accepted (scopegate refetches the JWKS on the unknown kid).
	t.Run("key_rotation_under_load", func(t *testing.T) {
		old := h.clientCredentials(cc, "chat:completions")
		var ok, failed atomic.Int64
		var firstFailure atomic.Value
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					r := g.chat(old)
					if r.status == http.StatusOK {
						ok.Add(1)
					} else {
						failed.Add(1)
						firstFailure.CompareAndSwap(nil, string(r.body))
					}
				}
			})
		}
		for _, kid := range []string{"rotated-1", "rotated-2"} {
			h.rotate(kid)
			fresh := h.clientCredentials(cc, "chat:completions")
			if hdr := headerOf(t, fresh); hdr["kid"] != kid {
				t.Fatalf("Hydra signed with kid %v after the rotation; want %s", hdr["kid"], kid)
			}
			// The contract: a rotated key is honoured within 10 s. A kid
			// that appears within min_refresh_interval of the previous
			// refresh is refused until the next refresh is allowed.
			first := g.chat(fresh).status
			if !testkit.Wait(10*time.Second, func() bool { return g.chat(fresh).status == http.StatusOK }) {
				t.Fatalf("a token under the new key %s was not accepted within 10s", kid)
			}
			t.Logf("rotation to %s: first call %d", kid, first)
		}
		// Let the load run a little past the rotation, then stop it.
		testkit.Wait(10*time.Second, func() bool { return ok.Load() >= 20 })
		close(stop)
		wg.Wait()
		if failed.Load() != 0 {
			t.Errorf("%d of %d requests under the old key failed during rotation; first: %v", failed.Load(), ok.Load()+failed.Load(), firstFailure.Load())
		}
		if ok.Load() == 0 {
			t.Error("the load sent no successful request")
		}
		t.Logf("%d requests under the old key during two rotations, none dropped", ok.Load())
	})
}
