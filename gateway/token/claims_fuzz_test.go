package token

import (
	"slices"
	"strings"
	"testing"
)

// FuzzClaims feeds raw payload JSON to the strict decoder and readClaims,
// the code every token's claims go through before any signature check.
// Seeds under testdata/fuzz/FuzzClaims hold the scope and claim tricks.
func FuzzClaims(f *testing.F) {
	f.Add([]byte(`{"exp":1800000000,"scope":"a b","scp":["c","a"]}`))
	f.Add([]byte(`{"exp":1800000000,"scp":"x y  z"}`))
	f.Add([]byte(`{"exp":1800000000,"scope":"a\tb"}`))
	f.Add([]byte(`{"EXP":1800000000,"Scope":"admin"}`))
	f.Add([]byte(`{"exp":1800000000,"scope":"a","scope":"admin"}`))
	f.Add([]byte(`{"exp":"1800000000","sub":"x\r\nX-Auth-Subject: root"}`))
	defaults := IssuerConfig{}.withDefaults()
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := decodeObject(payload)
		if err != nil {
			return
		}
		c, e := readClaims(m, &defaults)
		if e != nil {
			if c != nil || e.Reason == "" || e.Detail == "" {
				t.Fatalf("refusal %+v with claims %v", e, c)
			}
			return
		}
		if _, ok := m["exp"]; !ok || c.ExpiresAt.IsZero() {
			t.Fatalf("accepted without exp: %v", m)
		}
		for _, d := range []int64{c.ExpiresAt.Unix(), c.NotBefore.Unix(), c.IssuedAt.Unix()} {
			if d > maxNumericDate {
				t.Fatalf("accepted a date beyond the year 3000: %d", d)
			}
		}
		for _, s := range []string{c.Subject, c.ClientID} {
			if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("identity %q with control characters", s)
			}
		}
		// The scopes are exactly the space-separated tokens of scope and
		// of each scp element, first occurrence kept, each a valid
		// RFC 6749 scope-token.
		var want []string
		add := func(s string) {
			for tok := range strings.SplitSeq(s, " ") {
				if tok != "" && !slices.Contains(want, tok) {
					want = append(want, tok)
				}
			}
		}
		if s, ok := m["scope"].(string); ok {
			add(s)
		}
		switch x := m["scp"].(type) {
		case string:
			add(x)
		case []any:
			for _, e := range x {
				add(e.(string))
			}
		}
		if !slices.Equal(c.Scopes, want) && !(len(c.Scopes) == 0 && len(want) == 0) {
			t.Fatalf("scopes %q; want %q", c.Scopes, want)
		}
		for _, s := range c.Scopes {
			for i := 0; i < len(s); i++ {
				if b := s[i]; b < 0x21 || b == '"' || b == '\\' || b > 0x7e {
					t.Fatalf("scope %q has byte %#x", s, b)
				}
			}
		}
	})
}
