package interop

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/scopegate/scopegate/internal/mockmcp"
	"github.com/scopegate/scopegate/internal/testkit"
)

// mcpRoute protects the MCP server: every tool needs tool:<name>, and
// delete_file is denied to every token.
const mcpRoute = `  - name: tools
    path: /mcp
    upstream: tools
    scopes: ["mcp:use"]
    mcp:
      tools:
        - {name: delete_file, deny: true}
      default: scopes
`

// TestMCPHydra: the official MCP Go SDK's client, through scopegate, to the
// SDK's server, authorized by Ory Hydra. The client is given only the MCP
// URL and a client registered at Hydra: the SDK's own OAuth support
// (auth.AuthorizationCodeHandler) finds Hydra from the 401's
// resource_metadata (RFC 9728), runs the authorization-code flow with PKCE,
// and steps up on a 403 naming a missing tool scope.
func TestMCPHydra(t *testing.T) {
	h := startHydra(t)
	var passedThrough atomic.Int64
	mock := mockmcp.New(mockmcp.Options{})
	tools := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			passedThrough.Add(1)
		}
		mock.ServeHTTP(w, r)
	}))
	t.Cleanup(tools.Close)
	// The resource is the MCP endpoint's own URL (the SDK checks the
	// metadata's resource against it), so the port is chosen first.
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	resource := "http://" + listen + "/mcp"
	g := startGatewaySpec(t, gatewaySpec{
		issuer: fmt.Sprintf(`issuer: %q
    audiences: [%q]
    min_refresh_interval: 1s`, h.public, resource),
		listen:    listen,
		upstreams: fmt.Sprintf("  tools:\n    url: %q\n", tools.URL),
		routes:    mcpRoute,
		extra: fmt.Sprintf(`resource_metadata:
  resource: %q
  scopes_supported: ["mcp:use", "tool:search"]
`, resource),
	})

	client := oauthClient{id: "mcp-" + strings.ToLower(rand.Text()[:10]), secret: rand.Text()}
	h.adminJSON(http.MethodPost, "/admin/clients", map[string]any{
		"client_id": client.id, "client_secret": client.secret,
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"redirect_uris": []string{hydraCallback}, "scope": "mcp:use tool:search tool:send_email",
		"audience": []string{resource},
		// The SDK prefers client_secret_post when the server offers it.
		"token_endpoint_auth_method": "client_secret_post",
	}, nil)
	flows := &hydraBrowser{h: h, audience: resource}
	handler, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		PreregisteredClient: &oauthex.ClientCredentials{
			ClientID: client.id, ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: client.secret},
		},
		RedirectURL:              hydraCallback,
		AuthorizationCodeFetcher: flows.fetch,
		Client:                   &http.Client{Timeout: 30 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var progress []float64
	c := sdk.NewClient(&sdk.Implementation{Name: "interop", Version: "1"}, &sdk.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *sdk.ProgressNotificationClientRequest) {
			mu.Lock()
			defer mu.Unlock()
			progress = append(progress, r.Params.Progress)
		},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{
		Endpoint: resource, OAuthHandler: handler, MaxRetries: -1,
		HTTPClient: &http.Client{Transport: &recorder{base: http.DefaultTransport, g: g}},
	}, nil)
	if err != nil {
		t.Fatalf("Connect through the gateway with Hydra: %v", err)
	}
	defer cs.Close()

	t.Run("discovery", func(t *testing.T) {
		got := flows.requests()
		if len(got) != 1 || !strings.HasPrefix(got[0].endpoint, h.public+"/oauth2/auth") {
			t.Fatalf("authorization requests %+v; want one, to Hydra's authorization endpoint found from the resource metadata", got)
		}
		if want := []string{"mcp:use", "tool:search"}; !slices.Equal(got[0].scopes, want) {
			t.Errorf("the SDK asked for scopes %v; want the metadata's scopes_supported %v", got[0].scopes, want)
		}
		if got[0].resource != resource {
			t.Errorf("the SDK named resource %q (RFC 8707); want %q", got[0].resource, resource)
		}
	})
	t.Run("listing_filtered", func(t *testing.T) {
		lt, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tl := range lt.Tools {
			names = append(names, tl.Name)
		}
		if !slices.Equal(names, []string{mockmcp.ToolSearch}) {
			t.Errorf("listed %v; want [search] (send_email needs tool:send_email, delete_file is denied)", names)
		}
	})
	t.Run("allowed_tool_streams", func(t *testing.T) {
		p := &sdk.CallToolParams{Name: mockmcp.ToolSearch, Arguments: map[string]any{"query": "lighthouses"}}
		p.SetProgressToken("p1")
		res, err := cs.CallTool(ctx, p)
		if err != nil || res.IsError || len(res.Content) != 1 {
			t.Fatalf("CallTool(search) = %+v, %v", res, err)
		}
		if txt := res.Content[0].(*sdk.TextContent).Text; txt != "3 results for lighthouses" {
			t.Errorf("search answered %q", txt)
		}
		// The progress notifications came on the call's SSE stream,
		// before its result; the handler may run just after CallTool
		// returns.
		ok := testkit.Wait(5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(progress) == mockmcp.Results })
		mu.Lock()
		defer mu.Unlock()
		if !ok || !slices.Equal(progress, []float64{1, 2, 3}) {
			t.Errorf("progress notifications %v; want [1 2 3] from the streamed call", progress)
		}
	})
	t.Run("step_up", func(t *testing.T) {
		// 403 insufficient_scope, scope="mcp:use tool:send_email": the SDK
		// asks Hydra for the union of what it holds and what the
		// challenge names, then retries with the new token.
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: mockmcp.ToolSendEmail, Arguments: map[string]any{"to": "bob@example.com"}})
		if err != nil || res.IsError || res.Content[0].(*sdk.TextContent).Text != "sent to bob@example.com" {
			t.Fatalf("CallTool(send_email) after step-up = %+v, %v", res, err)
		}
		got := flows.requests()
		if len(got) != 2 || !slices.Contains(got[1].scopes, "tool:send_email") || !slices.Contains(got[1].scopes, "tool:search") {
			t.Errorf("authorization requests %+v; want a second one asking for tool:search and tool:send_email", got)
		}
		if names := g.mcpDenials(); !slices.Contains(names, "send_email") {
			t.Errorf("the audit records no refusal of send_email before the step-up (denied: %v)", names)
		}
	})
	t.Run("refused_tool", func(t *testing.T) {
		_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: mockmcp.ToolDeleteFile, Arguments: map[string]any{"path": "/etc/passwd"}})
		if err == nil || !strings.Contains(err.Error(), "scopegate: tool delete_file is denied on this route") {
			t.Fatalf("CallTool(delete_file) error %v; want the gateway's JSON-RPC refusal", err)
		}
		// Every 403 says insufficient_scope (docs/authorization.md), so the SDK tries
		// one step-up (with the metadata's scopes: the challenge names no
		// scope for a denied tool) before it gives up: one more request,
		// not a loop.
		if n := len(flows.requests()); n != 3 {
			t.Errorf("%d authorization requests after the refusal; want 3 (one futile step-up)", n)
		}
		var werr *jsonrpc.Error
		if !errors.As(err, &werr) || werr.Code != -32600 {
			t.Errorf("error %#v; want the SDK's JSON-RPC error with code -32600", err)
		}
	})
	t.Run("no_token_passthrough", func(t *testing.T) {
		if n := passedThrough.Load(); n != 0 {
			t.Errorf("%d requests reached the MCP server with an Authorization header; want none (the spec forbids token passthrough)", n)
		}
	})
}

