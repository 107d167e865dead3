package token

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// keys shared by the refusal table.
type tableKeys struct {
	rsa, ec, ed, p384, other *testKey
}

func newTableKeys(t testing.TB) tableKeys {
	return tableKeys{
		rsa:   newKey(t, "rsa2048", "rsa1", "RS256", "RS256"),
		ec:    newKey(t, "p256", "ec1", "ES256", "ES256"),
		ed:    newKey(t, "ed25519", "ed1", "EdDSA", "EdDSA"),
		p384:  newKey(t, "p384", "p384", "", "ES384"),
		other: newKey(t, "rsa2048b", "rsa1", "RS256", "RS256"), // same kid, not published
	}
}

// with returns claims at now with changes (a nil value deletes a claim).
func with(now time.Time, changes map[string]any) map[string]any {
	c := claimsAt(now)
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// rawPayload signs a literal payload with the RSA key.
func rawPayload(t testing.TB, k *testKey, payload string) string {
	return signRaw(t, "RS256", k.priv, `{"alg":"RS256","kid":"rsa1","typ":"at+jwt"}`, payload)
}

func TestVerifyTable(t *testing.T) {
	k := newTableKeys(t)
	s := newSetup(t, func(ic *IssuerConfig) {
		ic.Algorithms = []string{"RS256", "RS384", "PS256", "ES256", "EdDSA"}
	}, k.rsa, k.ec, k.ed, k.p384)
	now := s.clock.Now()
	exp := now.Add(time.Hour).Unix()
	good := func(hdr map[string]any, changes map[string]any) func(t *testing.T) string {
		return func(t *testing.T) string { return mint(t, k.rsa, hdr, with(now, changes)) }
	}
	rsaPub, _ := x509.MarshalPKIXPublicKey(k.rsa.priv.Public())

	tests := []struct {
		name  string
		token func(t *testing.T) string
		want  Reason // "" = accepted
	}{
		// Accepted shapes.
		{"valid RS256", good(nil, nil), ""},
		{"valid ES256", func(t *testing.T) string { return mint(t, k.ec, nil, claimsAt(now)) }, ""},
		{"valid EdDSA", func(t *testing.T) string { return mint(t, k.ed, nil, claimsAt(now)) }, ""},
		{"kid-less RS256 token, JWK alg RS256", good(map[string]any{"kid": nil}, nil), ""},
		{"typ JWT", good(map[string]any{"typ": "JWT"}, nil), ""},
		{"typ at+jwt upper case", good(map[string]any{"typ": "AT+JWT"}, nil), ""},
		{"typ application/at+jwt", good(map[string]any{"typ": "application/at+jwt"}, nil), ""},
		{"typ absent", good(map[string]any{"typ": nil}, nil), ""},
		{"aud array", good(nil, map[string]any{"aud": []string{"x", testAud}}), ""},
		{"auth_time alone", good(nil, map[string]any{"auth_time": now.Unix()}), ""},
		{"typ claim Bearer", good(nil, map[string]any{"typ": "Bearer"}), ""},
		{"exp within leeway", good(nil, map[string]any{"exp": now.Add(-10 * time.Second).Unix()}), ""},
		{"nbf within leeway", good(nil, map[string]any{"nbf": now.Add(10 * time.Second).Unix()}), ""},
		{"iat within leeway", good(nil, map[string]any{"iat": now.Add(10 * time.Second).Unix()}), ""},
		{"fractional exp", func(t *testing.T) string {
			return rawPayload(t, k.rsa, fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":%d.5}`, issuerURL, testAud, exp))
		}, ""},
		{"no iat, no sub", good(nil, map[string]any{"iat": nil, "sub": nil}), ""},

		// Structure.
		{"empty", func(*testing.T) string { return "" }, ReasonMalformed},
		{"two segments", func(t *testing.T) string { tok := good(nil, nil)(t); return tok[:strings.LastIndex(tok, ".")] }, ReasonMalformed},
		{"JWE five segments", func(*testing.T) string { return "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d" }, ReasonMalformed},
		{"padding", func(t *testing.T) string { return good(nil, nil)(t) + "==" }, ReasonMalformed},
		{"newline inside", func(t *testing.T) string { tok := good(nil, nil)(t); return tok[:10] + "\n" + tok[10:] }, ReasonMalformed},
		{"space inside", func(t *testing.T) string { tok := good(nil, nil)(t); return tok[:10] + " " + tok[10:] }, ReasonMalformed},
		{"std base64 plus", func(t *testing.T) string { tok := good(nil, nil)(t); return "+" + tok[1:] }, ReasonMalformed},
		{"empty signature", func(t *testing.T) string { tok := good(nil, nil)(t); return tok[:strings.LastIndex(tok, ".")+1] }, ReasonMalformed},
		{"oversized", func(t *testing.T) string {
			return good(nil, map[string]any{"pad": strings.Repeat("a", DefaultMaxTokenBytes)})(t)
		}, ReasonTooLarge},
		{"header not an object", func(t *testing.T) string { return signRaw(t, "RS256", k.rsa.priv, `["RS256"]`, `{}`) }, ReasonMalformed},
		{"header duplicate alg", func(t *testing.T) string {
			return signRaw(t, "RS256", k.rsa.priv, `{"alg":"RS256","alg":"RS256","kid":"rsa1"}`, `{}`)
		}, ReasonMalformed},
		{"header trailing data", func(t *testing.T) string {
			return signRaw(t, "RS256", k.rsa.priv, `{"alg":"RS256","kid":"rsa1"}{}`, `{}`)
		}, ReasonMalformed},
		{"payload not an object", func(t *testing.T) string { return rawPayload(t, k.rsa, `"x"`) }, ReasonMalformed},
		{"payload invalid UTF-8", func(t *testing.T) string { return rawPayload(t, k.rsa, "{\"sub\":\"\xff\"}") }, ReasonMalformed},
		{"kid not a string", good(map[string]any{"kid": 7}, nil), ReasonMalformed},

		// Algorithms and keys.
		{"alg none", good(map[string]any{"alg": "none"}, nil), ReasonUnsupportedAlg},
		{"alg None", good(map[string]any{"alg": "None"}, nil), ReasonUnsupportedAlg},
		{"alg NONE", good(map[string]any{"alg": "NONE"}, nil), ReasonUnsupportedAlg},
		{"alg none, empty signature part", func(t *testing.T) string {
			tok := good(map[string]any{"alg": "none"}, nil)(t)
			return tok[:strings.LastIndex(tok, ".")+1] + "AA"
		}, ReasonUnsupportedAlg},
		{"HS256 with the public key as secret", func(t *testing.T) string {
			pb, _ := json.Marshal(claimsAt(now))
			return signRaw(t, "HS256", rsaPub, `{"alg":"HS256","kid":"rsa1"}`, string(pb))
		}, ReasonUnsupportedAlg},
		{"alg unknown", good(map[string]any{"alg": "RS1"}, nil), ReasonUnsupportedAlg},
		{"alg lower case rs256", good(map[string]any{"alg": "rs256"}, nil), ReasonUnsupportedAlg},
		{"alg not in issuer allowlist", func(t *testing.T) string { return mint(t, k.p384, nil, claimsAt(now)) }, ReasonUnsupportedAlg},
		{"RS256 token naming an EC key", func(t *testing.T) string {
			return mint(t, k.rsa, map[string]any{"kid": "ec1"}, claimsAt(now))
		}, ReasonAlgKeyMismatch},
		{"ES256 token naming an RSA key", func(t *testing.T) string {
			return mint(t, k.ec, map[string]any{"kid": "rsa1"}, claimsAt(now))
		}, ReasonAlgKeyMismatch},
		{"ES256 signed with a P-384 key", func(t *testing.T) string {
			pb, _ := json.Marshal(claimsAt(now))
			return signRaw(t, "ES384", k.p384.priv, `{"alg":"ES256","kid":"p384"}`, string(pb))
		}, ReasonAlgKeyMismatch},
		{"RS384 token naming an RS256 key", good(map[string]any{"alg": "RS384"}, nil), ReasonAlgKeyMismatch},
		{"kid-less RS384 token, JWK alg RS256", func(t *testing.T) string {
			pb, _ := json.Marshal(claimsAt(now))
			return signRaw(t, "RS384", k.rsa.priv, `{"alg":"RS384"}`, string(pb))
		}, ReasonAlgKeyMismatch},
		{"ECDSA all-zero signature", func(t *testing.T) string {
			tok := mint(t, k.ec, nil, claimsAt(now))
			return tok[:strings.LastIndex(tok, ".")+1] + enc(make([]byte, 64))
		}, ReasonBadSignature},
		{"RSA signature flipped bit", func(t *testing.T) string {
			tok := good(nil, nil)(t)
			i := strings.LastIndex(tok, ".") + 5
			c := byte('A')
			if tok[i] == 'A' {
				c = 'B'
			}
			return tok[:i] + string(c) + tok[i+1:]
		}, ReasonBadSignature},
		{"payload changed after signing", func(t *testing.T) string {
			tok := good(nil, nil)(t)
			parts := strings.Split(tok, ".")
			pb, _ := json.Marshal(with(now, map[string]any{"scope": "admin"}))
			return parts[0] + "." + enc(pb) + "." + parts[2]
		}, ReasonBadSignature},
		{"signed by another key under a known kid", func(t *testing.T) string {
			return mint(t, k.other, nil, claimsAt(now))
		}, ReasonBadSignature},
		{"unknown kid", good(map[string]any{"kid": "nope"}, nil), ReasonUnknownKID},

		// Header members.
		{"jwk header", good(map[string]any{"jwk": k.rsa.jwk}, nil), ReasonHeaderKey},
		{"jku header", good(map[string]any{"jku": "https://evil.example/jwks"}, nil), ReasonHeaderKey},
		{"x5u header", good(map[string]any{"x5u": "https://evil.example/cert"}, nil), ReasonHeaderKey},
		{"x5c header", good(map[string]any{"x5c": []string{"MIIB"}}, nil), ReasonHeaderKey},
		{"crit empty", good(map[string]any{"crit": []string{}}, nil), ReasonCrit},
		{"crit exp", good(map[string]any{"crit": []string{"exp"}, "exp": 1}, nil), ReasonCrit},
		{"typ id_token", good(map[string]any{"typ": "id_token"}, nil), ReasonIDTokenType},
		{"typ JOSE", good(map[string]any{"typ": "JOSE"}, nil), ReasonIDTokenType},
		{"typ number", good(map[string]any{"typ": 1}, nil), ReasonMalformed},

		// Times.
		{"expired beyond leeway", good(nil, map[string]any{"exp": now.Add(-31 * time.Second).Unix()}), ReasonExpired},
		{"nbf beyond leeway", good(nil, map[string]any{"nbf": now.Add(time.Minute).Unix()}), ReasonNotYetValid},
		{"iat beyond leeway", good(nil, map[string]any{"iat": now.Add(time.Minute).Unix()}), ReasonIssuedInFuture},
		{"missing exp", good(nil, map[string]any{"exp": nil}), ReasonMissingExp},
		{"exp as string", good(nil, map[string]any{"exp": fmt.Sprint(exp)}), ReasonBadClaim},
		{"exp as bool", good(nil, map[string]any{"exp": true}), ReasonBadClaim},
		{"exp zero", good(nil, map[string]any{"exp": 0}), ReasonBadClaim},
		{"exp negative", good(nil, map[string]any{"exp": -5}), ReasonBadClaim},
		{"exp after year 3000", good(nil, map[string]any{"exp": 1e12}), ReasonBadClaim},
		{"exp huge exponent", func(t *testing.T) string {
			return rawPayload(t, k.rsa, fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":1e999}`, issuerURL, testAud))
		}, ReasonBadClaim},
		{"nbf as string", good(nil, map[string]any{"nbf": "1"}), ReasonBadClaim},
		{"iat as object", good(nil, map[string]any{"iat": map[string]any{}}), ReasonBadClaim},
		{"EXP uppercase only", good(nil, map[string]any{"exp": nil, "EXP": exp}), ReasonMissingExp},
		{"duplicate exp", func(t *testing.T) string {
			return rawPayload(t, k.rsa, fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":1,"exp":%d}`, issuerURL, testAud, exp))
		}, ReasonBadClaim},
		{"duplicate nested member", func(t *testing.T) string {
			return rawPayload(t, k.rsa, fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":%d,"act":{"sub":"a","sub":"b"}}`, issuerURL, testAud, exp))
		}, ReasonBadClaim},

		// Issuer.
		{"wrong iss", good(nil, map[string]any{"iss": "https://evil.example"}), ReasonUnknownIssuer},
		{"iss trailing slash", good(nil, map[string]any{"iss": issuerURL + "/"}), ReasonUnknownIssuer},
		{"iss different case", good(nil, map[string]any{"iss": strings.ToUpper(issuerURL)}), ReasonUnknownIssuer},
		{"iss missing", good(nil, map[string]any{"iss": nil}), ReasonUnknownIssuer},
		{"ISS uppercase only", good(nil, map[string]any{"iss": nil, "ISS": issuerURL}), ReasonUnknownIssuer},
		{"iss array", good(nil, map[string]any{"iss": []string{issuerURL}}), ReasonBadClaim},

		// Audience.
		{"aud missing", good(nil, map[string]any{"aud": nil}), ReasonBadAudience},
		{"aud look-alike", good(nil, map[string]any{"aud": testAud + "/"}), ReasonBadAudience},
		{"aud other case", good(nil, map[string]any{"aud": strings.ToUpper(testAud)}), ReasonBadAudience},
		{"aud empty array", good(nil, map[string]any{"aud": []string{}}), ReasonBadAudience},
		{"aud array of others", good(nil, map[string]any{"aud": []string{"a", "b"}}), ReasonBadAudience},
		{"aud array with number", good(nil, map[string]any{"aud": []any{testAud, 1}}), ReasonBadClaim},
		{"aud number", good(nil, map[string]any{"aud": 1}), ReasonBadClaim},
		{"aud is the client id", good(nil, map[string]any{"aud": testClient}), ReasonIDTokenAudience},
		{"aud is azp", good(nil, map[string]any{"aud": "spa", "client_id": nil, "azp": "spa"}), ReasonIDTokenAudience},

		// ID tokens by claims.
		{"nonce", good(nil, map[string]any{"nonce": "n"}), ReasonIDTokenClaims},
		{"at_hash", good(nil, map[string]any{"at_hash": "h"}), ReasonIDTokenClaims},
		{"c_hash", good(nil, map[string]any{"c_hash": "h"}), ReasonIDTokenClaims},
		{"token_use id", good(nil, map[string]any{"token_use": "id"}), ReasonIDTokenClaims},
		{"typ claim ID", good(nil, map[string]any{"typ": "ID"}), ReasonIDTokenClaims},
		{"typ claim Refresh", good(nil, map[string]any{"typ": "Refresh"}), ReasonIDTokenClaims},
		{"token_use access", good(nil, map[string]any{"token_use": "access"}), ""},

		// Other claim types.
		{"sub number", good(nil, map[string]any{"sub": 1}), ReasonBadClaim},
		{"sub with newline", good(nil, map[string]any{"sub": "a\r\nX-Auth-Subject: admin"}), ReasonBadClaim},
		{"client_id array", good(nil, map[string]any{"client_id": []string{"a"}}), ReasonBadClaim},
		{"azp number", good(nil, map[string]any{"azp": 1}), ReasonBadClaim},
		{"jti number", good(nil, map[string]any{"jti": 1}), ReasonBadClaim},
		{"scope array", good(nil, map[string]any{"scope": []string{"a"}}), ReasonBadClaim},
		{"scope with tab", good(nil, map[string]any{"scope": "a\tb"}), ReasonBadClaim},
		{"scp number", good(nil, map[string]any{"scp": 1}), ReasonBadClaim},
		{"scp array with number", good(nil, map[string]any{"scp": []any{"a", 1}}), ReasonBadClaim},
		{"act not an object", good(nil, map[string]any{"act": "x"}), ReasonBadClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token(t)
			c, err := s.v.Verify(context.Background(), tok)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v (reason %q); want success", err, reasonOf(err))
				}
				if c == nil || c.ExpiresAt.IsZero() {
					t.Fatalf("claims %+v; want ExpiresAt set", c)
				}
				return
			}
			if c != nil {
				t.Fatalf("got claims %+v with error %v; want nil claims", c, err)
			}
			if got := reasonOf(err); got != tt.want {
				t.Fatalf("reason = %q (err %v); want %q", got, err, tt.want)
			}
			checkSafe(t, err, tok)
		})
	}
}

// checkSafe fails if the error text quotes any token segment.
func checkSafe(t *testing.T, err error, tok string) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		for _, seg := range strings.Split(tok, ".") {
			if len(seg) >= 8 && strings.Contains(msg, seg[:8]) {
				t.Fatalf("error %q quotes the token", msg)
			}
		}
	}
}

