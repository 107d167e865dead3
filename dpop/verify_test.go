package dpop

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestVerifyAcceptsEachAlgorithm(t *testing.T) {
	for _, alg := range []string{"ES256", "ES384", "RS256", "PS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			k := newKey(t, alg)
			v := newVerifier(t, nil)
			p, err := v.Verify(context.Background(), request(k, k.sign(t, alg, k.goodHeader(t), goodClaims())))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.JKT != k.jkt || !p.IssuedAt.Equal(testNow) {
				t.Fatalf("proof = %+v; want jkt %s, iat %v", p, k.jkt, testNow)
			}
		})
	}
}

// TestVerifyNewProof checks that what NewProof makes, Verify accepts.
func TestVerifyNewProof(t *testing.T) {
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		k := newKey(t, alg)
		s, err := NewProof(k.priv, alg, ProofParams{Method: "POST", URI: testURI + "?x=1", AccessToken: testToken, IssuedAt: testNow})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := newVerifier(t, nil).Verify(context.Background(), request(k, s)); err != nil {
			t.Fatalf("%s: Verify(NewProof) = %v", alg, err)
		}
	}
}

// TestVerifyRefuses runs one row per rule of RFC 9449 section 4.3; each row
// changes one thing in an otherwise valid ES256 proof.
func TestVerifyRefuses(t *testing.T) {
	k := newKey(t, "ES256")
	other := newKey(t, "ES256")
	rsa := newKey(t, "RS256")
	ed := newKey(t, "EdDSA")
	hdr := func(mut func(map[string]any)) map[string]any { h := k.goodHeader(t); mut(h); return h }
	cl := func(mut func(map[string]any)) map[string]any { c := goodClaims(); mut(c); return c }
	good := k.sign(t, "ES256", k.goodHeader(t), goodClaims())
	hs, ps, _ := strings.Cut(good, ".")
	ps, ss, _ := strings.Cut(ps, ".")
	jwkJSON := func(kk testKey) string { return jsonOf(kk.jwk(t)) }
	goodPayload := jsonOf(goodClaims())
	goodHdr := jsonOf(k.goodHeader(t))

	tests := []struct {
		name   string
		proofs []string
		req    func(*Request)
		reason string
	}{
		{"no proof", nil, nil, ReasonMissing},
		{"two DPoP headers", []string{good, good}, nil, ReasonMultiple},
		{"huge proof", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["pad"] = strings.Repeat("a", 9000) }), goodClaims())}, nil, ReasonTooLarge},
		{"two segments", []string{hs + "." + ps}, nil, ReasonMalformed},
		{"four segments", []string{good + ".x"}, nil, ReasonMalformed},
		{"padded base64", []string{hs + "=." + ps + "." + ss}, nil, ReasonMalformed},
		{"empty signature", []string{hs + "." + ps + "."}, nil, ReasonMalformed},
		{"header not JSON", []string{k.signRaw(t, "ES256", "nope", goodPayload)}, nil, ReasonMalformed},
		{"duplicate header member", []string{k.signRaw(t, "ES256", `{"typ":"dpop+jwt","typ":"dpop+jwt","alg":"ES256","jwk":`+jwkJSON(k)+`}`, goodPayload)}, nil, ReasonMalformed},
		{"typ missing", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { delete(h, "typ") }), goodClaims())}, nil, ReasonType},
		{"typ JWT", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["typ"] = "JWT" }), goodClaims())}, nil, ReasonType},
		{"typ case-varied", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["typ"] = "DPoP+JWT" }), goodClaims())}, nil, ReasonType},
		{"typ application/dpop+jwt", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["typ"] = "application/dpop+jwt" }), goodClaims())}, nil, ReasonType},
		{"typ number", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["typ"] = 1 }), goodClaims())}, nil, ReasonType},
		{"TYP name case-varied", []string{k.signRaw(t, "ES256", `{"TYP":"dpop+jwt","alg":"ES256","jwk":`+jwkJSON(k)+`}`, goodPayload)}, nil, ReasonType},
		{"alg none", []string{k.sign(t, "none", hdr(func(h map[string]any) { h["alg"] = "none" }), goodClaims())}, nil, ReasonAlg},
		{"alg HS256", []string{k.sign(t, "HS256", hdr(func(h map[string]any) { h["alg"] = "HS256" }), goodClaims())}, nil, ReasonAlg},
		{"alg missing", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { delete(h, "alg") }), goodClaims())}, nil, ReasonAlg},
		{"alg case-varied", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["alg"] = "es256" }), goodClaims())}, nil, ReasonAlg},
		{"alg not for this key", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["alg"] = "RS256" }), goodClaims())}, nil, ReasonKey},
		{"crit", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["crit"] = []string{"x"} }), goodClaims())}, nil, ReasonMalformed},
		{"x5c besides jwk", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["x5c"] = []string{"MIIB"} }), goodClaims())}, nil, ReasonKey},
		{"jwk missing", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { delete(h, "jwk") }), goodClaims())}, nil, ReasonKey},
		{"jwk string", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["jwk"] = "key" }), goodClaims())}, nil, ReasonKey},
		{"jwk with d", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["jwk"].(map[string]any)["d"] = "AAAA" }), goodClaims())}, nil, ReasonKey},
		{"RSA jwk with p", []string{rsa.sign(t, "RS256", map[string]any{"typ": "dpop+jwt", "alg": "RS256", "jwk": withMember(rsa.jwk(t), "p", "AAAA")}, goodClaims())}, func(r *Request) { r.JKT = rsa.jkt }, ReasonKey},
		{"symmetric jwk", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["jwk"] = map[string]any{"kty": "oct", "k": "c2VjcmV0"} }), goodClaims())}, nil, ReasonKey},
		{"oct jwk without k", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["jwk"] = map[string]any{"kty": "oct"} }), goodClaims())}, nil, ReasonKey},
		{"jwk kty case-varied", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["jwk"].(map[string]any)["kty"] = "ec" }), goodClaims())}, nil, ReasonKey},
		{"jwk off the curve", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["jwk"].(map[string]any)["y"] = h["jwk"].(map[string]any)["x"] }), goodClaims())}, nil, ReasonKey},
		{"another key's jwk", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["jwk"] = other.jwk(t) }), goodClaims())}, nil, ReasonSignature},
		{"Ed25519 jwk, ES256 alg", []string{k.sign(t, "ES256", hdr(func(h map[string]any) { h["jwk"] = ed.jwk(t) }), goodClaims())}, nil, ReasonKey},
		{"tampered payload", []string{hs + "." + b64(strings.Replace(goodPayload, "POST", "GET", 1)) + "." + ss}, func(r *Request) { r.Method = "GET" }, ReasonSignature},
		{"payload not JSON", []string{k.signRaw(t, "ES256", goodHdr, "[]")}, nil, ReasonMalformed},
		{"duplicate claim", []string{k.signRaw(t, "ES256", goodHdr, strings.Replace(goodPayload, `{`, `{"htm":"POST",`, 1))}, nil, ReasonMalformed},
		{"duplicate iat", []string{k.signRaw(t, "ES256", goodHdr, strings.Replace(goodPayload, `{`, fmt.Sprintf(`{"iat":%d,`, testNow.Unix()), 1))}, nil, ReasonMalformed},
		{"duplicate jwk member", []string{k.signRaw(t, "ES256", strings.Replace(goodHdr, `"kty":"EC"`, `"kty":"EC","kty":"EC"`, 1), goodPayload)}, nil, ReasonMalformed},
		{"nonce number", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["nonce"] = 5 }))}, nil, ReasonMissingClaim},
		{"ath case-varied name", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["ATH"] = c["ath"]; delete(c, "ath") }))}, nil, ReasonAccessToken},
		{"htm missing", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { delete(c, "htm") }))}, nil, ReasonMissingClaim},
		{"htu missing", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { delete(c, "htu") }))}, nil, ReasonMissingClaim},
		{"jti missing", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { delete(c, "jti") }))}, nil, ReasonMissingClaim},
		{"iat missing", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { delete(c, "iat") }))}, nil, ReasonMissingClaim},
		{"ath missing", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { delete(c, "ath") }))}, nil, ReasonAccessToken},
		{"HTM name case-varied", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["HTM"] = c["htm"]; delete(c, "htm") }))}, nil, ReasonMissingClaim},
		{"htm number", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["htm"] = 1 }))}, nil, ReasonMissingClaim},
		{"htu array", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["htu"] = []string{testURI} }))}, nil, ReasonMissingClaim},
		{"jti number", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["jti"] = 7 }))}, nil, ReasonMissingClaim},
		{"jti empty", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["jti"] = "" }))}, nil, ReasonMissingClaim},
		{"jti too long", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["jti"] = strings.Repeat("j", 300) }))}, nil, ReasonMissingClaim},
		{"iat string", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["iat"] = fmt.Sprint(testNow.Unix()) }))}, nil, ReasonMissingClaim},
		{"iat negative", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["iat"] = -1 }))}, nil, ReasonIssuedAt},
		{"ath object", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["ath"] = map[string]any{} }))}, nil, ReasonMissingClaim},
		{"htm lower case", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["htm"] = "post" }))}, nil, ReasonMethod},
		{"htm other method", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["htm"] = "GET" }))}, nil, ReasonMethod},
		{"htu http scheme", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["htu"] = "http://api.example.com/v1/chat/completions" }))}, nil, ReasonURI},
		{"htu other host", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["htu"] = "https://evil.example.com/v1/chat/completions" }))}, nil, ReasonURI},
		{"htu other port", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["htu"] = "https://api.example.com:8443/v1/chat/completions" }))}, nil, ReasonURI},
		{"htu other path", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["htu"] = "https://api.example.com/v1/embeddings" }))}, nil, ReasonURI},
		{"htu trailing slash", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["htu"] = testURI + "/" }))}, nil, ReasonURI},
		{"htu path case", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["htu"] = "https://api.example.com/V1/chat/completions" }))}, nil, ReasonURI},
		{"htu user info", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["htu"] = "https://u@api.example.com/v1/chat/completions" }))}, nil, ReasonURI},
		{"htu relative", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["htu"] = "/v1/chat/completions" }))}, nil, ReasonURI},
		{"iat 61s past", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["iat"] = testNow.Unix() - 61 }))}, nil, ReasonIssuedAt},
		{"iat 6s future", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["iat"] = testNow.Unix() + 6 }))}, nil, ReasonIssuedAt},
		{"ath of another token", []string{k.sign(t, "ES256", k.goodHeader(t), cl(func(c map[string]any) { c["ath"] = AccessTokenHash(testToken + "x") }))}, nil, ReasonAccessToken},
		{"token bound to another key", []string{good}, func(r *Request) { r.JKT = other.jkt }, ReasonKeyMismatch},
		{"token not bound", []string{good}, func(r *Request) { r.JKT = "" }, ReasonKeyMismatch},
		{"RSA key too small", []string{rsa1024Proof(t)}, func(r *Request) { r.JKT = "x" }, ReasonKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request(k, tt.proofs...)
			if tt.req != nil {
				tt.req(&req)
			}
			_, err := newVerifier(t, nil).Verify(context.Background(), req)
			var e *Error
			if !errors.As(err, &e) || e.Reason != tt.reason || e.Code != CodeInvalidProof {
				t.Fatalf("Verify = %v; want reason %s", err, tt.reason)
			}
			if strings.Contains(e.Detail, good[:20]) {
				t.Fatalf("detail %q quotes the proof", e.Detail)
			}
		})
	}
}

