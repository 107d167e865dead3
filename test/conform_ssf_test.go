package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// ssfPushAuth is the authorization_header the test stream was given.
const ssfPushAuth = "Bearer push-secret-0123456789abcdef"

// ssfAudience is the receiver's shared_signals.audience.
const ssfAudience = "https://gateway.scopegate.test/ssf"

const sessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"

// TestConformSharedSignals checks the push receiver on the admin listener
// against RFC 8935 (push delivery of SETs) and RFC 8417 (the SET): 202
// with an empty body on success and on a retried push (2.2), 400 with
// the JSON error object and a registered error code on any parsing,
// validation or authentication failure (2.3, 2.4), and the event's
// effect: the subject's earlier tokens are refused.
func TestConformSharedSignals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	p := start(t, e, writeConfig(t, e.config(cfg{})+`
shared_signals:
  audience: "`+ssfAudience+`"
  authorization: "`+ssfPushAuth+`"
`))
	if !p.waitReady(10 * time.Second) {
		t.Fatal("not ready")
	}
	before := e.token("chat:completions") // alice's, issued before the event
	now := time.Now()
	set := func(over map[string]any) map[string]any {
		c := map[string]any{
			"iss": e.iss.URL(), "aud": ssfAudience, "iat": now.Unix(), "jti": rand.Text(),
			"sub_id": map[string]any{"format": "iss_sub", "iss": e.iss.URL(), "sub": "alice"},
			"events": map[string]any{sessionRevoked: map[string]any{"event_timestamp": now.Unix()}},
		}
		for k, v := range over {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	secevent := map[string]any{"typ": "secevent+jwt"}
	sign := func(h, c map[string]any) string { return e.iss.Sign(h, c) }
	push := func(t *testing.T, body, ctype string, hdr ...string) response {
		t.Helper()
		req, err := http.NewRequest("POST", "http://"+p.admin+"/v1/ssf/events", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		req.Header.Set("Accept", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Add(hdr[i], hdr[i+1])
		}
		return p.send(req)
	}
	const ct = "application/secevent+jwt"
	auth := []string{"Authorization", ssfPushAuth}
	good := sign(secevent, set(nil))

	for _, tc := range []struct {
		rule  string
		body  string
		ctype string
		hdr   []string
		err   string // the RFC 8935 2.4 error code
	}{
		{"2.3/2.4 no Authorization: authentication_failed", good, ct, nil, "authentication_failed"},
		{"2.3/2.4 wrong Authorization: authentication_failed", good, ct, []string{"Authorization", "Bearer wrong"}, "authentication_failed"},
		{"2.3/2.4 two Authorization headers: authentication_failed", good, ct, []string{"Authorization", ssfPushAuth, "Authorization", ssfPushAuth}, "authentication_failed"},
		{"2 / RFC 8417 2.3 another media type: invalid_request", good, "application/json", auth, "invalid_request"},
		{"2.4 not a JWT: invalid_request", "not a set", ct, auth, "invalid_request"},
		{"RFC 8417 2.3 typ JWT (an access token): invalid_request", sign(map[string]any{"typ": "at+jwt"}, set(nil)), ct, auth, "invalid_request"},
		{"2.4 another audience: invalid_audience", sign(secevent, set(map[string]any{"aud": "https://other.example"})), ct, auth, "invalid_audience"},
		{"2.4 unknown issuer: invalid_issuer", sign(secevent, set(map[string]any{"iss": "https://unknown.example"})), ct, auth, "invalid_issuer"},
		{"2.4 signature that does not verify: invalid_key", good[:len(good)-4] + "AAAA", ct, auth, "invalid_key"},
		{"RFC 8417 2.2 no jti: invalid_request", sign(secevent, set(map[string]any{"jti": nil})), ct, auth, "invalid_request"},
		{"RFC 8417 2.2 no events: invalid_request", sign(secevent, set(map[string]any{"events": nil})), ct, auth, "invalid_request"},
		{"RFC 8417 2.2 no iat: invalid_request", sign(secevent, set(map[string]any{"iat": nil})), ct, auth, "invalid_request"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			r := push(t, tc.body, tc.ctype, tc.hdr...)
			if r.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d; want 400 (RFC 8935 2.3) (body %s)", r.StatusCode, r.body)
			}
			if mt := r.Header.Get("Content-Type"); !strings.HasPrefix(mt, "application/json") {
				t.Errorf("Content-Type %q; want application/json (2.3)", mt)
			}
			var m map[string]any
			dec := json.NewDecoder(bytes.NewReader(r.body))
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("body %q is not a JSON object: %v", r.body, err)
			}
			if m["err"] != tc.err {
				t.Errorf("err %v; want %q (body %s)", m["err"], tc.err, r.body)
			}
			if d, ok := m["description"].(string); !ok || d == "" {
				t.Errorf("description %v; want a string (2.3)", m["description"])
			}
		})
	}
	if r := chatAs(p, before); r.StatusCode != 200 {
		t.Fatalf("refused pushes revoked something: %d %s", r.StatusCode, r.body)
	}

	t.Run("2.2 a valid SET: 202, empty body", func(t *testing.T) {
		r := push(t, good, ct, auth...)
		if r.StatusCode != http.StatusAccepted || len(r.body) != 0 {
			t.Fatalf("status %d body %q; want 202 and an empty body", r.StatusCode, r.body)
		}
	})
	t.Run("2.2 the same SET again: 202, applied once", func(t *testing.T) {
		r := push(t, good, ct+"; charset=utf-8", auth...)
		if r.StatusCode != http.StatusAccepted || len(r.body) != 0 {
			t.Fatalf("status %d body %q; want 202 and an empty body", r.StatusCode, r.body)
		}
	})
	t.Run("session-revoked: the subject's earlier tokens are refused", func(t *testing.T) {
		r := chatAs(p, before)
		wantError(t, r, 401, "invalid_token")
		if a := p.audit(r.id()); a.Reason != "token_revoked" {
			t.Errorf("audit reason %q; want token_revoked", a.Reason)
		}
	})
	t.Run("RFC 9110 15.5.6 GET: 405 with Allow", func(t *testing.T) {
		r := p.adminGet("/v1/ssf/events")
		if r.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(r.Header.Get("Allow"), "POST") {
			t.Fatalf("status %d Allow %q; want 405 naming POST", r.StatusCode, r.Header.Get("Allow"))
		}
	})
}

