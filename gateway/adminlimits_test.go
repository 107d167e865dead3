package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAdminLimits: GET /admin/limits shows a key's usage per limit,
// authenticated by the admin token, without counting anything; by the
// key an audit record names, or by the key parts.
func TestAdminLimits(t *testing.T) {
	w := newLimitWorldUp(t, costChatRoute(`      - name: rpm
        requests: {rate: 2, per: 1m}
      - name: daily
        key: [sub, model]
        tokens: {budget: 100, per: day}
      - name: spend
        cost: {budget: "1.00", per: month, prices: {"*": {input: "1", output: "2"}}}
      - name: org
        key_expr: claims.sub
        requests: {rate: 5, per: 1m}
`), adminExtra, func(rw http.ResponseWriter, r *http.Request, _ []byte) {
		jsonUsage(`{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}`)(rw, r)
	})
	for range 2 {
		if rec := w.post("alice", `{"model":"m1","max_tokens":5}`); rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	get := func(q, auth string) (*httptest.ResponseRecorder, []limitUsage) {
		r := httptest.NewRequest("GET", limitsPath+"?"+q, nil)
		if auth != "" {
			r.Header.Set("Authorization", "Bearer "+auth)
		}
		rec := httptest.NewRecorder()
		w.gw.AdminHandler().ServeHTTP(rec, r)
		var out struct{ Limits []limitUsage }
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return rec, out.Limits
	}
	if rec, _ := get("sub=alice", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("without the admin token: %d; want 401", rec.Code)
	}
	if rec, _ := get("sub=alice", "wrong"); rec.Code != http.StatusUnauthorized {
		t.Errorf("with a wrong token: %d; want 401", rec.Code)
	}
	for range 2 { // reading twice: nothing is counted
		rec, ls := get("sub=alice&model=m1", testAdminToken)
		if rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		got := map[string]limitUsage{}
		for _, l := range ls {
			got[l.Limit] = l
		}
		if l := got["rpm"]; l.Kind != "requests" || l.Available == nil || *l.Available != 0 || l.Burst != 2 {
			t.Errorf("rpm: %+v; want requests, 0 of 2 available", l)
		}
		if l := got["daily"]; l.Kind != "tokens" || l.Used != float64(60) || l.Remaining != float64(40) || l.Budget != float64(100) {
			t.Errorf("daily: %+v; want 60 used, 40 left of 100", l)
		}
		// 2 × (10×1 + 20×2) micro-units.
		if l := got["spend"]; l.Kind != "cost" || l.Used != "0.0001" || l.Remaining != "0.9999" {
			t.Errorf("spend: %+v; want 0.0001 used, 0.9999 left", l)
		}
		if _, ok := got["org"]; ok {
			t.Error("a limit keyed by key_expr was shown for sub=alice: its key cannot be computed from the query")
		}
	}
	// By key parts that do not make the daily key (model missing): not shown.
	_, ls := get("sub=alice", testAdminToken)
	for _, l := range ls {
		if l.Limit == "daily" {
			t.Error("daily (per sub and model) shown for sub alone")
		}
	}
	// By the key a refusal's audit record names.
	w.post("alice", `{"model":"m1"}`)
	detail := w.lastRecord().Detail
	_, key, ok := strings.Cut(detail, "(key ")
	if !ok {
		t.Fatalf("audit detail %q names no key", detail)
	}
	key = strings.TrimSuffix(key, ")")
	rec, ls := get("key="+key, testAdminToken)
	if rec.Code != 200 || len(ls) != 1 || ls[0].Limit != "rpm" || ls[0].Key != key {
		t.Errorf("by key %s: %d %+v; want the rpm limit", key, rec.Code, ls)
	}
	for _, q := range []string{"", "key=limit:chat:rpm:00&sub=alice", "sub=a&sub=b", "key=nonsense"} {
		if rec, _ := get(q, testAdminToken); rec.Code != http.StatusBadRequest {
			t.Errorf("query %q: %d; want 400", q, rec.Code)
		}
	}
}
