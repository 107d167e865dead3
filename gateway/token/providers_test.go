package token_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/gateway"
	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/mockapi"
	"github.com/scopegate/scopegate/internal/testkit"
)

// providerFixture is testdata/providers/<name>.json: the shapes of one
// identity provider's tokens (header and claims as the provider issues them,
// re-signed here by our own key) and what scopegate must make of each under
// the issuer block of the provider's recipe, docs/idp/<name>.md.
type providerFixture struct {
	Provider string `json:"provider"`
	// Scope is the scope the test route requires, as the provider writes it.
	Scope string         `json:"scope"`
	Cases []providerCase `json:"cases"`
}

type providerCase struct {
	Name   string         `json:"name"`
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
	// Raw, if set, is sent as the bearer token instead of a signed JWT (an
	// opaque access token).
	Raw string `json:"raw"`
	// WantStatus is the gateway's answer on the route requiring Scope.
	WantStatus int `json:"want_status"`
	// WantDetail is a substring of the error message (refusals only).
	WantDetail string `json:"want_detail"`
	// WantClientID is the X-Auth-Client-Id the upstream must see (200 only).
	WantClientID string `json:"want_client_id"`
	// WantPrincipal is the principal kind the gateway must read (200
	// only): human, machine or delegated.
	WantPrincipal string `json:"want_principal"`
	// ForeignIssuer marks a token whose iss is deliberately not the
	// recipe's (another issuer of the same provider).
	ForeignIssuer bool `json:"foreign_issuer"`
}

// timeClaims are shifted so that a fixture's token is issued now, keeping
// its lifetime.
var timeClaims = []string{"iat", "nbf", "exp", "auth_time", "rat"}

// recipeBlock finds the scopegate issuer block of a recipe: the first
// ```yaml fence whose text starts with "issuers:".
var recipeBlock = regexp.MustCompile("(?s)```yaml\n(issuers:\n.*?)```")

// TestProviderTokenShapes checks, for each provider, that its access tokens
// pass the issuer block its recipe documents and that its ID tokens (and
// other lookalikes) are refused, through a real gateway.
func TestProviderTokenShapes(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "providers", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no provider fixtures: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			var fx providerFixture
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&fx); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			recipe, err := os.ReadFile(filepath.Join("..", "..", "docs", "idp", name+".md"))
			if err != nil {
				t.Fatalf("every provider needs a recipe: %v", err)
			}
			m := recipeBlock.FindSubmatch(recipe)
			if m == nil {
				t.Fatalf("docs/idp/%s.md has no ```yaml block starting with issuers:", name)
			}
			runProvider(t, fx, string(m[1]))
		})
	}
}

func runProvider(t *testing.T, fx providerFixture, issuersYAML string) {
	iss, err := issuer.New(issuer.Options{Algorithm: issuer.RS256})
	if err != nil {
		t.Fatal(err)
	}
	issSrv := httptest.NewServer(iss.Handler())
	defer issSrv.Close()
	iss.SetURL(issSrv.URL)
	api := mockapi.New(mockapi.Options{StreamDelay: -1})
	apiSrv := httptest.NewUnstartedServer(api.Handler())
	apiSrv.Config.SetKeepAlivesEnabled(false) // no idle upstream connections outlive the test
	apiSrv.Start()
	defer apiSrv.Close()

	cfg, err := config.Parse([]byte(fmt.Sprintf(`%s
upstreams:
  models:
    url: %q
routes:
  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: [%q]
  - name: admin
    methods: [POST]
    path: /v1/admin
    upstream: models
    scopes: ["scope-no-provider-grants"]
`, issuersYAML, apiSrv.URL, fx.Scope)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("the recipe's issuer block does not load: %v\n%s", err, issuersYAML)
	}
	if len(cfg.Issuers) != 1 {
		t.Fatalf("the recipe has %d issuers; want 1", len(cfg.Issuers))
	}
	// The provider's keys are ours: only where they are fetched changes.
	cfg.Issuers[0].JWKSURI = iss.JWKSURL()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	core, audits := observer.New(zapcore.InfoLevel)
	gw, err := gateway.New(ctx, cfg, gateway.Deps{Logger: zap.NewNop(), Audit: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	testkit.WaitFor(t, "the issuer's keys", gw.Ready)

	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			tok := c.Raw
			if tok == "" {
				tok = signFixture(t, iss, cfg.Issuers[0].Issuer, c)
			}
			status, body, rec := call(gw, "/v1/chat/completions", tok)
			if status != c.WantStatus {
				t.Fatalf("status %d; want %d (%s)", status, c.WantStatus, body)
			}
			switch {
			case status == http.StatusOK:
				if len(api.Requests()) == 0 {
					t.Fatal("allowed, but the upstream saw nothing")
				}
				last := api.Requests()[len(api.Requests())-1]
				if got := last.Header.Get("X-Auth-Client-Id"); got != c.WantClientID {
					t.Errorf("X-Auth-Client-Id %q; want %q", got, c.WantClientID)
				}
				recs := audits.All()
				if got := recs[len(recs)-1].ContextMap()["principal"]; c.WantPrincipal == "" || got != c.WantPrincipal {
					t.Errorf("principal %v; want %q (every allowed fixture case states want_principal)", got, c.WantPrincipal)
				}
				// The same token lacks a scope no provider grants: 403.
				if st, b, _ := call(gw, "/v1/admin", tok); st != http.StatusForbidden {
					t.Errorf("route needing another scope: %d; want 403 (%s)", st, b)
				}
			case status == http.StatusUnauthorized:
				if got := rec.Header().Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
					t.Errorf("WWW-Authenticate %q; want invalid_token", got)
				}
			}
			if c.WantDetail != "" && !strings.Contains(body, c.WantDetail) {
				t.Errorf("body %s; want it to say %q", body, c.WantDetail)
			}
		})
	}
}

// signFixture signs the case's header and claims with our key. The iss
// must be the recipe's issuer (the fixture states it, so that a recipe and
// its fixture cannot drift apart); time claims are moved to now.
func signFixture(t *testing.T, iss *issuer.Issuer, recipeIssuer string, c providerCase) string {
	t.Helper()
	if c.Claims["iss"] != recipeIssuer && !c.ForeignIssuer {
		t.Fatalf("fixture iss %v; the recipe's issuer is %q", c.Claims["iss"], recipeIssuer)
	}
	claims := maps.Clone(c.Claims)
	iat, _ := claims["iat"].(float64)
	delta := float64(time.Now().Unix()) - iat
	for _, n := range timeClaims {
		if v, ok := claims[n].(float64); ok {
			claims[n] = int64(v + delta)
		}
	}
	header := maps.Clone(c.Header)
	if header == nil {
		header = map[string]any{}
	}
	// Our key signs: its kid replaces the provider's; alg must be the key's.
	header["kid"] = iss.CurrentKID()
	if header["alg"] != "RS256" {
		t.Fatalf("fixture alg %v; fixtures are RS256, as the providers sign by default", header["alg"])
	}
	return iss.Sign(header, claims)
}

func call(gw http.Handler, path, tok string) (int, string, *httptest.ResponseRecorder) {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec
}
