package demo

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRunMock(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- RunMock(ctx, MockOptions{Listen: "127.0.0.1:0", IssuerListen: "127.0.0.1:0",
			Audience: "https://aud.test", Scopes: []string{"a", "b"}, Out: pw})
		pw.Close()
	}()
	var apiAddr, issURL, tok string
	sc := bufio.NewScanner(pr)
	for tok == "" && sc.Scan() {
		line := sc.Text()
		if a, ok := strings.CutPrefix(line, "mock model API on "); ok {
			apiAddr = a
		}
		if rest, ok := strings.CutPrefix(line, "test issuer "); ok {
			issURL, _, _ = strings.Cut(rest, " ")
		}
		if v, ok := strings.CutPrefix(line, "TOKEN="); ok {
			tok = v
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if apiAddr == "" || issURL == "" || tok == "" {
		t.Fatalf("RunMock printed no API address, issuer or token (api %q, issuer %q)", apiAddr, issURL)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	get := func(url string, v any) {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d; want 200", url, resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	var models struct{ Data []struct{ ID string } }
	get("http://"+apiAddr+"/v1/models", &models)
	if len(models.Data) == 0 {
		t.Error("the mock API lists no models")
	}
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	get(issURL+"/.well-known/openid-configuration", &disc)
	if disc.Issuer != issURL || disc.JWKSURI != issURL+"/jwks.json" {
		t.Errorf("discovery issuer %q, jwks_uri %q; want %q and its /jwks.json", disc.Issuer, disc.JWKSURI, issURL)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts; want 3", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct{ Iss, Aud, Scope string }
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims.Iss != issURL || claims.Aud != "https://aud.test" || claims.Scope != "a b" {
		t.Errorf("token claims iss %q aud %q scope %q; want %q, https://aud.test, \"a b\"", claims.Iss, claims.Aud, claims.Scope, issURL)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunMock after cancel: %v; want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("RunMock did not return within 30s of cancel")
	}
}

func TestRunMockNeedsListen(t *testing.T) {
	if err := RunMock(context.Background(), MockOptions{}); err == nil {
		t.Error("RunMock without Listen: nil error; want one")
	}
}
