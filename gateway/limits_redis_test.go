package gateway

import (
	"net/http"
	"testing"

	"github.com/scopegate/scopegate/config"
	"github.com/scopegate/scopegate/internal/redistest"
	"github.com/scopegate/scopegate/limits"
)

// TestLimitSharedByReplicas: with state.redis, two gateways enforce one
// limit: three requests a subject may make in all, not three each.
func TestLimitSharedByReplicas(t *testing.T) {
	srv := redistest.Start(t)
	route := `
  - name: limited
    methods: [GET]
    path: /v1/limited
    upstream: models
    scopes: ["chat:completions"]
    limits:
      - name: hourly
        key: [sub]
        requests: {rate: 3, per: 1h, burst: 3}
`
	a := newWorld(t, route+redisExtra(srv.URL(), config.FailOpen))
	if b, ok := a.gw.limitStore.(*limits.Breaker); !ok || !isRedis(b.Unwrap()) {
		t.Fatalf("limit store %T with state.redis; want *limits.Redis", a.gw.limitStore)
	}
	b := newWorldSharing(t, a)
	tok := a.token("chat:completions")
	codes := []int{}
	for i, w := range []*world{a, b, a, b, a} {
		rec := w.do("GET", "/v1/limited", tok)
		codes = append(codes, rec.Code)
		if want := http.StatusOK; i >= 3 {
			want = http.StatusTooManyRequests
			if rec.Code != want {
				t.Errorf("request %d: %d; want %d (one limit across replicas)", i, rec.Code, want)
			}
		} else if rec.Code != want {
			t.Errorf("request %d: %d; want %d", i, rec.Code, want)
		}
	}
	t.Logf("statuses %v", codes)
}

func isRedis(s limits.Store) bool {
	_, ok := s.(*limits.Redis)
	return ok
}
