package gateway

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/header"
	"github.com/scopegate/scopegate/internal/issuer"
	"github.com/scopegate/scopegate/internal/mockapi"
	"github.com/scopegate/scopegate/internal/testkit"
	"github.com/scopegate/scopegate/policy"
)

// fuzzTokens are the credentials FuzzHandler chooses from by index; the
// scopes each grants decide what may reach the upstream.
type fuzzToken struct {
	raw    string
	scopes []string // granted; nil: no valid token
}

// FuzzHandler drives random requests (method, request-target, one extra
// header, one of a few tokens) through Gateway.ServeHTTP in front of a
// recording upstream. The invariant: the upstream receives a request only
// if a route allows its method and decoded path and, for a protected
// route, the token grants the route's scopes; it receives exactly the
// canonical path, never the client's token, never client identity
// headers; and the gateway never answers 500.
func FuzzHandler(f *testing.F) {
	f.Add("GET", "/v1/models", "X-Test", "1", uint8(1))
	f.Add("GET", "/v1/%6Dodels?access_token=x", "X-Auth-Subject", "root", uint8(1))
	f.Add("POST", "/v1/chat/completions", "Content-Length", "2", uint8(2))
	f.Add("GET", "/public/../v1/models", "Connection", "X-Auth-Subject", uint8(0))
	f.Add("GET", "/public/a%2fb", "X_Auth_Subject", "root", uint8(0))
	f.Add("GET", "http://evil/v1/models", "Host", "evil", uint8(1))
	f.Add("OPTIONS", "*", "X-HTTP-Method-Override", "GET", uint8(1))
	f.Add("GET", "/v1/models", "Authorization", "Bearer x", uint8(1))
	f.Add("GET", "/v1/models", "X-Test", "1", uint8(3))
	f.Add("GET", "/v1/models", "X-Test", "1", uint8(4))

	iss, err := issuer.New(issuer.Options{})
	if err != nil {
		f.Fatal(err)
	}
	issSrv := httptest.NewServer(iss.Handler())
	f.Cleanup(issSrv.Close)
	iss.SetURL(issSrv.URL)
	api := mockapi.New(mockapi.Options{StreamDelay: -1})
	upSrv := httptest.NewServer(api.Handler())
	f.Cleanup(upSrv.Close)
	cfg, err := config.Parse([]byte(fmt.Sprintf(rigConfig, issSrv.URL, upSrv.URL, "", "", "", "1h", "2s")), noEnv)
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	g, err := New(ctx, cfg, Deps{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(g.Close)
	testkit.WaitFor(f, "keys", g.Ready)
	spec := func(scopes ...string) string {
		return iss.AccessToken(issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli", Audience: []string{rigAudience}, Scopes: scopes})
	}
	tokens := []fuzzToken{
		{"", nil},
		{spec(allScopes...), allScopes},
		{spec("chat:completions"), []string{"chat:completions"}},
		{iss.IDToken("alice", "cli"), nil},
		{spec(allScopes...) + "x", nil}, // bad signature
	}
	table := g.runtime.Load().cfg.Table

	f.Fuzz(func(t *testing.T, method, target, hname, hval string, which uint8) {
		tok := tokens[int(which)%len(tokens)]
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: gw.example\r\n", method, target)
		if tok.raw != "" {
			b.WriteString("Authorization: Bearer " + tok.raw + "\r\n")
		}
		fmt.Fprintf(&b, "%s: %s\r\n\r\n", hname, hval)
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(b.String())))
		if err != nil {
			return // net/http's server would refuse it before the gateway
		}
		req.RemoteAddr = "192.0.2.1:1234"
		api.Reset()
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		if rec.Code == http.StatusInternalServerError {
			t.Fatalf("500 for %q", b.String())
		}
		// Only this request's records: the upstream may finish reading a
		// failed earlier request's body after the gateway answered it.
		for _, up := range byID(api.Requests(), rec.Header().Get("X-Request-Id")) {
			canon, decoded, err := policy.CanonicalPath(up.RawPath)
			if err != nil || canon != up.RawPath || decoded != up.Path {
				t.Fatalf("upstream got non-canonical path %q", up.RawPath)
			}
			rawPath, _, _ := strings.Cut(req.RequestURI, "?")
			if c, _, err := policy.CanonicalPath(rawPath); err != nil || c != up.RawPath {
				t.Fatalf("client sent %q; upstream got %q", req.RequestURI, up.RawPath)
			}
			route, _ := table.Match(up.Method, up.Path)
			if route == nil || up.Method != req.Method {
				t.Fatalf("upstream got %s %q: no route allows it", up.Method, up.RawPath)
			}
			if !route.Public {
				if tok.scopes == nil || route.Decide(tok.scopes).Allowed == false {
					t.Fatalf("upstream got %s %q for route %s with token %d", up.Method, up.RawPath, route.Name, which)
				}
				if up.Header.Get("X-Auth-Subject") != "alice" {
					t.Fatalf("identity %q", up.Header.Values("X-Auth-Subject"))
				}
			} else if up.Header.Get("X-Auth-Subject") != "" {
				t.Fatalf("public route forwarded a client identity %q", up.Header.Values("X-Auth-Subject"))
			}
			if tok.raw != "" {
				for k, v := range up.Header {
					if slices.ContainsFunc(v, func(s string) bool { return strings.Contains(s, tok.raw) }) {
						t.Fatalf("upstream got the client's token in %s", k)
					}
				}
			}
			for k := range up.Header {
				if strings.Contains(k, "_") && identityLike(k) {
					t.Fatalf("upstream got %s", k)
				}
			}
		}
	})
}

// identityLike reports whether an underscore spelling k would be read by
// an upstream as one of the headers the gateway manages: an identity
// header, Authorization, a forwarding or a method-override header. Other
// underscore headers (X_Auth_ alone, say) are client data and pass.
func identityLike(k string) bool {
	n := header.Norm(k)
	switch n {
	case "x-auth-subject", "x-auth-client-id", "x-auth-scopes", "authorization",
		"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "forwarded", "x-real-ip",
		"x-http-method-override", "x-http-method", "x-method-override":
		return true
	}
	return false
}
