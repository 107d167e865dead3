package interop

import (
	"bufio"
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
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// oidcProvider is a running panva/oidc-provider (oidc-provider/server.mjs).
type oidcProvider struct {
	t      *testing.T
	issuer string
	cc     oauthClient // client_credentials client
	web    oauthClient // authorization_code client
	client *http.Client
}

const opCallback = "http://127.0.0.1:1/callback"

var npmOnce struct {
	sync.Once
	err error
}

// npmInstall installs the locked packages of oidc-provider/ once, unless
// node_modules is there already.
func npmInstall() error {
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join("oidc-provider", "node_modules", "oidc-provider")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = "oidc-provider"
		if out, err := cmd.CombinedOutput(); err != nil {
			npmOnce.err = fmt.Errorf("npm ci in oidc-provider: %v\n%s", err, out)
		}
	})
	return npmOnce.err
}

// startOIDCProvider runs server.mjs with node, with extra environment
// variables (NAME=value), and waits for its issuer line.
func startOIDCProvider(t *testing.T, extraEnv ...string) *oidcProvider {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is required for the oidc-provider tests: %v", err)
	}
	if err := npmInstall(); err != nil {
		t.Fatal(err)
	}
	op := &oidcProvider{
		t:      t,
		cc:     oauthClient{id: "cc-" + strings.ToLower(rand.Text()[:8]), secret: rand.Text()},
		web:    oauthClient{id: "web-" + strings.ToLower(rand.Text()[:8]), secret: rand.Text()},
		client: &http.Client{Timeout: 30 * time.Second},
	}
	cmd := exec.Command("node", "server.mjs")
	cmd.Dir = "oidc-provider"
	cmd.Env = append(os.Environ(),
		"AUDIENCE="+audience,
		"SCOPES=models:read chat:completions generate:images",
		"CC_CLIENT_ID="+op.cc.id, "CC_CLIENT_SECRET="+op.cc.secret,
		"WEB_CLIENT_ID="+op.web.id, "WEB_CLIENT_SECRET="+op.web.secret,
		"WEB_REDIRECT_URI="+opCallback,
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	var stderr bytes.Buffer
	var mu sync.Mutex
	cmd.Stderr = &lockedBuffer{mu: &mu, b: &stderr}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node: %v", err)
	}
	issuer := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m struct{ Issuer string }
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Issuer != "" {
				issuer <- m.Issuer
			}
		}
		_ = cmd.Wait()
		close(issuer)
		close(exited)
	}()
	t.Cleanup(func() {
		op.client.CloseIdleConnections()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("oidc-provider stderr:\n%s", stderr.String())
			mu.Unlock()
		}
	})
	select {
	case iss, ok := <-issuer:
		if !ok {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("oidc-provider exited at start:\n%s", stderr.String())
		}
		op.issuer = iss
	case <-time.After(30 * time.Second):
		t.Fatal("oidc-provider did not start within 30s")
	}
	return op
}

// token posts form to the token endpoint with c's credentials.
func (op *oidcProvider) token(c oauthClient, form url.Values) tokenResponse {
	op.t.Helper()
	return postToken(op.t, op.client, "oidc-provider", op.issuer+"/token", c, form)
}

// clientCredentials gets an at+jwt access token for scope at our resource.
func (op *oidcProvider) clientCredentials(scope string) string {
	op.t.Helper()
	return op.token(op.cc, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}, "resource": {audience}}).AccessToken
}

// authorizationCode runs the code flow through oidc-provider's development
// interactions (plain HTML forms: login, then consent), posting the forms
// with an http.Client that follows no redirects.
func (op *oidcProvider) authorizationCode(scope string) tokenResponse {
	op.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		op.t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer browser.CloseIdleConnections()
	base, _ := url.Parse(op.issuer)
	// follow sends one request and returns the absolute redirect target.
	follow := func(req *http.Request) *url.URL {
		op.t.Helper()
		resp, err := browser.Do(req)
		if err != nil {
			op.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		loc, err := resp.Location()
		if resp.StatusCode/100 != 3 || err != nil {
			op.t.Fatalf("%s %s: %d, want a redirect (%.300s)", req.Method, req.URL.Path, resp.StatusCode, b)
		}
		return base.ResolveReference(loc)
	}
	get := func(u *url.URL) *url.URL {
		req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		return follow(req)
	}
	post := func(u *url.URL, form url.Values) *url.URL {
		req, _ := http.NewRequest(http.MethodPost, u.String(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return follow(req)
	}
	auth, _ := url.Parse(op.issuer + "/auth?" + url.Values{
		"client_id": {op.web.id}, "response_type": {"code"}, "scope": {scope},
		"redirect_uri": {opCallback}, "state": {rand.Text()}, "nonce": {rand.Text()},
		"resource": {audience},
	}.Encode())
	u := get(auth)
	// Login, then consent; each interaction resumes the authorization.
	for _, form := range []url.Values{
		{"prompt": {"login"}, "login": {"alice"}, "password": {"any"}},
		{"prompt": {"consent"}},
	} {
		if !strings.HasPrefix(u.Path, "/interaction/") {
			op.t.Fatalf("expected an interaction, got %s", u.Redacted())
		}
		u = get(post(u, form))
	}
	if !strings.HasPrefix(u.String(), opCallback) || u.Query().Get("code") == "" {
		op.t.Fatalf("the flow ended at %s, want the callback with a code", u.Redacted())
	}
	return op.token(op.web, url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {opCallback}, "resource": {audience}})
}

// TestOIDCProvider drives scopegate with RFC 9068 tokens from panva's
// oidc-provider, with require_at_jwt on: its access tokens carry typ at+jwt.
func TestOIDCProvider(t *testing.T) {
	op := startOIDCProvider(t)
	g := startGateway(t, fmt.Sprintf(`issuer: %q
    audiences: [%q]
    require_at_jwt: true`, op.issuer, audience))

	t.Run("client_credentials_with_scope", func(t *testing.T) {
		tok := op.clientCredentials("chat:completions")
		if typ := headerOf(t, tok)["typ"]; typ != "at+jwt" {
			t.Fatalf("oidc-provider access token typ %v; want at+jwt (is the resource indicator configured?)", typ)
		}
		g.chat(tok).want(t, "chat with an oidc-provider token", http.StatusOK, "")
	})
	t.Run("client_credentials_without_scope", func(t *testing.T) {
		tok := op.clientCredentials("models:read")
		g.call(http.MethodGet, "/v1/models", tok, "").want(t, "models with models:read", http.StatusOK, "")
		g.chat(tok).want(t, "chat without chat:completions", http.StatusForbidden, "insufficient_scope")
	})

	tr := op.authorizationCode("openid chat:completions")
	t.Run("authorization_code_access_token", func(t *testing.T) {
		if c := claimsOf(t, tr.AccessToken); c["sub"] != "alice" {
			t.Errorf("access token sub %v; want alice", c["sub"])
		}
		g.chat(tr.AccessToken).want(t, "chat with the code flow's access token", http.StatusOK, "")
	})
	t.Run("authorization_code_id_token_refused", func(t *testing.T) {
		if tr.IDToken == "" {
			t.Fatal("oidc-provider returned no ID token for scope openid")
		}
		g.chat(tr.IDToken).want(t, "chat with oidc-provider's ID token", http.StatusUnauthorized, "invalid_token")
	})
}