func TestRequireATJWT(t *testing.T) {
	k := newKey(t, "rsa2048", "rsa1", "RS256", "RS256")
	s := newSetup(t, func(ic *IssuerConfig) { ic.RequireATJWT = true }, k)
	now := s.clock.Now()
	for _, tt := range []struct {
		typ  any
		want Reason
	}{{nil, ReasonTypRequired}, {"JWT", ReasonTypRequired}, {"at+jwt", ""}, {"application/at+jwt", ""}, {"id_token", ReasonIDTokenType}} {
		t.Run(fmt.Sprint(tt.typ), func(t *testing.T) {
			hdr := map[string]any{"typ": tt.typ}
			if tt.typ == nil {
				hdr = map[string]any{"typ": nil}
			}
			_, err := s.v.Verify(context.Background(), mint(t, k, hdr, claimsAt(now)))
			if got := reasonOf(err); got != tt.want || (tt.want == "" && err != nil) {
				t.Fatalf("reason = %q (err %v); want %q", got, err, tt.want)
			}
		})
	}
}

func TestAllowedClients(t *testing.T) {
	k := newKey(t, "rsa2048", "rsa1", "RS256", "RS256")
	s := newSetup(t, func(ic *IssuerConfig) { ic.AllowedClients = []string{"good"} }, k)
	now := s.clock.Now()
	for _, tt := range []struct {
		name    string
		changes map[string]any
		want    Reason
	}{
		{"client_id allowed", map[string]any{"client_id": "good"}, ""},
		{"azp allowed", map[string]any{"client_id": nil, "azp": "good"}, ""},
		{"client_id wins over azp", map[string]any{"client_id": "bad", "azp": "good"}, ReasonClientNotAllowed},
		{"other client", map[string]any{"client_id": "bad"}, ReasonClientNotAllowed},
		{"no client", map[string]any{"client_id": nil}, ReasonClientNotAllowed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.v.Verify(context.Background(), mint(t, k, nil, with(now, tt.changes)))
			if got := reasonOf(err); got != tt.want || (tt.want == "" && err != nil) {
				t.Fatalf("reason = %q (err %v); want %q", got, err, tt.want)
			}
		})
	}
}