// TestVerifyHTUNormalization: forms of the same URI are accepted; query and
// fragment are ignored (RFC 9449 section 4.3, item 9).
func TestVerifyHTUNormalization(t *testing.T) {
	k := newKey(t, "ES256")
	for _, htu := range []string{
		"HTTPS://API.EXAMPLE.COM/v1/chat/completions",
		"https://api.example.com:443/v1/chat/completions",
		"https://api.example.com/v1/chat/completions?stream=true",
		"https://api.example.com/v1/chat/completions#frag",
		"https://api.example.com/v1/chat/%63ompletions",
	} {
		c := goodClaims()
		c["htu"] = htu
		if _, err := newVerifier(t, nil).Verify(context.Background(), request(k, k.sign(t, "ES256", k.goodHeader(t), c))); err != nil {
			t.Errorf("htu %s: %v", htu, err)
		}
	}
}

func TestVerifyIATWindowEdges(t *testing.T) {
	k := newKey(t, "ES256")
	for _, iat := range []any{testNow.Unix() - 60, testNow.Unix() + 5, float64(testNow.Unix()) + 0.5} {
		c := goodClaims()
		c["iat"] = iat
		if _, err := newVerifier(t, nil).Verify(context.Background(), request(k, k.sign(t, "ES256", k.goodHeader(t), c))); err != nil {
			t.Errorf("iat %v: %v", iat, err)
		}
	}
}

