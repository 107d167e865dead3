package state

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configure the Redis (or Valkey) backend. Zero values take
// the defaults documented per field.
type RedisOptions struct {
	// URL is redis://[user:password@]host:port[/db] or rediss://... for
	// TLS. Required.
	URL string
	// Username and Password, when set, override the URL's.
	Username, Password string
	// TLS, when not nil, is used for the connection (rediss:// alone
	// gives a default TLS config verifying against the system roots).
	TLS *tls.Config
	// DialTimeout bounds connecting. Default 2s.
	DialTimeout time.Duration
	// ReadTimeout and WriteTimeout bound one command's socket reads and
	// writes. Default 500ms each.
	ReadTimeout, WriteTimeout time.Duration
	// PoolSize is the number of connections kept. Default 10 per CPU
	// (go-redis' default).
	PoolSize int
	// KeyPrefix is put before every key and channel, so that several
	// deployments can share one Redis. Default "scopegate:".
	KeyPrefix string
}

// TLSFiles builds a client TLS config from PEM files: caFile (empty: the
// system roots), an optional client certificate and key (mTLS), and the
// server name to verify (empty: the URL's host).
func TLSFiles(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading redis ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis ca_file %s holds no PEM certificate", caFile)
		}
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading redis client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Redis is the Store on a Redis server, shared by every replica using it.
// Its client (go-redis v9) reconnects by itself: a Redis restart costs
// the calls made while it is down (ErrUnavailable), not a gateway restart.
type Redis struct {
	c      *redis.Client
	prefix string
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Redis store. It does not connect: the first call
// does, so a gateway starts while Redis is down (each feature decides
// what that means).
func NewRedis(o RedisOptions) (*Redis, error) {
	ro, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	if o.Username != "" {
		ro.Username = o.Username
	}
	if o.Password != "" {
		ro.Password = o.Password
	}
	if o.TLS != nil {
		t := o.TLS.Clone()
		if t.ServerName == "" && ro.TLSConfig != nil {
			t.ServerName = ro.TLSConfig.ServerName
		}
		if t.ServerName == "" {
			t.ServerName, _, _ = strings.Cut(ro.Addr, ":")
		}
		ro.TLSConfig = t
	}
	ro.DialTimeout = orDefault(o.DialTimeout, 2*time.Second)
	ro.ReadTimeout = orDefault(o.ReadTimeout, 500*time.Millisecond)
	ro.WriteTimeout = orDefault(o.WriteTimeout, 500*time.Millisecond)
	if o.PoolSize > 0 {
		ro.PoolSize = o.PoolSize
	}
	// The caller's deadline bounds every call, on top of the socket
	// timeouts: a request never waits longer than the store timeout.
	ro.ContextTimeoutEnabled = true
	// No retries: go-redis retries a command after a read timeout or an
	// EOF, when Redis may already have run it, and most of ours do not
	// bear running twice (SET NX of a DPoP jti would refuse the proof it
	// just admitted; a limit's reserve script would charge twice). A
	// failed call goes to the caller's fail-open or fail-closed choice;
	// the pool drops dead connections before it hands them out.
	ro.MaxRetries = -1
	prefix := o.KeyPrefix
	if prefix == "" {
		prefix = "scopegate:"
	}
	return &Redis{c: redis.NewClient(ro), prefix: prefix}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// unavailable wraps a client error as ErrUnavailable (redis.Nil is an
// answer, handled by the callers before).
func unavailable(op string, err error) error {
	return fmt.Errorf("redis %s: %w: %w", op, ErrUnavailable, err)
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := r.c.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, unavailable("get", err)
	}
	return v, true, nil
}

// Set implements Store.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := r.c.Set(ctx, r.prefix+key, value, redisTTL(ttl)).Err(); err != nil {
		return unavailable("set", err)
	}
	return nil
}

// SetNX implements Store.
func (r *Redis) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	ok, err := r.c.SetNX(ctx, r.prefix+key, value, redisTTL(ttl)).Result()
	if err != nil {
		return false, unavailable("setnx", err)
	}
	return ok, nil
}

// redisTTL maps "no expiry" to go-redis' 0 and rounds a positive TTL
// below a millisecond up, since go-redis would send it as no expiry.
func redisTTL(ttl time.Duration) time.Duration {
	if ttl > 0 && ttl < time.Millisecond {
		return time.Millisecond
	}
	if ttl < 0 {
		return 0
	}
	return ttl
}

// Delete implements Store.
func (r *Redis) Delete(ctx context.Context, key string) error {
	if err := r.c.Del(ctx, r.prefix+key).Err(); err != nil {
		return unavailable("del", err)
	}
	return nil
}

// List implements Store with SCAN (never KEYS, which blocks the server)
// and MGET per batch.
func (r *Redis) List(ctx context.Context, prefix string) (map[string][]byte, error) {
	out := map[string][]byte{}
	match := globEscape(r.prefix+prefix) + "*"
	var cursor uint64
	for {
		keys, next, err := r.c.Scan(ctx, cursor, match, 1000).Result()
		if err != nil {
			return nil, unavailable("scan", err)
		}
		if len(keys) > 0 {
			vals, err := r.c.MGet(ctx, keys...).Result()
			if err != nil {
				return nil, unavailable("mget", err)
			}
			for i, v := range vals {
				if s, ok := v.(string); ok { // nil: expired between SCAN and MGET
					out[strings.TrimPrefix(keys[i], r.prefix)] = []byte(s)
				}
			}
		}
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}

// globEscape escapes the characters SCAN's MATCH gives a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Publish implements Store with PUBLISH.
func (r *Redis) Publish(ctx context.Context, channel string, msg []byte) error {
	if err := r.c.Publish(ctx, r.prefix+channel, msg).Err(); err != nil {
		return unavailable("publish", err)
	}
	return nil
}

// Subscribe implements Store with SUBSCRIBE. go-redis resubscribes after
// a lost connection; each (re)subscription confirmation is passed on as
// resubscribed, so that the subscriber resyncs what it missed meanwhile.
func (r *Redis) Subscribe(ctx context.Context, channel string, fn func(msg []byte, resubscribed bool)) {
	ps := r.c.Subscribe(ctx, r.prefix+channel)
	go func() {
		defer ps.Close()
		backoff := 50 * time.Millisecond
		for ctx.Err() == nil {
			m, err := ps.Receive(ctx)
			if err != nil {
				t := time.NewTimer(backoff)
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
				backoff = min(2*backoff, 2*time.Second)
				continue
			}
			backoff = 50 * time.Millisecond
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					fn(nil, true)
				}
			case *redis.Message:
				fn([]byte(m.Payload), false)
			}
		}
	}()
}

// Ping checks the connection, for readiness and start-up logs.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close implements Store.
func (r *Redis) Close() error { return r.c.Close() }

// Scripter is the store's client for features that keep their own
// atomic steps as scripts (usage limits), with the key prefix to put
// their keys under.
func (r *Redis) Scripter() (redis.Scripter, string) { return r.c, r.prefix }
