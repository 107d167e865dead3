package gateway

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// Seed corpora live under testdata/fuzz/<Name>, so that plain `go test`
// replays them; `make fuzz` (FUZZTIME each) searches further.

// FuzzParseBearer: parseBearer never accepts anything but one RFC 6750
// b64token after a case-insensitive "Bearer ", and fails only with its
// sentinel errors.
func FuzzParseBearer(f *testing.F) {
	f.Add("Bearer abc.def.ghi")
	f.Add("bearer  abc==")
	f.Add("Bearer a, Bearer b")
	f.Add("Bearer\tabc")
	f.Add("BearerX abc")
	f.Add("Basic dXNlcjpwYXNz")
	f.Fuzz(func(t *testing.T, v string) {
		tok, err := parseBearer(v)
		if err != nil {
			if tok != "" {
				t.Fatalf("token %q with error %v", tok, err)
			}
			if !errors.Is(err, errNoBearer) && !errors.Is(err, errEmptyBearer) && !errors.Is(err, errTwoAuthHeaders) && !errors.Is(err, errBadBearer) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !isB64Token(tok) || strings.ContainsAny(tok, " \t,") {
			t.Fatalf("accepted %q, not a b64token", tok)
		}
		trimmed := strings.TrimLeft(v, " \t")
		if !strings.EqualFold(trimmed[:7], "bearer ") || strings.Trim(trimmed[7:], " \t") != tok {
			t.Fatalf("parseBearer(%q) = %q: not the credential of the Bearer scheme", v, tok)
		}
		// The same value twice is always refused as two credentials.
		if _, err := bearerToken(http.Header{"Authorization": {v, v}}); !errors.Is(err, errTwoAuthHeaders) {
			t.Fatalf("two headers: %v", err)
		}
	})
}
