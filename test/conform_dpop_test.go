package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scopegate/scopegate/internal/issuer"
)

// The DPoP conformance tests (RFC 9449) build every proof by hand, with
// the claims and header a row names, and compute the key thumbprint by
// RFC 7638 here rather than with the gateway's dpop package.

// dpopBase is the dpop.public_base_url of the test configs: what htu
// names, whatever address the gateway listens on.
const dpopBase = "https://models.scopegate.test"

// dpopKey is a client's DPoP key.
type dpopKey struct{ priv *ecdsa.PrivateKey }

func newDPoPKey(t *testing.T) dpopKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return dpopKey{k}
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwk is the public JWK of the key (RFC 7518 6.2.1).
func (k dpopKey) jwk() map[string]any {
	// The uncompressed point: 0x04, then X and Y of 32 bytes each.
	pt, err := k.priv.PublicKey.Bytes()
	if err != nil || len(pt) != 65 {
		panic("an uncompressed P-256 point is 65 bytes")
	}
	return map[string]any{"kty": "EC", "crv": "P-256", "x": b64u(pt[1:33]), "y": b64u(pt[33:])}
}

// jkt is the RFC 7638 thumbprint: SHA-256 of the required members in
// lexicographic order, no whitespace.
func (k dpopKey) jkt() string {
	j := k.jwk()
	s := `{"crv":"P-256","kty":"EC","x":"` + j["x"].(string) + `","y":"` + j["y"].(string) + `"}`
	sum := sha256.Sum256([]byte(s))
	return b64u(sum[:])
}

// ath is the RFC 9449 4.2 hash of an access token.
func ath(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return b64u(sum[:])
}

// proof signs a DPoP proof with ES256: header typ dpop+jwt, alg, jwk, then
// hdr over it (a nil value deletes); claims as given.
func (k dpopKey) proof(t *testing.T, hdr, claims map[string]any) string {
	t.Helper()
	tk := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(claims))
	tk.Header["typ"] = "dpop+jwt"
	tk.Header["jwk"] = k.jwk()
	for n, v := range hdr {
		if v == nil {
			delete(tk.Header, n)
		} else {
			tk.Header[n] = v
		}
	}
	s, err := tk.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dpopClaims are a good proof's claims for method and path with token
// tok, with over applied (a nil value deletes a claim).
func dpopClaims(method, path, tok string, over map[string]any) map[string]any {
	c := map[string]any{"htm": method, "htu": dpopBase + path, "iat": time.Now().Unix(), "jti": rand.Text()}
	if tok != "" {
		c["ath"] = ath(tok)
	}
	for n, v := range over {
		if v == nil {
			delete(c, n)
		} else {
			c[n] = v
		}
	}
	return c
}

// boundToken mints a token bound to k (cnf.jkt, RFC 9449 6.1).
func (e *env) boundToken(k dpopKey, scopes ...string) string {
	return e.spec(issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli", Scopes: scopes,
		Extra: map[string]any{"cnf": map[string]any{"jkt": k.jkt()}}})
}

// challenges parses every WWW-Authenticate value of r by scheme; it fails
// on a value off the RFC 9110 11.6.1 grammar and on two challenges of one
// scheme.
func challenges(t *testing.T, r response) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, v := range r.Header.Values("Www-Authenticate") {
		scheme, names, values, ok := parseChallenge(v)
		if !ok {
			t.Fatalf("WWW-Authenticate %q does not follow RFC 9110 11.6.1", v)
		}
		if _, dup := out[scheme]; dup {
			t.Fatalf("two %s challenges: %q", scheme, r.Header.Values("Www-Authenticate"))
		}
		m := map[string]string{}
		for i, n := range names {
			m[n] = values[i]
		}
		out[scheme] = m
	}
	return out
}

const dpopRoutes = defaultRoutes + `
  - name: strict
    path: /v1/strict/{rest...}
    upstream: models
    scopes: ["echo"]
    sender_constraint: {dpop: required}
` + metadataBlock + `
dpop:
  public_base_url: "` + dpopBase + `"
  algorithms: [ES256]
  max_age: 10m # the table's proofs are made before its rows run
`