// TestMCPHydraClientCredentials: a machine client's token from Hydra's
// client_credentials grant, set on the SDK's HTTP client without OAuth
// support: the refusal of a tool reaches the caller as the SDK's error
// carrying the gateway's message.
func TestMCPHydraClientCredentials(t *testing.T) {
	h := startHydra(t)
	tools := httptest.NewServer(mockmcp.New(mockmcp.Options{JSONResponse: true}))
	t.Cleanup(tools.Close)
	g := startGatewaySpec(t, gatewaySpec{
		issuer: hydraIssuer(h), listen: "127.0.0.1:0",
		upstreams: fmt.Sprintf("  tools:\n    url: %q\n", tools.URL), routes: mcpRoute,
	})
	cc := h.createClient([]string{"client_credentials"}, "mcp:use tool:search")
	tok := g.remember(h.clientCredentials(cc, "mcp:use tool:search"))
	ctx := t.Context()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "interop", Version: "1"}, nil).Connect(ctx, &sdk.StreamableClientTransport{
		Endpoint: g.proxy + "/mcp", MaxRetries: -1, DisableStandaloneSSE: true,
		HTTPClient: &http.Client{Transport: bearerTransport{tok}},
	}, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer cs.Close()
	lt, err := cs.ListTools(ctx, nil)
	if err != nil || len(lt.Tools) != 1 || lt.Tools[0].Name != mockmcp.ToolSearch {
		t.Errorf("ListTools = %+v, %v; want search only", lt, err)
	}
	if res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: mockmcp.ToolSearch, Arguments: map[string]any{"query": "q"}}); err != nil || res.IsError {
		t.Errorf("CallTool(search) = %+v, %v", res, err)
	}
	_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: mockmcp.ToolSendEmail, Arguments: map[string]any{"to": "x"}})
	if err == nil || !strings.Contains(err.Error(), "scopegate: tool send_email needs scope tool:send_email") {
		t.Errorf("CallTool(send_email) error %v; want the gateway's refusal naming tool:send_email", err)
	}
}