func TestVerifyAlgorithmAllowlist(t *testing.T) {
	k := newKey(t, "RS256")
	v := newVerifier(t, func(c *Config) { c.Algorithms = []string{"ES256"} })
	_, err := v.Verify(context.Background(), request(k, k.sign(t, "RS256", k.goodHeader(t), goodClaims())))
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonAlg {
		t.Fatalf("RS256 proof under an ES256-only list = %v; want %s", err, ReasonAlg)
	}
	if _, err := NewVerifier(Config{Replay: v.cfg.Replay, Algorithms: []string{"HS256"}}); err == nil {
		t.Fatal("NewVerifier accepted HS256")
	}
}

func TestVerifyReplay(t *testing.T) {
	k, other := newKey(t, "ES256"), newKey(t, "EdDSA")
	v := newVerifier(t, nil)
	p := k.sign(t, "ES256", k.goodHeader(t), goodClaims())
	if _, err := v.Verify(context.Background(), request(k, p)); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(context.Background(), request(k, p))
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonReplay {
		t.Fatalf("replayed proof = %v; want %s", err, ReasonReplay)
	}
	// The same jti from another key is another proof.
	if _, err := v.Verify(context.Background(), request(other, other.sign(t, "EdDSA", other.goodHeader(t), goodClaims()))); err != nil {
		t.Fatalf("same jti, other key: %v", err)
	}
	// A refused proof does not use up its jti.
	c := goodClaims()
	c["jti"] = "jti-2"
	c["htm"] = "GET"
	bad := k.sign(t, "ES256", k.goodHeader(t), c)
	if _, err := v.Verify(context.Background(), request(k, bad)); err == nil {
		t.Fatal("wrong htm accepted")
	}
	c["htm"] = "POST"
	if _, err := v.Verify(context.Background(), request(k, k.sign(t, "ES256", k.goodHeader(t), c))); err != nil {
		t.Fatalf("jti of a refused proof was used up: %v", err)
	}
}

