package token

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzVerify seed files")

// fuzzKey is fixed so that committed seeds carry valid signatures.
var fuzzKey = ed25519.NewKeyFromSeed([]byte("scopegate fuzz key, never secret"))

// fuzzSeeds are named inputs: valid tokens and near misses of each refusal.
func fuzzSeeds(t testing.TB) map[string]string {
	hdr := `{"alg":"EdDSA","kid":"fz","typ":"at+jwt"}`
	claims := fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"u","exp":%d,"iat":%d,"scope":"a b","scp":["c"]}`,
		issuerURL, testAud, t0.Add(time.Hour).Unix(), t0.Unix())
	sign := func(h, p string) string { return signRaw(t, "EdDSA", fuzzKey, h, p) }
	valid := sign(hdr, claims)
	parts := strings.Split(valid, ".")
	return map[string]string{
		"valid":            valid,
		"valid_kidless":    sign(`{"alg":"EdDSA"}`, claims),
		"valid_act":        sign(hdr, strings.TrimSuffix(claims, "}")+`,"act":{"sub":"s","act":{"sub":"t"}}}`),
		"alg_none":         enc([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".",
		"alg_hs256":        enc([]byte(`{"alg":"HS256","kid":"fz"}`)) + "." + parts[1] + "." + parts[2],
		"jwe":              parts[0] + ".a.b.c." + parts[2],
		"crit":             sign(`{"alg":"EdDSA","kid":"fz","crit":[]}`, claims),
		"jwk_header":       sign(`{"alg":"EdDSA","jwk":{"kty":"OKP"}}`, claims),
		"dup_exp":          sign(hdr, strings.Replace(claims, `"exp"`, `"exp":1,"exp"`, 1)),
		"exp_string":       sign(hdr, `{"iss":"`+issuerURL+`","aud":"`+testAud+`","exp":"99999999999"}`),
		"exp_huge":         sign(hdr, `{"iss":"`+issuerURL+`","aud":"`+testAud+`","exp":1e308}`),
		"deep":             sign(hdr, `{"x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`),
		"id_token":         sign(hdr, strings.TrimSuffix(claims, "}")+`,"nonce":"n"}`),
		"bad_utf8":         sign(hdr, "{\"sub\":\"\xc3\x28\"}"),
		"padded":           valid + "=",
		"std_alphabet":     strings.ReplaceAll(strings.ReplaceAll(valid, "-", "+"), "_", "/"),
		"empty_parts":      "..",
		"zero_sig":         parts[0] + "." + parts[1] + "." + enc(make([]byte, 64)),
		"unknown_kid":      sign(`{"alg":"EdDSA","kid":"other"}`, claims),
		"header_array":     enc([]byte(`[]`)) + "." + parts[1] + "." + parts[2],
		"payload_trailing": sign(hdr, claims+"{}"),
		"numbers_exotic":   sign(hdr, `{"iss":"`+issuerURL+`","aud":"`+testAud+`","exp":-0,"nbf":1E+2,"iat":0.0000001}`),
		"escaped_names":    sign(hdr, strings.Replace(claims, `"exp"`, `"\u0065xp"`, 1)),
	}
}

func FuzzVerify(f *testing.F) {
	seeds := fuzzSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	pub := fuzzKey.Public().(ed25519.PublicKey)
	j, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "fz", ALG: jwkset.AlgEdDSA}})
	if err != nil {
		f.Fatal(err)
	}
	srv := newJWKSServer(f)
	srv.setBody(must(f, map[string]any{"keys": []any{j.Marshal()}}))
	clock := newClock()
	v, err := New(context.Background(), Options{
		Issuers: []IssuerConfig{{Issuer: issuerURL, JWKSURI: srv.URL, Audiences: []string{testAud}, MinRefreshInterval: time.Hour}},
		Now:     clock.Now,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(v.Close)
	waitReady(f, v)
	if _, err := v.Verify(context.Background(), seeds["valid"]); err != nil {
		f.Fatalf("valid seed refused: %v", err)
	}

	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(context.Background(), raw)
		if err != nil {
			var te *Error
			if !errors.As(err, &te) && !errors.Is(err, ErrKeysUnavailable) {
				t.Fatalf("error is neither a refusal nor ErrKeysUnavailable: %v", err)
			}
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			if te != nil && te.Reason == "" {
				t.Fatal("refusal without a reason")
			}
			return
		}
		// Accepted: it must be an EdDSA token signed by the test key, in
		// canonical form, with sane claims.
		parts := strings.Split(raw, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted %d segments", len(parts))
		}
		sig, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
		if err != nil || !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
			t.Fatal("accepted a token not signed by the test key")
		}
		var hdr map[string]any
		hb, _ := base64.RawURLEncoding.Strict().DecodeString(parts[0])
		if json.Unmarshal(hb, &hdr) != nil || hdr["alg"] != "EdDSA" {
			t.Fatal("accepted a header that is not EdDSA")
		}
		if c == nil || c.Issuer != issuerURL || c.ExpiresAt.IsZero() || !c.ExpiresAt.After(clock.Now().Add(-DefaultLeeway)) {
			t.Fatalf("accepted claims %+v", c)
		}
	})
}

// TestWriteFuzzSeeds rewrites the committed seed corpus with -update-seeds;
// otherwise it checks the corpus is there.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	seeds := fuzzSeeds(t)
	if !*updateSeeds {
		for name := range seeds {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("seed %s missing; run go test -run TestWriteFuzzSeeds -update-seeds", name)
			}
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
