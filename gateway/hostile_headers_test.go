package gateway

import (
	"net/http"
	"strings"
	"testing"
)

// TestHostileAuthorization covers how a token may be presented: only one
// Authorization header with one Bearer credential, never the query string.
func TestHostileAuthorization(t *testing.T) {
	r := newRig(t, rigOptions{})
	tok := r.token(allScopes...)
	tests := []struct {
		name    string
		target  string
		headers string // raw header lines, each ending in CRLF
		status  int
		reason  string
	}{
		{"two Authorization headers", "/v1/models", "Authorization: Bearer " + tok + "\r\nAuthorization: Bearer " + tok + "\r\n", 400, string(ReasonDuplicateAuth)},
		{"two headers differing in case", "/v1/models", "Authorization: Bearer " + tok + "\r\nauthorization: Bearer " + tok + "\r\n", 400, string(ReasonDuplicateAuth)},
		{"second header empty", "/v1/models", "Authorization: Bearer " + tok + "\r\nAuthorization: \r\n", 400, string(ReasonDuplicateAuth)},
		{"Basic then Bearer", "/v1/models", "Authorization: Basic dXNlcjpwYXNz\r\nAuthorization: Bearer " + tok + "\r\n", 400, string(ReasonDuplicateAuth)},
		{"two credentials folded", "/v1/models", "Authorization: Bearer " + tok + ", Bearer " + tok + "\r\n", 400, string(ReasonDuplicateAuth)},
		{"underscore Authorization only", "/v1/models", "Authorization_: Bearer " + tok + "\r\n", 401, string(ReasonMissingToken)},
		{"query token only", "/v1/models?access_token=" + tok, "", 400, string(ReasonTokenInQuery)},
		{"query token name encoded", "/v1/models?acc%65ss_token=" + tok, "", 400, string(ReasonTokenInQuery)},
		{"query token upper case", "/v1/models?ACCESS_TOKEN=" + tok, "", 400, string(ReasonTokenInQuery)},
		{"header and query token", "/v1/models?access_token=" + tok, "Authorization: Bearer " + tok + "\r\n", 400, string(ReasonBadRequest)},
		{"not a b64token", "/v1/models", "Authorization: Bearer " + tok + "\x01\r\n", 400, ""},
		{"Bearer without token", "/v1/models", "Authorization: Bearer \r\n", 400, string(ReasonBadRequest)},
		{"Basic only", "/v1/models", "Authorization: Basic dXNlcjpwYXNz\r\n", 401, string(ReasonMissingToken)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.api.Reset()
			resp := r.raw("GET " + tt.target + " HTTP/1.1\r\nHost: gw\r\n" + tt.headers + "Connection: close\r\n\r\n")
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d; want %d (body %.200s)", resp.StatusCode, tt.status, bodyOf(resp))
			}
			if id := resp.Header.Get("X-Request-Id"); id != "" && tt.reason != "" {
				if a := r.auditFor(id); a["reason"] != tt.reason {
					t.Errorf("audit reason %v; want %s", a["reason"], tt.reason)
				}
			}
			if recs := r.checkForwarded(); len(recs) != 0 {
				t.Errorf("upstream got %v; want nothing", paths(recs))
			}
		})
	}
	t.Run("query token on a public route is stripped", func(t *testing.T) {
		r.api.Reset()
		resp := r.do("GET", "/public/x?a=1&access_token=secret&acc%65ss_token=s2&b=2", "", nil)
		wantStatus(t, resp, 200)
		recs := r.checkForwarded()
		if len(recs) != 1 || recs[0].RawQuery != "a=1&b=2" {
			t.Errorf("upstream got %+v; want one request with query %q", recs, "a=1&b=2")
		}
	})
}

