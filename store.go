package anonymous

import (
	"context"
	"sync"
	"time"
)

// memStore is the process-local state behind the rate limits, pending
// conversions and conversion locks: counters in fixed windows and values with
// a time to live. It is bounded: when full it evicts the oldest key, so a
// flood of new keys pushes out old ones instead of locking new ones out. Every
// method takes a context so that a shared store can stand in for it.
type memStore struct {
	now func() time.Time
	max int

	mu    sync.Mutex
	m     map[string]*memEntry
	order []memRef // insertion order, for eviction; may hold stale refs
	head  int      // order[head:] is live
	seq   uint64
}

type memEntry struct {
	n   int64
	val []byte
	exp time.Time
	seq uint64
}

type memRef struct {
	key string
	seq uint64
}

// defaultStoreKeys bounds a memStore: a key costs about 150 bytes, so the
// bound is about 30 MiB at worst.
const defaultStoreKeys = 200_000

func newMemStore(now func() time.Time, max int) *memStore {
	if max <= 0 {
		max = defaultStoreKeys
	}
	return &memStore{now: now, max: max, m: make(map[string]*memEntry)}
}

// live returns the unexpired entry of key, dropping an expired one.
func (s *memStore) live(key string, now time.Time) *memEntry {
	e, ok := s.m[key]
	if !ok {
		return nil
	}
	if !now.Before(e.exp) {
		delete(s.m, key)
		return nil
	}
	return e
}

// insert adds a new entry, evicting the oldest keys when the store is full.
func (s *memStore) insert(key string, e *memEntry) {
	for len(s.m) >= s.max && s.head < len(s.order) {
		ref := s.order[s.head]
		s.order[s.head] = memRef{}
		s.head++
		if old, ok := s.m[ref.key]; ok && old.seq == ref.seq {
			delete(s.m, ref.key)
		}
	}
	s.seq++
	e.seq = s.seq
	s.m[key] = e
	s.order = append(s.order, memRef{key: key, seq: e.seq})
	if s.head > len(s.order)/2 || len(s.order) > 2*s.max+64 {
		s.compact()
	}
}

// compact drops evicted and stale references from the insertion order.
func (s *memStore) compact() {
	kept := make([]memRef, 0, len(s.m)+1)
	for _, ref := range s.order[s.head:] {
		if e, ok := s.m[ref.key]; ok && e.seq == ref.seq {
			kept = append(kept, ref)
		}
	}
	s.order, s.head = kept, 0
}

// incr adds delta to the counter at key, which starts at zero and lives for
// ttl from its creation, and returns the new count.
func (s *memStore) incr(_ context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.live(key, now)
	if e == nil {
		e = &memEntry{exp: now.Add(ttl)}
		s.insert(key, e)
	}
	e.n += delta
	return e.n, nil
}

// setNX stores val at key for ttl unless key holds a live value, and reports
// whether it stored it.
func (s *memStore) setNX(_ context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live(key, now) != nil {
		return false, nil
	}
	s.insert(key, &memEntry{val: val, exp: now.Add(ttl)})
	return true, nil
}

// set stores val at key for ttl.
func (s *memStore) set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.live(key, now); e != nil {
		e.val, e.exp = val, now.Add(ttl)
		return nil
	}
	s.insert(key, &memEntry{val: val, exp: now.Add(ttl)})
	return nil
}

// get returns the live value at key.
func (s *memStore) get(_ context.Context, key string) ([]byte, bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.live(key, now)
	if e == nil {
		return nil, false, nil
	}
	return e.val, true, nil
}

// del removes key.
func (s *memStore) del(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}