// chatAs sends a chat completion with tok.
func chatAs(p *proc, tok string) response {
	return p.do("POST", "/v1/chat/completions", tok, []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
}

// TestConformRevocationAPI checks the revocation API of the admin
// listener (docs/revocation.md) as an HTTP API: the RFC 6750 bearer
// scheme (case-insensitive, RFC 9110 11.1) and its 401 challenge (RFC
// 9110 15.5.2), 201 with the entry and its Location (15.3.2), 400 for a
// malformed body, 204 and 404 for DELETE, and the effect on the proxy.
func TestConformRevocationAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	p := start(t, e, writeConfig(t, e.config(cfg{})+`
admin:
  token: "`+e2eAdminToken+`"
`))
	if !p.waitReady(10 * time.Second) {
		t.Fatal("not ready")
	}
	call := func(t *testing.T, method, path, auth, body string) response {
		t.Helper()
		var rd *strings.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		var req *http.Request
		var err error
		if rd != nil {
			req, err = http.NewRequest(method, "http://"+p.admin+path, rd)
			req.Header.Set("Content-Type", "application/json")
		} else {
			req, err = http.NewRequest(method, "http://"+p.admin+path, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return p.send(req)
	}
	good := "Bearer " + e2eAdminToken

	for _, tc := range []struct {
		rule, auth string
		status     int
	}{
		{"RFC 9110 15.5.2 no credentials: 401 with a challenge", "", 401},
		{"RFC 6750 3.1 wrong token: 401 invalid_token", "Bearer not-the-admin-token", 401},
		{"RFC 9110 11.1 the scheme is case-insensitive", "bearer " + e2eAdminToken, 200},
		{"RFC 9110 11.1 the scheme is case-insensitive (upper)", "BEARER " + e2eAdminToken, 200},
		{"another scheme: 401", "Basic " + e2eAdminToken, 401},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			r := call(t, "GET", "/v1/revocations", tc.auth, "")
			if r.StatusCode != tc.status {
				t.Fatalf("status %d; want %d (%s)", r.StatusCode, tc.status, r.body)
			}
			if tc.status == 401 {
				if ch := r.Header.Get("Www-Authenticate"); !strings.HasPrefix(ch, "Bearer ") {
					t.Errorf("WWW-Authenticate %q; a 401 must carry a challenge", ch)
				}
			}
		})
	}

	tok := e.token("chat:completions")
	var entry struct {
		ID   string `json:"id"`
		Kind string `json:"kind"`
	}
	t.Run("RFC 9110 15.3.2 POST: 201 with the entry and its Location", func(t *testing.T) {
		r := call(t, "POST", "/v1/revocations", good, `{"sub":"alice","by":"conform"}`)
		if r.StatusCode != 201 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("status %d Content-Type %q; want 201 JSON (%s)", r.StatusCode, r.Header.Get("Content-Type"), r.body)
		}
		if err := json.Unmarshal(r.body, &entry); err != nil || entry.ID == "" || entry.Kind != "sub" {
			t.Fatalf("body %s; want the sub entry with its id", r.body)
		}
		if loc := r.Header.Get("Location"); loc != "/v1/revocations/"+entry.ID {
			t.Errorf("Location %q; want /v1/revocations/%s", loc, entry.ID)
		}
	})
	t.Run("the subject's earlier token is refused", func(t *testing.T) {
		r := chatAs(p, tok)
		wantError(t, r, 401, "invalid_token")
	})
	for _, tc := range []struct{ rule, body string }{
		{"not JSON", `sub=alice`},
		{"an unknown member", `{"sub":"alice","subject":"x"}`},
		{"two kinds", `{"sub":"alice","client_id":"cli"}`},
		{"two objects", `{"sub":"alice"}{"sub":"bob"}`},
	} {
		t.Run("400 "+tc.rule, func(t *testing.T) {
			r := call(t, "POST", "/v1/revocations", good, tc.body)
			if r.StatusCode != 400 || !strings.Contains(string(r.body), `"code":"invalid_request"`) {
				t.Fatalf("status %d body %s; want 400 invalid_request", r.StatusCode, r.body)
			}
		})
	}
	t.Run("DELETE: 204, then 404", func(t *testing.T) {
		if r := call(t, "DELETE", "/v1/revocations/"+entry.ID, good, ""); r.StatusCode != 204 || len(r.body) != 0 {
			t.Fatalf("status %d body %q; want 204 and no body", r.StatusCode, r.body)
		}
		if r := call(t, "DELETE", "/v1/revocations/"+entry.ID, good, ""); r.StatusCode != 404 {
			t.Fatalf("second DELETE: %d; want 404", r.StatusCode)
		}
	})
	t.Run("lifted: the token is accepted again", func(t *testing.T) {
		if r := chatAs(p, tok); r.StatusCode != 200 {
			t.Fatalf("status %d; want 200 (%s)", r.StatusCode, r.body)
		}
	})
}
