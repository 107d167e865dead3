package main

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/issuer"
)

func TestExplainCommand(t *testing.T) {
	iss, err := issuer.New(issuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(iss.Handler())
	defer srv.Close()
	iss.SetURL(srv.URL)
	const aud = "https://models.test"
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf(`issuers:
  - issuer: %q
    audiences: [%q]
upstreams:
  models:
    url: "http://127.0.0.1:1"
routes:
  - name: chat
    methods: [POST]
    path: /v1/chat/completions
    upstream: models
    scopes: ["chat:completions"]
`, srv.URL, aud)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := iss.AccessToken(issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli", Audience: []string{aud}, Scopes: []string{"chat:completions"}})
	tokPath := filepath.Join(dir, "token")
	if err := os.WriteFile(tokPath, []byte("Bearer "+tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"allowed, flags after the arguments", []string{"--config", cfgPath, "POST", "/v1/chat/completions", "--token-file", tokPath}, 0,
			[]string{"route:     chat", "decision:  allow (reason allowed)", "forward:   POST http://127.0.0.1:1/v1/chat/completions (not contacted)"}},
		{"no token", []string{"--config", cfgPath, "POST", "/v1/chat/completions"}, 3,
			[]string{"requires:  a valid bearer token with scopes: chat:completions", "decision:  deny (reason missing_token): the client gets HTTP 401"}},
		{"header flag", []string{"--config", cfgPath, "--header", "Authorization: Bearer " + tok, "--token-file", tokPath, "POST", "/v1/chat/completions"}, 3,
			[]string{"reason duplicate_authorization"}},
		{"no route", []string{"--config", cfgPath, "GET", "/v1/nothing"}, 3,
			[]string{"route:     none matches GET /v1/nothing"}},
		{"json", []string{"--config", cfgPath, "--json", "POST", "/v1/chat/completions"}, 3,
			[]string{`"decision": "deny"`, `"reason": "missing_token"`}},
		{"missing target", []string{"--config", cfgPath, "POST"}, 2, nil},
		{"bad header flag", []string{"--config", cfgPath, "--header", "nocolon", "GET", "/x"}, 2, nil},
		{"missing token file", []string{"--config", cfgPath, "--token-file", filepath.Join(dir, "nope"), "GET", "/x"}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"explain"}, tt.args...), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d; want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout.String(), stderr.String())
			}
			for _, want := range tt.contains {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, stdout.String())
				}
			}
			out := stdout.String() + stderr.String()
			for _, part := range append([]string{tok}, strings.Split(tok, ".")...) {
				if strings.Contains(out, part) {
					t.Errorf("the output holds a token or part of one")
				}
			}
		})
	}
}
