package e2e

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/issuer"
)

const metadataBlock = `
resource_metadata:
  resource: "https://models.scopegate.test"
  resource_name: "Test models"
  resource_documentation: "https://docs.scopegate.test/api"
`

// challengeParams parses a Bearer challenge's auth-params (RFC 9110 11.2:
// token=quoted-string, comma-separated).
func challengeParams(t *testing.T, h string) map[string]string {
	t.Helper()
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		t.Fatalf("challenge %q is not Bearer", h)
	}
	re := regexp.MustCompile(`^\s*([A-Za-z_]+)="([^"\\]*)"\s*(,|$)`)
	out := map[string]string{}
	for rest != "" {
		m := re.FindStringSubmatch(rest)
		if m == nil {
			t.Fatalf("challenge %q: cannot parse at %q", h, rest)
		}
		if _, dup := out[m[1]]; dup {
			t.Fatalf("challenge %q repeats %s", h, m[1])
		}
		out[m[1]] = m[2]
		rest = rest[len(m[0]):]
	}
	return out
}

func TestResourceMetadata(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{routes: defaultRoutes + metadataBlock})
	const metaURL = "https://models.scopegate.test/.well-known/oauth-protected-resource"

	t.Run("document", func(t *testing.T) {
		r := p.do("GET", "/.well-known/oauth-protected-resource", "", nil)
		if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("status %d, Content-Type %q; want 200 application/json (%s)", r.StatusCode, r.Header.Get("Content-Type"), r.body)
		}
		var doc map[string]any
		if err := json.Unmarshal(r.body, &doc); err != nil {
			t.Fatal(err)
		}
		// RFC 9728 3.3: resource is identical to the identifier the
		// metadata URL was made from.
		if doc["resource"] != "https://models.scopegate.test" {
			t.Errorf("resource %v", doc["resource"])
		}
		if as, _ := doc["authorization_servers"].([]any); len(as) != 1 || as[0] != e.iss.URL() {
			t.Errorf("authorization_servers %v; want [%q] (the configured issuer)", doc["authorization_servers"], e.iss.URL())
		}
		var scopes []string
		for _, s := range doc["scopes_supported"].([]any) {
			scopes = append(scopes, s.(string))
		}
		if want := []string{"models:read", "chat:completions", "generate:images", "echo"}; !slices.Equal(scopes, want) {
			t.Errorf("scopes_supported %q; want %q", scopes, want)
		}
		if bm, _ := doc["bearer_methods_supported"].([]any); len(bm) != 1 || bm[0] != "header" {
			t.Errorf("bearer_methods_supported %v; want [header]", doc["bearer_methods_supported"])
		}
		if doc["resource_name"] != "Test models" || doc["resource_documentation"] != "https://docs.scopegate.test/api" {
			t.Errorf("resource_name / resource_documentation: %v / %v", doc["resource_name"], doc["resource_documentation"])
		}
		if a := p.audit(r.id()); a.Reason != "resource_metadata" || a.Route != "" {
			t.Errorf("audit %v; want reason resource_metadata and no route", a)
		}
	})
	t.Run("per-path form", func(t *testing.T) {
		r := p.do("GET", "/.well-known/oauth-protected-resource/v1/chat/completions", "", nil)
		var doc map[string]any
		if r.StatusCode != 200 || json.Unmarshal(r.body, &doc) != nil {
			t.Fatalf("status %d body %s", r.StatusCode, r.body)
		}
		if doc["resource"] != "https://models.scopegate.test/v1/chat/completions" {
			t.Errorf("resource %v; want the origin plus the path after the well-known prefix", doc["resource"])
		}
	})
	t.Run("read-only", func(t *testing.T) {
		r := p.do("POST", "/.well-known/oauth-protected-resource", "", []byte(`{}`))
		wantError(t, r, 405, "method_not_allowed")
	})
	t.Run("near miss is routed as usual", func(t *testing.T) {
		r := p.do("GET", "/.well-known/oauth-protected-resourcex", "", nil)
		wantError(t, r, 404, "")
	})
	t.Run("401 challenges name the metadata", func(t *testing.T) {
		for _, tc := range []struct {
			name, tok, errAttr string
		}{
			{"no token", "", ""},
			{"invalid token", "a.b.c", "invalid_token"},
			{"expired token", e.spec(issuer.AccessTokenSpec{Subject: "alice", Scopes: []string{"models:read"}, TTL: -time.Hour}), "invalid_token"},
		} {
			r := p.do("GET", "/v1/models", tc.tok, nil)
			wantError(t, r, 401, "")
			ps := challengeParams(t, r.Header.Get("Www-Authenticate"))
			if ps["resource_metadata"] != metaURL {
				t.Errorf("%s: resource_metadata %q; want %q", tc.name, ps["resource_metadata"], metaURL)
			}
			if ps["error"] != tc.errAttr {
				t.Errorf("%s: error %q; want %q", tc.name, ps["error"], tc.errAttr)
			}
		}
	})
	t.Run("403 challenges do not", func(t *testing.T) {
		r := p.do("GET", "/v1/models", e.token("echo"), nil)
		wantError(t, r, 403, "insufficient_scope")
		if ps := challengeParams(t, r.Header.Get("Www-Authenticate")); ps["resource_metadata"] != "" {
			t.Errorf("resource_metadata on a 403: %q", ps["resource_metadata"])
		}
	})
	e.noneRecorded("metadata requests and refusals")
}

func TestResourceMetadataAbsent(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{})
	r := p.do("GET", "/.well-known/oauth-protected-resource", "", nil)
	wantError(t, r, 404, "")
	r = p.do("GET", "/v1/models", "", nil)
	if w := r.Header.Get("Www-Authenticate"); strings.Contains(w, "resource_metadata") {
		t.Errorf("WWW-Authenticate %q without resource_metadata configured", w)
	}
	e.noneRecorded("no metadata configured")
}