// mcpDenials lists the tools of the MCP refusals in the gateway's audit.
func (g *gatewayProc) mcpDenials() []string {
	var out []string
	for _, l := range strings.Split(g.output(), "\n") {
		var rec struct {
			Decision string `json:"decision"`
			Tool     string `json:"mcp_tool"`
		}
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Decision == "deny" && rec.Tool != "" {
			out = append(out, rec.Tool)
		}
	}
	return out
}

type bearerTransport struct{ tok string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return http.DefaultTransport.RoundTrip(r)
}

// recorder is the SDK client's transport: it hands every token it sends
// to the gateway process (whose output must never contain one).
type recorder struct {
	base http.RoundTripper
	g    *gatewayProc
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
		r.g.remember(tok)
	}
	return r.base.RoundTrip(req)
}

// authRequest is one authorization request the SDK made.
type authRequest struct {
	endpoint, resource string
	scopes             []string
}

// hydraBrowser is the SDK's AuthorizationCodeFetcher: the user's browser,
// walking Hydra's redirects with login and consent accepted through the
// admin API (granting what was asked).
type hydraBrowser struct {
	h        *hydra
	audience string
	mu       sync.Mutex
	seen     []authRequest
}

func (b *hydraBrowser) requests() []authRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.seen)
}

func (b *hydraBrowser) fetch(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	u, err := url.Parse(args.URL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	b.mu.Lock()
	b.seen = append(b.seen, authRequest{endpoint: args.URL, resource: q.Get("resource"), scopes: strings.Fields(q.Get("scope"))})
	b.mu.Unlock()
	// Hydra takes the token's audience from its own "audience" parameter,
	// not from RFC 8707's "resource" that the SDK sends.
	q.Set("audience", b.audience)
	u.RawQuery = q.Encode()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer browser.CloseIdleConnections()
	next := func(u string) (*url.URL, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := browser.Do(req)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 3 {
			return nil, fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, body)
		}
		return resp.Location()
	}
	login, err := next(u.String())
	if err != nil {
		return nil, err
	}
	if e := login.Query().Get("error"); e != "" {
		return nil, fmt.Errorf("hydra refused the authorization request: %s: %s", e, login.Query().Get("error_description"))
	}
	var accepted struct {
		RedirectTo string `json:"redirect_to"`
	}
	b.h.adminJSON(http.MethodPut, "/admin/oauth2/auth/requests/login/accept?login_challenge="+
		url.QueryEscape(login.Query().Get("login_challenge")), map[string]any{"subject": "alice"}, &accepted)
	consent, err := next(accepted.RedirectTo)
	if err != nil {
		return nil, err
	}
	challenge := consent.Query().Get("consent_challenge")
	var asked struct {
		Scope    []string `json:"requested_scope"`
		Audience []string `json:"requested_access_token_audience"`
	}
	b.h.adminJSON(http.MethodGet, "/admin/oauth2/auth/requests/consent?consent_challenge="+url.QueryEscape(challenge), nil, &asked)
	b.h.adminJSON(http.MethodPut, "/admin/oauth2/auth/requests/consent/accept?consent_challenge="+url.QueryEscape(challenge),
		map[string]any{"grant_scope": asked.Scope, "grant_access_token_audience": asked.Audience}, &accepted)
	callback, err := next(accepted.RedirectTo)
	if err != nil {
		return nil, err
	}
	cq := callback.Query()
	if cq.Get("code") == "" {
		return nil, fmt.Errorf("the flow ended at %s without a code", callback.Redacted())
	}
	return &auth.AuthorizationResult{Code: cq.Get("code"), State: cq.Get("state"), Iss: cq.Get("iss")}, nil
}
