// Package demo runs scopegate's embedded default: a local OpenID Connect
// issuer, a mock OpenAI-compatible model API and the gateway in front of
// it, and prints curl commands that show each decision.
package demo

import (
	"context"
	"crypto/rand"
	_ "embed"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/gateway"
	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/mockapi"
	"github.com/scopegate/scopegate/internal/mockmcp"
)

//go:embed demo.yaml
var configYAML []byte

// keysWait bounds the wait for the issuer's keys before the welcome text.
const keysWait = 10 * time.Second

// Audience is the demo's resource identifier: every demo token's aud.
const Audience = "https://models.scopegate.demo"

// Options are the demo's listeners and outputs.
type Options struct {
	Listen, AdminListen string    // defaults 127.0.0.1:8080, 127.0.0.1:9090
	Out                 io.Writer // the welcome text and curl commands
	Log                 io.Writer // JSON logs and audit records
	// Ready, if set, is called once the gateway serves, with the demo.
	Ready func(*Demo)
}

// Demo is a running demo: its issuer (to mint tokens) and addresses.
type Demo struct {
	Issuer   *issuer.Issuer
	API      *mockapi.API
	ProxyURL string
	AdminURL string
	Gateway  *gateway.Gateway
	// AdminToken is the admin API's bearer token of this run.
	AdminToken string
}

// Run starts the demo and blocks until ctx is done.
func Run(ctx context.Context, opts Options) error {
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:8080"
	}
	if opts.AdminListen == "" {
		opts.AdminListen = "127.0.0.1:9090"
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	be, err := startBackends()
	if err != nil {
		return err
	}
	defer be.close()
	iss, api := be.iss, be.api

	env := map[string]string{
		"DEMO_ISSUER":   iss.URL(),
		"DEMO_UPSTREAM": be.apiURL,
		"DEMO_MCP":      be.mcpURL,
		"DEMO_LISTEN":   opts.Listen,
		"DEMO_ADMIN":    opts.AdminListen,
		// A fresh admin token per run: the demo's admin API (revocation)
		// is local, and printed so that it can be tried.
		"DEMO_ADMIN_TOKEN": "demo-admin-" + rand.Text(),
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := config.Parse(configYAML, lookup)
	if err != nil {
		return fmt.Errorf("embedded config: %w", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(opts.Log)), zap.InfoLevel))
	reg := prometheus.NewRegistry()
	gw, err := gateway.New(ctx, cfg, gateway.Deps{Logger: logger, Registerer: reg, Stdout: opts.Log, Stderr: opts.Log})
	if err != nil {
		return err
	}
	// Key fetching stops when Run returns, on a listener error too: nothing
	// of the demo outlives it.
	defer gw.Close()
	d := &Demo{Issuer: iss, API: api, Gateway: gw, AdminToken: env["DEMO_ADMIN_TOKEN"]}
	var removeState func()
	err = gw.Run(ctx, func(p, a net.Addr) {
		d.ProxyURL, d.AdminURL = "http://"+p.String(), "http://"+a.String()
		// DPoP proofs name the URL clients use: now that the port is
		// known, the config says it.
		env["DEMO_PUBLIC_URL"] = publicURL(p)
		cfg, err := config.Parse(configYAML, lookup)
		if err == nil {
			err = gw.Reload(cfg)
		}
		if err != nil {
			logger.Warn("demo: DPoP stays on the placeholder URL", zap.Error(err))
		}
		// Wait for the keys, so the printed commands work at once. The
		// issuer is in this process: milliseconds, but a loaded machine
		// may take seconds; past keysWait the welcome is printed all the
		// same. Stopping (ctx) ends the wait.
		for deadline := time.Now().Add(keysWait); !gw.Ready() && ctx.Err() == nil && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		// The key goes to a private file for `scopegate token`; without it
		// the demo still works.
		var serr error
		if removeState, serr = saveState(d); serr != nil {
			fmt.Fprintf(opts.Out, "(scopegate token will not work: %v)\n", serr)
		}
		printWelcome(opts.Out, d)
		if opts.Ready != nil {
			opts.Ready(d)
		}
	})
	if removeState != nil {
		removeState()
	}
	return err
}

// publicURL is the proxy's URL for DPoP proofs: its address, or, when it
// listens on every interface, loopback with its port.
func publicURL(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
		return fmt.Sprintf("http://127.0.0.1:%d", ta.Port)
	}
	return "http://" + a.String()
}

// TokenScopes are the scopes of the token the welcome text prints: the
// model list, chat with gpt-4o-mini, and the MCP server's search tool.
var TokenScopes = []string{"models:read", "chat:completions", "mcp:tools", "tool:search"}

// Token mints a demo access token with the given scopes.
func (d *Demo) Token(scopes ...string) string { return d.tokenFor("demo-user", scopes...) }

func (d *Demo) tokenFor(sub string, scopes ...string) string {
	return d.Issuer.AccessToken(issuer.AccessTokenSpec{
		Subject: sub, ClientID: "demo-app", Audience: []string{Audience},
		Scopes: scopes, TTL: 12 * time.Hour,
	})
}

