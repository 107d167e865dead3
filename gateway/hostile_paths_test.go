package gateway

import (
	"strings"
	"testing"
)

// TestHostileRequestTargets sends path and request-target tricks on raw
// connections (a client library would clean or escape them) with a token
// that holds every scope, so that only the gateway's path handling stands
// between each spelling and the upstream. The upstream must receive
// nothing but policy-allowed requests, under exactly their canonical path.
func TestHostileRequestTargets(t *testing.T) {
	r := newRig(t, rigOptions{})
	tok := r.token(allScopes...)
	tests := []struct {
		name   string
		line   string // request line, without CRLF
		status int
		// forward is the exact path the upstream must get; "" = nothing.
		forward string
		// byGo: net/http refuses it before the handler (plain-text 400).
		byGo bool
	}{
		{"plain", "GET /v1/models HTTP/1.1", 200, "/v1/models", false},
		{"encoded unreserved is canonicalized", "GET /v1/%6Dodels HTTP/1.1", 200, "/v1/models", false},
		{"dotdot", "GET /v1/../v1/models HTTP/1.1", 400, "", false},
		{"dotdot from public", "GET /public/../v1/models HTTP/1.1", 400, "", false},
		{"dot", "GET /v1/./models HTTP/1.1", 400, "", false},
		{"final dot segment", "GET /v1/models/. HTTP/1.1", 400, "", false},
		{"encoded dotdot", "GET /public/%2e%2e/v1/models HTTP/1.1", 400, "", false},
		{"encoded dotdot upper", "GET /public/%2E%2E/v1/models HTTP/1.1", 400, "", false},
		{"half-encoded dotdot", "GET /public/.%2e/v1/models HTTP/1.1", 400, "", false},
		{"double-encoded dotdot", "GET /public/%252e%252e/v1/models HTTP/1.1", 400, "", false},
		{"overlong UTF-8 dotdot", "GET /public/%c0%ae%c0%ae/v1/models HTTP/1.1", 400, "", false},
		{"encoded slash", "GET /v1%2fmodels HTTP/1.1", 400, "", false},
		{"encoded slash upper", "GET /v1%2Fmodels HTTP/1.1", 400, "", false},
		{"encoded backslash", "GET /v1%5cmodels HTTP/1.1", 400, "", false},
		{"raw backslash", `GET /v1\models HTTP/1.1`, 400, "", false},
		{"backslash dotdot", `GET /public/..\v1/models HTTP/1.1`, 400, "", false},
		{"doubled leading slash", "GET //v1/models HTTP/1.1", 400, "", false},
		{"doubled inner slash", "GET /v1//models HTTP/1.1", 400, "", false},
		{"upper case", "GET /V1/MODELS HTTP/1.1", 404, "", false},
		{"mixed case", "GET /v1/Models HTTP/1.1", 404, "", false},
		{"trailing dot", "GET /v1/models. HTTP/1.1", 400, "", false},
		{"trailing encoded dot", "GET /v1/models%2e HTTP/1.1", 400, "", false},
		{"trailing encoded space", "GET /v1/models%20 HTTP/1.1", 400, "", false},
		{"trailing slash is another path", "GET /v1/models/ HTTP/1.1", 404, "", false},
		{"semicolon parameter", "GET /v1/models;x=1 HTTP/1.1", 400, "", false},
		{"encoded semicolon", "GET /v1/models%3bx HTTP/1.1", 400, "", false},
		{"encoded NUL", "GET /v1/models%00 HTTP/1.1", 400, "", false},
		{"raw NUL", "GET /v1/models\x00 HTTP/1.1", 400, "", true},
		{"encoded CRLF", "GET /v1/models%0d%0aX-Auth-Subject:%20root HTTP/1.1", 400, "", false},
		{"fragment is part of the path", "GET /v1/models#frag HTTP/1.1", 404, "", false},
		{"lower-case method", "get /v1/models HTTP/1.1", 405, "", false},
		{"HEAD is not GET", "HEAD /v1/models HTTP/1.1", 405, "", false},
		{"absolute-form", "GET http://evil.example/v1/models HTTP/1.1", 400, "", false},
		{"absolute-form own host", "GET http://127.0.0.1/v1/models HTTP/1.1", 400, "", false},
		{"OPTIONS asterisk", "OPTIONS * HTTP/1.1", 400, "", false},
		{"CONNECT authority-form", "CONNECT evil.example:443 HTTP/1.1", 400, "", false},
		{"public route canonical", "GET /public/a%20b HTTP/1.1", 200, "/public/a%20b", false},
		// Not defended: an upstream that folds Unicode look-alikes
		// (fullwidth full stops) gets them still encoded; docs/security.md.
		{"public fullwidth dots stay encoded", "GET /public/%EF%BC%8E%EF%BC%8E/v1/models HTTP/1.1", 200, "/public/%EF%BC%8E%EF%BC%8E/v1/models", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.api.Reset()
			req := tt.line + "\r\nHost: gw.example\r\nAuthorization: Bearer " + tok + "\r\nConnection: close\r\n\r\n"
			resp := r.raw(req)
			if tt.byGo {
				if resp.StatusCode != tt.status {
					t.Errorf("status %d; want %d", resp.StatusCode, tt.status)
				}
			} else {
				if resp.StatusCode != tt.status {
					t.Errorf("status %d; want %d (body %.200s)", resp.StatusCode, tt.status, bodyOf(resp))
				}
				if tt.status >= 400 && !strings.HasPrefix(bodyOf(resp), `{"error":`) && tt.line[:4] != "HEAD" {
					t.Errorf("body %.200q; want the JSON error shape", bodyOf(resp))
				}
				a := r.auditFor(resp.Header.Get("X-Request-Id"))
				if tt.status >= 400 && a["decision"] != decisionDeny {
					t.Errorf("audit decision %v; want deny", a["decision"])
				}
			}
			recs := r.checkForwarded()
			switch {
			case tt.forward == "" && len(recs) > 0:
				t.Errorf("upstream got %d request(s), first %s %q; want none", len(recs), recs[0].Method, recs[0].RawPath)
			case tt.forward != "" && (len(recs) != 1 || recs[0].RawPath != tt.forward):
				t.Errorf("upstream got %v; want exactly one request for %q", paths(recs), tt.forward)
			}
		})
	}
}

func paths(recs []mockapiRecorded) []string {
	out := make([]string, len(recs))
	for i, rec := range recs {
		out[i] = rec.Method + " " + rec.RawPath
	}
	return out
}
