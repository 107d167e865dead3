package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/mockapi"
	"github.com/scopegate/scopegate/internal/testkit"
	"github.com/scopegate/scopegate/policy"
)

// What the rig's tests check: audit records, the upstream's records
// against the policy, and the shape of the gateway's answers.

// audits returns the audit records, as field maps.
func (r *rig) audits() []map[string]any {
	var out []map[string]any
	for _, e := range r.logs.FilterMessage("decision").All() {
		out = append(out, e.ContextMap())
	}
	return out
}

// auditFor returns the audit record of the request id, waiting for it:
// it is written after the response.
func (r *rig) auditFor(id string) map[string]any {
	r.t.Helper()
	var rec map[string]any
	testkit.WaitFor(r.t, "audit record "+id, func() bool {
		for _, a := range r.audits() {
			if a["request_id"] == id {
				rec = a
				return true
			}
		}
		return false
	})
	return rec
}

// checkForwarded asserts the invariant of every hostile test: whatever the
// upstream received was allowed by the policy, under the method and path it
// arrived with, and carries exactly the canonical path.
func (r *rig) checkForwarded() []mockapi.Recorded {
	r.t.Helper()
	recs := r.api.Requests()
	tab := r.gw.runtime.Load().cfg.Table
	for _, rec := range recs {
		canon, decoded, err := policy.CanonicalPath(rec.RawPath)
		if err != nil || canon != rec.RawPath || decoded != rec.Path {
			r.t.Errorf("upstream got path %q (decoded %q); its canonical form is %q (err %v)", rec.RawPath, rec.Path, canon, err)
		}
		if route, _ := tab.Match(rec.Method, rec.Path); route == nil {
			r.t.Errorf("upstream got %s %q, which no route allows", rec.Method, rec.RawPath)
		} else if !route.Public && rec.Header.Get("X-Auth-Subject") == "" {
			r.t.Errorf("upstream got %s %q for protected route %s without an identity", rec.Method, rec.RawPath, route.Name)
		}
		if strings.Contains(rec.RawQuery, "access_token") {
			r.t.Errorf("upstream got a query token: %q", rec.RawQuery)
		}
	}
	return recs
}

// wantStatus checks a gateway-made error's status and JSON shape.
func wantStatus(t *testing.T, resp *http.Response, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d; want %d (body %.200s)", resp.StatusCode, status, bodyOf(resp))
		return
	}
	if status >= 400 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q; want application/json", ct)
		}
		if b := bodyOf(resp); !strings.HasPrefix(b, `{"error":{"message":`) {
			t.Errorf("body %.200q; want the JSON error shape", b)
		}
	}
}

type mockapiRecorded = mockapi.Recorded

// byID keeps the records of one request id.
func byID(recs []mockapi.Recorded, id string) []mockapi.Recorded {
	var out []mockapi.Recorded
	for _, rec := range recs {
		if rec.Header.Get("X-Request-Id") == id {
			out = append(out, rec)
		}
	}
	return out
}

// readyz fetches /readyz from the admin listener.
func (r *rig) readyz() (int, string) {
	r.t.Helper()
	resp, err := r.client.Get("http://" + r.admin + "/readyz")
	if err != nil {
		r.t.Fatal(err)
	}
	readBody(resp)
	return resp.StatusCode, bodyOf(resp)
}

// refreshFailures is the issuer's count of failed key fetches.
func (r *rig) refreshFailures() uint64 {
	return r.gw.runtime.Load().verifierStatus()[0].RefreshFailures
}

// byPath keeps the records of one path.
func byPath(recs []mockapi.Recorded, path string) []mockapi.Recorded {
	var out []mockapi.Recorded
	for _, rec := range recs {
		if rec.RawPath == path {
			out = append(out, rec)
		}
	}
	return out
}
