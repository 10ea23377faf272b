package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/redistest"
	"github.com/descope-contrib/anonymous/internal/storetest"
	"github.com/descope-contrib/anonymous/redisstore"
)

// newClient returns a go-redis client for srv whose calls honour their
// context's deadline.
func newClient(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// The Redis store passes the behaviour table every Store must.
func TestStoreBehaviour(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	n := 0
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) anonymous.Store {
			n++
			s, err := redisstore.New(rdb, redisstore.WithPrefix(fmt.Sprintf("test%d:", n)))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Advance: func(_ *testing.T, d time.Duration) { time.Sleep(d) },
	})
}

func TestNewRefusesNilClient(t *testing.T) {
	if _, err := redisstore.New(nil); err == nil {
		t.Fatal("New(nil) gave no error")
	}
}

// Two prefixes are two stores in one database.
func TestPrefixesDoNotMeet(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	ctx := context.Background()
	a, _ := redisstore.New(rdb, redisstore.WithPrefix("a:"))
	b, _ := redisstore.New(rdb, redisstore.WithPrefix("b:"))
	if err := a.Set(ctx, "k", []byte("from a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := b.Get(ctx, "k"); err != nil || ok {
		t.Fatalf("b sees a's key: %v, %v", ok, err)
	}
	if v, _ := rdb.Get(ctx, "a:k").Result(); v != "from a" {
		t.Fatalf("key a:k = %q", v)
	}
}

// A stopped or stalled server gives errors within the caller's deadline, so
// the middleware can fall back in time.
func TestDownOrStalledServerFailsFast(t *testing.T) {
	srv := redistest.Start(t)
	s, _ := redisstore.New(newClient(t, srv))
	call := func() (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.Incr(ctx, "c", 1, time.Minute)
		return time.Since(start), err
	}
	if _, err := call(); err != nil {
		t.Fatalf("incr on a live server: %v", err)
	}
	srv.Pause(t)
	took, err := call()
	srv.Resume(t)
	if err == nil || took > time.Second {
		t.Fatalf("incr on a stalled server: %v after %v, want an error within the deadline", err, took)
	}
	srv.Stop(t)
	if took, err := call(); err == nil || took > time.Second {
		t.Fatalf("incr on a stopped server: %v after %v, want an error within the deadline", err, took)
	}
	srv.Restart(t)
	if _, err := call(); err != nil {
		t.Fatalf("incr once the server is back: %v", err)
	}
}
