package anonymous

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// A flood of new keys evicts the oldest ones: the process-local store stays
// within its bound, and the newest keys are kept.
func TestMemStoreBounded(t *testing.T) {
	ctx := context.Background()
	s := newMemStore(time.Now, 100, 0)
	for i := range 1000 {
		if _, err := s.Incr(ctx, "k"+strconv.Itoa(i), 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		if n := s.len(); n > 100 {
			t.Fatalf("%d keys held after %d inserts, bound 100", n, i+1)
		}
	}
	if n, _ := s.Incr(ctx, "k999", 0, time.Minute); n != 1 {
		t.Fatalf("the newest key lost its count: %d", n)
	}
	if n, _ := s.Incr(ctx, "k0", 0, time.Minute); n != 0 {
		t.Fatalf("the oldest key survived the flood: %d", n)
	}
}

// Counters and values have spaces of their own: a flood of counters, many
// times the counter bound, leaves every value in place.
func TestMemStoreCountersNeverEvictValues(t *testing.T) {
	ctx := context.Background()
	s := newMemStore(time.Now, 100, 50)
	for i := range 40 {
		if err := s.Set(ctx, retiredKey+strconv.Itoa(i), nil, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10_000 {
		if _, err := s.Incr(ctx, "prov:c:"+strconv.Itoa(i), 1, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 40 {
		if _, ok, _ := s.Get(ctx, retiredKey+strconv.Itoa(i)); !ok {
			t.Fatalf("value %d evicted by counters", i)
		}
	}
	if n := s.len(); n != 140 {
		t.Errorf("%d keys held, want 100 counters and 40 values", n)
	}
}

// A full value space refuses new values rather than evicting one; it drops
// expired values to make room, updates values it holds, and keeps a tenth
// of its room for the marks of retired identities.
func TestMemStoreFullRefusesValues(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	s := newMemStore(func() time.Time { return now }, 100, 20)
	for i := range 17 {
		if err := s.Set(ctx, pendingKey+strconv.Itoa(i), []byte("p"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.SetNX(ctx, "short", nil, time.Minute); err != nil || !ok {
		t.Fatalf("18th value: %v, %v", ok, err)
	}
	if ok, err := s.SetNX(ctx, lockKey+"u", nil, time.Minute); !errors.Is(err, errStoreFull) || ok {
		t.Fatalf("a lock past nine tenths of the room: %v, %v; want errStoreFull", ok, err)
	}
	if err := s.Set(ctx, pendingKey+"new", []byte("p"), time.Minute); !errors.Is(err, errStoreFull) {
		t.Fatalf("a pending conversion past nine tenths of the room: %v; want errStoreFull", err)
	}
	if err := s.Set(ctx, pendingKey+"3", []byte("q"), time.Hour); err != nil {
		t.Fatalf("update of a held value: %v", err)
	}
	now = now.Add(2 * time.Minute) // "short" expires: room for one more
	if ok, err := s.SetNX(ctx, lockKey+"u", nil, time.Minute); err != nil || !ok {
		t.Fatalf("a lock once a value expired: %v, %v", ok, err)
	}
	if err := s.Del(ctx, lockKey+"u"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SetNX(ctx, lockKey+"v", nil, time.Minute); err != nil || !ok {
		t.Fatalf("a lock once one was deleted: %v, %v", ok, err)
	}
	for i := range 2 {
		if err := s.Set(ctx, retiredKey+strconv.Itoa(i), nil, time.Hour); err != nil {
			t.Fatalf("retired mark %d in the reserve: %v", i, err)
		}
	}
	if err := s.Set(ctx, retiredKey+"2", nil, time.Hour); !errors.Is(err, errStoreFull) {
		t.Fatalf("a retired mark past the whole room: %v; want errStoreFull", err)
	}
	for i := range 17 {
		if v, ok, _ := s.Get(ctx, pendingKey+strconv.Itoa(i)); !ok || len(v) != 1 {
			t.Fatalf("value %d lost", i)
		}
	}
}

// Replacing values over and over keeps the expiry heap near the number of
// values.
func TestMemStoreExpiryHeapBounded(t *testing.T) {
	ctx := context.Background()
	s := newMemStore(time.Now, 10, 10)
	for i := range 10_000 {
		if err := s.Set(ctx, "k"+strconv.Itoa(i%5), nil, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.expiry); n > 2*5+64+1 {
		t.Errorf("expiry heap of %d refs for 5 values", n)
	}
}

// The heap a full store takes, per counter and per value: about what the
// README and WithLocalStoreSize state.
func TestMemStoreBytesPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a store")
	}
	ctx := context.Background()
	const n = 100_000
	measure := func(fill func(s *memStore)) float64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := newMemStore(time.Now, n, n)
		fill(s)
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(s)
		return float64(after.HeapAlloc-before.HeapAlloc) / n
	}
	counter := measure(func(s *memStore) {
		for i := range n {
			// a per-client counter: prefix, 22-character keyed hash, window
			_, _ = s.Incr(ctx, fmt.Sprintf("prov:c:%022d@%s", i, "1kq3zw"), 1, time.Minute)
		}
	})
	value := measure(func(s *memStore) {
		for i := range n {
			// the mark of a retired local ID
			_ = s.Set(ctx, fmt.Sprintf("%slocal-%036d", retiredKey, i), nil, time.Hour)
		}
	})
	t.Logf("process-local store: %.0f bytes a counter, %.0f bytes a value", counter, value)
	if counter > 200 || value > 260 {
		t.Errorf("%.0f bytes a counter, %.0f a value: well over the documented 160 and 225", counter, value)
	}
}
