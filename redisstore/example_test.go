package redisstore_test

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/descope/go-sdk/descope/client"
	"github.com/redis/go-redis/v9"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/redisstore"
)

// Several replicas of an application share the middleware's state in Redis:
// one refresh per refresh token, and limits that count across replicas.
func ExampleNew() {
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{"127.0.0.1:6379"},
		ContextTimeoutEnabled: true, // the middleware's store timeout bounds every call
	})
	defer rdb.Close()
	store, err := redisstore.New(rdb, redisstore.WithPrefix("shop:"))
	if err != nil {
		panic(err)
	}
	c, err := client.NewWithConfig(&client.Config{ProjectID: "P...", ManagementKey: "K..."})
	if err != nil {
		panic(err)
	}
	anon, err := anonymous.New(c,
		anonymous.WithStore(store),
		anonymous.WithOnStoreFallback(func(ctx context.Context, fallingBack bool, err error) {
			// Redis failed (or answers again): page someone, count it.
			slog.WarnContext(ctx, "anonymous store", "fallingBack", fallingBack, "err", err)
		}),
	)
	if err != nil {
		panic(err)
	}
	_ = http.ListenAndServe(":8080", anon.Handler(http.NotFoundHandler()))
}