func printWelcome(w io.Writer, d *Demo) {
	chat := d.Token(TokenScopes...)
	budget := d.tokenFor("demo-budget", "chat:completions")
	idt := d.Issuer.IDToken("demo-user", "demo-app")
	p := d.ProxyURL
	var b strings.Builder
	fmt.Fprintf(&b, `
scopegate demo is running.

  gateway    %s   (routes: GET /v1/models, POST /v1/chat/completions,
                                      POST /v1/images/generations, POST /v1/embeddings,
                                      /mcp: an MCP server, per-tool rules)
  admin      %s   (/metrics, /healthz, /readyz, /v1/revocations)
  issuer     %s   (a local OpenID Connect provider)
  model API  a mock OpenAI-compatible backend behind the gateway
  MCP server tools search, send_email, delete_file (MCP Go SDK) behind /mcp

The token below carries the scopes "models:read chat:completions mcp:tools
tool:search" and is valid for 12 hours. Paste these commands in another terminal:

# 1. Allowed: a streaming chat completion with gpt-4o-mini (200, server-sent events)
TOKEN=%s
curl -N %s/v1/chat/completions -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' \
  -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello"}]}'

# 2. Refused, 403 insufficient_scope: gpt-4o needs the scope model:gpt-4o too
curl -i %s/v1/chat/completions -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' \
  -d '{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}'

# 3. The model list shows only what the token may use (gpt-4o-mini)
curl -s %s/v1/models -H "Authorization: Bearer $TOKEN"

# 4. Refused, 403 insufficient_scope: the token lacks generate:images
curl -i %s/v1/images/generations -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"model":"dall-e-3","prompt":"a lighthouse"}'

# 5. Refused, 401 invalid_token: an OpenID Connect ID token is no access token
curl -i %s/v1/models -H "Authorization: Bearer %s"

# 6. Refused, 401: no token; the challenge points to the resource metadata
curl -i %s/v1/models
curl -s %s/.well-known/oauth-protected-resource

%s# 11. Revoke the token through the admin API (201), then the next call is refused,
#    401 invalid_token (audit reason token_revoked); no restart, cache hit or not
curl -s -X POST %s/v1/revocations -H "Authorization: Bearer %s" \
  -d "{\"token\":\"$TOKEN\",\"by\":\"demo\"}"
curl -i %s/v1/models -H "Authorization: Bearer $TOKEN"
# (the same with the CLI: SCOPEGATE_ADMIN_TOKEN=%s scopegate revoke --admin %s token "$TOKEN";
#  list with: scopegate revoke --admin %s list)

# 12. A budget running out: user demo-budget may spend 0.001 a day on chat (each
#    call costs 0.00007 from its usage); then 429 budget_exceeded, with the
#    Retry-After and retry-after-ms an OpenAI SDK waits for (until the UTC day ends)
BUDGET_TOKEN=%s
for i in $(seq 15); do curl -s -o /dev/null -w '%%{http_code} ' %s/v1/chat/completions \
  -H "Authorization: Bearer $BUDGET_TOKEN" -H 'Content-Type: application/json' \
  -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'; done; echo
curl -i %s/v1/chat/completions -H "Authorization: Bearer $BUDGET_TOKEN" \
  -H 'Content-Type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'

# More tokens, with any scopes (in another terminal, while the demo runs):
scopegate token --scope "generate:images model:dall-e-3"  # or: go run ./cmd/scopegate token ...
scopegate token --scope "chat:completions model:gpt-4o" --sub alice --ttl 5m
scopegate token --id-token                                # an ID token, to see it refused
scopegate token --dpop --scope "models:read"              # DPoP-bound (RFC 9449): prints a request with a fresh proof
scopegate token --scope "mcp:tools tool:search tool:send_email"  # may call send_email too

# Metrics and the audit trail
curl -s %s/metrics | grep scopegate_requests_total
(audit records are the JSON lines this process writes to stderr)

Stop with Ctrl-C.
`, p, d.AdminURL, d.Issuer.URL(), chat, p, p, p, p, p, idt, p, p, mcpCommands(p), d.AdminURL, d.AdminToken, p,
		d.AdminToken, d.AdminURL, d.AdminURL, budget, p, p, d.AdminURL)
	_, _ = io.WriteString(w, b.String())
}

// backends are the demo's issuer, model API and MCP server, each served
// on a loopback port of its own.
type backends struct {
	iss            *issuer.Issuer
	api            *mockapi.API
	apiURL, mcpURL string
	servers        []*http.Server
}

// startBackends starts the issuer, the model API and the MCP server.
func startBackends() (*backends, error) {
	be := &backends{api: mockapi.New(mockapi.Options{})}
	var err error
	if be.iss, err = issuer.New(issuer.Options{}); err != nil {
		return nil, err
	}
	var lns []net.Listener
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	be.iss.SetURL("http://" + lns[0].Addr().String())
	be.apiURL, be.mcpURL = "http://"+lns[1].Addr().String(), "http://"+lns[2].Addr().String()
	handlers := []http.Handler{
		be.iss.Handler(),
		be.api.Handler(),
		// Stateless: each printed curl command works alone, without a session.
		mockmcp.New(mockmcp.Options{Stateless: true}),
	}
	for i, h := range handlers {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		be.servers = append(be.servers, srv)
		go func() { _ = srv.Serve(lns[i]) }()
	}
	return be, nil
}

func (be *backends) close() {
	for _, s := range be.servers {
		s.Close()
	}
}
