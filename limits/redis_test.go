package limits_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scopegate/scopegate/internal/redistest"
	"github.com/scopegate/scopegate/limits"
	"github.com/scopegate/scopegate/limits/limitstest"
)

// TestRedisContract runs the Store contract against a real redis-server.
func TestRedisContract(t *testing.T) {
	srv := redistest.Start(t)
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	limitstest.Run(t, func(t *testing.T) limits.Store { return limits.NewRedis(c, "test:"+t.Name()+":") })
}
