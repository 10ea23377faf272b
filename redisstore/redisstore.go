// Package redisstore keeps the state of the anonymous middleware in Redis, so
// that several replicas of an application act as one: for one refresh token
// only one replica calls Descope, and the provisioning and one-time-code
// limits count across replicas.
//
//	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
//		Addrs:                 []string{"127.0.0.1:6379"},
//		ContextTimeoutEnabled: true, // let the middleware's short store timeout bound each call
//	})
//	store, err := redisstore.New(rdb)
//	if err != nil { ... }
//	anon, err := anonymous.New(descopeClient, anonymous.WithStore(store))
//
// Every operation touches one key, in one command or one Lua script, so a
// single node, a Sentinel setup and a Cluster all fit. When Redis is down or
// slow, the middleware falls back to process-local state and says so (see
// [anonymous.WithOnStoreFallback]); it never needs Redis to answer a request.
package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/descope-contrib/anonymous"
)

// Client is the part of go-redis the store uses. Every go-redis client
// satisfies it: redis.UniversalClient, *redis.Client (single node or
// Sentinel failover), *redis.ClusterClient and *redis.Ring.
type Client interface {
	redis.Scripter
	Get(ctx context.Context, key string) *redis.StringCmd
	Set(ctx context.Context, key string, value any, expiration time.Duration) *redis.StatusCmd
	SetNX(ctx context.Context, key string, value any, expiration time.Duration) *redis.BoolCmd
	Del(ctx context.Context, keys ...string) *redis.IntCmd
}

// Store is an [anonymous.Store] on Redis. It is safe for concurrent use.
type Store struct {
	c      Client
	prefix string
}

var _ anonymous.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store) error

// WithPrefix sets the prefix of every key the store writes, so that several
// applications (or environments) can share one Redis database. Defaults to
// "anonymous:".
func WithPrefix(prefix string) Option {
	return func(s *Store) error { s.prefix = prefix; return nil }
}

// New returns a Store on the Redis client c. For the middleware's store
// timeout to bound each call, build c with ContextTimeoutEnabled (else
// go-redis waits up to its own ReadTimeout, 3 s by default, on a stalled
// server).
func New(c Client, opts ...Option) (*Store, error) {
	if c == nil {
		return nil, errors.New("redisstore: nil client")
	}
	s := &Store{c: c, prefix: "anonymous:"}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// incrScript adds to a counter and gives a new counter its time to live; a
// counter that exists keeps the one it had.
var incrScript = redis.NewScript(`
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then
	redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return n
`)

// millis is ttl in whole milliseconds, rounded up, at least one: Redis takes
// no shorter time to live, and a zero one would mean none.
func millis(ttl time.Duration) int64 {
	if ttl <= time.Millisecond {
		return 1
	}
	return int64((ttl + time.Millisecond - 1) / time.Millisecond)
}

// exp is ttl for go-redis's SET: whole milliseconds, so it sends PX.
func exp(ttl time.Duration) time.Duration { return time.Duration(millis(ttl)) * time.Millisecond }

// Incr adds delta to the counter at key, which starts at zero and expires
// ttl after it was created; it returns the new count.
func (s *Store) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	return incrScript.Run(ctx, s.c, []string{s.prefix + key}, delta, millis(ttl)).Int64()
}

// SetNX stores val at key for ttl unless key holds a value, and reports
// whether it stored it.
func (s *Store) SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	return s.c.SetNX(ctx, s.prefix+key, val, exp(ttl)).Result()
}

// Set stores val at key for ttl, replacing any value.
func (s *Store) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	return s.c.Set(ctx, s.prefix+key, val, exp(ttl)).Err()
}

// Get returns the value at key; ok is false when there is none.
func (s *Store) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := s.c.Get(ctx, s.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// Del removes key.
func (s *Store) Del(ctx context.Context, key string) error {
	return s.c.Del(ctx, s.prefix+key).Err()
}
