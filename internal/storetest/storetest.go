// Package storetest holds the behaviour every anonymous.Store must show, so
// that the process-local store and the Redis store (module redisstore) pass
// the very same table.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
)

// Harness gives the table a fresh store and a way to let time pass for it.
type Harness struct {
	// New returns an empty store, as seen by a new test: keys a previous
	// test left must not be visible (a fresh key prefix will do).
	New func(t *testing.T) anonymous.Store
	// Advance lets d pass on the store's clock: a fake clock moves forward, a
	// real one sleeps.
	Advance func(t *testing.T, d time.Duration)
}

// ttl is the time to live the table's expiry cases use: long enough for a
// store on loopback to answer well within it, short enough to sleep past.
const ttl = 400 * time.Millisecond

// Run runs the behaviour table against the stores h makes.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, s anonymous.Store)
	}{
		{"incr counts from zero", func(t *testing.T, s anonymous.Store) {
			for i, want := range []int64{1, 2, 3} {
				if n, err := s.Incr(ctx, "c", 1, time.Minute); err != nil || n != want {
					t.Fatalf("incr %d = %d, %v; want %d", i, n, err, want)
				}
			}
			if n, err := s.Incr(ctx, "c", -2, time.Minute); err != nil || n != 1 {
				t.Fatalf("incr -2 = %d, %v; want 1", n, err)
			}
			if n, err := s.Incr(ctx, "other", 5, time.Minute); err != nil || n != 5 {
				t.Fatalf("another key = %d, %v; want 5", n, err)
			}
			if n, err := s.Incr(ctx, "neg", -1, time.Minute); err != nil || n != -1 {
				t.Fatalf("a new counter decremented = %d, %v; want -1", n, err)
			}
		}},
		{"incr lives ttl from creation, not extended", func(t *testing.T, s anonymous.Store) {
			mustIncr(t, s, "w", 1)
			h.Advance(t, ttl*6/10)
			if n := mustIncr(t, s, "w", 1); n != 2 {
				t.Fatalf("second incr = %d, want 2", n)
			}
			h.Advance(t, ttl*6/10)
			if n := mustIncr(t, s, "w", 1); n != 1 {
				t.Fatalf("incr after the first ttl = %d, want 1 (a new window): a later incr extended the counter", n)
			}
		}},
		{"setNX stores once until expiry", func(t *testing.T, s anonymous.Store) {
			if ok, err := s.SetNX(ctx, "l", []byte("a"), ttl); err != nil || !ok {
				t.Fatalf("first setNX = %v, %v", ok, err)
			}
			if ok, err := s.SetNX(ctx, "l", []byte("b"), ttl); err != nil || ok {
				t.Fatalf("second setNX = %v, %v; want false", ok, err)
			}
			if v, ok, err := s.Get(ctx, "l"); err != nil || !ok || string(v) != "a" {
				t.Fatalf("get = %q, %v, %v; want the first value", v, ok, err)
			}
			h.Advance(t, ttl+ttl/2)
			if ok, err := s.SetNX(ctx, "l", []byte("c"), ttl); err != nil || !ok {
				t.Fatalf("setNX after expiry = %v, %v; want true", ok, err)
			}
		}},
		{"setNX with an empty value", func(t *testing.T, s anonymous.Store) {
			if ok, err := s.SetNX(ctx, "e", nil, time.Minute); err != nil || !ok {
				t.Fatalf("setNX = %v, %v", ok, err)
			}
			if v, ok, err := s.Get(ctx, "e"); err != nil || !ok || len(v) != 0 {
				t.Fatalf("get = %q, %v, %v; want an empty value that is there", v, ok, err)
			}
			if ok, _ := s.SetNX(ctx, "e", []byte("x"), time.Minute); ok {
				t.Fatal("setNX over an empty value stored")
			}
		}},
		{"set replaces value and ttl", func(t *testing.T, s anonymous.Store) {
			if err := s.Set(ctx, "k", []byte("one"), time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := s.Set(ctx, "k", []byte("two"), ttl); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := s.Get(ctx, "k"); err != nil || !ok || string(v) != "two" {
				t.Fatalf("get = %q, %v, %v; want two", v, ok, err)
			}
			h.Advance(t, ttl+ttl/2)
			if v, ok, err := s.Get(ctx, "k"); err != nil || ok {
				t.Fatalf("get after the new ttl = %q, %v, %v; want none", v, ok, err)
			}
		}},
		{"values are binary-safe", func(t *testing.T, s anonymous.Store) {
			val := make([]byte, 256)
			for i := range val {
				val[i] = byte(i)
			}
			if err := s.Set(ctx, "bin", val, time.Minute); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := s.Get(ctx, "bin"); err != nil || !ok || !bytes.Equal(v, val) {
				t.Fatalf("get = %x, %v, %v", v, ok, err)
			}
		}},
		{"get of a missing key", func(t *testing.T, s anonymous.Store) {
			if v, ok, err := s.Get(ctx, "missing"); err != nil || ok || v != nil {
				t.Fatalf("get = %q, %v, %v; want nil, false, nil", v, ok, err)
			}
		}},
		{"del removes, and a missing key is no error", func(t *testing.T, s anonymous.Store) {
			_ = s.Set(ctx, "d", []byte("x"), time.Minute)
			mustIncr(t, s, "dc", 3)
			for _, k := range []string{"d", "dc", "never"} {
				if err := s.Del(ctx, k); err != nil {
					t.Fatalf("del %s: %v", k, err)
				}
			}
			if _, ok, _ := s.Get(ctx, "d"); ok {
				t.Fatal("value still there after del")
			}
			if n := mustIncr(t, s, "dc", 1); n != 1 {
				t.Fatalf("counter after del = %d, want 1", n)
			}
			if ok, _ := s.SetNX(ctx, "d", nil, time.Minute); !ok {
				t.Fatal("setNX after del did not store")
			}
		}},
		{"concurrent incr loses no count", func(t *testing.T, s anonymous.Store) {
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					for range 25 {
						if _, err := s.Incr(ctx, "many", 1, time.Minute); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if n := mustIncr(t, s, "many", 0); n != 500 {
				t.Fatalf("count = %d, want 500", n)
			}
		}},
		{"concurrent setNX has one winner", func(t *testing.T, s anonymous.Store) {
			var wins atomic.Int32
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Go(func() {
					ok, err := s.SetNX(ctx, "race", fmt.Appendf(nil, "%d", i), time.Minute)
					if err != nil {
						t.Error(err)
					}
					if ok {
						wins.Add(1)
					}
				})
			}
			wg.Wait()
			if n := wins.Load(); n != 1 {
				t.Fatalf("%d setNX calls won, want 1", n)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, h.New(t)) })
	}
}

func mustIncr(t *testing.T, s anonymous.Store, key string, delta int64) int64 {
	t.Helper()
	n, err := s.Incr(context.Background(), key, delta, ttl)
	if err != nil {
		t.Fatalf("incr %s: %v", key, err)
	}
	return n
}