// TestConformDPoP checks RFC 9449 at the resource server against one
// gateway: the proof checks of section 4.3, the DPoP scheme (7.1), the
// downgrade (7.2), the challenges and their algs (7.1), and replay.
func TestConformDPoP(t *testing.T) {
	t.Parallel()
	e, p := serve(t, envOptions{}, cfg{routes: dpopRoutes})
	k := newDPoPKey(t)
	other := newDPoPKey(t)
	tok := e.boundToken(k, "echo")
	tokOther := e.boundToken(k, "echo") // another token of the same key
	unbound := e.token("echo")
	const path = "/v1/echo/dpop"
	good := func(over map[string]any) string { return k.proof(t, nil, dpopClaims("POST", path, tok, over)) }
	now := time.Now()

	for _, tc := range []struct {
		rule   string
		auth   string   // Authorization value
		proofs []string // DPoP header values
		path   string   // default path
		host   string   // Host header, default the listener
		status int
		code   string // the error code, body and challenge
	}{
		{rule: "7.1 bound token, DPoP scheme, good proof", auth: "DPoP " + tok, proofs: []string{good(nil)}, status: 200},
		{rule: "7.1 scheme name is case-insensitive (RFC 9110 11.1)", auth: "dpop " + tok, proofs: []string{good(nil)}, status: 200},
		{rule: "7.2 bound token as Bearer (downgrade), even with a proof", auth: "Bearer " + tok, proofs: []string{good(nil)}, status: 401, code: "invalid_token"},
		{rule: "7.2 bound token as Bearer without a proof", auth: "Bearer " + tok, status: 401, code: "invalid_token"},
		{rule: "7.1 DPoP scheme with an unbound token", auth: "DPoP " + unbound, proofs: []string{k.proof(t, nil, dpopClaims("POST", path, unbound, nil))}, status: 401, code: "invalid_token"},
		{rule: "4.3(1) no DPoP header", auth: "DPoP " + tok, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(1) two DPoP headers", auth: "DPoP " + tok, proofs: []string{good(nil), good(nil)}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(2) not a JWT", auth: "DPoP " + tok, proofs: []string{"not-a-jwt"}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(4) typ JWT", auth: "DPoP " + tok, proofs: []string{k.proof(t, map[string]any{"typ": "JWT"}, dpopClaims("POST", path, tok, nil))}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(4) no typ", auth: "DPoP " + tok, proofs: []string{k.proof(t, map[string]any{"typ": nil}, dpopClaims("POST", path, tok, nil))}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(5) alg none", auth: "DPoP " + tok, proofs: []string{unsignedProof(k, dpopClaims("POST", path, tok, nil))}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(6) signature by another key than jwk", auth: "DPoP " + tok, proofs: []string{k.proof(t, map[string]any{"jwk": other.jwk()}, dpopClaims("POST", path, tok, nil))}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(7) jwk with the private key", auth: "DPoP " + tok, proofs: []string{k.proof(t, map[string]any{"jwk": withD(k)}, dpopClaims("POST", path, tok, nil))}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(5) no jwk", auth: "DPoP " + tok, proofs: []string{k.proof(t, map[string]any{"jwk": nil}, dpopClaims("POST", path, tok, nil))}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(8) htm another method", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"htm": "GET"})}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(8) htm in lower case (methods are case-sensitive, RFC 9110 9.1)", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"htm": "post"})}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(9) htu with a query and a fragment: ignored", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"htu": dpopBase + path + "?a=1#f"})}, path: path + "?b=2", status: 200},
		{rule: "4.3(9) htu normalized: scheme and host case, default port", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"htu": "HTTPS://Models.Scopegate.TEST:443" + path})}, status: 200},
		{rule: "4.3(9) htu normalized: escaped unreserved characters", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"htu": dpopBase + "/v1/echo/%64pop"})}, status: 200},
		{rule: "4.3(9) htu another host", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"htu": "https://evil.example" + path})}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(9) htu another scheme", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"htu": "http://models.scopegate.test" + path})}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(9) htu another path", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"htu": dpopBase + "/v1/echo/other"})}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(9) htu with a trailing slash", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"htu": dpopBase + path + "/"})}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(9) htu from the Host header is not the gateway's URL", auth: "DPoP " + tok, host: "evil.example", proofs: []string{good(map[string]any{"htu": "http://evil.example" + path})}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(10)/(11) iat too old", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"iat": now.Add(-30 * time.Minute).Unix()})}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(11) iat in the future", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"iat": now.Add(5 * time.Minute).Unix()})}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.2 iat a string", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"iat": "1700000000"})}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.2 no iat", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"iat": nil})}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.2 no jti", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"jti": nil})}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(12) no ath with an access token", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"ath": nil})}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(12) ath of another token", auth: "DPoP " + tok, proofs: []string{good(map[string]any{"ath": ath(tokOther)})}, status: 401, code: "invalid_dpop_proof"},
		{rule: "4.3(12) / 7.1 proof key is not cnf.jkt", auth: "DPoP " + tok, proofs: []string{other.proof(t, nil, dpopClaims("POST", path, tok, nil))}, status: 401, code: "invalid_dpop_proof"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			target := path
			if tc.path != "" {
				target = tc.path
			}
			req, err := http.NewRequest("POST", p.url(target), nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", tc.auth)
			for _, pr := range tc.proofs {
				req.Header.Add("DPoP", pr)
			}
			if tc.host != "" {
				req.Host = tc.host
				req.Header.Set("X-Forwarded-Host", tc.host)
				req.Header.Set("X-Forwarded-Proto", "http")
			}
			r := p.send(req)
			if tc.status == 200 {
				if r.StatusCode != 200 {
					t.Fatalf("status %d; want 200 (body %s)", r.StatusCode, r.body)
				}
				if got := e.lastRecorded().Header.Get("Dpop"); got != "" {
					t.Errorf("the upstream received the DPoP header")
				}
				return
			}
			wantError(t, r, tc.status, tc.code)
			chs := challenges(t, r)
			// 7.1: a route taking both schemes challenges with both, the
			// DPoP one naming the algorithms it accepts.
			if chs["Bearer"] == nil || chs["DPoP"] == nil {
				t.Fatalf("challenges %q; want one Bearer and one DPoP", r.Header.Values("Www-Authenticate"))
			}
			if got := chs["DPoP"]["algs"]; got != "ES256" {
				t.Errorf("DPoP algs %q; want \"ES256\"", got)
			}
			if strings.HasPrefix(tc.auth, "DPoP ") || strings.HasPrefix(tc.auth, "dpop ") {
				// 7.1: the error of a DPoP request is in the DPoP challenge.
				if got := chs["DPoP"]["error"]; got != tc.code {
					t.Errorf("DPoP challenge error %q; want %q", got, tc.code)
				}
			}
		})
	}

	t.Run("11.1 replay: the same proof twice", func(t *testing.T) {
		pr := good(nil)
		r := p.do("POST", path, "", nil, "Authorization", "DPoP "+tok, "DPoP", pr)
		if r.StatusCode != 200 {
			t.Fatalf("first use: %d %s", r.StatusCode, r.body)
		}
		r = p.do("POST", path, "", nil, "Authorization", "DPoP "+tok, "DPoP", pr)
		wantError(t, r, 401, "invalid_dpop_proof")
		if a := p.audit(r.id()); a.Reason != "dpop_proof_replayed" {
			t.Errorf("audit reason %q; want dpop_proof_replayed", a.Reason)
		}
	})
	t.Run("11.1 replay: a proof refused for its htm does not use up its jti", func(t *testing.T) {
		jti := rand.Text()
		r := p.do("POST", path, "", nil, "Authorization", "DPoP "+tok, "DPoP", good(map[string]any{"jti": jti, "htm": "GET"}))
		wantError(t, r, 401, "invalid_dpop_proof")
		r = p.do("POST", path, "", nil, "Authorization", "DPoP "+tok, "DPoP", good(map[string]any{"jti": jti}))
		if r.StatusCode != 200 {
			t.Fatalf("the good proof with that jti: %d %s", r.StatusCode, r.body)
		}
	})

	t.Run("7.1 / RFC 6750 3.1 the DPoP scheme without a token is invalid_request, as Bearer alone is", func(t *testing.T) {
		for _, auth := range []string{"DPoP", "dpop", "Bearer"} {
			r := p.do("POST", path, "", nil, "Authorization", auth)
			if r.StatusCode != 400 {
				t.Errorf("Authorization %q: status %d; want 400 (body %s)", auth, r.StatusCode, r.body)
				continue
			}
			wantError(t, r, 400, "invalid_request")
		}
	})
	t.Run("7.1 no credentials: a Bearer and a DPoP challenge, neither with an error", func(t *testing.T) {
		r := p.do("POST", path, "", nil)
		wantError(t, r, 401, "")
		chs := challenges(t, r)
		if chs["Bearer"] == nil || chs["DPoP"] == nil || chs["DPoP"]["algs"] != "ES256" {
			t.Fatalf("challenges %q; want Bearer and DPoP algs=\"ES256\"", r.Header.Values("Www-Authenticate"))
		}
		for s, m := range chs {
			if _, ok := m["error"]; ok {
				t.Errorf("%s challenge with an error attribute without credentials (RFC 6750 3.1)", s)
			}
		}
		if chs["Bearer"]["resource_metadata"] == "" {
			t.Errorf("Bearer challenge without resource_metadata (RFC 9728 5.1)")
		}
	})
	t.Run("7.1 + RFC 9728 5.1 DPoP-only route: only a DPoP challenge, naming the metadata", func(t *testing.T) {
		r := p.do("POST", "/v1/strict/x", "", nil)
		if r.StatusCode != 401 {
			t.Fatalf("status %d; want 401", r.StatusCode)
		}
		chs := challenges(t, r)
		if chs["Bearer"] != nil || chs["DPoP"] == nil {
			t.Fatalf("challenges %q; want DPoP only (Bearer is not accepted there)", r.Header.Values("Www-Authenticate"))
		}
		if got, want := chs["DPoP"]["resource_metadata"], dpopBase+"/.well-known/oauth-protected-resource"; got != want {
			t.Errorf("DPoP challenge resource_metadata %q; want %q: a client learns the authorization server from it", got, want)
		}
	})
	t.Run("7.1 DPoP-only route: an unbound Bearer token is refused", func(t *testing.T) {
		r := p.do("POST", "/v1/strict/x", unbound, nil)
		if r.StatusCode != 401 {
			t.Fatalf("status %d; want 401", r.StatusCode)
		}
		if chs := challenges(t, r); chs["DPoP"]["error"] != "invalid_token" {
			t.Errorf("challenges %q; want DPoP error=\"invalid_token\"", r.Header.Values("Www-Authenticate"))
		}
	})
	t.Run("7.1 DPoP-only route: bound token with its proof", func(t *testing.T) {
		r := p.do("GET", "/v1/strict/x", "", nil, "Authorization", "DPoP "+tok, "DPoP", k.proof(t, nil, dpopClaims("GET", "/v1/strict/x", tok, nil)))
		if r.StatusCode != 200 {
			t.Fatalf("status %d; want 200 (%s)", r.StatusCode, r.body)
		}
	})
	t.Run("RFC 9728 2 metadata names the DPoP algorithms", func(t *testing.T) {
		r := p.do("GET", "/.well-known/oauth-protected-resource", "", nil)
		var doc map[string]any
		if err := json.Unmarshal(r.body, &doc); r.StatusCode != 200 || err != nil {
			t.Fatalf("status %d body %s", r.StatusCode, r.body)
		}
		if algs, _ := doc["dpop_signing_alg_values_supported"].([]any); len(algs) != 1 || algs[0] != "ES256" {
			t.Errorf("dpop_signing_alg_values_supported %v; want [ES256]", doc["dpop_signing_alg_values_supported"])
		}
		if v, ok := doc["dpop_bound_access_tokens_required"]; ok && v != false {
			t.Errorf("dpop_bound_access_tokens_required %v; Bearer is accepted on most routes", v)
		}
	})
	t.Run("7.1 insufficient_scope in the DPoP challenge, with scope", func(t *testing.T) {
		pr := k.proof(t, nil, dpopClaims("POST", "/v1/images/generations", tok, nil))
		r := p.do("POST", "/v1/images/generations", "", []byte(`{"model":"dall-e-3","prompt":"x"}`), "Authorization", "DPoP "+tok, "DPoP", pr)
		wantError(t, r, 403, "insufficient_scope")
		chs := challenges(t, r)
		if d := chs["DPoP"]; d["error"] != "insufficient_scope" || d["scope"] != "generate:images" {
			t.Errorf("DPoP challenge %v; want error=insufficient_scope, scope=generate:images", d)
		}
	})
	e.noneRecordedOf("/v1/images/generations")
}

