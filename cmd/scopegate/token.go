package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/scopegate/scopegate/dpop"
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
	dpopBound := fs.Bool("dpop", false, "bind the token to a DPoP key (RFC 9449 cnf.jkt) and print a request with a fresh proof")
	dpopKey := fs.String("dpop-key", "", "the DPoP key file (PKCS #8 PEM); created (ES256, 0600) if missing. Default: dpop-key.pem in the demo's state directory")
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
	if *dpopBound && *idToken {
		fmt.Fprintln(stderr, "scopegate token: --dpop binds access tokens; an ID token cannot be bound")
		return 2
	}
	st, err := demo.ReadState(context.Background(), *demoURL)
	if err != nil {
		fmt.Fprintf(stderr, "scopegate token: %v\n", err)
		return 1
	}
	spec := demo.TokenSpec{
		Scopes: strings.Fields(strings.Join(scopes, " ")), Subject: *sub, ClientID: *client, TTL: *ttl, IDToken: *idToken,
	}
	if *dpopBound {
		if *dpopKey == "" {
			*dpopKey = filepath.Join(demo.StateDir(), "dpop-key.pem")
		}
		key, err := loadOrCreateDPoPKey(*dpopKey)
		if err == nil {
			spec.JKT, err = dpop.Thumbprint(key.Public())
		}
		if err != nil {
			fmt.Fprintf(stderr, "scopegate token: %v\n", err)
			return 1
		}
	}
	tok, err := st.Mint(spec)
	if err != nil {
		fmt.Fprintf(stderr, "scopegate token: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	if *dpopBound {
		// On stderr, so that TOKEN=$(scopegate token --dpop) still works.
		fmt.Fprint(stderr, dpopUsage(st.ProxyURL, *dpopKey, tok))
	}
	return 0
}

// dpopUsage is how to use a DPoP-bound token: the DPoP scheme, and a fresh
// proof for each request (a proof is good once).
func dpopUsage(proxyURL, keyFile, tok string) string {
	u := proxyURL + "/v1/models"
	return fmt.Sprintf(`
# A DPoP-bound token (cnf.jkt): useless without the key in %[1]s.
# Send it with the DPoP scheme and a fresh proof for each request
# (the same request with Bearer, or with a used proof, gets 401):
TOKEN=%[3]s
curl -i %[2]s -H "Authorization: DPoP $TOKEN" \
  -H "DPoP: $(scopegate dpop-proof --key %[1]q --method GET --url %[2]s --token "$TOKEN")"

`, keyFile, u, tok)
}
