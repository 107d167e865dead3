package interop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/dpop"
)

// dpopKey makes a client key for alg (ES256 or EdDSA).
func dpopKey(t *testing.T, alg string) crypto.Signer {
	t.Helper()
	if alg == "EdDSA" {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// dpopToken gets a DPoP-bound access token from oidc-provider with
// client_credentials and a proof by key for its token endpoint.
func (op *oidcProvider) dpopToken(key crypto.Signer, alg, scope string) (tok, tokenType string) {
	op.t.Helper()
	endpoint := op.issuer + "/token"
	p, err := dpop.NewProof(key, alg, dpop.ProofParams{Method: http.MethodPost, URI: endpoint})
	if err != nil {
		op.t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}, "resource": {audience}}
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", p)
	req.SetBasicAuth(url.QueryEscape(op.cc.id), url.QueryEscape(op.cc.secret))
	resp, err := op.client.Do(req)
	if err != nil {
		op.t.Fatalf("oidc-provider token endpoint: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &tr) != nil || tr.AccessToken == "" {
		op.t.Fatalf("oidc-provider token endpoint with a DPoP proof: %d %s", resp.StatusCode, b)
	}
	return tr.AccessToken, tr.TokenType
}

// callDPoP sends GET /v1/models with tok under scheme and the DPoP header
// values proofs.
func (g *gatewayProc) callDPoP(scheme, tok string, proofs ...string) result {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.proxy+"/v1/models", nil)
	req.Header.Set("Authorization", scheme+" "+g.remember(tok))
	for _, p := range proofs {
		req.Header.Add("DPoP", g.remember(p))
	}
	resp, err := g.client.Do(req)
	if err != nil {
		g.t.Fatalf("GET /v1/models: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, b}
}

// TestOIDCProviderDPoP: panva's oidc-provider issues a DPoP-bound access
// token (RFC 9449) to a client that sends a proof to its token endpoint;
// scopegate accepts it with fresh proofs by that key, and refuses a
// replayed proof, the token without a proof, as Bearer, or with another
// key's proof. Nothing refused reaches the upstream.
func TestOIDCProviderDPoP(t *testing.T) {
	op := startOIDCProvider(t)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	g := startGatewayWith(t, fmt.Sprintf(`issuer: %q
    audiences: [%q]
    require_at_jwt: true`, op.issuer, audience), fmt.Sprintf("127.0.0.1:%d", port),
		fmt.Sprintf("dpop:\n  public_base_url: %q\n", base))
	u := base + "/v1/models"

	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			key, other := dpopKey(t, alg), dpopKey(t, alg)
			tok, typ := op.dpopToken(key, alg, "models:read")
			jkt, err := dpop.Thumbprint(key.Public())
			if err != nil {
				t.Fatal(err)
			}
			cnf, _ := claimsOf(t, tok)["cnf"].(map[string]any)
			if !strings.EqualFold(typ, "DPoP") || cnf["jkt"] != jkt {
				t.Fatalf("oidc-provider issued token_type %q, cnf %v; want DPoP bound to %s", typ, cnf, jkt)
			}
			proof := func(k crypto.Signer) string {
				t.Helper()
				p, err := dpop.NewProof(k, alg, dpop.ProofParams{Method: http.MethodGet, URI: u, AccessToken: tok})
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			before := len(g.api.Requests())
			first := proof(key)
			g.callDPoP("DPoP", tok, first).want(t, "a fresh proof", http.StatusOK, "")
			g.callDPoP("DPoP", tok, proof(key)).want(t, "another fresh proof", http.StatusOK, "")
			refused := []struct {
				what   string
				res    result
				code   string
				dpopCh bool // the error is in the DPoP challenge
			}{
				{"a replayed proof", g.callDPoP("DPoP", tok, first), "invalid_dpop_proof", true},
				{"no proof", g.callDPoP("DPoP", tok), "invalid_dpop_proof", true},
				{"the token as Bearer", g.callDPoP("Bearer", tok, proof(key)), "invalid_token", false},
				{"another key's proof", g.callDPoP("DPoP", tok, proof(other)), "invalid_dpop_proof", true},
			}
			for _, r := range refused {
				r.res.want(t, r.what, http.StatusUnauthorized, r.code)
				ch := strings.Join(r.res.header.Values("WWW-Authenticate"), " | ")
				if !strings.Contains(ch, `algs="`+strings.Join(dpop.DefaultAlgorithms, " ")+`"`) || r.dpopCh != strings.Contains(ch, `DPoP error="`+r.code+`"`) {
					t.Errorf("%s: challenges %q", r.what, ch)
				}
			}
			recs := g.api.Requests()
			if len(recs) != before+2 {
				t.Fatalf("upstream saw %d requests; want the 2 allowed ones", len(recs)-before)
			}
			for _, rec := range recs[before:] {
				if rec.Header.Get("DPoP") != "" || strings.HasPrefix(rec.Header.Get("Authorization"), "DPoP") {
					t.Fatalf("the upstream received the DPoP proof or token: %v", rec.Header)
				}
			}
		})
	}
}
