package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/demo"
)

// stringList is a flag that may be repeated.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// cmdToken mints a token for the running demo's issuer. It never signs for
// a real issuer: the only key it has is the one a demo left in its private
// state directory.
func cmdToken(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var scopes stringList
	fs.Var(&scopes, "scope", `scopes, space-separated (repeatable), e.g. --scope "chat:completions models:read"`)
	sub := fs.String("sub", "demo-user", "the token's subject")
	client := fs.String("client", "demo-app", "the token's client_id")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	idToken := fs.Bool("id-token", false, "mint an OpenID Connect ID token (the gateway refuses it) instead of an access token")
	config := fs.String("config", "", "refused: tokens are only minted for the demo issuer")
	demoURL := fs.String("demo", "", "the proxy URL of the demo to mint for (default: the only one running)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scopegate token: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *config != "" {
		fmt.Fprintf(stderr, "scopegate token: scopegate token only mints tokens for the demo issuer; it cannot sign for the issuers of %s (get tokens from your authorization server)\n", *config)
		return 2
	}
	if *ttl <= 0 {
		fmt.Fprintln(stderr, "scopegate token: --ttl must be positive")
		return 2
	}
	st, err := demo.ReadState(context.Background(), *demoURL)
	if err != nil {
		fmt.Fprintf(stderr, "scopegate token: %v\n", err)
		return 1
	}
	tok, err := st.Mint(demo.TokenSpec{
		Scopes: strings.Fields(strings.Join(scopes, " ")), Subject: *sub, ClientID: *client, TTL: *ttl, IDToken: *idToken,
	})
	if err != nil {
		fmt.Fprintf(stderr, "scopegate token: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}