type failingStore struct{}

func (failingStore) SetNX(context.Context, string, []byte, time.Duration) (bool, error) {
	return false, errors.New("connection refused")
}

func TestVerifyReplayStoreDown(t *testing.T) {
	k := newKey(t, "ES256")
	v := newVerifier(t, func(c *Config) { c.Replay = failingStore{} })
	_, err := v.Verify(context.Background(), request(k, k.sign(t, "ES256", k.goodHeader(t), goodClaims())))
	if !errors.Is(err, ErrReplayCacheUnavailable) {
		t.Fatalf("Verify with the store down = %v; want ErrReplayCacheUnavailable", err)
	}
}

func TestVerifyNonces(t *testing.T) {
	k := newKey(t, "ES256")
	now := testNow
	clock := func() time.Time { return now }
	n, err := NewNonces([]byte(strings.Repeat("s", 32)), time.Minute, clock)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, func(c *Config) { c.Nonces, c.RequireNonce, c.Now = n, true, clock })
	jti := 0
	try := func(nonce string) error {
		jti++
		c := goodClaims()
		c["jti"], c["iat"] = fmt.Sprint(jti), now.Unix()
		if nonce != "" {
			c["nonce"] = nonce
		}
		_, err := v.Verify(context.Background(), request(k, k.sign(t, "ES256", k.goodHeader(t), c)))
		return err
	}
	wantNonce := func(name string, err error) {
		t.Helper()
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeUseNonce {
			t.Fatalf("%s: %v; want use_dpop_nonce", name, err)
		}
	}
	wantNonce("no nonce", try(""))
	cur := v.Nonce()
	if err := try(cur); err != nil {
		t.Fatalf("current nonce: %v", err)
	}
	now = now.Add(time.Minute)
	if err := try(cur); err != nil {
		t.Fatalf("previous window's nonce: %v", err)
	}
	now = now.Add(time.Minute)
	wantNonce("nonce two windows old", try(cur))
	other, _ := NewNonces([]byte(strings.Repeat("t", 32)), time.Minute, clock)
	wantNonce("another secret's nonce", try(other.Current()))
	wantNonce("garbage nonce", try("bm9uY2U"))
}

func TestNormalizeURI(t *testing.T) {
	for in, want := range map[string]string{
		"HTTP://Example.COM:80":          "http://example.com/",
		"https://[::1]:443/a%2fb":        "https://[::1]/a%2Fb",
		"https://[::1]:8443/a":           "https://[::1]:8443/a",
		"https://h/%7euser?q#f":          "https://h/~user",
		"http://h:8080/x/":               "http://h:8080/x/",
		"https://h/a%2":                  "",
		"ftp://h/":                       "",
		"https://user:pw@h/":             "",
		"https:opaque":                   "",
		"https://h.example/a b":          "https://h.example/a%20b",
		"https://h/%C3%A9":               "https://h/%C3%A9",
		"https://EXAMPLE.com/Path/Case/": "https://example.com/Path/Case/",
	} {
		got, err := NormalizeURI(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("NormalizeURI(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
