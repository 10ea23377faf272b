package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/redisstore"
)

// redisPingTimeout bounds the check that the Redis server of -redis-url
// answers, before anything is searched or deleted.
const redisPingTimeout = 5 * time.Second

// errRedisURL means -redis-url is not a Redis URL: a bad flag.
type errRedisURL struct{ err error }

func (e errRedisURL) Error() string { return fmt.Sprintf("-redis-url: %v", e.err) }
func (e errRedisURL) Unwrap() error { return e.err }

// openStore connects to the Redis server of a redis:// (or rediss://) URL,
// checks that it answers, and returns the store the middleware keeps there
// with redisstore under prefix: the conversion locks [anonymous.Cull]
// takes are then the middleware's own (the key is the prefix, "conv:lock:"
// and the user ID, neither hashed nor keyed, so no store secret is needed).
// Each call is bounded by its context ([anonymous.CullOptions.Store] gives
// each one two seconds). closeFn closes the client.
func openStore(ctx context.Context, rawURL, prefix string) (st anonymous.Store, closeFn func(), err error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		// A parse error of net/url quotes the URL, password included.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, nil, errRedisURL{err}
	}
	opts.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, nil, fmt.Errorf("-redis-url: %s does not answer: %w", opts.Addr, err)
	}
	s, err := redisstore.New(rdb, redisstore.WithPrefix(prefix))
	if err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	return s, func() { _ = rdb.Close() }, nil
}
