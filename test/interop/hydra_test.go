package interop

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hydra is a running Ory Hydra: in-memory storage, JWT access tokens.
type hydra struct {
	t      *testing.T
	public string // base URL; also the issuer
	admin  string // base URL
	client *http.Client
}

// Where Hydra sends the browser to log in and consent. Never contacted:
// the tests accept both through the admin API.
const (
	hydraLoginURL   = "http://127.0.0.1:1/login"
	hydraConsentURL = "http://127.0.0.1:1/consent"
	hydraCallback   = "http://127.0.0.1:1/callback"
)

// startHydra runs `hydra serve all --dev` on two loopback ports and waits
// until its admin API is ready. A taken port (freePort races) is retried.
func startHydra(t *testing.T) *hydra {
	t.Helper()
	if hydraBin == "" {
		t.Fatalf("hydra is not available: %v", hydraErr)
	}
	for attempt := 1; ; attempt++ {
		h, out, ok := tryStartHydra(t)
		if ok {
			return h
		}
		if attempt == 3 {
			t.Fatalf("hydra did not become ready:\n%s", out)
		}
	}
}

func tryStartHydra(t *testing.T) (*hydra, string, bool) {
	pub, adm := freePort(t), freePort(t)
	h := &hydra{
		t:      t,
		public: fmt.Sprintf("http://127.0.0.1:%d", pub),
		admin:  fmt.Sprintf("http://127.0.0.1:%d", adm),
		client: &http.Client{Timeout: 30 * time.Second},
	}
	cmd := exec.Command(hydraBin, "serve", "all", "--dev", "--sqa-opt-out")
	cmd.Env = append(os.Environ(),
		"DSN=memory",
		"URLS_SELF_ISSUER="+h.public,
		"URLS_LOGIN="+hydraLoginURL,
		"URLS_CONSENT="+hydraConsentURL,
		"SERVE_PUBLIC_HOST=127.0.0.1", fmt.Sprintf("SERVE_PUBLIC_PORT=%d", pub),
		"SERVE_ADMIN_HOST=127.0.0.1", fmt.Sprintf("SERVE_ADMIN_PORT=%d", adm),
		"STRATEGIES_ACCESS_TOKEN=jwt",
		"SECRETS_SYSTEM="+rand.Text(),
		"LOG_LEVEL=warn",
	)
	var out bytes.Buffer
	var mu sync.Mutex
	cmd.Stdout = &lockedBuffer{mu: &mu, b: &out}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting hydra: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	text := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	ready := waitHTTP(t, h.admin+"/health/ready", 30*time.Second, exited)
	select {
	case <-exited:
		ready = false
	default:
	}
	if !ready {
		stop()
		return nil, text(), false
	}
	t.Cleanup(func() {
		h.client.CloseIdleConnections()
		stop()
		if t.Failed() {
			t.Logf("hydra output:\n%s", text())
		}
	})
	return h, "", true
}

type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// adminJSON calls Hydra's admin API and decodes the JSON answer into out
// (if not nil), failing the test unless the status is 2xx.
func (h *hydra) adminJSON(method, path string, in, out any) {
	h.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			h.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.admin+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("hydra admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		h.t.Fatalf("hydra admin %s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("hydra admin %s %s: %v in %s", method, path, err, b)
		}
	}
}

// oauthClient is a registered client and its secret.
type oauthClient struct{ id, secret string }

// createClient registers a client allowed the given scopes and audiences.
func (h *hydra) createClient(grants []string, scope string) oauthClient {
	h.t.Helper()
	c := oauthClient{id: "client-" + strings.ToLower(rand.Text()[:10]), secret: rand.Text()}
	h.adminJSON(http.MethodPost, "/admin/clients", map[string]any{
		"client_id":                  c.id,
		"client_secret":              c.secret,
		"grant_types":                grants,
		"response_types":             []string{"code"},
		"redirect_uris":              []string{hydraCallback},
		"scope":                      scope,
		"audience":                   []string{audience},
		"token_endpoint_auth_method": "client_secret_basic",
	}, nil)
	return c
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
	Scope       string `json:"scope"`
}