// unsignedProof is a proof with alg none and no signature.
func unsignedProof(k dpopKey, claims map[string]any) string {
	h, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": k.jwk()})
	c, _ := json.Marshal(claims)
	return b64u(h) + "." + b64u(c) + "."
}

// withD is k's JWK with its private member d.
func withD(k dpopKey) map[string]any {
	j := k.jwk()
	d, err := k.priv.Bytes()
	if err != nil {
		panic(err)
	}
	j["d"] = b64u(d)
	return j
}

// TestConformDPoPNonce checks RFC 9449 section 9 with nonces required: a
// proof without one is 401 use_dpop_nonce with a DPoP-Nonce header, and
// the retry with that nonce passes.
func TestConformDPoPNonce(t *testing.T) {
	t.Parallel()
	routes := defaultRoutes + `
dpop:
  public_base_url: "` + dpopBase + `"
  nonce:
    required: true
    secret: "0123456789abcdef0123456789abcdef-conform"
`
	e, p := serve(t, envOptions{}, cfg{routes: routes})
	k := newDPoPKey(t)
	tok := e.boundToken(k, "echo")
	const path = "/v1/echo/nonce"
	send := func(over map[string]any) response {
		return p.do("POST", path, "", nil, "Authorization", "DPoP "+tok, "DPoP", k.proof(t, nil, dpopClaims("POST", path, tok, over)))
	}
	wantNonce := func(t *testing.T, r response) string {
		t.Helper()
		wantError(t, r, 401, "use_dpop_nonce")
		n := r.Header.Values("Dpop-Nonce")
		if len(n) != 1 || n[0] == "" {
			t.Fatalf("DPoP-Nonce %q; want one nonce (RFC 9449 9)", n)
		}
		// The nonce syntax of RFC 9449 4.2: 1*NQCHAR.
		if !nqschar(n[0]) || strings.Contains(n[0], " ") {
			t.Errorf("DPoP-Nonce %q is not 1*NQCHAR", n[0])
		}
		if d := challenges(t, r)["DPoP"]; d["error"] != "use_dpop_nonce" {
			t.Errorf("DPoP challenge %v; want error=\"use_dpop_nonce\"", d)
		}
		return n[0]
	}
	nonce := wantNonce(t, send(nil))
	if r := send(map[string]any{"nonce": nonce}); r.StatusCode != 200 {
		t.Fatalf("retry with the nonce: %d %s", r.StatusCode, r.body)
	}
	wantNonce(t, send(map[string]any{"nonce": "made-up-nonce"}))
	wantNonce(t, send(map[string]any{"nonce": ""}))
}