func TestClaimsAndScopes(t *testing.T) {
	k := newKey(t, "p256", "ec1", "ES256", "ES256")
	s := newSetup(t, nil, k)
	now := s.clock.Now()
	for _, tt := range []struct {
		name    string
		changes map[string]any
		want    []string
	}{
		{"scope string", map[string]any{"scope": "a b  c"}, []string{"a", "b", "c"}},
		{"scp array", map[string]any{"scope": nil, "scp": []string{"x", "y"}}, []string{"x", "y"}},
		{"scp string", map[string]any{"scope": nil, "scp": "x y"}, []string{"x", "y"}},
		{"both, deduplicated", map[string]any{"scope": "a b", "scp": []string{"b", "c", "a"}}, []string{"a", "b", "c"}},
		{"case kept", map[string]any{"scope": "Read read"}, []string{"Read", "read"}},
		{"none", map[string]any{"scope": nil}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := s.v.Verify(context.Background(), mint(t, k, nil, with(now, tt.changes)))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Scopes, tt.want) {
				t.Fatalf("Scopes = %q; want %q", c.Scopes, tt.want)
			}
			// Joined once at verification: a cache hit shares these
			// Claims and must not join them again per request.
			if got, want := c.ScopeList(), strings.Join(tt.want, " "); got != want {
				t.Errorf("ScopeList() = %q; want %q", got, want)
			}
			if n := testing.AllocsPerRun(10, func() { _ = c.ScopeList() }); n != 0 {
				t.Errorf("ScopeList(): %v allocations; want 0", n)
			}
		})
	}

	t.Run("all fields", func(t *testing.T) {
		claims := with(now, map[string]any{
			"nbf": now.Add(-time.Minute).Unix(),
			"aud": []string{testAud, "other"},
			"act": map[string]any{"sub": "svc-a", "client_id": "ca", "act": map[string]any{"sub": "svc-b"}},
		})
		c, err := s.v.Verify(context.Background(), mint(t, k, nil, claims))
		if err != nil {
			t.Fatal(err)
		}
		if c.Issuer != issuerURL || c.Subject != "user-1" || c.ClientID != testClient || c.ID != "id-1" {
			t.Errorf("identity = %q %q %q %q", c.Issuer, c.Subject, c.ClientID, c.ID)
		}
		if !slices.Equal(c.Audience, []string{testAud, "other"}) {
			t.Errorf("Audience = %q", c.Audience)
		}
		if !c.ExpiresAt.Equal(now.Add(time.Hour)) || !c.IssuedAt.Equal(now) || !c.NotBefore.Equal(now.Add(-time.Minute)) {
			t.Errorf("times = %v %v %v", c.ExpiresAt, c.IssuedAt, c.NotBefore)
		}
		if c.Act == nil || c.Act.Subject != "svc-a" || c.Act.ClientID != "ca" || c.Act.Act == nil || c.Act.Act.Subject != "svc-b" {
			t.Errorf("Act = %+v", c.Act)
		}
		if n, ok := c.Raw["exp"].(json.Number); !ok || n.String() != fmt.Sprint(now.Add(time.Hour).Unix()) {
			t.Errorf("Raw[exp] = %#v; want json.Number", c.Raw["exp"])
		}
	})
}