// token posts form to the token endpoint with the client's credentials.
func (h *hydra) token(c oauthClient, form url.Values) tokenResponse {
	h.t.Helper()
	return postToken(h.t, h.client, "hydra", h.public+"/oauth2/token", c, form)
}

// postToken posts form to an OAuth 2.0 token endpoint with c's credentials
// (client_secret_basic) and returns the response, failing the test unless
// it is a 200 with an access token.
func postToken(t testing.TB, client *http.Client, server, endpoint string, c oauthClient, form url.Values) tokenResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s token endpoint: %v", server, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tr tokenResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &tr) != nil || tr.AccessToken == "" {
		t.Fatalf("%s token endpoint: %d %s", server, resp.StatusCode, b)
	}
	return tr
}

// clientCredentials gets an access token for scope and our audience.
func (h *hydra) clientCredentials(c oauthClient, scope string) string {
	h.t.Helper()
	return h.token(c, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}, "audience": {audience}}).AccessToken
}

// authorizationCode runs the authorization-code flow without a browser:
// an http.Client that follows no redirects walks Hydra's redirects, and
// login and consent are accepted through the admin API.
func (h *hydra) authorizationCode(c oauthClient, scope string) tokenResponse {
	h.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer browser.CloseIdleConnections()
	// next GETs u and returns the Location it redirects to.
	next := func(u string) *url.URL {
		h.t.Helper()
		resp, err := browser.Get(u)
		if err != nil {
			h.t.Fatalf("GET %s: %v", u, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		loc, err := resp.Location()
		if resp.StatusCode/100 != 3 || err != nil {
			h.t.Fatalf("GET %s: %d, want a redirect (%s)", u, resp.StatusCode, b)
		}
		return loc
	}
	auth := h.public + "/oauth2/auth?" + url.Values{
		"client_id": {c.id}, "response_type": {"code"}, "scope": {scope},
		"redirect_uri": {hydraCallback}, "state": {rand.Text()}, "nonce": {rand.Text()},
		"audience": {audience},
	}.Encode()
	login := next(auth)
	var accepted struct {
		RedirectTo string `json:"redirect_to"`
	}
	h.adminJSON(http.MethodPut, "/admin/oauth2/auth/requests/login/accept?login_challenge="+
		url.QueryEscape(login.Query().Get("login_challenge")), map[string]any{"subject": "alice"}, &accepted)
	consent := next(accepted.RedirectTo)
	h.adminJSON(http.MethodPut, "/admin/oauth2/auth/requests/consent/accept?consent_challenge="+
		url.QueryEscape(consent.Query().Get("consent_challenge")), map[string]any{
		"grant_scope":                 strings.Fields(scope),
		"grant_access_token_audience": []string{audience},
	}, &accepted)
	callback := next(accepted.RedirectTo)
	code := callback.Query().Get("code")
	if code == "" || !strings.HasPrefix(callback.String(), hydraCallback) {
		h.t.Fatalf("the flow ended at %s, want the callback with a code", callback.Redacted())
	}
	return h.token(c, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {hydraCallback}})
}

// rotate creates a new signing key in Hydra's access-token key set; Hydra
// signs new access tokens with it at once.
func (h *hydra) rotate(kid string) {
	h.t.Helper()
	h.adminJSON(http.MethodPost, "/admin/keys/hydra.jwt.access-token", map[string]any{"alg": "ES256", "use": "sig", "kid": kid}, nil)
}

// hydraIssuer is scopegate's issuer block for h.
func hydraIssuer(h *hydra) string {
	return fmt.Sprintf(`issuer: %q
    audiences: [%q]
    min_refresh_interval: 1s`, h.public, audience)
}
