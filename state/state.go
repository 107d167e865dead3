// Package state is the gateway's shared state: what several replicas must
// agree on (revocations, the introspection cache, usage counters, the DPoP
// replay cache). One interface, two backends: an in-memory store (the
// default; one replica, nothing to run) and Redis (or Valkey) for a fleet.
//
// Keys are namespaced by the caller ("revoke:jti:...", "dpop:jti:...") and
// never contain a token or any part of one: callers hash what they key on.
// Every call takes a context; a backend honours its deadline, so a slow
// store costs a request at most the configured store timeout.
package state

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable wraps every failure of the backend itself (a refused
// connection, a timeout): a technical failure, not an answer. Callers
// decide per feature whether it fails open or closed.
var ErrUnavailable = errors.New("state store unavailable")

// Store is the interface every backend implements. Values are opaque bytes.
// A ttl of 0 means no expiry.
type Store interface {
	// Get returns the value under key, and whether it exists.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Set stores value under key, replacing any value.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetNX stores value under key only if the key does not exist, and
	// reports whether it stored it (false: the key was already there).
	// It is atomic across every replica sharing the backend.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (stored bool, err error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns every live item whose key starts with prefix (for a
	// full resync of a local mirror, and for listing entries). Meant for
	// small namespaces: it reads them whole.
	List(ctx context.Context, prefix string) (map[string][]byte, error)
	// Publish sends msg to every current subscriber of channel, across
	// every replica sharing the backend. Delivery is at most once: a
	// subscriber that is disconnected misses it (and resyncs, see
	// Subscribe).
	Publish(ctx context.Context, channel string, msg []byte) error
	// Subscribe calls fn with each message published on channel until ctx
	// is done, in one goroutine of its own, and returns at once. fn is
	// called with resubscribed true (and msg nil) each time the
	// subscription is established, the first time included: messages may
	// have been missed before it, so the subscriber resyncs.
	Subscribe(ctx context.Context, channel string, fn func(msg []byte, resubscribed bool))
	// Close releases the backend's resources.
	Close() error
}