func TestClockMovesPastExpiry(t *testing.T) {
	k := newKey(t, "ed25519", "ed1", "EdDSA", "EdDSA")
	s := newSetup(t, func(ic *IssuerConfig) { ic.Leeway = time.Second; ic.MaxStaleness = 48 * time.Hour }, k)
	tok := mint(t, k, nil, claimsAt(s.clock.Now()))
	if _, err := s.v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	s.clock.Add(time.Hour + time.Second) // exp == now - leeway
	if _, err := s.v.Verify(context.Background(), tok); reasonOf(err) != ReasonExpired {
		t.Fatalf("err = %v; want expired at exp + leeway", err)
	}
	s.clock.Add(-time.Nanosecond) // just inside the leeway
	if _, err := s.v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
}

func TestKeyWithoutAlgFitsByType(t *testing.T) {
	rsaNoAlg := newKey(t, "rsa2048", "rsa-noalg", "", "PS256")
	ecNoAlg := newKey(t, "p256", "ec-noalg", "", "ES256")
	s := newSetup(t, nil, rsaNoAlg, ecNoAlg)
	now := s.clock.Now()
	for _, alg := range []string{"RS256", "RS512", "PS256", "PS384"} {
		tok := mint(t, rsaNoAlg, map[string]any{"alg": alg}, claimsAt(now))
		if _, err := s.v.Verify(context.Background(), tok); err != nil {
			t.Errorf("%s on RSA key without alg: %v", alg, err)
		}
	}
	if _, err := s.v.Verify(context.Background(), mint(t, ecNoAlg, map[string]any{"kid": nil}, claimsAt(now))); err != nil {
		t.Errorf("kid-less ES256 on EC key without alg: %v", err)
	}
	pb, _ := json.Marshal(claimsAt(now))
	tok := signRaw(t, "RS256", rsaNoAlg.priv, `{"alg":"ES256","kid":"rsa-noalg"}`, string(pb))
	if _, err := s.v.Verify(context.Background(), tok); reasonOf(err) != ReasonAlgKeyMismatch {
		t.Errorf("ES256 on RSA key: %v; want alg_key_mismatch", err)
	}
}
