package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/dpop"
	"github.com/scopegate/scopegate/internal/issuer"
)

const dpopConfig = `dpop:
  public_base_url: "` + senderBase + `"
`

// TestDPoPRequests runs each rule of the gateway's DPoP handling through a
// real gateway: what the client gets, what the audit says, and that
// nothing refused reaches the upstream.
func TestDPoPRequests(t *testing.T) {
	w := newSenderWorld(t, dpopConfig, "")
	k, other := newClientKey(t), newClientKey(t)
	bound := w.boundToken(map[string]any{"jkt": k.jkt})
	plain := w.boundToken(nil)
	const chat = "/v1/chat/completions"
	used := w.proof(k, "POST", chat, bound)
	if rec := w.do(0, "POST", chat, "DPoP "+bound, testPeer, "DPoP", used); rec.Code != 200 {
		t.Fatalf("first use of a proof: %d %s", rec.Code, rec.Body)
	}
	tests := []struct {
		name, method, path, auth string
		hdr                      []string
		status                   int
		reason                   string
		code                     string // the error code in the body
		dpopErr                  bool   // the error is in the DPoP challenge
		noBearer                 bool   // no Bearer challenge
	}{
		{"fresh proof", "POST", chat, "DPoP " + bound, []string{"DPoP", w.proof(k, "POST", chat, bound)}, 200, string(ReasonAllowed), "", false, false},
		{"scheme case-insensitive", "POST", chat, "dpop " + bound, []string{"DPoP", w.proof(k, "POST", chat, bound)}, 200, string(ReasonAllowed), "", false, false},
		{"required route, fresh proof", "POST", "/v1/embeddings", "DPoP " + bound, []string{"DPoP", w.proof(k, "POST", "/v1/embeddings", bound)}, 200, string(ReasonAllowed), "", false, false},
		{"plain bearer token where allowed", "POST", chat, "Bearer " + plain, nil, 200, string(ReasonAllowed), "", false, false},
		{"replayed proof", "POST", chat, "DPoP " + bound, []string{"DPoP", used}, 401, dpop.ReasonReplay, "invalid_dpop_proof", true, false},
		{"bound token as Bearer", "POST", chat, "Bearer " + bound, []string{"DPoP", w.proof(k, "POST", chat, bound)}, 401, string(ReasonDPoPDowngrade), "invalid_token", false, false},
		{"bound token, no proof", "POST", chat, "DPoP " + bound, nil, 401, dpop.ReasonMissing, "invalid_dpop_proof", true, false},
		{"two DPoP headers", "POST", chat, "DPoP " + bound, []string{"DPoP", w.proof(k, "POST", chat, bound), "DPoP", w.proof(k, "POST", chat, bound)}, 401, dpop.ReasonMultiple, "invalid_dpop_proof", true, false},
		{"another key's proof", "POST", chat, "DPoP " + bound, []string{"DPoP", w.proof(other, "POST", chat, bound)}, 401, dpop.ReasonKeyMismatch, "invalid_dpop_proof", true, false},
		{"proof for another token", "POST", chat, "DPoP " + bound, []string{"DPoP", w.proof(k, "POST", chat, plain)}, 401, dpop.ReasonAccessToken, "invalid_dpop_proof", true, false},
		{"proof for another path", "POST", chat, "DPoP " + bound, []string{"DPoP", w.proof(k, "POST", "/v1/embeddings", bound)}, 401, dpop.ReasonURI, "invalid_dpop_proof", true, false},
		{"proof for another method", "POST", chat, "DPoP " + bound, []string{"DPoP", w.proof(k, "GET", chat, bound)}, 401, dpop.ReasonMethod, "invalid_dpop_proof", true, false},
		{"htu from forwarding headers is not trusted", "POST", chat, "DPoP " + bound,
			[]string{"DPoP", mustProof(t, k, "POST", "https://evil.example"+chat, bound, w.clock.Now()), "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https", "Forwarded", "host=evil.example;proto=https"},
			401, dpop.ReasonURI, "invalid_dpop_proof", true, false},
		{"huge proof", "POST", chat, "DPoP " + bound, []string{"DPoP", strings.Repeat("a", 9000)}, 401, dpop.ReasonTooLarge, "invalid_dpop_proof", true, false},
		{"stale proof", "POST", chat, "DPoP " + bound, []string{"DPoP", mustProof(t, k, "POST", senderBase+chat, bound, w.clock.Now().Add(-2*time.Minute))}, 401, dpop.ReasonIssuedAt, "invalid_dpop_proof", true, false},
		{"DPoP scheme, unbound token", "POST", chat, "DPoP " + plain, []string{"DPoP", w.proof(k, "POST", chat, plain)}, 401, string(ReasonDPoPUnboundToken), "invalid_token", true, false},
		{"required route, bearer token", "POST", "/v1/embeddings", "Bearer " + plain, nil, 401, string(ReasonDPoPRequired), "invalid_token", true, true},
		{"required route, no token", "POST", "/v1/embeddings", "", nil, 401, string(ReasonMissingToken), "missing_token", false, true},
		{"no token", "POST", chat, "", nil, 401, string(ReasonMissingToken), "missing_token", false, false},
		{"DPoP off route, bound token", "GET", "/v1/models", "DPoP " + bound, []string{"DPoP", w.proof(k, "GET", "/v1/models", bound)}, 401, string(ReasonDPoPNotAccepted), "invalid_token", false, false},
		{"two Authorization headers", "POST", chat, "DPoP " + bound, []string{"Authorization", "Bearer " + plain}, 400, string(ReasonDuplicateAuth), "invalid_request", false, false},
		{"empty DPoP credentials", "POST", chat, "DPoP  ", nil, 400, string(ReasonBadRequest), "invalid_request", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := w.forwarded()
			rec := w.do(0, tt.method, tt.path, tt.auth, testPeer, tt.hdr...)
			if rec.Code != tt.status {
				t.Fatalf("status = %d; want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			rcd := w.lastRecord()
			if rcd.Reason != tt.reason {
				t.Fatalf("audit reason = %v; want %s", rcd.Reason, tt.reason)
			}
			for _, v := range rcd.Fields {
				if s, ok := v.(string); ok && len(tt.hdr) > 1 && strings.Contains(s, tt.hdr[1][:40]) {
					t.Fatalf("the audit record holds the proof: %v", rcd)
				}
			}
			if tt.status == 200 {
				if w.forwarded() != before+1 {
					t.Fatal("not forwarded")
				}
				h, _ := w.up.lastHeader()
				for _, name := range []string{"Dpop", "Authorization"} {
					if h.Get(name) != "" {
						t.Fatalf("the upstream received %s", name)
					}
				}
				want := "none"
				if strings.HasPrefix(strings.ToLower(tt.auth), "dpop") {
					want = "dpop"
					if rcd.DPoPJKT != k.jkt {
						t.Fatalf("dpop_jkt = %v; want %s", rcd.DPoPJKT, k.jkt)
					}
				}
				if rcd.Binding != want {
					t.Fatalf("binding = %v; want %s", rcd.Binding, want)
				}
				return
			}
			if w.forwarded() != before {
				t.Fatal("a refused request reached the upstream")
			}
			if !strings.Contains(rec.Body.String(), `"code":"`+tt.code+`"`) {
				t.Fatalf("body %s; want code %s", rec.Body, tt.code)
			}
			if tt.status != 401 {
				return
			}
			if tt.path == "/v1/models" { // dpop: off: no DPoP challenge
				if c := rec.Header().Values("WWW-Authenticate"); len(c) != 1 || !strings.HasPrefix(c[0], "Bearer ") {
					t.Fatalf("challenges %q; want one Bearer challenge", c)
				}
				return
			}
			checkChallenges(t, rec.Header().Values("WWW-Authenticate"), tt.code, tt.dpopErr, tt.noBearer)
		})
	}
}

// checkChallenges checks a 401's challenges: a DPoP one with algs (RFC
// 9449 section 7.1), a Bearer one unless the route requires DPoP, and the
// error in the one it belongs to.
func checkChallenges(t *testing.T, got []string, code string, dpopErr, noBearer bool) {
	t.Helper()
	var bearer, dp string
	for _, c := range got {
		switch {
		case strings.HasPrefix(c, "Bearer "):
			bearer = c
		case strings.HasPrefix(c, "DPoP "):
			dp = c
		}
	}
	if !strings.Contains(dp, `algs="ES256 ES384 ES512 PS256`) {
		t.Fatalf("challenges %q; want a DPoP challenge with algs", got)
	}
	if noBearer != (bearer == "") {
		t.Fatalf("challenges %q; want a Bearer challenge: %v", got, !noBearer)
	}
	withErr := code != "missing_token"
	if dpopErr && withErr && !strings.HasPrefix(dp, `DPoP error="`+code+`"`) {
		t.Fatalf("DPoP challenge %q; want error=%q", dp, code)
	}
	if withErr && !noBearer && !strings.HasPrefix(bearer, `Bearer error="`+code+`"`) {
		t.Fatalf("Bearer challenge %q; want error=%q", bearer, code)
	}
	if !dpopErr && strings.Contains(dp, "error=") {
		t.Fatalf("DPoP challenge %q carries the error of a Bearer request", dp)
	}
}

func mustProof(t *testing.T, k clientKey, method, uri, tok string, iat time.Time) string {
	t.Helper()
	p, err := dpop.NewProof(k.priv, "ES256", dpop.ProofParams{Method: method, URI: uri, AccessToken: tok, IssuedAt: iat})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDPoPReplayAcrossReplicas: two gateways sharing one state store (as
// replicas sharing Redis do) refuse a proof the other accepted.
func TestDPoPReplayAcrossReplicas(t *testing.T) {
	w := newSenderWorld(t, dpopConfig, "")
	w.addGateway()
	k := newClientKey(t)
	tok := w.boundToken(map[string]any{"jkt": k.jkt})
	p := w.proof(k, "POST", "/v1/chat/completions", tok)
	if rec := w.do(0, "POST", "/v1/chat/completions", "DPoP "+tok, testPeer, "DPoP", p); rec.Code != 200 {
		t.Fatalf("replica 0: %d %s", rec.Code, rec.Body)
	}
	rec := w.do(1, "POST", "/v1/chat/completions", "DPoP "+tok, testPeer, "DPoP", p)
	if rec.Code != 401 || w.lastRecord().Reason != dpop.ReasonReplay {
		t.Fatalf("replica 1 took a replayed proof: %d %s", rec.Code, rec.Body)
	}
	// A fresh proof is good on either.
	if rec := w.do(1, "POST", "/v1/chat/completions", "DPoP "+tok, testPeer, "DPoP", w.proof(k, "POST", "/v1/chat/completions", tok)); rec.Code != 200 {
		t.Fatalf("replica 1, fresh proof: %d %s", rec.Code, rec.Body)
	}
}

// TestDPoPNonce: with nonces required, a proof without one gets 401
// use_dpop_nonce and a DPoP-Nonce, which another replica (same secret)
// accepts.
func TestDPoPNonce(t *testing.T) {
	w := newSenderWorld(t, dpopConfig+`  nonce:
    required: true
    secret: "0123456789abcdef0123456789abcdef"
`, "")
	w.addGateway()
	k := newClientKey(t)
	tok := w.boundToken(map[string]any{"jkt": k.jkt})
	const chat = "/v1/chat/completions"
	rec := w.do(0, "POST", chat, "DPoP "+tok, testPeer, "DPoP", w.proof(k, "POST", chat, tok))
	nonce := rec.Header().Get("DPoP-Nonce")
	if rec.Code != 401 || nonce == "" || w.lastRecord().Reason != dpop.ReasonNonce {
		t.Fatalf("no nonce: %d %q %s", rec.Code, nonce, rec.Body)
	}
	checkChallenges(t, rec.Header().Values("WWW-Authenticate"), "use_dpop_nonce", true, false)
	p, err := dpop.NewProof(k.priv, "ES256", dpop.ProofParams{Method: "POST", URI: senderBase + chat, AccessToken: tok, IssuedAt: w.clock.Now(), Nonce: nonce})
	if err != nil {
		t.Fatal(err)
	}
	if rec := w.do(1, "POST", chat, "DPoP "+tok, testPeer, "DPoP", p); rec.Code != 200 {
		t.Fatalf("with the nonce, on the other replica: %d %s", rec.Code, rec.Body)
	}
}

// TestDPoPNotConfigured: without dpop.public_base_url, DPoP is off: a
// DPoP-bound token is refused whatever the client sends.
func TestDPoPNotConfigured(t *testing.T) {
	w := newSenderWorldRoutes(t, chatRoute, "", "")
	k := newClientKey(t)
	tok := w.boundToken(map[string]any{"jkt": k.jkt})
	for _, auth := range []string{"DPoP " + tok, "Bearer " + tok} {
		rec := w.do(0, "POST", "/v1/chat/completions", auth, testPeer, "DPoP", w.proof(k, "POST", "/v1/chat/completions", tok))
		if rec.Code != 401 {
			t.Fatalf("%.5s: %d", auth, rec.Code)
		}
		for _, c := range rec.Header().Values("WWW-Authenticate") {
			if strings.HasPrefix(c, "DPoP") {
				t.Fatalf("DPoP advertised while off: %q", c)
			}
		}
	}
	for name, cnf := range map[string]any{
		"cnf.jkt a number":    map[string]any{"jkt": 7},
		"cnf.jkt empty":       map[string]any{"jkt": ""},
		"cnf a string":        "jkt",
		"cnf.jwk (RFC 7800)":  map[string]any{"jwk": map[string]any{"kty": "EC"}},
		"cnf.kid":             map[string]any{"kid": "k1"},
		"cnf.JKT (case)":      map[string]any{"JKT": k.jkt},
		"cnf.x5t#S256 number": map[string]any{"x5t#S256": 1},
	} {
		if rec := w.do(0, "POST", "/v1/chat/completions", "Bearer "+w.boundToken(cnf), testPeer); rec.Code != 401 || w.lastRecord().Reason != string(ReasonBadConfirmation) {
			t.Errorf("%s: %d %v; want 401 %s", name, rec.Code, w.lastRecord().Reason, ReasonBadConfirmation)
		}
	}
}

// TestDPoPIssuerRequired: an issuer that requires DPoP refuses its bearer
// tokens on a route that keeps the default.
func TestDPoPIssuerRequired(t *testing.T) {
	w := newSenderWorld(t, dpopConfig, "    sender_constraint: {dpop: required}")
	rec := w.do(0, "POST", "/v1/chat/completions", "Bearer "+w.boundToken(nil), testPeer)
	if rec.Code != 401 || w.lastRecord().Reason != string(ReasonDPoPRequired) {
		t.Fatalf("bearer token of a DPoP-only issuer: %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("WWW-Authenticate") == "" || !strings.Contains(strings.Join(rec.Header().Values("WWW-Authenticate"), "|"), "DPoP algs=") {
		t.Fatalf("challenges %q", rec.Header().Values("WWW-Authenticate"))
	}
}

// TestDPoPResourceMetadata: the RFC 9728 document says which proof
// algorithms are accepted and that DPoP-bound tokens are required.
func TestDPoPResourceMetadata(t *testing.T) {
	w := newSenderWorld(t, dpopConfig+`  algorithms: [ES256, EdDSA]
resource_metadata:
  resource: "`+senderBase+`"
`, "    sender_constraint: {dpop: required}")
	rec := w.do(0, "GET", "/.well-known/oauth-protected-resource", "", testPeer)
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != 200 {
		t.Fatalf("metadata: %d %s", rec.Code, rec.Body)
	}
	if algs, _ := doc["dpop_signing_alg_values_supported"].([]any); len(algs) != 2 || algs[0] != "ES256" || algs[1] != "EdDSA" {
		t.Errorf("dpop_signing_alg_values_supported = %v", doc["dpop_signing_alg_values_supported"])
	}
	if doc["dpop_bound_access_tokens_required"] != true {
		t.Errorf("dpop_bound_access_tokens_required = %v; want true", doc["dpop_bound_access_tokens_required"])
	}
	if _, ok := doc["tls_client_certificate_bound_access_tokens"]; ok {
		t.Errorf("tls_client_certificate_bound_access_tokens set without a way to see client certificates")
	}
}

// TestDPoPInsufficientScope: a DPoP request without the route's scope gets
// 403 with the error and scope in the DPoP challenge.
func TestDPoPInsufficientScope(t *testing.T) {
	w := newSenderWorld(t, dpopConfig, "")
	k := newClientKey(t)
	tok := w.iss.AccessToken(issuer.AccessTokenSpec{Subject: "alice", ClientID: "cli", Audience: []string{testAudience},
		Scopes: []string{"other"}, Extra: map[string]any{"cnf": map[string]any{"jkt": k.jkt}}})
	rec := w.do(0, "POST", "/v1/chat/completions", "DPoP "+tok, testPeer, "DPoP", w.proof(k, "POST", "/v1/chat/completions", tok))
	if rec.Code != 403 {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	ch := strings.Join(rec.Header().Values("WWW-Authenticate"), " | ")
	if !strings.Contains(ch, `DPoP error="insufficient_scope"`) || !strings.Contains(ch, `algs="`) || !strings.Contains(ch, `scope="chat:completions"`) || !strings.HasPrefix(ch, `Bearer error="insufficient_scope", scope="chat:completions"`) {
		t.Fatalf("challenges %q", ch)
	}
}