// TestHostileHeaders sends headers that would change what the upstream
// believes about the caller or the request, on an allowed request: the
// upstream must see the gateway's values only.
func TestHostileHeaders(t *testing.T) {
	r := newRig(t, rigOptions{})
	tok := r.token("models:read")
	spoof := "X-Auth-Subject: root\r\nx-auth-subject: root2\r\nX_Auth_Subject: root3\r\nX-AUTH-SCOPES: admin\r\n" +
		"X-Auth_Client-Id: evil\r\nX_AUTH_CLIENT_ID: evil2\r\n"
	tests := []struct {
		name    string
		token   string
		headers string
		check   func(t *testing.T, h http.Header)
	}{
		{"identity spoofing", tok, spoof, wantIdentity("alice", "cli", "models:read")},
		{"identity spoofing on a public route", "", spoof, wantIdentity("", "", "")},
		{"Connection names the identity headers", tok, "Connection: X-Auth-Subject, X-Auth-Scopes, X-Auth-Client-Id\r\n",
			wantIdentity("alice", "cli", "models:read")},
		{"Connection names X-Request-Id and X-Forwarded-For", tok, "Connection: X-Request-Id, X-Forwarded-For\r\n", func(t *testing.T, h http.Header) {
			if h.Get("X-Request-Id") == "" || h.Get("X-Forwarded-For") != "127.0.0.1" {
				t.Errorf("X-Request-Id %q, X-Forwarded-For %q; want both set by the gateway", h.Get("X-Request-Id"), h.Get("X-Forwarded-For"))
			}
		}},
		{"method override headers", tok, "X-HTTP-Method-Override: DELETE\r\nX-HTTP-Method: PUT\r\nX-Method-Override: PATCH\r\nX_HTTP_Method_Override: DELETE\r\n", func(t *testing.T, h http.Header) {
			for k := range h {
				if strings.Contains(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "method") {
					t.Errorf("upstream got method override %s: %q", k, h[k])
				}
			}
		}},
		{"forwarding headers from an untrusted peer", tok, "X-Forwarded-For: 10.9.9.9\r\nForwarded: for=10.9.9.9\r\nX-Real-IP: 10.9.9.9\r\nX-Forwarded-Host: evil\r\nX_Forwarded_For: 10.9.9.9\r\n", func(t *testing.T, h http.Header) {
			for k, v := range h {
				if strings.Contains(strings.Join(v, ","), "10.9.9.9") || strings.Contains(strings.Join(v, ","), "evil") {
					t.Errorf("upstream got client-sent %s: %q", k, v)
				}
			}
		}},
		{"upgrade to h2c", tok, "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n", func(t *testing.T, h http.Header) {
			if h.Get("Upgrade") != "" || h.Get("Http2-Settings") != "" {
				t.Errorf("upstream got Upgrade %q, HTTP2-Settings %q", h.Get("Upgrade"), h.Get("Http2-Settings"))
			}
		}},
		{"client token never forwarded", tok, "", func(t *testing.T, h http.Header) {
			for k, v := range h {
				if strings.Contains(strings.Join(v, ","), tok[:20]) {
					t.Errorf("upstream got the client's token in %s", k)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.api.Reset()
			target := "/v1/models"
			auth := ""
			if tt.token != "" {
				auth = "Authorization: Bearer " + tt.token + "\r\n"
			} else {
				target = "/public/x"
			}
			resp := r.raw("GET " + target + " HTTP/1.1\r\nHost: gw\r\n" + auth + tt.headers + "Connection: close\r\n\r\n")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d; want 200 (body %.200s)", resp.StatusCode, bodyOf(resp))
			}
			recs := r.checkForwarded()
			if len(recs) != 1 {
				t.Fatalf("upstream got %d requests; want 1", len(recs))
			}
			tt.check(t, recs[0].Header)
		})
	}
}

// wantIdentity checks the identity headers: exactly one of each, with the
// token's values (or none on a public route), and no underscore variants.
func wantIdentity(sub, client, scopes string) func(*testing.T, http.Header) {
	return func(t *testing.T, h http.Header) {
		t.Helper()
		for name, want := range map[string]string{"X-Auth-Subject": sub, "X-Auth-Client-Id": client, "X-Auth-Scopes": scopes} {
			got := h.Values(name)
			switch {
			case want == "" && len(got) != 0:
				t.Errorf("%s = %q; want none", name, got)
			case want != "" && (len(got) != 1 || got[0] != want):
				t.Errorf("%s = %q; want exactly [%q]", name, got, want)
			}
		}
		for k := range h {
			if strings.Contains(k, "_") {
				t.Errorf("upstream got underscore header %s: %q", k, h[k])
			}
		}
	}
}
